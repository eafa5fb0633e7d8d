"""``jdl synth``: generate synthetic national records and submissions."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("synth", help="generate synthetic national records and submissions")
    parser.set_defaults(handler=lambda args: parser.print_help())
