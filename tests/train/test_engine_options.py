"""Engine options: image folders with corrupt files, bf16, channels_last, class checks."""

import numpy as np
import pytest
import torch
from PIL import Image

from resnets.cli import main, one_line
from resnets.errors import DataError
from resnets.models import create_model
from resnets.train.engine import train
from resnets.train.evaluate import evaluate
from resnets.train.recipes import recipe_config


def write_folder(root, corrupt=True):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, name in enumerate(("cat", "dog")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(4):
                pixels = rng.integers(0, 60, (40, 48, 3), dtype=np.uint8) + 120 * c
                Image.fromarray(pixels).save(folder / f"{i}.png")
    if corrupt:
        (root / "train" / "cat" / "broken.jpg").write_bytes(b"not a jpeg at all")


def folder_config(tmp_path, root, **extra):
    base = {"data.dataset": "folder", "data.root": str(root), "data.image_size": "32",
            "data.workers": "0", "model.name": "resnet18", "batch_size": "4",
            "eval_batch_size": "4", "epochs": "1", "device": "cpu",
            "out_dir": str(tmp_path / "runs"), "schedule.name": "constant", "optim.lr": "0.01"}
    return recipe_config("synthetic-smoke", {**base, **{k: str(v) for k, v in extra.items()}})


def test_folder_training_skips_and_counts_corrupt_files(tmp_path):
    write_folder(tmp_path / "img")
    summary = train(folder_config(tmp_path, tmp_path / "img", **{"data.skip_corrupt": True}))
    assert summary["skipped_files"] == 1 and summary["steps"] == 2
    skipped = (tmp_path / "runs").glob("*/skipped.txt")
    assert "broken.jpg" in next(skipped).read_text()


def folder_argv(tmp_path):
    """`resnets train` on the image folder tmp_path/img, one tiny epoch."""
    return ["train", "--recipe", "synthetic-smoke", "--data", "folder", "--root",
            str(tmp_path / "img"), "--model", "resnet18", "--batch-size", "4", "--epochs", "1",
            "--device", "cpu", "--out", str(tmp_path / "runs"), "data.image_size=32",
            "data.workers=0", "eval_batch_size=4"]


def test_folder_corrupt_file_error_names_the_file(tmp_path, capsys):
    write_folder(tmp_path / "img")
    assert main(folder_argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "broken.jpg" in err and err.count("\n") == 1


def test_one_line_keeps_the_message_of_a_worker_error():
    wrapped = ("Caught DataError in DataLoader worker process 0.\nOriginal Traceback:\n"
               "  File x\nresnets.errors.DataError: cannot decode image a.jpg")
    assert one_line(wrapped) == "cannot decode image a.jpg"
    assert one_line("plain message") == "plain message"


def test_num_classes_must_match_the_data(tmp_path):
    cfg = recipe_config("synthetic-smoke", {"model.num_classes": "7", "device": "cpu",
                                            "out_dir": str(tmp_path)})
    with pytest.raises(DataError, match="model.num_classes=7 but the synthetic data has 10"):
        train(cfg)


def test_bf16_and_channels_last_evaluation_agree_with_fp32():
    torch.manual_seed(0)
    model = create_model("resnet20").eval()
    batches = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))) for _ in range(2)]
    cpu = torch.device("cpu")
    ref = evaluate(model, batches, 10, cpu)
    fast = evaluate(model.to(memory_format=torch.channels_last), batches, 10, cpu,
                    channels_last=True)
    assert abs(ref["loss"] - fast["loss"]) < 1e-4
    assert torch.equal(ref["confusion"], fast["confusion"])
    half = evaluate(model, batches, 10, cpu, precision="bf16")
    assert abs(ref["loss"] - half["loss"]) < 0.05 * max(ref["loss"], 1)


def test_bf16_channels_last_training_runs_finite(tmp_path):
    cfg = recipe_config("synthetic-smoke", {
        "precision": "bf16", "channels_last": "true", "device": "cpu", "epochs": "1",
        "data.synthetic_size": "32", "batch_size": "16", "out_dir": str(tmp_path),
        "optim.label_smoothing": "0.1", "optim.grad_clip": "1.0"})
    summary = train(cfg)
    assert summary["steps"] == 2 and 0 <= summary["test_error"] <= 1


def test_training_batches_reach_the_training_device_in_its_memory_format():
    from resnets.train.evaluate import batch_to_device

    images, labels = torch.rand(2, 3, 4, 4), torch.tensor([0, 1])
    moved, moved_labels = batch_to_device(images, labels, torch.device("meta"), False)
    assert moved.device.type == "meta" and moved_labels.device.type == "meta"
    nhwc, _ = batch_to_device(images, labels, torch.device("cpu"), channels_last=True)
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and torch.equal(nhwc, images)
    tokens = torch.zeros(2, 7, dtype=torch.long)  # text: no memory format applies
    assert batch_to_device(tokens, labels, torch.device("cpu"), True)[0].is_contiguous()


def test_folder_batches_are_pinned_only_for_a_gpu(tmp_path):
    from resnets.train.pipeline import build_pipeline

    write_folder(tmp_path / "img", corrupt=False)
    cfg = folder_config(tmp_path, tmp_path / "img")
    assert build_pipeline(cfg, torch.device("cuda")).train.pin_memory  # built, not iterated
    assert not build_pipeline(cfg, torch.device("cpu")).train.pin_memory


def test_a_corrupt_val_image_stops_training_before_the_first_step(tmp_path, capsys):
    write_folder(tmp_path / "img", corrupt=False)
    whole = (tmp_path / "img/val/dog/0.png").read_bytes()
    (tmp_path / "img/val/dog/cut.png").write_bytes(whole[:60])  # header, no pixels
    assert main(folder_argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "val/dog/cut.png" in err and "1 of 9 images" in err
    # Stopped before the first step: the run directory made for it is gone again.
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
