"""Text classification: AG News-style CSV folders, a character vocabulary, a demo set.

``resnets train data.dataset=text data.root=DIR model.name=vdcnn9`` trains through the
normal engine (see :mod:`resnets.text.data`); ``resnets text`` adds demo, train, evaluate
and predict commands (docs/text.md).
"""

from .csvdata import read_csv_dataset
from .vocab import Vocabulary

from . import data  # noqa: F401 (registers the data.dataset=text pipeline)

__all__ = ["Vocabulary", "read_csv_dataset"]
