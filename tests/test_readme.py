"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has a Python example"
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    assert (tmp_path / "resnet50.safetensors").is_file()
    assert tuple(scope["features"].shape) == (2, 2048, 7, 7)
    assert tuple(scope["pooled"].shape) == (2, 2048)
    assert [tuple(m.shape[1:]) for m in scope["maps"]] == [
        (64, 112, 112), (256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]
    assert tuple(scope["final"].shape) == (2, 2048, 7, 7)
    assert "[2, 4, 8, 16, 32]" in capsys.readouterr().out
    assert scope["model"].fc.out_features == 5
