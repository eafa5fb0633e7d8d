"""``jdl synth``: synthetic national records, submissions with a known truth, calibration."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path

from helpers.synth.national import NationalSpec, generate_national
from helpers.synth.submission import SubmissionSpec, generate_submission

log = logging.getLogger(__name__)

#: The bundled example: one extract, three organisations (two real effects, one placebo).
EXAMPLE_RECORDS = Path("data/national")
EXAMPLES = (
    SubmissionSpec(name="example", organisation="Example Through-the-Gate Mentoring",
                   setting="custody", participants=400, effect=0.6, selection=0.3, seed=11),
    SubmissionSpec(name="example_community", organisation="Example Community Skills",
                   setting="community", participants=350, effect=0.7, selection=0.3, seed=12),
    SubmissionSpec(name="example_placebo", organisation="Example Placebo Programme",
                   setting="custody", participants=350, effect=1.0, selection=1.0, seed=13),
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("synth", help="generate synthetic national records and submissions")
    verbs = parser.add_subparsers(dest="synth_command", metavar="WHAT", required=True)
    _national(verbs)
    _submission(verbs)
    _calibrate(verbs)
    example = verbs.add_parser("example", help="generate the bundled example data (data/)")
    example.add_argument("--force", action="store_true", help="regenerate even if present")
    example.set_defaults(handler=lambda a: ensure_example(force=a.force))


def _national(verbs) -> None:
    p = verbs.add_parser("national", help="generate a national records extract")
    p.add_argument("--out", type=Path, default=EXAMPLE_RECORDS, help="folder to write")
    p.add_argument("--people", type=int, default=NationalSpec.people, help="number of people")
    p.add_argument("--seed", type=int, default=NationalSpec.seed)
    p.add_argument("--extract-date", type=dt.date.fromisoformat,
                   default=NationalSpec.extract_date, help="YYYY-MM-DD")  # fmt: skip
    p.set_defaults(
        handler=lambda a: (
            generate_national(
                a.out, NationalSpec(people=a.people, seed=a.seed, extract_date=a.extract_date)
            )
            and 0
        )
    )


def _submission(verbs) -> None:
    p = verbs.add_parser("submission", help="draw an organisation's participant list (+ truth)")
    p.add_argument("--records", type=Path, default=EXAMPLE_RECORDS)
    p.add_argument("--out", type=Path, required=True, help="folder for submission.csv + truth/")
    for field in dataclasses.fields(SubmissionSpec):
        kind = {"int": int, "float": float, "str": str}.get(str(field.type).split(" |")[0],
                                                            str)  # fmt: skip
        if "date" in str(field.type):
            kind = dt.date.fromisoformat
        p.add_argument("--" + field.name.replace("_", "-"), type=kind, default=field.default)
    p.set_defaults(handler=_run_submission)


def _run_submission(args) -> int:
    names = {f.name for f in dataclasses.fields(SubmissionSpec)}
    spec = SubmissionSpec(**{k: v for k, v in vars(args).items() if k in names})
    truth = generate_submission(args.records, args.out, spec)
    log.info("true effect on the one-year rate: %+.1f points",
             100 * truth["true_effects"]["reoffended"]["all_effect"])  # fmt: skip
    return 0


def _calibrate(verbs) -> None:
    p = verbs.add_parser("calibrate", help="print generated reoffending beside published figures")
    p.add_argument("--records", type=Path, default=EXAMPLE_RECORDS)
    p.add_argument("--year", type=int, default=None, help="cohort year (default: latest complete)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_run_calibrate)


def _run_calibrate(args) -> int:
    from helpers.records import connect, open_records
    from helpers.synth.calibrate import calibration_cohort, calibration_table

    records = open_records(args.records)
    table = calibration_table(calibration_cohort(connect(records), records, args.year))
    if args.json:
        print(json.dumps(table.to_dict(orient="records"), indent=2))
    else:
        print(table.to_string(index=False))
    return 0 if (table["within"] != "NO").all() else 1


def ensure_example(force: bool = False, root: Path = Path(".")) -> int:
    """Generate the bundled example records and submissions unless they already exist."""
    records = root / EXAMPLE_RECORDS
    done = all((root / "data" / s.name / "submission.csv").exists() for s in EXAMPLES)
    if done and records.exists() and not force:
        log.info("example data present in %s (use --force to regenerate)", root / "data")
        return 0
    log.info("generating the example national records (deterministic; about a minute)...")
    generate_national(records, NationalSpec())
    for spec in EXAMPLES:
        generate_submission(records, root / "data" / spec.name, spec)
    return 0
