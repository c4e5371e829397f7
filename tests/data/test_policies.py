"""Augmentation policies: one seeded torchvision v2 draw per image, folders and memory alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from resnets.data.base import ArrayDataset
from resnets.data.folder import ImageFolderDataset
from resnets.data.loader import InMemoryLoader
from resnets.data.steps import SeededItems
from resnets.data.policies import (POLICIES, PerImagePolicy, erasing_transform,
                                   image_seed, policy_transform)
from resnets.errors import DataError, ResnetsError
from resnets.train.config import TrainConfig, apply_overrides, check_settings

APPLIED = [name for name in POLICIES if name != "none"]


def random_images(n: int, side: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, side, side), generator=gen, dtype=torch.uint8)


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float 0..1 exactly as the policies convert (v2's to_dtype)."""
    return v2.functional.to_dtype(images, torch.float32, scale=True)


def indexed(images: torch.Tensor) -> ArrayDataset:
    """Image k has label k, so a batch's labels say which images it holds."""
    n = len(images)
    return ArrayDataset(images, torch.arange(n), [str(k) for k in range(n)])


@pytest.mark.parametrize("name", APPLIED)
def test_a_policy_changes_images_and_the_same_seeds_repeat_it(name):
    batch = random_images(16)
    policy = PerImagePolicy(policy_transform(name))
    seeds = [image_seed(0, 0, k, 0) for k in range(16)]
    out = policy(batch, seeds)
    assert out.dtype == torch.float32 and out.shape == batch.shape
    changed = [not torch.equal(o, as_float(b)) for o, b in zip(out, batch)]
    assert sum(changed) >= 8  # TrivialAugment's identity op is 1 of 14
    assert torch.equal(policy(batch, seeds), out)
    other = policy(batch, [image_seed(1, 0, k, 0) for k in range(16)])
    assert not torch.equal(other, out)


@pytest.mark.parametrize("name", APPLIED)
def test_each_image_of_a_batch_gets_its_own_draw(name):
    same = random_images(1).expand(32, -1, -1, -1).contiguous()  # one image, 32 times
    out = PerImagePolicy(policy_transform(name))(same, [image_seed(0, 0, k, 0)
                                                        for k in range(32)])
    distinct = {tuple(o.flatten().tolist()) for o in out}
    assert len(distinct) >= 12
    if name != "augmix":  # its mixing weights are per image, its op chains per batch
        # What the module avoids: v2 given the whole batch draws once for all of it.
        torch.manual_seed(0)
        whole = policy_transform(name)(same)
        assert len({tuple(o.flatten().tolist()) for o in whole}) == 1


def test_random_erasing_hits_its_share_of_images_with_the_fill_value():
    batch = random_images(400, side=12)
    fill = [0.25, 0.5, 0.75]
    out = PerImagePolicy(None, erasing=0.3, fill=fill)(
        batch, [image_seed(0, 0, k, 0) for k in range(400)])
    erased = [not torch.equal(o, as_float(b)) for o, b in zip(out, batch)]
    assert 0.22 < sum(erased) / 400 < 0.38  # binomial(400, 0.3): 0.3 +- 4 sd
    image = out[erased.index(True)]
    boxed = image != as_float(batch[erased.index(True)])
    for c, value in enumerate(fill):
        assert torch.all(image[c][boxed[c]] == value)


def test_policies_leave_the_global_generators_as_they_were():
    state = torch.get_rng_state()
    PerImagePolicy(policy_transform("augmix"), erasing=0.5)(
        random_images(4), [image_seed(0, 0, k, 0) for k in range(4)])
    assert torch.equal(torch.get_rng_state(), state)


def test_an_image_s_draws_do_not_depend_on_its_batch_or_process():
    ds = indexed(random_images(24))
    policy = PerImagePolicy(policy_transform("trivialaugment"), erasing=0.5)

    def by_label(**kw):
        loader = InMemoryLoader(ds, per_image=policy, seed=3, **kw)
        return {int(y): x for xb, yb in loader for x, y in zip(xb, yb)}

    alone = by_label(batch_size=4)
    for other in (by_label(batch_size=12), {**by_label(batch_size=6, rank=0, world_size=2),
                                             **by_label(batch_size=6, rank=1, world_size=2)}):
        assert other.keys() == alone.keys()
        assert all(torch.equal(other[k], alone[k]) for k in alone)


