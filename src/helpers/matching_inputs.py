"""The inputs of :func:`helpers.matching.match`, checked and turned into per-row arrays.

Each function takes the cohort or the distance and the :class:`~helpers.matching.MatchSpec`
and returns what the methods use: the treatment indicator, the distance, the caliper in the
distance's own units (``caliper x SD(d)`` for an SD caliper, MatchIt's ``std.caliper = TRUE``;
Austin 2011), the exact-matching strata, the controls wanted per treated person and the order
in which treated people choose. Every problem raises :class:`~helpers.errors.MatchingError`
naming the column or argument before any matching runs (``STYLE.md`` §9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from helpers.errors import MatchingError
from helpers.nearest_matching import variable_ratios
from helpers.propensity import PropensityModel

if TYPE_CHECKING:
    from helpers.matching import MatchSpec

__all__: list[str] = []


def _treatment(cohort: pd.DataFrame, treatment: str) -> np.ndarray:
    if treatment not in cohort.columns:
        raise MatchingError(f"treatment column `{treatment}` is not in the cohort")
    t = cohort[treatment].to_numpy()
    if len(t) == 0:
        raise MatchingError("the cohort is empty: there is nobody to match")
    if pd.isna(t).any() or not np.isin(t, (0, 1)).all():
        raise MatchingError(f"`{treatment}` must be 0/1 or True/False with no missing values")
    t = t.astype(bool)
    if not t.any():
        raise MatchingError("the cohort has no treated people: there is nobody to match")
    if t.all():
        raise MatchingError("the cohort has no comparison records to match to")
    return t


def _distance(cohort, distance, spec: MatchSpec) -> np.ndarray:
    if isinstance(distance, PropensityModel):
        d = distance.distance(spec.distance)
    elif isinstance(distance, str):
        if distance not in cohort.columns:
            raise MatchingError(f"distance column `{distance}` is not in the cohort")
        d = cohort[distance].to_numpy(dtype=np.float64)
    else:
        d = np.asarray(distance, dtype=np.float64)
    if d.shape != (len(cohort),):
        raise MatchingError(f"the distance has {d.size} values for {len(cohort)} cohort rows")
    if not np.isfinite(d).all():
        raise MatchingError(
            f"the distance is missing or infinite for {int((~np.isfinite(d)).sum())} rows"
        )
    if spec.distance == "score" and (d.min() < 0 or d.max() > 1):
        raise MatchingError(
            "`distance='score'` but values lie outside [0, 1]: pass the propensity score, "
            "or set distance='logit'"
        )
    return d


def _raw_caliper(spec: MatchSpec, sd: float) -> float | None:
    if spec.caliper is None:
        return None
    if spec.caliper_units == "raw":
        return float(spec.caliper)
    if not sd > 0:
        raise MatchingError(
            "a caliper in SD units needs a distance that varies",
            fix="Give the caliper in raw units (caliper_units='raw') or drop it.",
        )
    return float(spec.caliper) * sd


def _strata(cohort: pd.DataFrame, exact: tuple[str, ...]) -> tuple[np.ndarray, int]:
    if not exact:
        return np.zeros(len(cohort), np.int64), 1
    absent = [c for c in exact if c not in cohort.columns]
    if absent:
        raise MatchingError([f"exact matching column `{c}` is not in the cohort" for c in absent])
    missing = [c for c in exact if cohort[c].isna().any()]
    if missing:
        raise MatchingError(
            [f"exact matching column `{c}` has missing values" for c in missing],
            fix="Give the missing values a category of their own before matching.",
        )
    codes = cohort.groupby(list(exact), sort=True, observed=True).ngroup().to_numpy()
    return codes.astype(np.int64), int(codes.max()) + 1


def _ratios(spec: MatchSpec, d: np.ndarray, treated: np.ndarray) -> np.ndarray:
    n1 = int(treated.sum())
    if not spec.variable:
        return np.full(n1, int(spec.ratio), np.int64)
    return variable_ratios(
        d[treated], float(d[~treated].mean()), spec.ratio, spec.min_controls or 1, spec.max_controls
    )


def _treated_order(spec: MatchSpec, d: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Rank of each treated person in the matching order (0 = first), per treated row."""
    dt = d[treated]
    if spec.order == "largest":
        seq = np.argsort(-dt, kind="stable")
    elif spec.order == "smallest":
        seq = np.argsort(dt, kind="stable")
    elif spec.order == "random":
        seq = np.random.default_rng(spec.seed).permutation(dt.size)
    else:  # data; closest also breaks ties by data order
        seq = np.arange(dt.size)
    rank = np.empty(dt.size, np.int64)
    rank[seq] = np.arange(dt.size)
    return rank
