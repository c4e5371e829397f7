"""Every command and subcommand of `resnets`, with its parser, for the tests that walk them.

The applications parse their own arguments (``resnets detect ...`` hands the rest of the
command line to ``resnets.detection.cli``); their parsers are built here as they build them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from resnets import cli
from resnets.continual import cli as continual_cli
from resnets.detection import cli as detect_cli
from resnets.explain import cli as explain_cli
from resnets.gan import cli as gan_cli
from resnets.metric import cli as metric_cli
from resnets.prune import cli as prune_cli
from resnets.quantize import cli as quantize_cli
from resnets.robust import cli as attack_cli
from resnets.segmentation import cli as segment_cli
from resnets.selfsup import cli as pretrain_cli
from resnets.speech import cli as speech_cli
from resnets.sr import cli as sr_cli
from resnets.text import cli as text_cli
from resnets.transfer import cli as transfer_cli
from resnets.translate import cli as translate_cli

APP_PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "embed": transfer_cli.build_embed_parser, "probe": transfer_cli.build_probe_parser,
    "detect": detect_cli.build_parser, "segment": segment_cli.build_parser,
    "speech": speech_cli.build_parser, "text": text_cli.build_parser,
    "attack": attack_cli.build_parser, "continual": continual_cli.build_parser,
    "metric": metric_cli.build_parser, "verify": metric_cli.build_verify_parser,
    "explain": explain_cli.build_parser,
    "pretrain": pretrain_cli.build_parser,
    "gan": gan_cli.build_parser, "translate": translate_cli.build_parser,
    "sr": sr_cli.build_parser, "prune": prune_cli.build_parser,
    "quantize": quantize_cli.build_parser,
}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: sub for action in parser._actions
            if isinstance(action, argparse._SubParsersAction)
            for name, sub in action.choices.items()}


def commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command words, parser) of every command below `resnets`, parents before children."""
    out = []

    def walk(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
        out.append((path, parser))
        for name, sub in subcommands(parser).items():
            walk((*path, name), sub)

    for name, sub in subcommands(cli.build_parser()).items():
        walk((name,), APP_PARSERS[name]() if name in cli.APP_COMMANDS else sub)
    return out


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options of ``parser`` that take a value (not --help, not on/off flags, not the
    hidden ones that moved: those refuse every value, naming the new spelling)."""
    return [a for a in parser._actions if a.option_strings and a.nargs != 0
            and not isinstance(a, argparse.BooleanOptionalAction)
            and a.help != argparse.SUPPRESS]


def required(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments ``parser`` cannot do without: positionals, required options and a
    required subcommand."""
    return [a for a in parser._actions if a.required and a.nargs not in ("*", "?")
            and not isinstance(a, argparse._HelpAction)]


def run(argv: list[str]) -> int:
    """``resnets ARGV`` in this process; its exit status."""
    try:
        return cli.main(argv)
    except SystemExit as stop:  # --help
        return stop.code if isinstance(stop.code, int) else 1
