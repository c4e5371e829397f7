"""Scores of a task sequence from its accuracy matrix.

``R[i][j]`` is the test accuracy on task j after training on tasks 0..i (a fraction). From it:

* average accuracy after task i: A_i = mean_{j <= i} R[i][j];
* forgetting of task j after task i (Chaudhry et al. 2018, "Riemannian Walk for Incremental
  Learning", Eq. 8): f_j^i = max_{k < i} R[k][j] - R[i][j], the drop from the best accuracy
  ever reached on task j; the forgetting after task i averages it over j < i;
* backward transfer (Lopez-Paz and Ranzato 2017, "Gradient Episodic Memory", Eq. 4):
  BWT = mean_{j < T-1} (R[T-1][j] - R[j][j]), negative when learning later tasks hurts the
  earlier ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import ResnetsError

Matrix = Sequence[Sequence[float]]


def check_matrix(matrix: Matrix) -> int:
    """The number of tasks trained so far (rows) of an accuracy matrix, or a ResnetsError.

    A finished run's matrix is square; while it runs, it has one row per task trained.
    """
    rows = len(matrix)
    width = len(matrix[0]) if rows else 0
    if rows == 0 or rows > width or any(len(row) != width for row in matrix):
        raise ResnetsError(f"an accuracy matrix has one row per task trained and one column "
                           f"per task (at least as many); got rows of lengths "
                           f"{[len(row) for row in matrix]}")
    return rows


def average_accuracy(matrix: Matrix, after: int | None = None) -> float:
    """A_i: the mean accuracy over tasks 0..i after task i (default: the last task)."""
    size = check_matrix(matrix)
    i = size - 1 if after is None else after
    return sum(matrix[i][: i + 1]) / (i + 1)


def forgetting(matrix: Matrix, after: int | None = None) -> float:
    """Mean over j < i of max_{k < i} R[k][j] - R[i][j] (0 after the first task)."""
    size = check_matrix(matrix)
    i = size - 1 if after is None else after
    if i == 0:
        return 0.0
    drops = [max(matrix[k][j] for k in range(i)) - matrix[i][j] for j in range(i)]
    return sum(drops) / i


def backward_transfer(matrix: Matrix) -> float:
    """BWT = mean over j < T-1 of R[T-1][j] - R[j][j] (0 for a single task)."""
    size = check_matrix(matrix)
    if size == 1:
        return 0.0
    last = size - 1
    return sum(matrix[last][j] - matrix[j][j] for j in range(last)) / last


def summarise(matrix: Matrix) -> dict:
    """Every score, after every task and at the end."""
    size = check_matrix(matrix)
    return {"average_accuracy": average_accuracy(matrix),
            "forgetting": forgetting(matrix),
            "backward_transfer": backward_transfer(matrix),
            "average_accuracy_per_task": [average_accuracy(matrix, i) for i in range(size)],
            "forgetting_per_task": [forgetting(matrix, i) for i in range(size)]}


def matrix_figure(matrix: Matrix, path: Path, title: str) -> Path:
    """The matrix as a heat map with the accuracy (%) written in each cell."""
    from ..train.logger import pyplot, save_figure

    size = check_matrix(matrix)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * size, 0.8 + 0.8 * size))
    ax.imshow([[100 * v for v in row] for row in matrix], vmin=0, vmax=100, cmap="viridis")
    for i in range(size):
        for j in range(size):
            value = 100 * matrix[i][j]
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8,
                    color="black" if value > 60 else "white")
    ticks = list(range(size))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks])
    ax.set_yticks(ticks, [str(t + 1) for t in ticks])
    ax.set(xlabel="evaluated on task", ylabel="after training task", title=title)
    return save_figure(fig, path, dpi=80, tight=True)
