"""Simulated matched samples with a known programme effect, for the estimation-stage tests.

``simulate_cohort`` draws a treatment group and a comparison pool that differ on one
covariate ``x`` (selection on observables) and gives every outcome of ARCHITECTURE.md's
contract. The programme changes the probability of reoffending by exactly ``effect`` for
everybody, so the true ATT on the rate is ``effect``. ``match_nearest`` is a deliberately
simple k:1 nearest-neighbour matcher on ``x`` (with or without replacement) that returns the
matched sample and the stacked pairs table in MatchIt's conventions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from helpers.estimate import EffectEstimate, GroupValue
from helpers.measures import Columns, Gate, Measure, get_measure

COURT_TYPES = ("indictable", "either_way", "summary")


def _outcomes(rng: np.random.Generator, p: np.ndarray) -> pd.DataFrame:
    n = len(p)
    reoff = (rng.random(n) < p).astype(int)
    count = np.where(reoff == 1, 1 + rng.poisson(1.8, n), 0)
    by_court = rng.multinomial(count, [0.15, 0.45, 0.40])
    first_court = rng.choice(3, size=n, p=[0.15, 0.45, 0.40])
    days = rng.integers(1, 366, n).astype(float)
    out = pd.DataFrame({"reoffended": reoff, "reoffences": count})
    out["days_to_first"] = np.where(reoff == 1, days, np.nan)
    for j, court in enumerate(COURT_TYPES):
        out[f"first_{court}"] = np.where(reoff == 1, (first_court == j).astype(float), np.nan)
        out[f"reoffences_{court}"] = by_court[:, j]
    custody = rng.binomial(count, 0.25)
    out["first_custody"] = np.where(reoff == 1, (rng.random(n) < 0.3).astype(float), np.nan)
    out["custodial_reoffences"] = np.where(reoff == 1, custody, np.nan)
    out["time_to_event"] = np.where(reoff == 1, days, 365.0)
    out["event"] = reoff
    return out


def simulate_cohort(
    n_treated: int = 150, n_pool: int = 1500, effect: float = -0.08, seed: int = 0
) -> pd.DataFrame:
    """Treatment group (x ~ N(0.5, 1)) and pool (x ~ N(0, 1)); P(reoffend) = 0.15 + 0.5 Φ(x)."""
    rng = np.random.default_rng(seed)
    treated = np.r_[np.ones(n_treated, int), np.zeros(n_pool, int)]
    x = rng.normal(0, 1, len(treated)) + 0.5 * treated
    p = 0.15 + 0.5 * norm.cdf(x) + effect * treated
    out = pd.DataFrame({"pid": [f"P{i:05d}" for i in range(len(x))], "treated": treated, "x": x})
    return pd.concat([out, _outcomes(rng, p)], axis=1)


def _nearest(xt: np.ndarray, xc: np.ndarray, k: int, replace: bool) -> list[np.ndarray]:
    if replace:
        return list(np.argsort(np.abs(xt[:, None] - xc[None, :]), axis=1, kind="stable")[:, :k])
    free = np.ones(len(xc), bool)
    sets = []
    for v in xt:
        d = np.where(free, np.abs(xc - v), np.inf)
        chosen = np.argsort(d, kind="stable")[:k]
        free[chosen] = False
        sets.append(chosen)
    return sets


def match_nearest(
    cohort: pd.DataFrame, k: int = 1, replace: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """k:1 nearest neighbour on ``x``: (matched sample, stacked pairs) in MatchIt's conventions."""
    tr, co = cohort[cohort.treated == 1], cohort[cohort.treated == 0]
    sets = _nearest(tr.x.to_numpy(), co.x.to_numpy(), k, replace)
    sizes = [len(c) for c in sets]
    subclass = np.arange(1, len(sets) + 1)
    treated_rows = pd.DataFrame(
        {"subclass": subclass, "pid": tr.pid.to_numpy(), "treated": 1, "weight": 1.0}
    )
    control_rows = pd.DataFrame(
        {
            "subclass": np.repeat(subclass, sizes),
            "pid": co.pid.to_numpy()[np.concatenate(sets)],
            "treated": 0,
            "weight": 1.0 / k,
        }
    )
    pairs = pd.concat([treated_rows, control_rows]).sort_values(
        ["subclass", "treated"], ascending=[True, False]
    )
    pairs = pairs.reset_index(drop=True)
    w = pairs.groupby("pid")["weight"].sum()
    matched = cohort[cohort.pid.isin(w.index)].copy()
    matched["weight"] = matched.pid.map(w)
    ctrl = matched.treated == 0
    matched.loc[ctrl, "weight"] *= ctrl.sum() / matched.loc[ctrl, "weight"].sum()
    sub = pairs.groupby("pid")["subclass"].first()
    matched["subclass"] = matched.pid.map(sub).astype(float) if not replace else np.nan
    matched.loc[matched.treated == 1, "subclass"] = matched.pid.map(sub)
    return matched.reset_index(drop=True), pairs


