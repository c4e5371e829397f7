"""The papers' claims as commands: ``resnets experiment NAME`` (see ``catalog.py``).

Each experiment trains its member runs (normal run directories) inside one output directory
and writes figures (PNG), the raw numbers (CSV), ``report.md`` and ``experiment.json``.
"""
