"""Covariate balance before and after matching, from small public weighted primitives.

The primitives follow cobalt's ``col_w_*`` family and MatchIt's ``summary.matchit`` exactly
(estimand ATT), so the balance table agrees with ``summary(m, un = TRUE)``:

* means are weighted means within each group;
* the standardised mean difference (SMD) divides the difference in weighted means by the
  standard deviation of the **treatment group in the unmatched sample** (the same denominator
  before and after matching, so that a change in SMD is a change in means; Austin 2009), with
  sqrt(p(1 - p)) for a 0/1 variable;
* weighted variances use reliability weights, sum w (x - m)^2 / (1 - sum w^2) with w normalised
  to sum to one (the unbiased sample variance when weights are equal); the variance ratio
  (treated / comparison) is not defined for 0/1 variables;
* the eCDF statistics are the mean and maximum over the distinct values of x in the sample of
  |F_treated(x) - F_comparison(x)| with weighted eCDFs (the maximum is the weighted
  Kolmogorov-Smirnov statistic); for a 0/1 variable both equal |difference in proportions|;
* the effective sample size is Kish's (sum w)^2 / sum w^2.

One table of statistics, :data:`STATISTICS` (name, label, threshold), drives the balance table,
the Love plot (:mod:`helpers.plots.balance`) and the report. Each covariate's |SMD| after
matching is rated good / acceptable / poor against two thresholds (defaults 0.05 and 0.10).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.errors import BalanceWarning, MatchingError
from helpers.matching import MatchResult

__all__ = [
    "RATINGS",
    "SMD_THRESHOLDS",
    "STATISTICS",
    "BalanceSummary",
    "BalanceTable",
    "Statistic",
    "balance_table",
    "effective_sample_size",
    "is_binary",
    "rate_smd",
    "treated_sd",
    "weighted_ecdf",
    "weighted_mean",
    "weighted_smd",
    "weighted_variance",
    "weighted_variance_ratio",
]

_TINY = np.sqrt(np.finfo(float).eps)
#: Default |SMD| thresholds: good up to the first, acceptable up to the second, poor above.
SMD_THRESHOLDS = (0.05, 0.10)
RATINGS = ("good", "acceptable", "poor")


# --- primitives ---------------------------------------------------------------------------


def _w(x: np.ndarray, weights) -> np.ndarray:
    if weights is None:
        return np.ones(x.shape[0])
    w = np.asarray(weights, dtype=float)
    if w.shape != x.shape or (w < 0).any():
        raise ValueError("weights must be non-negative, one per value")
    return w


def is_binary(x) -> bool:
    """Whether every value is 0 or 1 (MatchIt's and cobalt's test for a binary variable)."""
    x = np.asarray(x, dtype=float)
    return bool(((x == 0) | (x == 1)).all())


def weighted_mean(x, weights=None) -> float:
    """Weighted mean sum(w x) / sum(w); NaN when the weights sum to zero."""
    x = np.asarray(x, dtype=float)
    w = _w(x, weights)
    total = w.sum()
    return float(w @ x / total) if total > 0 else float("nan")


def weighted_variance(x, weights=None, *, binary: bool | None = None) -> float:
    """Weighted variance with reliability weights (MatchIt's ``wvar``, cobalt's ``col_w_sd``^2).

    With w normalised to sum to one: p(1 - p) for a 0/1 variable, otherwise
    sum w (x - m)^2 / (1 - sum w^2), which is the usual n - 1 sample variance for equal weights.
    NaN when fewer than two values carry weight.
    """
    x = np.asarray(x, dtype=float)
    w = _w(x, weights)
    if w.sum() <= 0:
        return float("nan")
    w = w / w.sum()
    m = float(w @ x)
    if is_binary(x) if binary is None else binary:
        return m * (1.0 - m)
    denom = 1.0 - float(w @ w)
    return float(w @ (x - m) ** 2 / denom) if denom > _TINY else float("nan")


def weighted_smd(x, treated, weights=None, *, sd: float | None = None) -> float:
    """Standardised mean difference (treated minus comparison weighted means) / ``sd``.

    ``sd`` defaults to the unweighted SD of the treatment group (the ATT convention of
    MatchIt and cobalt); if that is ~0 the pooled SD is used. Differences below sqrt(machine
    epsilon) are returned unstandardised (i.e. ~0), as MatchIt does.
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(treated).astype(bool)
    w = _w(x, weights)
    diff = weighted_mean(x[t], w[t]) - weighted_mean(x[~t], w[~t])
    if abs(diff) <= _TINY:
        return float(diff)
    if sd is None:
        sd = treated_sd(x, t)
    return float(diff / sd)


