"""Single-image super-resolution with EDSR and VDSR: patches of high-resolution folders,
L1 loss, PSNR and SSIM on the luminance against bicubic upsampling."""

from . import recipes  # noqa: F401 (registers the recipes of `resnets sr train`)
from . import task  # noqa: F401 (registers the task those recipes configure)
