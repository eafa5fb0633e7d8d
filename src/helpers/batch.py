"""Many organisations at once, and the JDL's publication summary of all of them.

``jdl batch params/*.yaml`` runs each organisation in its own process (``--workers`` at a
time); one failure never stops the others, and every outcome is reported at the end. The
summary is what the JDL published across its analyses (reference §6): one table row per
analysis and a forest plot of the effect on the one-year proven reoffending rate, with 95%
confidence intervals, against the size of the treatment group. Only published numbers enter it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.artefacts import write_csv, write_figure
from helpers.errors import JDLError
from helpers.params import load_params
from helpers.run import read_results, run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one organisation's run ended."""

    params: Path
    ok: bool
    message: str
    folder: Path | None = None


def _one(params: Path, renderer: str | None) -> Outcome:
    try:
        result = run(params, renderer=renderer, quiet=True)
    except JDLError as error:
        return Outcome(params, False, str(error))
    except Exception as error:  # a bug in one run must not stop the batch
        return Outcome(params, False, f"unexpected {type(error).__name__}: {error}")
    return Outcome(params, True, f"report: {result.report}", result.folder)


def run_batch(paths: list[Path], *, workers: int = 2, renderer: str | None = None,
              on_done=None) -> list[Outcome]:  # fmt: skip
    """Run every params file; outcomes in the order given."""
    outcomes: dict[Path, Outcome] = {}
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(_one, p, renderer): p for p in paths}
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.params] = outcome
            if on_done:
                on_done(outcome)
    return [outcomes[p] for p in paths]


def summary_table(outcomes: list[Outcome]) -> pd.DataFrame:
    """One row per successful analysis: sizes and the published headline rate."""
    rows = []
    for outcome in outcomes:
        if not outcome.ok:
            continue
        results = read_results(outcome.folder)
        rate = next(e for e in results["estimates"]["estimates"] if e["measure"] == "rate")
        published = next(r for r in results["published"] if r["measure"] == "rate")
        rows.append({
            "organisation": results["run"]["organisation"],
            "setting": results["run"]["setting"],
            "treatment_group": results["sizes"]["treatment_group"],
            "comparison_group": results["sizes"]["comparison_group"],
            "treatment_rate": published["treatment_value"],
            "comparison_rate": published["comparison_value"],
            "difference_pp": 100 * rate["difference"] if published["published"] else None,
            "ci_low_pp": 100 * rate["ci_low"] if published["published"] else None,
            "ci_high_pp": 100 * rate["ci_high"] if published["published"] else None,
            "p_value": published["p_value"],
            "significant": published["significant"],
            "balance": results["matching"]["balance"]["rating"],
            "run": outcome.folder.name,
        })  # fmt: skip
    return pd.DataFrame(rows)


def write_summary(outcomes: list[Outcome], folder: Path) -> pd.DataFrame:
    """The table (CSV) and the forest plot (PNG) of all successful analyses."""
    from helpers.plots.batch import forest_by_size

    folder.mkdir(parents=True, exist_ok=True)
    table = summary_table(outcomes)
    write_csv(table, folder / "analyses.csv")
    if not table.empty:
        write_figure(forest_by_size(table), folder, "forest_by_size")
    status = pd.DataFrame([{"params": str(o.params), "ok": o.ok, "message": o.message}
                           for o in outcomes])  # fmt: skip
    write_csv(status, folder / "runs.csv")
    return table


def summary_folder(paths: list[Path]) -> Path:
    """``<output_dir>/_batch`` of the first params file (where the runs themselves go)."""
    return load_params(paths[0]).folder().parent / "_batch"
