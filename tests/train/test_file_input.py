"""Image-folder training with kept (persistent) loader workers resumes bit-for-bit, and the
loader settings reach the DataLoader."""

import pytest
import torch

from resnets.train.checkpoint import CheckpointManager
from resnets.train.context import StopAfterStep
from resnets.train.engine import train
from resnets.train.pipeline import build_pipeline
from test_engine_options import folder_config, write_folder


def test_folder_run_with_kept_workers_resumes_bitwise_identical(tmp_path):
    write_folder(tmp_path / "img", corrupt=False)  # 8 training images: 2 steps an epoch
    settings = {"data.workers": 2, "epochs": 2, "deterministic": "true",
                "model.name": "resnet20", "data.image_size": 16}
    straight = folder_config(tmp_path, tmp_path / "img", run_name="straight", **settings)
    train(straight)
    broken = folder_config(tmp_path, tmp_path / "img", run_name="broken", **settings)
    with pytest.raises(SystemExit):
        train(broken, hooks=[StopAfterStep(3)])  # inside the second epoch
    train(broken, resume_dir=tmp_path / "runs" / "broken")
    a = CheckpointManager(tmp_path / "runs" / "straight").load_latest()["model"]
    b = CheckpointManager(tmp_path / "runs" / "broken").load_latest()["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_prefetch_and_persistence_settings_reach_the_loaders(tmp_path):
    write_folder(tmp_path / "img", corrupt=False)
    cfg = folder_config(tmp_path, tmp_path / "img", **{
        "data.workers": 1, "data.prefetch_factor": 5, "data.persistent_workers": "false",
        "data.decoder": "pil"})
    pipe = build_pipeline(cfg, torch.device("cpu"))
    loader = pipe.train._build_loader()
    assert loader.prefetch_factor == 5 and not loader.persistent_workers
    assert pipe.test.prefetch_factor == 5
    assert pipe.train.dataset.decoder == "pil"
    kept = build_pipeline(folder_config(tmp_path, tmp_path / "img", **{"data.workers": 1}),
                          torch.device("cpu"))
    assert kept.train._build_loader().persistent_workers
    assert kept.train.dataset.decoder == "torchvision"  # auto: the measured fastest
