"""The settings that the speech and text pipelines refuse, before a file is read."""

import pytest
import torch

from resnets.errors import DataError
from resnets.speech.data import build_pipeline as speech_pipeline
from resnets.text.data import build_pipeline as text_pipeline
from resnets.train.config import TrainConfig, apply_overrides

PIPELINES = [("speech", speech_pipeline, "a Speech Commands folder"),
             ("text", text_pipeline, "a folder with train.csv and test.csv")]


@pytest.mark.parametrize("dataset, build, layout", PIPELINES, ids=["speech", "text"])
def test_an_empty_root_names_the_folder_each_task_reads(dataset, build, layout):
    cfg = apply_overrides(TrainConfig(), {"data.dataset": dataset})
    with pytest.raises(DataError, match=f"data.root is empty: point it at {layout}"):
        build(cfg, torch.device("cpu"))


@pytest.mark.parametrize("setting", ["data.mixup_alpha=0.2", "data.cutmix_alpha=1",
                                     "adv.method=pgd"])
@pytest.mark.parametrize("dataset, build, layout", PIPELINES, ids=["speech", "text"])
def test_image_only_training_is_refused_before_any_file_is_read(dataset, build, layout,
                                                                 setting, tmp_path):
    key, value = setting.split("=")
    cfg = apply_overrides(TrainConfig(), {"data.dataset": dataset,
                                          "data.root": str(tmp_path / "absent"), key: value})
    with pytest.raises(DataError, match=f"are for images; switch them off for {dataset}$"):
        build(cfg, torch.device("cpu"))
