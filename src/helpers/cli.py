"""The ``jdl`` command: one entry point for analysts.

Each subcommand lives in the module that owns the work; this file only wires arguments to
those functions and turns :class:`~helpers.errors.JDLError` into a clean message and exit
code 2 (no traceback), so that mistakes in inputs never look like crashes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from helpers import __version__
from helpers.errors import JDLError

Command = Callable[[argparse.Namespace], int | None]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jdl",
        description="Open Justice Data Lab: does a programme change proven reoffending?",
    )
    parser.add_argument("--version", action="version", version=f"jdl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _registrars():
        register(sub)
    return parser


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Subcommands, each registered by the module that owns it (imported lazily)."""
    from helpers import commands
    from helpers.synth import cli as synth_cli

    return [commands.register, synth_cli.register]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or 0)
    except JDLError as error:
        print(f"jdl: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jdl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
