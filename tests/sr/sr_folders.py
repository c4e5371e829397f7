"""Small folders of high-resolution images for the super-resolution tests."""

import numpy as np
from PIL import Image


def write_image(path, width, height, channels=3, seed=0):
    """A smooth image with some texture: bicubic upsampling does not restore it exactly."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    planes = [np.sin(6 * x + k) * np.cos(4 * y - k) for k in range(channels)]
    pixels = (np.stack(planes, -1) + 0.3 * rng.standard_normal((height, width, channels)))
    pixels = ((pixels - pixels.min()) / np.ptp(pixels) * 255).astype(np.uint8)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(path)
    return path


def image_folders(root, channels=3):
    """train/ with two images of unequal sizes and val/ with one."""
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()
    write_image(root / "train" / "a.png", 40, 36, channels, seed=1)
    write_image(root / "train" / "b.png", 34, 44, channels, seed=2)
    write_image(root / "val" / "c.png", 30, 26, channels, seed=3)
    return root
