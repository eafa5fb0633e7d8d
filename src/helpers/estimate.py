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
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from helpers.disclosure import measure_gate
from helpers.errors import ModelError, ParamsError
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

_VARIANCE = {
    "sets": "cluster-robust (CR1) on matched sets",
    "pairs": "two-way cluster-robust on matched set and person (stacked matched sets)",
    "units": "heteroskedasticity-robust (HC1) on people; matched-set correlation ignored",
}

_DESCRIBE = {
    "sets": "Each person is in one matched set, so standard errors are cluster-robust with the "
    "matched set as the cluster (Abadie & Spiess 2022).",
    "pairs": "Some comparison people are matched to several treated people, so the analysis "
    "uses every matched set in turn and standard errors are clustered both on the matched set "
    "and on the person, which accounts for people used more than once (Austin & Cafri 2020).",
    "units": "Matched sets were not available, so standard errors are robust to unequal "
    "variances and account for the matching weights but not for the pairing.",
}


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


@dataclass(frozen=True)
class _Fit:
    params: np.ndarray
    cov: np.ndarray
    df: float
    n_clusters: int


def _psd(cov: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues, which two-way clustering can produce (Cameron et al. 2011)."""
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return cov if vals.min() >= 0 else (vecs * np.clip(vals, 0, None)) @ vecs.T


def _fit_wls(frame: pd.DataFrame, X: np.ndarray, design: str) -> _Fit:
    """WLS with the design's robust covariance (statsmodels; parity with sandwich::vcovCL)."""
    model = sm.WLS(frame["y"].to_numpy(float), X, weights=frame["w"].to_numpy(float))
    if design == "units":
        res = model.fit(cov_type="HC1")
        return _Fit(res.params, res.cov_params(), len(frame) - X.shape[1], len(frame))
    codes = [pd.factorize(frame["set"])[0]]
    if design == "pairs":
        codes.append(pd.factorize(frame["unit"])[0])
    n_clusters = min(int(c.max()) + 1 for c in codes)
    if n_clusters < 2:
        raise ModelError(
            f"only {n_clusters} matched set(s) in the data: cluster-robust errors need several",
            fix="Check the subclass column of the matched sample.",
        )
    groups = codes[0] if len(codes) == 1 else np.column_stack(codes)
    res = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    return _Fit(res.params, _psd(np.asarray(res.cov_params())), n_clusters - 1, n_clusters)


def _inference(est: float, se: float, df: float, conf_level: float) -> tuple[float, ...]:
    """t statistic, two-sided p-value and confidence limits on ``df`` degrees of freedom."""
    if not (se > 0 and math.isfinite(se)):
        return math.nan, math.nan, math.nan, math.nan
    crit = stats.t.ppf(0.5 + conf_level / 2, df)
    stat = est / se
    return stat, float(2 * stats.t.sf(abs(stat), df)), est - crit * se, est + crit * se


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


def _ratio(m1: float, m0: float, cov: np.ndarray, df: float, conf: float) -> tuple[float, ...]:
    """Ratio of group means with a delta-method interval on the log scale."""
    if not (m1 > 0 and m0 > 0):
        return math.nan, math.nan, math.nan
    grad = np.array([1 / m1, -1 / m0])
    se = math.sqrt(max(grad @ cov @ grad, 0.0))
    crit = stats.t.ppf(0.5 + conf / 2, df)
    return m1 / m0, math.exp(math.log(m1 / m0) - crit * se), math.exp(math.log(m1 / m0) + crit * se)


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


def adjust_pvalues(estimates: Sequence[EffectEstimate]) -> tuple[EffectEstimate, ...]:
    """Add Holm (family-wise) and Benjamini–Hochberg (false discovery rate) adjusted p-values.

    The family is the measures that passed their gates and have a p-value — the tests a reader
    of the report sees (statsmodels ``multipletests``; Holm 1979; Benjamini & Hochberg 1995).
    """
    family = [i for i, e in enumerate(estimates) if e.gate.passed and math.isfinite(e.p_value)]
    out = list(estimates)
    if not family:
        return tuple(out)
    p = [out[i].p_value for i in family]
    holm, bh = (multipletests(p, method=meth)[1] for meth in ("holm", "fdr_bh"))
    for j, i in enumerate(family):
        out[i] = replace(out[i], p_holm=float(holm[j]), p_bh=float(bh[j]))
    return tuple(out)


@dataclass(frozen=True)
class EffectTable:
    """All measures' estimates, in order, with the headline flagged (the JDL's results tables).

    Attributes
    ----------
    estimates
        One :class:`EffectEstimate` per measure, with adjusted p-values filled in.
    headline
        Key of the pre-declared headline measure.
    """

    estimates: tuple[EffectEstimate, ...]
    headline: str

    def __getitem__(self, key: str) -> EffectEstimate:
        for e in self.estimates:
            if e.key == key:
                return e
        raise KeyError(f"no measure {key!r}: have {', '.join(e.key for e in self.estimates)}")

    def __iter__(self):
        return iter(self.estimates)

    def __len__(self) -> int:
        return len(self.estimates)

    def to_frame(self) -> pd.DataFrame:
        """One row per measure (:meth:`EffectEstimate.to_row`); the input of
        :func:`helpers.disclosure.apply_disclosure`."""
        return pd.DataFrame([e.to_row() for e in self.estimates])

    def to_dict(self) -> dict:
        """``{"headline": key, "multiplicity": {...}, "estimates": [EffectEstimate.to_dict()]}``."""
        family = [e.key for e in self.estimates if math.isfinite(e.p_holm)]
        return {
            "headline": self.headline,
            "multiplicity": {"family": family, "methods": ["holm", "fdr_bh"]},
            "estimates": [e.to_dict() for e in self.estimates],
        }

    def describe(self) -> str:
        """The method in plain English for the report's methodology, from what actually ran."""
        designs = dict.fromkeys(e.design for e in self.estimates)
        family = sum(math.isfinite(e.p_holm) for e in self.estimates)
        pct = f"{100 * self.estimates[0].conf_level:.0f}%" if self.estimates else "95%"
        return " ".join(
            [
                "Each measure compares the treatment group with the comparison group weighted by "
                "the matching (a weighted two-sample t-test; significant at p ≤ 0.05).",
                *[_DESCRIBE[d] for d in designs],
                f"Intervals are {pct} confidence intervals on the t distribution with one degree "
                "of freedom fewer than the number of clusters. Holm and Benjamini–Hochberg "
                f"adjusted p-values allow for the {family} measures reported; the "
                "headline measure, "
                f"{self[self.headline].measure.phrase}, was declared before the results.",
            ]
        )

    def summary(self) -> str:
        """The main columns of :meth:`to_frame` as text."""
        cols = ["measure", "treatment_value", "comparison_value", "difference", "ci_low"]
        cols += ["ci_high", "p_value", "p_holm", "gate"]
        frame = self.to_frame()[cols]
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")


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


@dataclass(frozen=True)
class AdjustedEstimate:
    """Regression-adjusted ATT on the matched sample (g-computation), the doubly robust check.

    Attributes
    ----------
    measure
        The outcome measure.
    covariates
        Covariates in the outcome model (each interacted with treatment).
    estimate, std_error, ci_low, ci_high, statistic, df, p_value, conf_level
        The ATT (average over the treated of the predicted outcome with minus without the
        programme), its delta-method SE from the design's robust covariance, and inference.
    n_treatment, n_comparison, n_clusters, design, variance
        People per group in the fitted data, clusters and variance estimator.
    dropped_terms
        Model terms dropped because they were collinear with earlier ones (as R's ``lm`` does).
    """

    measure: Measure
    covariates: tuple[str, ...]
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    statistic: float
    df: float
    p_value: float
    conf_level: float
    n_treatment: int
    n_comparison: int
    n_clusters: int
    design: str
    variance: str
    dropped_terms: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = {
            "measure": self.measure.key,
            "column": self.measure.column,
            "model": "linear",
            "method": "g-computation with treatment x covariate interactions",
        }
        out |= {k: v for k, v in self.__dict__.items() if k != "measure"}
        return jsonable(out)

    def _rows(self) -> list[tuple[str, object]]:
        return [
            ("ATT", self.estimate),
            ("Std. error", self.std_error),
            ("CI", f"[{self.ci_low:.4g}, {self.ci_high:.4g}]"),
            ("p-value", self.p_value),
            ("Covariates", ", ".join(self.covariates)),
            ("Variance", f"{self.variance}, {self.n_clusters} clusters"),
            ("Dropped terms", ", ".join(self.dropped_terms) or "none"),
        ]

    def summary(self) -> str:
        return render_text(f"Regression-adjusted: {self.measure.label}", self._rows())

    def _repr_html_(self) -> str:
        return render_html(f"Regression-adjusted: {self.measure.label}", self._rows())


def _covariate_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """Numbers as they are; text, categories and booleans as 0/1 dummies (first level dropped)."""
    cat = [
        c
        for c in df.columns
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])
    ]
    return pd.get_dummies(df, columns=cat, drop_first=True, dtype=float).astype(float)


