"""The applications under ``resnets``: each task package's command, and the packages whose
import registers their recipes, data pipelines and tasks.

A new application adds one line to :data:`APP_COMMANDS` (and its package to
:data:`TASK_PACKAGES` when it registers recipes or a task); ``cli`` reads both.
"""

from __future__ import annotations

import importlib
import importlib.util

# Applications: each module parses its own arguments, main(argv) -> exit status.
APP_COMMANDS = {
    "embed": ("resnets.transfer.cli:embed_main", "feature vectors of a folder of images"),
    "probe": ("resnets.transfer.cli:probe_main", "linear-probe evaluation of a backbone"),
    "detect": ("resnets.detection.cli:main", "object detection: train|evaluate|predict"),
    "segment": ("resnets.segmentation.cli:main", "semantic segmentation: train|evaluate|predict"),
    "speech": ("resnets.speech.cli:main", "keyword spotting: train|evaluate|predict"),
    "text": ("resnets.text.cli:main", "text classification: train|evaluate|predict"),
    "attack": ("resnets.robust.cli:main", "clean and robust accuracy under attacks"),
    "continual": ("resnets.continual.cli:main", "class-incremental continual learning"),
    "metric": ("resnets.metric.cli:main", "metric learning (ArcFace, triplet): train|pairs"),
    "verify": ("resnets.metric.cli:verify_main", "10-fold verification, TAR@FAR, rank-1"),
    "explain": ("resnets.explain.cli:main", "Grad-CAM heat maps of what a model looks at"),
    "pretrain": ("resnets.selfsup.cli:main", "self-supervised pretraining: train|knn"),
    "gan": ("resnets.gan.cli:main", "residual GANs: train|sample"),
    "translate": ("resnets.translate.cli:main", "image-to-image translation: train|predict"),
    "sr": ("resnets.sr.cli:main", "super-resolution: photos|train|evaluate|predict"),
    "prune": ("resnets.prune.cli:main", "structured pruning of a run to a MAC target, "
              "then fine-tuning"),
    "quantize": ("resnets.quantize.cli:main", "static int8 model of a run, with a latency "
                 "and accuracy report"),
}


# Packages that register recipes and ``data.dataset`` pipelines when imported, and a task in
# their ``task`` module.
TASK_PACKAGES = ("continual", "detection", "gan", "metric", "segmentation", "selfsup",
                 "speech", "sr", "text", "translate")


def register_applications(tasks: bool = False) -> None:
    """Import the task packages: each registers its recipes and any ``data.dataset``
    pipeline of its own when imported. ``tasks``: their ``task`` modules too, which register
    the tasks (and whatever recipes those import): `resnets recipes` lists and resolves all."""
    for name in TASK_PACKAGES:
        package = importlib.import_module(f"resnets.{name}")
        if tasks and importlib.util.find_spec(f"{package.__name__}.task") is not None:
            importlib.import_module(f"{package.__name__}.task")


# Applications that train or read runs of any ``data.dataset`` (speech and text included).
READS_RUN_DATA = ("prune",)


def run_app(command: str, argv: list[str]) -> int:
    """Hand the arguments to an application's own parser."""
    if command in READS_RUN_DATA:
        register_applications()
    module, _, func = APP_COMMANDS[command][0].partition(":")
    return getattr(importlib.import_module(module), func)(argv)
