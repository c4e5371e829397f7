"""Class-incremental task splits: the classes of a dataset, seen a few at a time.

Task ``t`` holds every training and test image of its classes. Labels keep their original
values and the network keeps one head over all classes, so after several tasks it must tell
apart classes it never saw together (the class-incremental scenario of van de Ven and Tolias,
2019, "Three scenarios for continual learning").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import ArrayDataset
from ..errors import DataError


@dataclass(frozen=True)
class Task:
    """One step of the sequence: its classes and their images."""

    index: int  # position in the sequence, from 0
    classes: tuple[int, ...]  # labels of the task's classes (indices into the dataset's)
    train: ArrayDataset  # every training image of those classes
    test: ArrayDataset  # every test image of those classes

    @property
    def name(self) -> str:
        return f"task{self.index + 1}"


def class_order(num_classes: int, seed: int) -> list[int]:
    """The order in which classes arrive: 0, 1, 2, ... for seed -1, else a seeded shuffle."""
    if seed == -1:
        return list(range(num_classes))
    if seed < 0:
        raise DataError(f"the class order seed must be >= 0, or -1 for the natural order; "
                        f"got {seed}")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(num_classes, generator=generator).tolist()


def task_classes(order: list[int], num_tasks: int) -> list[tuple[int, ...]]:
    """``order`` cut into ``num_tasks`` consecutive groups; sizes differ by at most one
    (the first tasks get the extra classes)."""
    if not 1 <= num_tasks <= len(order):
        raise DataError(f"cannot split {len(order)} classes into {num_tasks} tasks; use "
                        f"--tasks between 1 and {len(order)}")
    size, extra = divmod(len(order), num_tasks)
    groups, start = [], 0
    for t in range(num_tasks):
        end = start + size + (t < extra)
        groups.append(tuple(order[start:end]))
        start = end
    return groups


def only_classes(ds: ArrayDataset, classes: tuple[int, ...]) -> ArrayDataset:
    """The samples of ``ds`` whose label is in ``classes``, in their original order."""
    keep = torch.isin(ds.labels, torch.tensor(classes, dtype=torch.long))
    return ds.subset(torch.nonzero(keep).flatten())


def split_tasks(train: ArrayDataset, test: ArrayDataset, num_tasks: int,
                order_seed: int = -1) -> list[Task]:
    """Class-incremental tasks of ``train``/``test`` with the class order of ``order_seed``."""
    if train.classes != test.classes:
        raise DataError("the training and test sets name different classes")
    groups = task_classes(class_order(train.num_classes, order_seed), num_tasks)
    tasks = [Task(i, group, only_classes(train, group), only_classes(test, group))
             for i, group in enumerate(groups)]
    for task in tasks:
        if not len(task.train) or not len(task.test):
            names = ", ".join(train.classes[c] for c in task.classes)
            raise DataError(f"{task.name} (classes {names}) has no training or no test "
                            "images; check the dataset")
    return tasks