def _independent_columns(X: np.ndarray) -> list[int]:
    """Columns kept left to right while they add rank (R's ``lm`` aliasing rule)."""
    scaled = X / np.where(np.abs(X).max(axis=0) > 0, np.abs(X).max(axis=0), 1.0)
    keep: list[int] = []
    for j in range(X.shape[1]):
        if np.linalg.matrix_rank(scaled[:, [*keep, j]]) == len(keep) + 1:
            keep.append(j)
    return keep


def regression_adjusted(
    matched: pd.DataFrame,
    measure: str | Measure = "rate",
    covariates: Sequence[str] = (),
    *,
    column: str | None = None,
    pairs: pd.DataFrame | None = None,
    cols: Columns = DEFAULT_COLUMNS,
    conf_level: float = 0.95,
) -> AdjustedEstimate:
    """ATT by g-computation from ``outcome ~ treated * (covariates)`` fitted by WLS.

    The model is fitted to the matched sample with the matching weights; predictions for every
    treated person with and without the programme are averaged, and the SE comes from the
    delta method with the design's cluster-robust covariance (MatchIt's "Estimating effects"
    vignette, ``avg_comparisons(fit, variables = "treat", vcov = ~subclass,
    newdata = subset(treat == 1))``). Reproduces MatchIt's lalonde example exactly.
    """
    if not covariates:
        raise ParamsError("covariates is empty: name the matching covariates, e.g. ['age', 'sex']")
    m = get_measure(measure, column)
    frame, design = analysis_frame(
        matched, m.column, population=m.population, pairs=pairs, cols=cols, extra=list(covariates)
    )
    X, names, dropped = _interaction_design(frame, covariates, m.key)
    fit = _fit_wls(frame, X, design)
    treated = frame["t"].to_numpy() == 1
    grad = _att_gradient(X, treated, frame["w"].to_numpy(float), names)
    att = float(grad @ fit.params)
    se = math.sqrt(max(grad @ fit.cov @ grad, 0.0))
    stat, p, lo, hi = _inference(att, se, fit.df, conf_level)
    sizes = [int(frame.loc[treated == g, "unit"].nunique()) for g in (True, False)]
    return AdjustedEstimate(
        m,
        tuple(covariates),
        att,
        se,
        lo,
        hi,
        stat,
        fit.df,
        p,
        conf_level,
        *sizes,
        fit.n_clusters,
        design,
        _VARIANCE[design],
        dropped,
    )