def simulated_matched(
    n_treated: int = 150,
    effect: float = -0.08,
    seed: int = 0,
    k: int = 1,
    replace: bool = True,
    n_pool: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cohort simulated and matched in one call."""
    cohort = simulate_cohort(n_treated, n_pool or 10 * n_treated, effect, seed)
    return match_nearest(cohort, k=k, replace=replace)


# --- lalonde: MatchIt's example, joined with the golden matching of tests/golden/lalonde ---

GOLDEN = Path(__file__).parent / "golden" / "lalonde"
LALONDE = Path(__file__).parent / "golden" / "lalonde" / "lalonde.csv"
LALONDE_COVARIATES = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
LALONDE_COLUMNS = Columns(treatment="treat", weight="weights", id="id")
RE78 = Measure("re78", "Earnings in 1978", "re78", kind="frequency", noun="dollars")


def lalonde_matched(design: str = "nearest") -> pd.DataFrame:
    """lalonde with MatchIt's weights and subclass from ``<design>_units.csv`` (rows kept in
    the golden file's order; unmatched units keep weight 0)."""
    data = pd.read_csv(LALONDE, index_col=0)
    units = pd.read_csv(GOLDEN / f"{design}_units.csv").set_index("id")
    out = units[["weights", "subclass"]].join(data)
    return out.rename_axis("id").reset_index()


def lalonde_pairs() -> pd.DataFrame:
    """The stacked matched sets of 1:1 matching with replacement (MatchIt's ``get_matches``)."""
    return pd.read_csv(GOLDEN / "nearest_replace_stacked.csv")


# --- hand-made estimates for the wording, disclosure and plotting tests ---


def group(value: float, n: int = 200, reoffenders: int = 80, ci: float = 0.05) -> GroupValue:
    """A group value with plenty of people (every gate passes)."""
    return GroupValue(
        n,
        reoffenders,
        value,
        ci / 2,
        value - ci,
        value + ci,
        0.4,
        float(n),
        float(max(reoffenders, 50)),
        100.0,
    )


def make_estimate(
    measure: str = "rate",
    ci: tuple[float, float] = (-0.15, -0.05),
    *,
    treatment: GroupValue | None = None,
    comparison: GroupValue | None = None,
    gate: Gate | None = None,
    p_value: float | None = None,
) -> EffectEstimate:
    """An :class:`EffectEstimate` with a chosen confidence interval for the difference."""
    lo, hi = ci
    diff = (lo + hi) / 2
    se = (hi - lo) / (2 * 1.96)
    p = p_value if p_value is not None else float(2 * norm.sf(abs(diff / se)))
    return EffectEstimate(
        get_measure(measure),
        treatment or group(0.30),
        comparison or group(0.30 - diff),
        diff,
        se,
        lo,
        hi,
        diff / se,
        300.0,
        p,
        math.nan,
        math.nan,
        math.nan,
        0.95,
        "sets",
        "cluster-robust (CR1) on matched sets",
        200,
        gate or Gate(),
    )
