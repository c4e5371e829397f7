"""The recipes of ``resnets segment train --recipe NAME`` (listed by ``resnets recipes``)."""

from __future__ import annotations

from ..train.recipes import Recipe, register_recipes

TORCHVISION_SEGMENTATION = ("torchvision references/segmentation (README: deeplabv3_resnet50, "
                            "--lr 0.02 -b 4 on 8 GPUs --aux-loss; train.py defaults: 30 "
                            "epochs, momentum 0.9, weight decay 1e-4, crop 480, output stride "
                            "8, auxiliary loss weight 0.5, polynomial lr decay of power 0.9)")

register_recipes([
    Recipe("shapes-deeplabv3",
           "DeepLabV3, ResNet-18 at output stride 16 on `resnets segment synth` shapes",
           "docs/segmentation.md (measured on the synthetic shapes)",
           {"segmenter.head": "deeplabv3", "segmenter.backbone": "resnet18",
            "segmenter.output_stride": 16, "iterations": 150, "batch_size": 8},
           task="segmentation"),
    Recipe("voc-deeplabv3-resnet50",
           "DeepLabV3 R50 at stride 8, 21 VOC classes: 30 epochs of batch 32, lr 0.02 (a "
           "cosine for torchvision's polynomial decay)",
           TORCHVISION_SEGMENTATION,
           {"segmenter.head": "deeplabv3", "segmenter.backbone": "resnet50",
            "segmenter.output_stride": 8, "segmenter.aux_loss": True,
            "data.crop_size": 480, "data.num_classes": 21, "iterations": 0, "epochs": 30,
            "batch_size": 32, "optim.name": "sgd", "optim.lr": 0.02, "optim.momentum": 0.9,
            "optim.weight_decay": 1e-4, "optim.decay_norm_and_bias": True,
            "optim.grad_clip": 0.0, "schedule.name": "cosine", "schedule.warmup_iters": 0},
           task="segmentation"),
])
