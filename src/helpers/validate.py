"""Does the pipeline recover known effects? Many synthetic submissions, one verdict each.

For each scenario (a true effect, strength of selection on observable risk, optionally hidden
selection on the latent propensity) and each replicate, a fresh copy of a pristine national
extract receives a new submission (``helpers.synth.submission``); the analysis runs on it with
the same helper calls the notebooks make (:func:`analyse`); and the estimate of the headline
measure is compared with the participants' true effect, the sample average of Y(1) − Y(0) over
the participants actually analysed. The summary gives bias, RMSE, 95% CI coverage, the share
of significant results (the false-positive rate for placebo programmes), and the bias of the
naive (unmatched) comparison for contrast.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import cohort as ch
from helpers.balance import balance_table
from helpers.errors import ParamsError
from helpers.estimate import estimate_effect
from helpers.linkage import link_submission
from helpers.matching import match
from helpers.params import RunParams
from helpers.propensity import fit_propensity, usable_covariates
from helpers.records import connect, open_records
from helpers.sql import date_literal
from helpers.submission import read_submission
from helpers.synth.national import NationalSpec, generate_national
from helpers.synth.submission import SubmissionSpec, generate_submission

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scenario:
    """A kind of programme to validate against."""

    name: str
    effect: float  #: rate ratio on proven offending (1 = placebo)
    selection: float = 1.0  #: selection on observable risk
    hidden_selection: float = 0.0  #: selection the records cannot show
    setting: str = "custody"
    participants: int = 300


SCENARIOS = (
    Scenario("placebo, random selection", 1.0, selection=0.0),
    Scenario("placebo, strong selection", 1.0, selection=2.0),
    Scenario("effect 0.7, selection", 0.7, selection=1.0),
    Scenario("effect 0.7, community", 0.7, selection=1.0, setting="community"),
)
#: Shown separately: hidden selection is the bias PSM cannot remove (sensitivity analysis).
HIDDEN = Scenario("placebo, hidden selection", 1.0, selection=1.0, hidden_selection=1.0)


def analyse(params: RunParams) -> dict[str, float]:
    """The notebooks' analysis, in-process: ingest → match → estimate of ``params.headline``.

    Returns the estimate, its interval and p-value, the naive difference, the balance rating,
    and the person ids of the analysed participants (to compute their true effect).
    """
    records = open_records(params.records_path())
    con = connect(records, **params.duckdb_settings())
    submission = read_submission(params.submission_path(), reference_date=records.extract_date)
    attrition = ch.start_attrition(submission, params)
    linked = link_submission(con, submission.valid_rows, threshold=params.link_threshold,
                             seed=params.seed)  # fmt: skip
    people = ch.linked_participants(submission, linked, attrition)
    day = date_literal(records.extract_date)
    treated = ch.participant_events(con, people, params, day, attrition)
    pool = ch.comparison_pool(con, params, day, attrition)
    table, identities = ch.pseudonymise(ch.derive(con, treated, pool, params), params.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covariates, _ = usable_covariates(table, params.covariates)
        model = fit_propensity(table, covariates, rare_levels=params.rare_levels)
        spec = params.spec()
        result = match(table, spec, model)
        balance = balance_table(model.as_modelled(table), covariates, result)
    matched = table.join(result.frame(table.index))
    matched = matched[matched["weight"] > 0]
    pairs = result.get_matches(table["pid"]) if spec.replace else None
    est = estimate_effect(matched, params.headline, pairs=pairs)
    column = est.measure.column
    naive = table.groupby("treated")[column].mean()
    analysed = identities[identities["pid"].isin(matched.loc[matched["treated"] == 1, "pid"])]
    return {
        "estimate": est.difference, "ci_low": est.ci_low, "ci_high": est.ci_high,
        "p_value": est.p_value, "naive": float(naive[1] - naive[0]),
        "balance": balance.summary.rating, "worst_smd": balance.summary.worst_smd,
        "n_treated": int((matched["treated"] == 1).sum()),
        "analysed": analysed["person_id"].tolist(), "column": column,
        "population": est.measure.population,
    }  # fmt: skip


def true_effect(truth_dir: Path, person_ids: list[str], column: str, population: str) -> float:
    """Y(1) − Y(0) averaged over the analysed participants (the sample ATT)."""
    out = pd.read_parquet(truth_dir / "outcomes.parquet")
    out = out[out["person_id"].isin(person_ids)]
    y1, y0 = out[f"{column}_with"].astype(float), out[f"{column}_without"].astype(float)
    if population == "reoffenders":
        with_, without = out["reoffended_with"] == 1, out["reoffended_without"] == 1
        return float(y1[with_].mean() - y0[without].mean())
    return float((y1 - y0).mean())


def replicate(pristine: Path, scenario: Scenario, seed: int, params: RunParams) -> dict:
    """One synthetic submission, analysed and scored against its truth."""
    with tempfile.TemporaryDirectory(prefix="jdl-validate-") as tmp:
        records = Path(tmp) / "national"
        shutil.copytree(pristine, records)
        spec = SubmissionSpec(name=f"v{seed}", setting=scenario.setting, seed=seed,
                              participants=scenario.participants, effect=scenario.effect,
                              selection=scenario.selection,
                              hidden_selection=scenario.hidden_selection)  # fmt: skip
        generate_submission(records, Path(tmp) / "org", spec)
        run = params.model_copy(update={
            "national_records": str(records), "setting": scenario.setting,
            "submission": str(Path(tmp) / "org" / "submission.csv")})  # fmt: skip
        result = analyse(run)
        truth = true_effect(Path(tmp) / "org" / "truth", result.pop("analysed"),
                            result["column"], result["population"])  # fmt: skip
    return {"scenario": scenario.name, "seed": seed, "truth": truth, **result}


def _job(args) -> dict:
    return replicate(*args)


def run_validation(
    scenarios: tuple[Scenario, ...], replicates: int, *, pristine: Path, params: RunParams,
    workers: int = 2, seed: int = 1000,
) -> pd.DataFrame:  # fmt: skip
    """Every replicate of every scenario (in parallel processes); one row each."""
    jobs = [(pristine, s, seed + k, params) for s in scenarios for k in range(replicates)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(_job, jobs))
    return pd.DataFrame(rows)


def _share_mcse(share: float, n: int) -> float:
    """Monte Carlo standard error of a simulated proportion, sqrt(p(1-p)/n) (Morris et al. 2019)."""
    return float(np.sqrt(share * (1 - share) / n))


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE, coverage, share significant and naive bias, per scenario.

    Each simulated performance measure comes with its Monte Carlo standard error (Morris, White
    & Crowther 2019, Table 6), so a reader can tell a real shortfall in coverage from too few
    replicates.
    """

    def stats(g: pd.DataFrame) -> pd.Series:
        error = g["estimate"] - g["truth"]
        covered = (g["ci_low"] <= g["truth"]) & (g["truth"] <= g["ci_high"])
        significant = g["p_value"] <= 0.05
        n = len(g)
        return pd.Series({
            "replicates": n, "true_effect": g["truth"].mean(),
            "mean_estimate": g["estimate"].mean(), "bias": error.mean(),
            "bias_mcse": error.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan,
            "rmse": float(np.sqrt((error**2).mean())), "coverage": covered.mean(),
            "coverage_mcse": _share_mcse(covered.mean(), n),
            "significant": significant.mean(),
            "significant_mcse": _share_mcse(significant.mean(), n),
            "naive_bias": (g["naive"] - g["truth"]).mean(),
            "poor_balance": (g["balance"] == "poor").mean(),
        })  # fmt: skip

    return runs.groupby("scenario", sort=False)[list(runs.columns)].apply(stats).reset_index()


def select_scenarios(names: list[str] | None) -> tuple[Scenario, ...]:
    """The scenarios whose names contain any of ``names`` (all of them when ``names`` is empty).

    Raises :class:`~helpers.errors.ParamsError` naming the known scenarios when a name matches
    none.
    """
    every = (*SCENARIOS, HIDDEN)
    if not names:
        return every
    unknown = [n for n in names if not any(n.lower() in s.name for s in every)]
    if unknown:
        known = "; ".join(s.name for s in every)
        raise ParamsError(
            f"--scenario: no scenario matches {', '.join(map(repr, unknown))}. Known: {known}.",
            fix="Use a word from one of those names, e.g. --scenario placebo.",
        )
    return tuple(s for s in every if any(n.lower() in s.name for n in names))


def pristine_records(folder: Path, people: int = 200_000, seed: int = 20261124) -> Path:
    """A national extract without any programme applied (generated once, then reused)."""
    if not (folder / "people.parquet").exists():
        generate_national(folder, NationalSpec(people=people, seed=seed))
    return folder


__all__ = [
    "HIDDEN",
    "SCENARIOS",
    "Scenario",
    "analyse",
    "pristine_records",
    "run_validation",
    "select_scenarios",
    "summarise",
    "true_effect",
]
