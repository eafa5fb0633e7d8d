"""Benchmark: generating synthetic national records (wall time and peak memory).

    .venv/bin/python bench/bench_synth.py                 # 200k, 1M and 5M people
    .venv/bin/python bench/bench_synth.py --sizes 200000  # a quick check

Each size runs in its own process so that peak memory (max RSS) is that run's alone. The
extracts are kept in bench/results/national_<n>/ for bench_ingest.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CHILD = """
import json, resource, sys, time
from pathlib import Path
from helpers.synth.national import NationalSpec, generate_national
n, out = int(sys.argv[1]), Path(sys.argv[2])
tic = time.perf_counter()
generate_national(out, NationalSpec(people=n))
seconds = time.perf_counter() - tic
manifest = json.loads((out / "manifest.json").read_text())
print(json.dumps({"people": n, "sanctions": manifest["sanctions"], "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(people: int) -> dict:
    out = RESULTS / f"national_{people}"
    done = subprocess.run([sys.executable, "-c", CHILD, str(people), str(out)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["disk_mb"] = sum(p.stat().st_size for p in out.rglob("*.parquet")) / 1e6
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000, 5_000_000])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"{'people':>10} {'sanctions':>11} {'seconds':>8} {'peak MB':>8} {'disk MB':>8}")
    for people in args.sizes:
        row = measure(people)
        print(f"{row['people']:>10,} {row['sanctions']:>11,} {row['seconds']:>8.1f} "
              f"{row['peak_mb']:>8.0f} {row['disk_mb']:>8.0f}", flush=True)  # fmt: skip
    print("(2 cores; one process per size; peak MB = max resident set size)")


if __name__ == "__main__":
    main()
