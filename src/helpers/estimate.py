"""Effects of the programme on each JDL measure, with standard errors that respect the matching.

For every measure the treatment group's value is compared with the weighted comparison group's
value (the JDL's two-sample tests on weighted means, reference §5). The difference is the
coefficient of a weighted least squares (WLS) regression of the outcome on group membership
with the matching weights, which is the difference of weighted means; what changes with the
matching design is the variance estimator:

``"sets"`` — every person is in exactly one matched set (matching without replacement):
    cluster-robust (CR1, ``sandwich::vcovCL`` type HC1) standard errors with the matched set as
    the cluster, which accounts for the pairing (Abadie & Spiess 2022, *JASA* 117:1002; Austin &
    Small 2014; MatchIt's "Estimating effects" vignette).
``"pairs"`` — matching with replacement or one-to-many, so a control can sit in several sets:
    the regression is run on the stacked matched sets (``pairs.parquet``, MatchIt's
    ``get_matches``) with within-set weights, and the variance is two-way cluster-robust on
    matched set and person (Cameron, Gelbach & Miller 2011, *JBES* 29:238), as recommended by
    Austin & Cafri (2020, *Stat Med* 39:1623) and MatchIt's vignette (``vcov = ~subclass + id``).
    Clustering on the person captures the re-use of controls, clustering on the set the
    pairing. Parity with ``sandwich::vcovCL(cluster = ~subclass + id)`` is tested.
``"units"`` — no set membership is available for some people and no stacked table was given:
    heteroskedasticity-robust (HC1) SEs on people with their matching weights (the weights
    carry the re-use of controls; the within-set correlation is ignored), with a warning.

These SEs treat the matched sample as fixed, as Hill & Reiter (2006, *Stat Med* 25:2230) and
MatchIt do; tests show near-nominal coverage for designs with replacement by simulation.
Intervals and p-values use the t distribution with G − 1 degrees of freedom (G clusters;
Cameron & Miller 2015), the conservative reading of the JDL's t-tests.

:func:`regression_adjusted` is the doubly robust companion: g-computation from a WLS model with
treatment × covariate interactions, the ATT averaged over the treated and a delta-method SE
(MatchIt's vignette; Ho, Imai, King & Stuart 2007). :func:`estimate_measures` builds the
all-measures table with Holm and Benjamini–Hochberg adjusted p-values and the headline flag.

This module holds the per-measure estimate and the verbs; the WLS fit and its variance live in
:mod:`helpers.matched_wls`, the all-measures table in :mod:`helpers.effect_table` and the
regression adjustment in :mod:`helpers.adjustment` (both re-exported here).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from helpers.adjustment import AdjustedEstimate, regression_adjusted
from helpers.disclosure import measure_gate
from helpers.effect_table import EffectTable, adjust_pvalues
from helpers.errors import ParamsError
from helpers.matched_wls import _VARIANCE, _Fit, _fit_wls, _inference, _ratio
from helpers.measures import (
    DEFAULT_COLUMNS,
    JDL_THRESHOLDS,
    Columns,
    Gate,
    Measure,
    Thresholds,
    analysis_frame,
    get_measure,
    jsonable,
    population,
    render_html,
    render_text,
)

__all__ = [
    "EffectEstimate",
    "EffectTable",
    "GroupValue",
    "AdjustedEstimate",
    "adjust_pvalues",
    "estimate_effect",
    "estimate_measures",
    "regression_adjusted",
]

log = logging.getLogger(__name__)


_SCALARS = [
    "difference",
    "std_error",
    "ci_low",
    "ci_high",
    "statistic",
    "df",
    "p_value",
    "p_holm",
    "p_bh",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "conf_level",
    "design",
    "variance",
    "n_clusters",
]


@dataclass(frozen=True)
class GroupValue:
    """One group's value of a measure.

    Attributes
    ----------
    n
        People in the measure's population (comparison group: distinct matched people).
    reoffenders
        People with at least one proven reoffence, unweighted (-1 without a reoffended column).
    value, std_error, ci_low, ci_high
        The weighted mean, its matched-design standard error and confidence interval (clipped
        to the measure's possible range).
    sd
        Weighted standard deviation of the outcome per person.
    ess
        Kish effective sample size (Σw)² / Σw².
    expected_count, expected_complement
        Weighted n·p (people with a non-zero outcome) and, for proportions, n·(1 − p), on
        MatchIt's weight scale (comparison weights sum to the number of matched controls).
    """

    n: int
    reoffenders: int
    value: float
    std_error: float
    ci_low: float
    ci_high: float
    sd: float
    ess: float
    expected_count: float
    expected_complement: float

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


def _group_value(pop, column, cols, treated, kind, mean, se, crit) -> GroupValue:
    grp = pop[pop[cols.treatment] == treated]
    y, w = grp[column].to_numpy(float), grp[cols.weight].to_numpy(float)
    reoff = int((grp[cols.reoffended] == 1).sum()) if cols.reoffended in grp else -1
    if len(y) == 0:
        return GroupValue(0, reoff, *[math.nan] * 6, 0.0, math.nan)
    sd = math.sqrt(np.sum(w * (y - mean) ** 2) / w.sum()) if math.isfinite(mean) else math.nan
    hi = 1.0 if kind == "proportion" else math.inf
    lo_ci, hi_ci = (
        (max(mean - crit * se, 0.0), min(mean + crit * se, hi)) if se > 0 else (mean, mean)
    )
    complement = float(np.sum(w * (y == 0))) if kind == "proportion" else math.nan
    return GroupValue(
        len(y),
        reoff,
        mean,
        se,
        lo_ci,
        hi_ci,
        sd,
        w.sum() ** 2 / np.sum(w**2),
        float(np.sum(w * (y > 0))),
        complement,
    )


@dataclass(frozen=True)
class EffectEstimate:
    """The effect of the programme on one measure: both groups, the difference, its test.

    Attributes
    ----------
    measure
        The :class:`~helpers.measures.Measure` (key, label, kind, population, column, words).
    treatment, comparison
        Each group's :class:`GroupValue` (the comparison group weighted by the matching).
    difference, std_error, ci_low, ci_high, statistic, df, p_value
        Treatment minus comparison, its matched-design SE, confidence interval, t statistic on
        ``df`` degrees of freedom and two-sided p-value.
    ratio, ratio_ci_low, ratio_ci_high
        Treatment value / comparison value (a risk ratio for rates) with a log-scale interval.
    conf_level
        Confidence level of every interval (0.95).
    design, variance, n_clusters
        Which variance estimator was used (see the module docstring) and over how many clusters.
    gate
        The JDL publication gate (:func:`helpers.disclosure.measure_gate`): PASS, or FAIL with
        reasons. Estimates are always computed; the gate says whether they may be shown.
    headline
        True for the pre-declared headline measure.
    p_holm, p_bh
        Holm and Benjamini–Hochberg adjusted p-values over the measures that passed their gates
        (NaN until :func:`adjust_pvalues` has run, and for gated measures).
    """

    measure: Measure
    treatment: GroupValue
    comparison: GroupValue
    difference: float
    std_error: float
    ci_low: float
    ci_high: float
    statistic: float
    df: float
    p_value: float
    ratio: float
    ratio_ci_low: float
    ratio_ci_high: float
    conf_level: float
    design: str
    variance: str
    n_clusters: int
    gate: Gate = field(default_factory=Gate)
    headline: bool = False
    p_holm: float = math.nan
    p_bh: float = math.nan

    @property
    def key(self) -> str:
        return self.measure.key

    @property
    def significant(self) -> bool:
        """Significant at the JDL's level: p ≤ 1 − conf_level (0.05)."""
        return bool(self.p_value <= 1 - self.conf_level + 1e-12)

    def _group(self, group: str) -> dict:
        return vars(getattr(self, group))

    def _head(self) -> dict:
        m = self.measure
        head = {k: getattr(m, k) for k in ["label", "kind", "population", "column", "jdl_number"]}
        return {"measure": m.key, **head, "headline": self.headline}

    def to_dict(self) -> dict:
        """Every number, JSON-ready (NaN → null), for ``results.json`` (nested groups)."""
        groups = {g: getattr(self, g).to_dict() for g in ("treatment", "comparison")}
        scalars = {k: getattr(self, k) for k in _SCALARS}
        extra = {"significant": self.significant, "gate": self.gate.to_dict()}
        return jsonable(self._head() | groups | scalars | extra)

    def to_row(self) -> dict:
        """One flat row: the groups' fields prefixed ``treatment_`` / ``comparison_``."""
        groups = {
            f"{g}_{k}": v
            for g in ("treatment", "comparison")
            for k, v in vars(getattr(self, g)).items()
        }
        scalars = {k: getattr(self, k) for k in _SCALARS}
        extra = {"significant": self.significant, "gate": self.gate.status}
        return self._head() | groups | scalars | extra | {"gate_reason": self.gate.reason}

    def _rows(self) -> list[tuple[str, object]]:
        pct = f"{100 * self.conf_level:.0f}%"
        t, c = self.treatment, self.comparison
        return [
            ("Treatment group (n)", f"{t.value:.4g} [{t.ci_low:.4g}, {t.ci_high:.4g}] ({t.n})"),
            ("Comparison group (n)", f"{c.value:.4g} [{c.ci_low:.4g}, {c.ci_high:.4g}] ({c.n})"),
            (
                f"Difference [{pct} CI]",
                f"{self.difference:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}]",
            ),
            ("Std. error", self.std_error),
            ("p-value", self.p_value),
            ("p-value (Holm / BH)", f"{self.p_holm:.4g} / {self.p_bh:.4g}"),
            ("Ratio", self.ratio),
            ("Variance", f"{self.variance}, {self.n_clusters} clusters"),
            ("Gate", f"{self.gate.status} {self.gate.reason}".strip()),
            ("Headline", self.headline),
        ]

    def summary(self) -> str:
        """A plain-text summary (linearmodels-style)."""
        return render_text(self.measure.label, self._rows())

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return render_html(self.measure.label, self._rows())


def estimate_effect(
    matched: pd.DataFrame,
    measure: str | Measure = "rate",
    *,
    column: str | None = None,
    pairs: pd.DataFrame | None = None,
    cols: Columns = DEFAULT_COLUMNS,
    thresholds: Thresholds = JDL_THRESHOLDS,
    conf_level: float = 0.95,
) -> EffectEstimate:
    """Treatment group vs weighted comparison group on one measure (the JDL's t-test).

    Parameters
    ----------
    matched
        The matched sample: one row per person with treatment, weight, subclass, id, outcomes.
    measure
        A key of :data:`helpers.measures.MEASURES` or a :class:`Measure`.
    column
        Read the outcome from this column instead of the measure's default.
    pairs
        The stacked matched sets; pass it whenever a control can be in several sets (matching
        with replacement, one-to-many radius matching) to get two-way clustered SEs.
    cols
        Column names of ``matched`` and ``pairs``.
    thresholds
        The JDL gates to judge the estimate against.
    """
    m = get_measure(measure, column)
    pop = population(matched, m.column, m.population, cols)
    frame, design = analysis_frame(
        matched, m.column, population=m.population, pairs=pairs, cols=cols
    )
    group_size = int(((matched[cols.treatment] == 1) & (matched[cols.weight] > 0)).sum())
    counts = [(pop[cols.treatment] == g).sum() for g in (1, 0)]
    if min(counts) < 2:
        nan_fit = _Fit(np.full(2, math.nan), np.full((2, 2), math.nan), math.nan, 0)
        return _assemble(m, pop, cols, nan_fit, design, group_size, thresholds, conf_level)
    t = frame["t"].to_numpy(float)
    fit = _fit_wls(frame, np.column_stack([t, 1 - t]), design)
    return _assemble(m, pop, cols, fit, design, group_size, thresholds, conf_level)


def _assemble(m, pop, cols, fit, design, group_size, thresholds, conf_level) -> EffectEstimate:
    crit = stats.t.ppf(0.5 + conf_level / 2, fit.df) if fit.df > 0 else math.nan
    se = np.sqrt(np.diag(fit.cov))
    groups = [
        _group_value(pop, m.column, cols, g, m.kind, fit.params[i], se[i], crit)
        for i, g in enumerate((1, 0))
    ]
    diff = fit.params[0] - fit.params[1]
    diff_se = math.sqrt(max(fit.cov[0, 0] + fit.cov[1, 1] - 2 * fit.cov[0, 1], 0.0))
    diff_se = diff_se if math.isfinite(diff) else math.nan
    stat, p, lo, hi = _inference(diff, diff_se, fit.df, conf_level)
    ratio = _ratio(fit.params[0], fit.params[1], fit.cov, fit.df, conf_level)
    gate = measure_gate(
        m, group_size=group_size, treatment=groups[0], comparison=groups[1], thresholds=thresholds
    )
    return EffectEstimate(
        m,
        groups[0],
        groups[1],
        diff,
        diff_se,
        lo,
        hi,
        stat,
        fit.df,
        p,
        *ratio,
        conf_level,
        design,
        _VARIANCE[design],
        fit.n_clusters,
        gate,
    )


def estimate_measures(
    matched: pd.DataFrame,
    measures: Sequence[str | Measure] | None = None,
    *,
    headline: str = "rate",
    columns: Mapping[str, str] | None = None,
    pairs: pd.DataFrame | None = None,
    cols: Columns = DEFAULT_COLUMNS,
    thresholds: Thresholds = JDL_THRESHOLDS,
    conf_level: float = 0.95,
) -> EffectTable:
    """Estimate every measure (default: all of :data:`~helpers.measures.MEASURES`).

    ``headline`` is the pre-declared primary measure (flagged in the table; the report leads
    with it). ``columns`` maps measure keys to non-default outcome columns.
    """
    from helpers.measures import MEASURES

    specs = [get_measure(m) for m in (measures or list(MEASURES))]
    specs = [s.with_column((columns or {}).get(s.key)) for s in specs]
    keys = [s.key for s in specs]
    if headline not in keys:
        raise ParamsError(f"headline {headline!r} is not among the measures: use one of {keys}")
    ests = [
        replace(
            estimate_effect(
                matched, s, pairs=pairs, cols=cols, thresholds=thresholds, conf_level=conf_level
            ),
            headline=s.key == headline,
        )
        for s in specs
    ]
    log.info("estimated %d measures; headline %s", len(ests), headline)
    return EffectTable(adjust_pvalues(ests), headline)