def _interaction_design(frame: pd.DataFrame, covariates: Sequence[str], key: str):
    """Design matrix [1, t, C, t·C] without aliased columns, its names and the dropped names."""
    C = _covariate_matrix(frame[list(covariates)])
    t = frame["t"].to_numpy(float)
    names = ["const", "treated", *C.columns, *[f"treated:{c}" for c in C.columns]]
    X = np.column_stack([np.ones(len(t)), t, C.to_numpy(), C.to_numpy() * t[:, None]])
    keep = _independent_columns(X)
    if 1 not in keep:
        raise ModelError(
            f"treatment is collinear with the covariates in {key!r}",
            fix="Check that both groups are present in the matched sample.",
        )
    dropped = tuple(n for j, n in enumerate(names) if j not in keep)
    if dropped:
        log.info("regression adjustment dropped collinear terms: %s", ", ".join(dropped))
    return X[:, keep], [names[j] for j in keep], dropped


def _att_gradient(X: np.ndarray, treated: np.ndarray, w: np.ndarray, names: list[str]):
    """d ATT / d β: the weighted mean over the treated of X(treated = 1) − X(treated = 0)."""
    mean_x = np.average(X[treated], axis=0, weights=w[treated])
    is_effect = np.array([n == "treated" or n.startswith("treated:") for n in names])
    return np.where(is_effect, mean_x, 0.0)