def write_png_folder(root, images: torch.Tensor) -> None:
    """One class folder holding images 0.png, 1.png, ... (sorted in that order)."""
    (root / "only").mkdir(parents=True)
    for k, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "only" / f"{k:02d}.png")


@pytest.mark.parametrize("name", ["randaugment", "autoaugment"])
def test_folder_and_memory_paths_give_each_key_the_same_image(tmp_path, name):
    images = random_images(6)
    write_png_folder(tmp_path, images)
    policy = policy_transform(name, randaugment_magnitude=12, autoaugment_policy="cifar10")
    folder = SeededItems(ImageFolderDataset(tmp_path, None, transform=v2.Compose([
        v2.ToImage(), policy, v2.ToDtype(torch.float32, scale=True), v2.ToPureTensor()])))
    keys = [(2, k, k % 2) for k in range(6)]
    memory = PerImagePolicy(policy)(images, [image_seed(5, *key) for key in keys])
    for (_, index, copy), expected in zip(keys, memory):
        image, _ = folder[index, image_seed(5, 2, index, copy)]
        assert torch.equal(image, expected)
    assert not torch.equal(memory, as_float(images))


@pytest.mark.parametrize("call, message", [
    (lambda: policy_transform("trivial"), "did you mean 'trivialaugment'"),
    (lambda: policy_transform("randaugment", randaugment_magnitude=31), "0..30"),
    (lambda: policy_transform("autoaugment", autoaugment_policy="mnist"), "imagenet, cifar10"),
    (lambda: erasing_transform(1.5), r"\[0, 1\]"),
    (lambda: PerImagePolicy(None, 0.5)(random_images(2).float(), [1, 2]), "uint8"),
])
def test_bad_policy_arguments_are_one_line_errors(call, message):
    with pytest.raises(DataError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("key, value", [
    ("data.policy", "randomaugment"), ("data.randaugment_magnitude", "31"),
    ("data.randaugment_ops", "0"), ("data.autoaugment_policy", "mnist"),
    ("data.augmix_severity", "11"), ("data.erasing", "1.5"), ("data.repeated_aug", "0"),
    ("data.repeated_aug", "17"), ("optim.loss", "mse"), ("optim.bce_threshold", "1"),
    ("data.eval_size", "-1"),
])
def test_bad_settings_are_one_line_errors(key, value):
    with pytest.raises(ResnetsError, match=key.split(".")[1]) as err:
        apply_overrides(TrainConfig(), {key: value})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("pairs, message", [
    ({"data.dataset": "speech", "model.name": "res8", "data.policy": "augmix"}, "not audio"),
    ({"optim.bce_threshold": "0.2"}, "optim.loss=bce"),
    ({"optim.loss": "bce", "adv.method": "pgd"}, "optim.loss=ce"),
])
def test_settings_that_do_not_go_together_are_refused(pairs, message):
    with pytest.raises(ResnetsError, match=message):
        check_settings(apply_overrides(TrainConfig(), pairs))


def test_the_pixels_the_folder_pipeline_starts_from_are_uint8():
    # The policy stage of imagenet_train_transform runs before ToDtype: on uint8 pixels, as
    # the in-memory path hands them over (v2's ops round differently on floats).
    from resnets.data.transforms import imagenet_train_transform

    seen = []

    class Spy(torch.nn.Module):
        def forward(self, image):
            seen.append(image.dtype)
            return image

    transform = imagenet_train_transform(8, policy=Spy(), erasing=erasing_transform(1.0))
    out = transform(Image.fromarray(np.zeros((10, 10, 3), np.uint8) + 90))
    assert seen == [torch.uint8] and out.shape == (3, 8, 8)
    assert (out == 0).any()  # erased after normalisation: zeros
