"""Tar shards (data.dataset=webdataset): indexing, bad shards in one line, every sample once
per epoch over processes x workers, and a `resnets train` on generated shards."""

import io
import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from resnets.cli import main
from resnets.data.shards import TarShardDataset, expand_braces, shard_paths, write_shards
from resnets.data.steps import StepLoader
from resnets.errors import DataError


def jpeg(seed, size=(20, 24)):
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG")
    return out.getvalue()


def make_shards(folder, count=10, per_shard=4, classes=2):
    return write_shards(((jpeg(i), ".jpg", i % classes) for i in range(count)), folder,
                        per_shard=per_shard)


def test_shards_hold_every_sample_with_its_label(tmp_path):
    paths = make_shards(tmp_path / "s", count=10, per_shard=4)
    assert [p.name for p in paths] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    ds = TarShardDataset(shard_paths(str(tmp_path / "s")))
    assert len(ds) == 10 and ds.classes == ["0", "1"] and ds.targets == [i % 2 for i in range(10)]
    image, label = ds[5]
    assert image.shape == (3, 20, 24) and image.dtype == torch.uint8 and label == 1
    expected = torch.from_numpy(np.asarray(Image.open(io.BytesIO(jpeg(5))))).permute(2, 0, 1)
    assert (image.int() - expected.int()).abs().max() <= 2


def test_brace_patterns_name_shards_and_a_missing_one_is_refused(tmp_path):
    make_shards(tmp_path, count=10, per_shard=4)
    assert expand_braces("a{08..10}{x,y}") == ["a08x", "a08y", "a09x", "a09y", "a10x", "a10y"]
    pattern = str(tmp_path / "shard-{000000..000002}.tar")
    assert len(TarShardDataset(shard_paths(pattern))) == 10
    with pytest.raises(DataError, match=r"shard .*shard-000003.tar not found"):
        shard_paths(str(tmp_path / "shard-{000000..000003}.tar"))
    with pytest.raises(DataError, match="no .tar shards in"):
        shard_paths(str(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else ""))


def write_tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.mark.parametrize("members,message", [
    ({"k.jpg": jpeg(0)}, r"sample 'k' has no k.cls"),
    ({"k.cls": b"1"}, r"sample 'k' has no an image"),
    ({"k.jpg": jpeg(0), "k.cls": b"cat"}, r"k.cls holds 'cat', not a class index"),
    ({"k.jpg": b"not a jpeg", "k.cls": b"0"}, r"cannot read image .*bad.tar:k.jpg .*skip_corrupt"),
])
def test_bad_shards_are_one_line_errors(tmp_path, members, message):
    shard = write_tar(tmp_path / "bad.tar", members)
    with pytest.raises(DataError, match=message) as err:
        TarShardDataset([shard])
    assert "\n" not in str(err.value)


def test_an_unreadable_shard_and_skipped_samples(tmp_path):
    (tmp_path / "junk.tar").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DataError, match=r"cannot read shard .*junk.tar"):
        TarShardDataset([str(tmp_path / "junk.tar")])
    shard = write_tar(tmp_path / "mixed.tar", {"a.jpg": jpeg(0), "a.cls": b"0",
                                               "b.jpg": b"broken", "b.cls": b"1"})
    ds = TarShardDataset([shard], skip_corrupt=True)
    assert len(ds) == 1 and ds.skipped == [f"{shard}:b.jpg"]


class Keys(torch.utils.data.Dataset):
    def __init__(self, size):
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        info = torch.utils.data.get_worker_info()
        return index, -1 if info is None else info.id


@pytest.mark.parametrize("world_size,workers", [(1, 0), (2, 2), (4, 1)])
def test_every_sample_is_served_once_per_epoch_over_processes_and_workers(world_size, workers):
    size, batch = 48, 8
    seen, served_by = [], set()
    for rank in range(world_size):
        loader = StepLoader(Keys(size), batch, seed=1, workers=workers, drop_last=True,
                            rank=rank, world_size=world_size)
        loader.set_epoch(3)
        for indices, worker_ids in loader:
            assert len(indices) == batch // world_size
            seen += indices.tolist()
            served_by |= {(rank, int(w)) for w in worker_ids}
    assert sorted(seen) == list(range(size))
    assert len(served_by) == world_size * max(workers, 1)  # every process's every worker


@pytest.mark.slow  # 27 s on a 2-core Xeon; the shard reader tests stay quick
def test_resnets_train_reads_generated_shards(tmp_path, capsys):
    make_shards(tmp_path / "shards" / "train", count=8, per_shard=3)
    make_shards(tmp_path / "shards" / "val", count=4, per_shard=4)
    argv = ["train", "--recipe", "synthetic-smoke", "--model", "resnet18", "--batch-size", "4",
            "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "runs"),
            "data.dataset=webdataset", f"data.root={tmp_path / 'shards'}",
            "data.image_size=16", "data.workers=0", "eval_batch_size=4", "run_name=w"]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "runs" / "w" / "summary.json").read_text())
    assert summary["steps"] == 2 and 0 <= summary["test_error"] <= 1
    from resnets.data import decode_image, imagenet_eval_transform
    from resnets.train.inference import preprocess
    from resnets.train.setup import load_run_config

    (tmp_path / "x.jpg").write_bytes(jpeg(1, size=(40, 30)))  # predicted as evaluated
    cfg = load_run_config(tmp_path / "runs" / "w")
    expected = imagenet_eval_transform(16)(decode_image(tmp_path / "x.jpg"))
    assert torch.equal(preprocess(tmp_path / "x.jpg", {"image_size": 16}, cfg)[0], expected)
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    assert main([*argv[:-1], f"data.root={tmp_path / 'empty'}", "run_name=x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.val_root is empty" in err


def test_shards_under_ddp_serve_every_sample_once_per_epoch(tmp_path):
    from resnets.train.pipeline import build_pipeline
    from resnets.train.recipes import recipe_config

    make_shards(tmp_path / "train", count=12, per_shard=5, classes=12)  # label = sample
    make_shards(tmp_path / "val", count=4, per_shard=4, classes=12)
    cfg = recipe_config("synthetic-smoke", {
        "data.dataset": "webdataset", "data.root": str(tmp_path), "data.workers": "0",
        "data.image_size": "8", "batch_size": "4", "model.name": "resnet18", "device": "cpu"})
    shards = [build_pipeline(cfg, torch.device("cpu"), r, 2) for r in (0, 1)]
    for epoch in (0, 1):
        labels = []
        for pipe in shards:
            pipe.train.set_epoch(epoch)
            labels += [int(y) for _, ys in pipe.train for y in ys]
        assert sorted(labels) == list(range(12))


def test_an_image_folder_becomes_shards_with_the_same_files_and_labels(tmp_path):
    from resnets.data.folder import ImageFolderDataset
    from resnets.data.shards import folder_to_shards

    for split in ("train", "val"):
        for c in ("cat", "dog"):
            folder = tmp_path / "img" / split / c
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}.jpg").write_bytes(jpeg(i + 10 * (c == "dog")))
    written = folder_to_shards(tmp_path / "img", tmp_path / "out", per_shard=4)
    assert [len(written["train"]), len(written["val"])] == [2, 2]  # 6 samples, 4 a shard
    folder = ImageFolderDataset(tmp_path / "img", "train")
    shards = TarShardDataset(shard_paths(str(tmp_path / "out" / "train")))
    assert shards.targets == folder.targets and len(shards) == 6
    for i in range(6):
        assert torch.equal(shards[i][0], folder[i][0])
