"""``jdl check``, ``jdl run``, ``jdl batch``, ``jdl example``: thin wrappers over the modules
that do the work, printing what an analyst needs to read."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from helpers.errors import JDLError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser("check", help="validate a params YAML and its input files")
    check.add_argument("params", type=Path, help="params YAML, e.g. params/example.yaml")
    check.set_defaults(handler=_check)

    run = sub.add_parser("run", help="run one organisation: notebooks, then the report")
    run.add_argument("params", type=Path)
    run.add_argument("--renderer", choices=["auto", "quarto", "nbconvert"], default=None,
                     help="override the params' renderer")  # fmt: skip
    run.set_defaults(handler=_run)

    example = sub.add_parser("example", help="generate the example data if needed and run it")
    example.add_argument("--renderer", choices=["auto", "quarto", "nbconvert"], default=None)
    example.set_defaults(handler=_example)


def check(params_path: Path) -> list[str]:
    """Everything that can be checked without running: returns lines to print."""
    from helpers.params import load_params
    from helpers.records import check_records, connect, open_records
    from helpers.run import check_inputs
    from helpers.submission import read_submission

    params = load_params(params_path)
    check_inputs(params)
    records = open_records(params.records_path(), params.extract_date)
    check_records(connect(records), records)
    submission = read_submission(params.submission_path(), sheet=params.submission_sheet,
                                 encoding=params.submission_encoding,
                                 reference_date=records.extract_date)  # fmt: skip
    valid = int(submission.rows["valid"].sum())
    lines = [f"params: {params_path} is valid ({params.setting}, window "
             f"{params.window_start} to {params.window_end}).",
             f"national records: {records.folder} (extract date {records.extract_date}) "
             "follows the schema.",
             f"participant file: {len(submission.rows)} rows, {valid} usable."]  # fmt: skip
    for item in submission.problem_summary().itertuples():
        lines.append(f"  {item.severity}: {item.problem} ({item.column}) — {item.rows} rows")
    if valid < params.min_cohort:
        raise JDLError.from_text(
            "\n".join(lines) + f"\nOnly {valid} usable rows: at least {params.min_cohort} needed."
        )
    return lines


def _check(args) -> int:
    for line in check(args.params):
        print(line)
    print("OK: ready to run (`jdl run " + str(args.params) + "`).")
    return 0


def _run(args) -> int:
    from helpers.manifest import changes_since
    from helpers.params import load_params
    from helpers.run import run

    params = load_params(args.params)
    for change in changes_since(params.folder(), params):
        print(f"note: since the last run of {params.run_name}: {change}")
    result = run(args.params, renderer=args.renderer)
    print(f"Run complete: {result.folder}")
    if result.report:
        print(f"Report ({result.renderer}): {result.report}")
    return 0


def _example(args) -> int:
    from helpers.synth.cli import ensure_example

    ensure_example()
    args.params = Path("params/example.yaml")
    return _run(args)
