"""Regression adjustment on the matched sample: the doubly robust check of the matched estimate.

Matching balances the covariates on average; an outcome model fitted to the matched sample
removes what imbalance remains, and the estimate stays consistent if either the propensity
model or the outcome model is right (Ho, Imai, King & Stuart 2007, *Political Analysis*
15:199). The ATT is computed by g-computation from a WLS model with treatment x covariate
interactions, averaged over the treated, with a delta-method SE from the matching design's
robust covariance (:mod:`helpers.matched_wls`), as MatchIt's "Estimating effects" vignette
does with ``marginaleffects::avg_comparisons``. Collinear terms are dropped left to right, as
R's ``lm`` does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.errors import ModelError, ParamsError
from helpers.matched_wls import _VARIANCE, _fit_wls, _inference
from helpers.measures import (
    DEFAULT_COLUMNS,
    Columns,
    Measure,
    analysis_frame,
    get_measure,
    jsonable,
    render_html,
    render_text,
)

__all__ = ["AdjustedEstimate", "regression_adjusted"]

log = logging.getLogger(__name__)


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