def treated_sd(x, treated) -> float:
    """The SMD denominator: unweighted SD of the treatment group, pooled SD if that is ~0."""
    x = np.asarray(x, dtype=float)
    t = np.asarray(treated).astype(bool)
    binary = is_binary(x)
    sd = np.sqrt(weighted_variance(x[t], binary=binary))
    if np.isfinite(sd) and sd >= _TINY:
        return float(sd)
    v1, v0 = weighted_variance(x[t], binary=binary), weighted_variance(x[~t], binary=binary)
    n1, n0 = t.sum(), (~t).sum()
    return float(np.sqrt((n1 * np.nan_to_num(v1) + n0 * np.nan_to_num(v0)) / (n1 + n0)))


def weighted_variance_ratio(x, treated, weights=None) -> float:
    """Weighted variance of the treatment group over the comparison group (NaN for 0/1)."""
    x = np.asarray(x, dtype=float)
    if is_binary(x):
        return float("nan")
    t = np.asarray(treated).astype(bool)
    w = _w(x, weights)
    v0 = weighted_variance(x[~t], w[~t], binary=False)
    return float(weighted_variance(x[t], w[t], binary=False) / v0) if v0 > 0 else float("nan")


def weighted_ecdf(x, treated, weights=None) -> tuple[float, float]:
    """Mean and maximum |F_treated - F_comparison| over the distinct values of ``x``.

    Weighted eCDFs; every row (also a zero-weight one) contributes its value as an evaluation
    point, as in MatchIt. The maximum is the weighted Kolmogorov-Smirnov statistic.
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(treated).astype(bool)
    w = _w(x, weights)
    if is_binary(x):
        d = abs(weighted_mean(x[t], w[t]) - weighted_mean(x[~t], w[~t]))
        return float(d), float(d)
    return _ecdf_sorted(x, np.argsort(x, kind="stable"), t, w)


def _ecdf_sorted(x, order, t, w) -> tuple[float, float]:
    signed = np.where(t, w / w[t].sum(), -w / w[~t].sum())[order]
    xs = x[order]
    last = np.append(xs[1:] != xs[:-1], True)
    gaps = np.abs(np.cumsum(signed)[last])
    return float(gaps.mean()), float(gaps.max())


def effective_sample_size(weights) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 (0 for no positive weight)."""
    w = np.asarray(weights, dtype=float)
    ss = float(w @ w)
    return float(w.sum() ** 2 / ss) if ss > 0 else 0.0


def rate_smd(smd: float, thresholds: tuple[float, float] = SMD_THRESHOLDS) -> str:
    """Rate an SMD: ``"good"`` if |SMD| <= thresholds[0], ``"acceptable"`` if <= thresholds[1],
    else ``"poor"`` (also for a missing SMD)."""
    good, acceptable = thresholds
    a = abs(smd)
    if not np.isfinite(a):
        return "poor"
    return "good" if a <= good else "acceptable" if a <= acceptable else "poor"


