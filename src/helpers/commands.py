"""``jdl check``, ``jdl run``, ``jdl batch``, ``jdl example``: thin wrappers over the modules
that do the work, printing what an analyst needs to read."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from helpers.errors import CohortError

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

    batch = sub.add_parser("batch", help="run many organisations; write the publication summary")
    batch.add_argument("params", type=Path, nargs="+", help="params YAMLs, e.g. params/*.yaml")
    batch.add_argument("--workers", type=int, default=2, help="organisations run at once")
    batch.add_argument("--renderer", choices=["auto", "quarto", "nbconvert"], default=None)
    batch.set_defaults(handler=_batch)

    validate = sub.add_parser("validate", help="check the pipeline against known synthetic truths")
    validate.add_argument("--replicates", type=int, default=40, help="submissions per scenario")
    validate.add_argument("--workers", type=int, default=2, help="parallel processes")
    validate.add_argument("--people", type=int, default=200_000, help="people in the records")
    validate.add_argument(
        "--scenario", action="append", metavar="NAME",
        help="only scenarios whose name contains NAME, e.g. placebo (repeatable; default all)",
    )  # fmt: skip
    validate.add_argument(
        "--seed", type=int, default=1000,
        help="seed of the first submission; replicate k uses seed + k (change it to add new draws)",
    )  # fmt: skip
    validate.add_argument("--out", type=Path, default=Path("bench/results/validation.csv"))
    validate.add_argument(
        "--cache", type=Path, default=Path("bench/results/pristine"),
        help="where the programme-free records are kept between runs",
    )  # fmt: skip
    validate.set_defaults(handler=_validate)

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
        raise CohortError(
            f"only {valid} usable rows; at least {params.min_cohort} people are needed "
            "(`min_cohort`)",
            fix="\n".join(lines),
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


def _batch(args) -> int:
    from helpers.batch import run_batch, summary_folder, write_summary
    from helpers.params import load_params

    for path in args.params:  # every file must be valid before anything runs
        load_params(path)
    print(f"Running {len(args.params)} organisations, {args.workers} at a time...", flush=True)

    def report(outcome) -> None:
        mark = "ok    " if outcome.ok else "FAILED"
        print(f"  {mark} {outcome.params}: {outcome.message.splitlines()[0]}", flush=True)

    outcomes = run_batch(list(args.params), workers=args.workers, renderer=args.renderer,
                         on_done=report)  # fmt: skip
    folder = summary_folder(list(args.params))
    table = write_summary(outcomes, folder)
    failed = [o for o in outcomes if not o.ok]
    print(
        f"{len(outcomes) - len(failed)} succeeded, {len(failed)} failed. Summary of "
        f"{len(table)} analyses: {folder / 'analyses.csv'} and {folder / 'forest_by_size.png'}"
    )
    for outcome in failed:
        print(f"\n{outcome.params}:\n{outcome.message}")
    return 1 if failed else 0


def _validate(args) -> int:
    import pandas as pd

    from helpers.params import RunParams
    from helpers.validate import pristine_records, run_validation, select_scenarios, summarise

    scenarios = select_scenarios(args.scenario)
    pristine = pristine_records(args.cache, people=args.people)
    print(f"Validating {len(scenarios)} scenarios x {args.replicates} synthetic submissions "
          f"on {args.people:,} people ({args.workers} workers)...", flush=True)  # fmt: skip
    runs = run_validation(scenarios, args.replicates, pristine=pristine, params=RunParams(),
                          workers=args.workers, seed=args.seed)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summarise(runs).round(3).to_string(index=False))
    print(
        f"Per-replicate results: {args.out}. Headline measure: the one-year reoffending rate "
        "(differences in proportions); *_mcse columns are Monte Carlo standard errors. "
        "Hidden selection, which matching cannot remove, is what the sensitivity analysis is for."
    )
    return 0


def _example(args) -> int:
    from helpers.synth.cli import ensure_example

    ensure_example()
    args.params = Path("params/example.yaml")
    return _run(args)
