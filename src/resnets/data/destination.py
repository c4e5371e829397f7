"""The folder a generator (``detect synth``, ``segment synth``, ``text demo``, ``speech demo``)
writes into: new or empty, unless the user passes ``--force``.

A generator writes fixed names (``train.csv``, ``annotations.json``, ``images/00000.png``), so
pointed at a folder of real data it would replace the user's files. It refuses a folder that
holds anything; with ``--force`` it replaces only the files of the names it writes and never
deletes anything else.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import ResnetsError
from ..files import check_writable

FORCE_HELP = ("write into a folder that already holds files: those of the names written are "
              "replaced, nothing else is deleted")


def add_force_option(parser: argparse.ArgumentParser) -> None:
    """The ``--force`` option of every generator command."""
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)


def prepare_destination(folder: str | os.PathLike, force: bool = False) -> Path:
    """``folder``, created and checked writable; refused in one line if it holds anything
    and ``force`` is not set."""
    folder = Path(folder)
    if folder.is_dir() and not force:
        entries = sorted(os.listdir(folder))
        if entries:
            shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more"
                                              if len(entries) > 3 else "")
            raise ResnetsError(f"{str(folder)!r} is not empty (it holds {shown}); choose a new "
                               "or empty folder, or pass --force to replace the files of the "
                               "names this command writes (nothing else is deleted)")
    return check_writable(folder)
