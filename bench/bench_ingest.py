"""Benchmark: 01_ingest for a 1,000-person submission against 1M and 5M people.

    .venv/bin/python bench/bench_ingest.py                # 1M and 5M (runs bench_synth first
                                                           # if the extracts are missing)
    .venv/bin/python bench/bench_ingest.py --sizes 1000000
    .venv/bin/python bench/bench_ingest.py --sizes 5000000 --memory-limit 3GB

Prints wall time per step (the same helper calls notebook 01 makes) and the process's peak
memory so far after each step. Target: under 60 s in all at 1M people on a 2-core machine. The
extracts come from bench/results/national_<n>/; a copy is taken so the submission's effect
does not alter them.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CHILD = """
import json, sys, time
from pathlib import Path
from helpers import cohort as ch
from helpers.linkage import link_submission
from helpers.params import IngestParams
from helpers.records import check_records, connect, open_records
from helpers.sql import date_literal
from helpers.submission import read_submission
records_dir, submission, memory_limit = sys.argv[1], sys.argv[2], sys.argv[3]
params = IngestParams(national_records=records_dir, submission=submission,
                      duckdb_memory_limit=memory_limit)
steps, peaks, tic = {}, {}, time.perf_counter()
def step(name):
    global tic
    now = time.perf_counter(); steps[name] = now - tic; tic = now
    peaks[name] = peak_mb()
def peak_mb():
    # VmHWM: this process's own peak. (ru_maxrss would include the parent's peak, which Linux
    # carries across fork and exec.)
    status = open("/proc/self/status").read()
    return int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) / 1024
records = open_records(params.records_path())
con = connect(records, **params.duckdb_settings())
check_records(con, records); step("check records")
sub = read_submission(params.submission_path(), reference_date=records.extract_date)
attrition = ch.start_attrition(sub, params); step("read submission")
linked = link_submission(con, sub.valid_rows, threshold=params.link_threshold)
step("link (PNC + splink)")
people = ch.linked_participants(sub, linked, attrition)
day = date_literal(records.extract_date)
treated = ch.participant_events(con, people, params, day, attrition); step("index events")
pool = ch.comparison_pool(con, params, day, attrition); step("comparison pool")
table = ch.derive(con, treated, pool, params); step("covariates + outcomes")
published, identities = ch.pseudonymise(table, params.seed); step("pseudonymise")
peak = peak_mb()
print(json.dumps({"steps": steps, "peaks": peaks, "treated": int(published.treated.sum()),
                  "pool": len(pool), "linked": linked.counts(), "peak_mb": peak}))
"""


def prepare(people: int, workdir: Path) -> tuple[Path, Path]:
    source = RESULTS / f"national_{people}"
    if not (source / "people.parquet").exists():
        subprocess.run([sys.executable, str(Path(__file__).parent / "bench_synth.py"),
                        "--sizes", str(people)], check=True)  # fmt: skip
    records = workdir / "national"
    shutil.copytree(source, records)
    from helpers.synth.submission import SubmissionSpec, generate_submission

    generate_submission(records, workdir / "org",
                        SubmissionSpec(name="bench", participants=1000, seed=5))  # fmt: skip
    return records, workdir / "org" / "submission.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument(
        "--memory-limit", default="", help="duckdb_memory_limit for the run, e.g. 3GB"
    )
    args = parser.parse_args()
    for people in args.sizes:
        with tempfile.TemporaryDirectory(prefix="jdl-bench-") as tmp:
            records, submission = prepare(people, Path(tmp))
            command = [sys.executable, "-c", CHILD, str(records), str(submission),
                       args.memory_limit]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        found = re.findall(r'\{"steps".*\}', done.stdout)
        if not found:
            sys.exit(f"the ingest run printed no result:\n{done.stderr[-3000:]}")
        line = found[0]
        row = json.loads(line)
        total = sum(row["steps"].values())
        cap = f"; DuckDB memory limit {args.memory_limit}" if args.memory_limit else ""
        print(
            f"\n{people:,} people{cap}; 1,000 participants submitted: {row['linked']}; "
            f"{row['treated']:,} analysed against a pool of {row['pool']:,}"
        )
        for name, seconds in row["steps"].items():
            print(f"  {name:<24} {seconds:7.1f} s   peak so far {row['peaks'][name]:6,.0f} MB")
        print(f"  {'total':<24} {total:7.1f} s   peak memory {row['peak_mb']:,.0f} MB", flush=True)


if __name__ == "__main__":
    main()