# --- the statistics table -----------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    """One balance statistic: column stem, label for tables and plots, and the threshold
    beyond which it flags imbalance (None: descriptive only). For ratios the threshold ``t``
    flags values outside [1/t, t]."""

    name: str
    label: str
    threshold: float | None = None
    ratio: bool = False


#: The balance statistics, in table order. Thresholds: |SMD| 0.10 (Austin 2009); variance
#: ratio 2 (Rubin 2001).
STATISTICS: tuple[Statistic, ...] = (
    Statistic("mean_treated", "Mean, treatment group"),
    Statistic("mean_control", "Mean, comparison group"),
    Statistic("smd", "Standardised mean difference", SMD_THRESHOLDS[1]),
    Statistic("variance_ratio", "Variance ratio", 2.0, ratio=True),
    Statistic("ecdf_mean", "eCDF mean difference"),
    Statistic("ecdf_max", "eCDF max difference (KS)"),
)


def _stats(x: np.ndarray, t: np.ndarray, w: np.ndarray, sd: float, order) -> dict[str, float]:
    binary = is_binary(x)
    ecdf = weighted_ecdf(x, t, w) if binary else _ecdf_sorted(x, order, t, w)
    return {
        "mean_treated": weighted_mean(x[t], w[t]),
        "mean_control": weighted_mean(x[~t], w[~t]),
        "smd": weighted_smd(x, t, w, sd=sd),
        "variance_ratio": float("nan") if binary else weighted_variance_ratio(x, t, w),
        "ecdf_mean": ecdf[0],
        "ecdf_max": ecdf[1],
    }


@dataclass(frozen=True)
class BalanceSummary:
    """Sample sizes and the overall verdict. ``worst_term`` / ``worst_smd``: the covariate
    with the largest |SMD| after matching (the distance row excluded); ``rating`` its rating."""

    ess_treated_before: float
    ess_control_before: float
    ess_treated_after: float
    ess_control_after: float
    n_treated_matched: int
    n_treated_unmatched: int
    n_treated_discarded: int
    n_control_matched: int
    n_control_unmatched: int
    n_control_discarded: int
    worst_term: str
    worst_smd: float
    rating: str


@dataclass(frozen=True, eq=False)
class BalanceTable:
    """Balance per covariate (categorical levels separately) before and after matching.

    ``table`` is indexed by ``term`` with columns ``covariate``, ``level``, ``label``, then
    ``<statistic>_before`` and ``<statistic>_after`` for each of :data:`STATISTICS`, then
    ``rating_before`` and ``rating`` (after). ``thresholds`` are the (good, acceptable) |SMD|
    limits used for the ratings.
    """

    table: pd.DataFrame
    summary: BalanceSummary
    thresholds: tuple[float, float] = SMD_THRESHOLDS

    def long(self) -> pd.DataFrame:
        """Tidy form: one row per term, stage (before/after) and statistic."""
        cols = [f"{s.name}_{stage}" for s in STATISTICS for stage in ("before", "after")]
        out = self.table[cols].reset_index().melt(id_vars="term", value_name="value")
        out[["statistic", "stage"]] = out.pop("variable").str.rsplit("_", n=1, expand=True)
        return out[["term", "stage", "statistic", "value"]]

    def text(self) -> str:
        """A plain-text rendering: SMDs before/after with ratings, then the summary."""
        cols = ["smd_before", "smd_after", "variance_ratio_after", "ecdf_max_after", "rating"]
        s = self.summary
        return "\n".join(
            [
                self.table[cols].to_string(float_format=lambda v: f"{v:.3f}"),
                f"Effective sample size after matching: {s.ess_treated_after:.1f} treated, "
                f"{s.ess_control_after:.1f} comparison",
                f"Worst |SMD| after matching: {s.worst_term} ({s.worst_smd:+.3f}), {s.rating}",
            ]
        )

    def _repr_html_(self) -> str:
        return self.table.to_html(float_format=lambda v: f"{v:.3f}")


def balance_table(
    cohort: pd.DataFrame,
    covariates: Sequence[str],
    result: MatchResult,
    *,
    distance: bool = True,
    thresholds: tuple[float, float] = SMD_THRESHOLDS,
) -> BalanceTable:
    """Balance of ``covariates`` before (everyone, equal weights) and after matching
    (``result.weights``), plus the distance measure when ``distance`` is true.

    Emits :class:`~helpers.errors.BalanceWarning` when a covariate is rated poor after matching.
    """
    if len(cohort) != result.weights.size:
        raise MatchingError(
            f"the cohort has {len(cohort)} rows but the match result {result.weights.size}"
        )
    if not 0 < thresholds[0] <= thresholds[1]:
        raise MatchingError(f"`thresholds` must be increasing and positive (got {thresholds})")
    t, w = result.treated, result.weights
    rows = []
    if distance:
        label = (
            "Distance (logit of the score)"
            if result.spec.distance == "logit"
            else "Propensity score"
        )
        rows.append(_row("distance", "distance", "", label, result.distance, t, w))
    for term, covariate, level, label, x in _columns(cohort, covariates):
        rows.append(_row(term, covariate, level, label, x, t, w))
    table = pd.DataFrame(rows).set_index("term")
    table["rating_before"] = [rate_smd(v, thresholds) for v in table["smd_before"]]
    table["rating"] = [rate_smd(v, thresholds) for v in table["smd_after"]]
    summary = _summary(table, result)
    _warn_poor(table)
    return BalanceTable(table, summary, tuple(thresholds))


def _columns(cohort: pd.DataFrame, covariates: Sequence[str]):
    """(term, covariate, level, label, values) per covariate; one per level of a categorical."""
    for c in covariates:
        if c not in cohort.columns:
            raise MatchingError(f"covariate `{c}` is not in the cohort")
        s = cohort[c]
        if s.isna().any():
            raise MatchingError(f"covariate `{c}` has {int(s.isna().sum())} missing values")
        if pd.api.types.is_bool_dtype(s):
            yield c, c, "", c, s.to_numpy(dtype=float)
        elif (
            s.dtype == object
            or isinstance(s.dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(s)
        ):
            cat = pd.Categorical(s).remove_unused_categories()
            codes = np.asarray(cat.codes)
            for k, level in enumerate(cat.categories):
                yield f"{c}_{level}", c, str(level), f"{c}: {level}", (codes == k).astype(float)
        else:
            yield c, c, "", c, s.to_numpy(dtype=float)


def _row(term, covariate, level, label, x, t, w) -> dict:
    sd = treated_sd(x, t)
    order = None if is_binary(x) else np.argsort(x, kind="stable")
    before = _stats(x, t, np.ones_like(x), sd, order)
    after = _stats(x, t, w, sd, order)
    row = {"term": term, "covariate": covariate, "level": level, "label": label}
    for s in STATISTICS:
        row[f"{s.name}_before"] = before[s.name]
        row[f"{s.name}_after"] = after[s.name]
    return row


def _summary(table: pd.DataFrame, r: MatchResult) -> BalanceSummary:
    cov = table.drop(index="distance", errors="ignore")
    if len(cov):
        worst = cov["smd_after"].abs().idxmax()
        worst_smd, rating = float(cov.loc[worst, "smd_after"]), str(cov.loc[worst, "rating"])
    else:
        worst, worst_smd, rating = "", float("nan"), "good"
    t, w = r.treated, r.weights
    return BalanceSummary(
        ess_treated_before=float(t.sum()),
        ess_control_before=float((~t).sum()),
        ess_treated_after=effective_sample_size(w[t]),
        ess_control_after=effective_sample_size(w[~t]),
        n_treated_matched=r.n_treated_matched,
        n_treated_unmatched=r.n_treated_unmatched,
        n_treated_discarded=r.n_treated_discarded,
        n_control_matched=r.n_control_matched,
        n_control_unmatched=r.n_control_unmatched,
        n_control_discarded=r.n_control_discarded,
        worst_term=str(worst),
        worst_smd=worst_smd,
        rating=rating,
    )


def _warn_poor(table: pd.DataFrame) -> None:
    poor = table.drop(index="distance", errors="ignore")
    poor = poor[poor["rating"] == "poor"]
    if len(poor):
        listing = ", ".join(f"{t} ({v:+.3f})" for t, v in poor["smd_after"].items())
        warnings.warn(
            f"poor balance after matching (|SMD| above the acceptable threshold): {listing}. "
            "Consider a tighter caliper, exact matching on these covariates, or adding them "
            "(or their squares) to the propensity model.",
            BalanceWarning,
            stacklevel=3,
        )
