"""The report every experiment writes: its sections in order, the lines it prints."""

from types import SimpleNamespace

from resnets.experiments.report import write_findings


def test_findings_stand_between_the_intro_and_the_figures_with_the_runs_last(tmp_path):
    runs = [SimpleNamespace(run_dir=tmp_path / "runs" / name, summary={"steps": 3,
                                                                     "train_seconds": 2.0})
            for name in ("plain8-seed0", "resnet8-seed0")]
    printed = write_findings(tmp_path, "Title", "resnets experiment x", "What was run.",
                             "The effect appeared.", ["- one", "- two"],
                             ["![figure](x.png)", "## Table\n\n| a |"], runs)
    assert printed == ["The effect appeared.", "- one", "- two"]
    report = (tmp_path / "report.md").read_text()
    parts = ["# Title", "resnets experiment x", "What was run.",
             "## Result\n\nThe effect appeared.\n\n- one\n- two", "![figure](x.png)",
             "## Table", "## Member runs", "`runs/plain8-seed0`", "`runs/resnet8-seed0`"]
    positions = [report.index(part) for part in parts]
    assert positions == sorted(positions)
    assert "Training time in all: 4 s." in report
