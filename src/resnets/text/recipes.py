"""The recipe that ``resnets text train`` runs unless told otherwise (``resnets recipes``)."""

from ..train.recipes import Recipe, register_recipes

CONNEAU = "Conneau et al. 2017, arXiv:1606.01781 (VDCNN); a cosine schedule for the plateaus"

# Conneau et al. train with SGD, batch 128, lr 0.01, momentum 0.9, halving the lr on
# plateaus; a cosine schedule stands in for the plateau rule.
TEXT_RECIPE = Recipe(
    "ag-news-vdcnn9",
    "VDCNN-9 on AG News-style CSV files (data.root=DIR), 15 epochs",
    CONNEAU,
    {"data.dataset": "text", "model.name": "vdcnn9", "batch_size": 128, "epochs": 15,
     "optim.lr": 0.01, "optim.momentum": 0.9, "optim.weight_decay": 0.0,
     "schedule.name": "cosine", "schedule.warmup_iters": 0, "eval_batch_size": 256},
)

register_recipes([TEXT_RECIPE])
