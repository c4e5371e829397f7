"""The recipe that ``resnets speech train`` runs unless told otherwise (``resnets recipes``)."""

from ..train.recipes import Recipe, register_recipes

TANG_LIN = "Tang & Lin 2018, arXiv:1710.10361 (res8); the schedule: this project"

# Tang & Lin train with SGD, momentum 0.9, weight decay 1e-5 and lr 0.1 lowered over time.
SPEECH_RECIPE = Recipe(
    "speech-commands-res8",
    "res8 keyword spotting on a Speech Commands folder (data.root=DIR), 20 epochs",
    TANG_LIN,
    {"data.dataset": "speech", "model.name": "res8", "batch_size": 64, "epochs": 20,
     "optim.lr": 0.1, "optim.momentum": 0.9, "optim.weight_decay": 1e-5,
     "schedule.name": "cosine", "schedule.warmup_iters": 50, "eval_batch_size": 256},
)

register_recipes([SPEECH_RECIPE])
