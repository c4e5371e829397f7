"""Continual learning: a network learns tasks of new classes one after another.

``splits`` cuts a classification dataset into class-incremental tasks, ``strategies`` holds
the ways to learn them (fine-tuning, experience replay, EWC, LwF), ``metrics`` scores the
accuracy matrix (average accuracy, forgetting, backward transfer), ``config`` is the
configuration (an engine configuration with a ``continual`` section) and its recipes,
``task`` makes each experience one engine run and ``runner`` trains the sequence in one run
directory; ``resnets continual`` is ``cli.main``.
"""
