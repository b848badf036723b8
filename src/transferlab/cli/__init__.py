"""Command line: parses arguments into a config and calls the library; nothing else.

Each command lives in its own module with `add_parser(sub)` and `run(args)`.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from transferlab import __version__
from transferlab.cli import (
    backbones_cmd,
    check_cmd,
    compare_cmd,
    evaluate_cmd,
    export_cmd,
    fit_cmd,
    layers_cmd,
    predict_cmd,
    rank_cmd,
    report_cmd,
)
from transferlab.data.listing import plain_data_warnings
from transferlab.errors import Interrupted, TransferlabError

COMMANDS = [compare_cmd, fit_cmd, evaluate_cmd, predict_cmd, export_cmd, backbones_cmd,
            rank_cmd, report_cmd, check_cmd, layers_cmd]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (`error: ...` + where to look), exit code 2.

    argparse's default prints the whole usage block before the error, which buries the one line
    that says what to fix; every other user error of transferlab is a single line too.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="transferlab",
        description="Transfer a pretrained network to your data and measure whether it beat "
                    "training from scratch.",
    )
    parser.add_argument("--version", action="version", version=f"transferlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    plain_data_warnings()  # empty class folders, small classes: `warning: ...` lines
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except Interrupted as exc:
        print(f"{exc}", file=sys.stderr)
        return 130
    except TransferlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
