"""Continual learning: a network learns tasks of new classes one after another.

``splits`` cuts a classification dataset into class-incremental tasks, ``strategies`` holds
the ways to learn them (fine-tuning, experience replay, EWC, LwF), ``metrics`` scores the
accuracy matrix (average accuracy, forgetting, backward transfer) and ``runner`` trains a
sequence and writes a run directory; ``resnets continual`` is ``cli.main``.
"""
