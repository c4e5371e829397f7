"""The recipes of ``resnets detect train --recipe NAME`` (listed by ``resnets recipes``)."""

from __future__ import annotations

from ..train.recipes import Recipe, register_recipes

TORCHVISION_DETECTION = ("torchvision references/detection (README: fasterrcnn_resnet50_fpn, "
                         "--epochs 26 --lr-steps 16 22 on 8 GPUs; train.py defaults: batch 2 "
                         "per GPU, lr 0.02, momentum 0.9, weight decay 1e-4, gamma 0.1, "
                         "linear warm-up from lr/1000 over 1000 iterations)")

register_recipes([
    Recipe("shapes-fasterrcnn",
           "Faster R-CNN, ResNet-18 from scratch on `resnets detect synth` shapes, 200 steps",
           "docs/detection.md (measured on the synthetic shapes)",
           {"detector.arch": "fasterrcnn", "detector.backbone": "resnet18",
            "detector.norm": "batch", "detector.trainable_layers": 5,
            "detector.min_size": 128, "detector.max_size": 128, "detector.anchor_size": 16,
            "detector.fpn_channels": 128, "detector.box_head_size": 256,
            "detector.rois_per_image": 128, "optim.name": "adamw", "optim.lr": 0.001,
            "schedule.warmup_iters": 50, "iterations": 200},
           task="detection"),
    Recipe("coco-fasterrcnn-resnet50-fpn",
           "Faster R-CNN R50-FPN on COCO: 26 epochs of batch 16, lr 0.02 /10 at 16 and 22",
           TORCHVISION_DETECTION,
           {"detector.arch": "fasterrcnn", "detector.backbone": "resnet50",
            "detector.norm": "frozen", "detector.trainable_layers": 3,
            "detector.min_size": 800, "detector.max_size": 1333, "iterations": 0,
            "epochs": 26, "batch_size": 16, "optim.name": "sgd", "optim.lr": 0.02,
            "optim.momentum": 0.9, "optim.weight_decay": 1e-4,
            "optim.decay_norm_and_bias": True, "optim.grad_clip": 0.0,
            "schedule.name": "multistep", "schedule.milestone_epochs": (16, 22),
            "schedule.gamma": 0.1, "schedule.warmup_iters": 1000,
            "schedule.warmup_lr": 0.02 / 1000, "schedule.warmup_mode": "linear"},
           task="detection"),
])
