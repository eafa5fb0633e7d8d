"""The propensity model (logistic regression of treatment on covariates) and common support.

The propensity score e(x) = P(treated | x) is estimated by unpenalised maximum likelihood
(statsmodels ``Logit``, Newton-Raphson) as in R ``glm(..., family = binomial)`` and MatchIt's
default ``distance = "glm"`` (Rosenbaum & Rubin 1983). Covariates are given either as a list
of column names (numeric columns enter linearly; object, category and bool columns become
dummy variables against a reference level) or as a patsy formula for splines and polynomials,
e.g. ``"age + bs(age, df=4) + C(region) + I(prev_offences ** 2)"``.

A score is never returned silently when it cannot be trusted. Before fitting, each
categorical level and each 0/1 column is checked for cells with no treated or no comparison
records (which make the maximum likelihood estimate infinite: quasi-complete separation,
Albert & Anderson 1984), each numeric covariate for treated and comparison ranges that do not
overlap (complete separation), and the design for constant or collinear columns. Such
problems raise :class:`~helpers.errors.ModelError` naming the covariate or level and the fix;
with ``rare_levels="merge"`` levels with fewer than ``min_level_count`` treated or comparison
records are pooled into ``"(other)"`` with a :class:`~helpers.errors.SeparationWarning`. A fit
that does not converge raises ``ModelError``; a converged fit with an extreme coefficient warns.

Scale: the design is one float64 matrix (no formula machinery on the list path), and the
likelihood's score and Hessian are computed in row chunks from one cached linear predictor, so
a 1,000 treated + 5,000,000 comparison fit takes seconds and little more memory than the
design itself.

This module fits the model; the design matrix (and :func:`usable_covariates`) is built in
:mod:`helpers.propensity_design` and checked for separation and collinearity in
:mod:`helpers.propensity_checks`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.special import expit
from statsmodels.discrete.discrete_model import Logit
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationWarning,
)

from helpers.errors import ModelError, SeparationWarning
from helpers.propensity_checks import _check_design
from helpers.propensity_design import (
    _CHUNK,
    _OTHER,
    _column_design,
    _Design,
    _formula_design,
    _gram,
    _treatment_vector,
)
from helpers.propensity_design import usable_covariates as usable_covariates

__all__ = [
    "DISCARD_OPTIONS",
    "RARE_LEVEL_OPTIONS",
    "PropensityModel",
    "common_support",
    "fit_propensity",
]

log = logging.getLogger(__name__)

#: MatchIt's ``discard`` options for common support.
DISCARD_OPTIONS = ("none", "treated", "control", "both")
#: What to do with categorical levels that have few treated or comparison records.
RARE_LEVEL_OPTIONS = ("error", "merge")
_EXTREME = 10.0  # |coefficient x SD of its column| above which a term "nearly separates"


@dataclass(frozen=True, eq=False)
class PropensityModel:
    """A fitted propensity model.

    Attributes
    ----------
    formula
        The model as fitted, e.g. ``"treated ~ age + sex[M] + region[Wales]"``.
    covariates
        The covariates as given (column names, or the formula's right-hand side).
    coefficients
        One row per design term (index ``term``): ``estimate`` (log odds), ``std_error``
        (from the inverse observed information), ``z`` and two-sided ``p_value``.
    n, n_treated, n_control
        Rows used in the fit.
    auc
        Area under the ROC curve (c-statistic) of the fitted score, ties counted one half.
    log_likelihood, null_log_likelihood
        Maximised log likelihood of the model and of the intercept-only model.
    converged, iterations
        Newton-Raphson convergence and the number of iterations used.
    reference_levels
        Covariate -> reference level of each categorical covariate (list form only).
    merged_levels
        Covariate -> levels pooled into ``"(other)"`` (``rare_levels="merge"``).
    score
        Fitted propensity score per row (read-only array, rows in the cohort's order).
    logit
        The linear predictor log(e / (1 - e)) per row, computed directly (not by
        transforming ``score``, which would lose precision for scores near 0 or 1).
    """

    formula: str
    covariates: tuple[str, ...] | str
    coefficients: pd.DataFrame
    n: int
    n_treated: int
    n_control: int
    auc: float
    log_likelihood: float
    null_log_likelihood: float
    converged: bool
    iterations: int
    reference_levels: Mapping[str, str] = field(default_factory=dict)
    merged_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    merge_targets: Mapping[str, str] = field(default_factory=dict)
    score: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    logit: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def as_modelled(self, cohort: pd.DataFrame) -> pd.DataFrame:
        """``cohort`` with rare levels pooled as the model pooled them, so that balance is
        judged on the covariates the model actually used (a 1-point gap in a level held by
        0.3% of people otherwise looks like a large standardised difference)."""
        out = cohort.copy()
        for column, levels in self.merged_levels.items():
            target = self.merge_targets.get(column, _OTHER)
            values = out[column].astype(str)
            out[column] = values.where(~values.isin(levels), target)
        return out

    @property
    def pseudo_r2(self) -> float:
        """McFadden's pseudo R-squared, 1 - logL / logL0."""
        return 1.0 - self.log_likelihood / self.null_log_likelihood

    def distance(self, kind: str = "logit") -> np.ndarray:
        """The distance measure to match on: ``"logit"`` (linear predictor) or ``"score"``."""
        if kind == "logit":
            return self.logit
        if kind == "score":
            return self.score
        raise ModelError(f"`kind` must be 'logit' or 'score' (got {kind!r})")

    def summary(self) -> str:
        """A plain-text summary: fit statistics and the coefficient table."""
        head = (
            f"Propensity model (logistic regression): {self.formula}\n"
            f"n = {self.n:,} ({self.n_treated:,} treated, {self.n_control:,} comparison); "
            f"AUC {self.auc:.3f}; McFadden R2 {self.pseudo_r2:.3f}; "
            f"log likelihood {self.log_likelihood:.2f}; "
            f"{'converged' if self.converged else 'NOT converged'} in "
            f"{self.iterations} iterations"
        )
        notes = [f"reference level of {c}: {lv}" for c, lv in self.reference_levels.items()]
        notes += [
            f"{c}: pooled {', '.join(lv)} into {_OTHER}" for c, lv in self.merged_levels.items()
        ]
        table = self.coefficients.to_string(float_format=lambda v: f"{v:.4g}")
        return "\n".join([head, *notes, table])

    def _repr_html_(self) -> str:
        caption = self.summary().splitlines()[1]
        return f"<p>{self.formula}<br>{caption}</p>" + self.coefficients.to_html(
            float_format=lambda v: f"{v:.4g}"
        )


def common_support(distance, treated, discard: str = "none") -> np.ndarray:
    """Rows outside common support, by MatchIt's ``discard`` rule (a boolean mask).

    ``"none"`` keeps everyone; ``"treated"`` discards treated rows whose distance is outside
    the comparison group's [min, max]; ``"control"`` discards comparison rows outside the
    treated group's [min, max]; ``"both"`` discards any row outside the intersection of the
    two ranges. Bounds are inclusive. The rule is the same on the score and on its logit.
    """
    if discard not in DISCARD_OPTIONS:
        raise ModelError(f"`discard` must be one of {', '.join(DISCARD_OPTIONS)} (got {discard!r})")
    d = np.asarray(distance, dtype=float)
    t = np.asarray(treated).astype(bool)
    if discard == "none" or d.size == 0:
        return np.zeros(d.shape, dtype=bool)
    if t.all() or not t.any():
        raise ModelError("common support needs both treated and comparison rows")
    lo0, hi0, lo1, hi1 = d[~t].min(), d[~t].max(), d[t].min(), d[t].max()
    if discard == "control":
        return ~t & ((d < lo1) | (d > hi1))
    if discard == "treated":
        return t & ((d < lo0) | (d > hi0))
    return (d < max(lo0, lo1)) | (d > min(hi0, hi1))


def fit_propensity(
    cohort: pd.DataFrame,
    covariates: Sequence[str] | str,
    *,
    treatment: str = "treated",
    rare_levels: str = "error",
    min_level_count: int = 5,
    maxiter: int = 50,
) -> PropensityModel:
    """Fit the logistic propensity model of ``treatment`` on ``covariates``.

    Parameters
    ----------
    cohort
        One row per person (treatment group and comparison pool).
    covariates
        Column names (categoricals: object, category or bool dtype; reference level = first
        category, first in sorted order for strings, ``False`` for bool), or a patsy formula
        right-hand side (``"~"`` optional) for splines (``bs``, ``cr``), polynomials
        (``I(x ** 2)``) and explicit factors (``C(x)``).
    treatment
        The 0/1 (or bool) treatment column.
    rare_levels
        ``"error"`` (default): a level with no treated or no comparison records raises
        ``ModelError``, one with fewer than ``min_level_count`` warns. ``"merge"``: levels with
        fewer than ``min_level_count`` treated or comparison records are pooled into
        ``"(other)"`` (and that into the largest level if still empty on one side), with a
        ``SeparationWarning``. List form only.
    min_level_count
        Smallest number of treated and of comparison records a level should have.
    maxiter
        Newton-Raphson iterations before the fit is declared not converged.
    """
    if rare_levels not in RARE_LEVEL_OPTIONS:
        raise ModelError(
            f"`rare_levels` must be one of {', '.join(RARE_LEVEL_OPTIONS)} (got {rare_levels!r})"
        )
    y = _treatment_vector(cohort, treatment)
    if isinstance(covariates, str):
        design = _formula_design(cohort, covariates, y, rare_levels)
    else:
        design = _column_design(cohort, list(covariates), y, rare_levels, min_level_count)
    _check_design(design, y, min_level_count if rare_levels == "error" else 0)
    return _fit(design, y, treatment, covariates, maxiter)


# --- fitting -----------------------------------------------------------------------------


class _FastLogit(Logit):
    """statsmodels ``Logit`` whose likelihood, score and Hessian share one cached linear
    predictor and build X'WX in row chunks (no n x p temporaries)."""

    def _eta(self, params: np.ndarray) -> np.ndarray:
        key = params.tobytes()
        if getattr(self, "_eta_key", None) != key:
            self._eta_cache = self.exog @ params
            self._eta_key = key
        return self._eta_cache

    def loglike(self, params):
        eta = self._eta(np.asarray(params, dtype=float))
        return float(self.endog @ eta - np.logaddexp(0.0, eta).sum())

    def score(self, params):
        resid = self.endog - expit(self._eta(np.asarray(params, dtype=float)))
        X = self.exog
        out = np.zeros(X.shape[1])
        for s in range(0, X.shape[0], 2 * _CHUNK):
            out += resid[s : s + 2 * _CHUNK] @ X[s : s + 2 * _CHUNK]
        return out

    def hessian(self, params):
        p = expit(self._eta(np.asarray(params, dtype=float)))
        return -_gram(self.exog, p * (1.0 - p))

    def _check_perfect_pred(self, params, *args):
        return None  # separation is checked before and after the fit


def _start(design: _Design, y: np.ndarray) -> np.ndarray:
    """Starting values for Newton-Raphson on the full data.

    The intercept-only fit, or, for a large comparison pool with an intercept, the fit to all
    treated rows and a fixed random subsample of the comparison rows with the intercept shifted
    by log(sampling fraction), which is consistent for the full-data coefficients (case-control
    sampling; Prentice & Pyke 1979). It only saves iterations: the maximum likelihood estimate
    itself is always computed on all rows.
    """
    n1 = float(y.sum())
    n0 = y.size - n1
    start = np.zeros(design.X.shape[1])
    if design.names[0] != "Intercept":
        return start
    start[0] = np.log(n1 / n0)
    keep0 = max(50 * n1, 100_000)
    if n0 < 4 * keep0:
        return start
    fraction = keep0 / n0
    rows = np.flatnonzero((y == 1) | (np.random.default_rng(0).random(y.size) < fraction))
    sub = _FastLogit(y[rows], design.X[rows], check_rank=False)
    sub_start = start.copy()
    sub_start[0] = np.log(n1 / (rows.size - n1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = sub.fit(start_params=sub_start, method="newton", maxiter=25, disp=False)
        except (np.linalg.LinAlgError, ValueError):
            return start
    params = np.asarray(res.params, dtype=float)
    if not res.mle_retvals.get("converged", False) or not np.isfinite(params).all():
        return start
    params[0] += np.log(fraction)
    return params


def _fit(design: _Design, y, treatment, covariates, maxiter) -> PropensityModel:
    """Maximum likelihood on a standardised design, reported in the original units.

    Continuous columns are centred and scaled before Newton–Raphson (indicators are left as
    they are): a linear reparameterisation, so the MLE is unchanged, but the Hessian stays
    well conditioned when covariates such as index year or sentence length sit far from zero
    and selection pushes scores to the extremes. Should Newton still fail, BFGS finds the
    optimum and Newton polishes it; coefficients and covariance are mapped back exactly.
    """
    scaled, to_original = _standardised(design)
    start = _start(replace(design, X=scaled), y)
    model = _FastLogit(y, scaled, check_rank=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _maximise(model, start, maxiter)
    kinds = {type(w.message) for w in caught}
    for w in caught:
        log.debug("statsmodels: %s", w.message)
    converged = res is not None and bool(res.mle_retvals.get("converged", False))
    if not converged or ConvergenceWarning in kinds:
        params = res.params if res is not None else start
        raise ModelError(_not_converged_message(design, to_original @ params),
                         fix=_SEPARATION_FIX)  # fmt: skip
    params = to_original @ np.asarray(res.params)
    cov = to_original @ _covariance(res, kinds) @ to_original.T
    _warn_extreme(design, params)
    original = _FastLogit(y, design.X, check_rank=False)
    return _result(design, y, treatment, covariates, original, params, cov, res)


def _standardised(design: _Design) -> tuple[np.ndarray, np.ndarray]:
    """The scaled design and the matrix taking its coefficients back to the original units."""
    X = design.X
    p = X.shape[1]
    centre, scale = np.zeros(p), np.ones(p)
    intercept = bool(design.names) and design.names[0] == "Intercept"
    for j in range(1 if intercept else 0, p):
        if j in design.indicator:
            continue
        sd = float(X[:, j].std())
        if sd > 0:
            scale[j] = sd
            centre[j] = float(X[:, j].mean()) if intercept else 0.0
    scaled = (X - centre) / scale
    to_original = np.diag(1.0 / scale)
    if intercept:
        to_original[0, 1:] = -centre[1:] / scale[1:]
    return np.ascontiguousarray(scaled), to_original


def _maximise(model, start, maxiter):
    """Newton from ``start``; on a singular Hessian, BFGS then Newton from its optimum."""
    try:
        return model.fit(start_params=start, method="newton", maxiter=maxiter, disp=False)
    except np.linalg.LinAlgError:
        log.debug("Newton hit a singular Hessian; trying BFGS")
    try:
        rough = model.fit(start_params=start, method="bfgs", maxiter=2000, disp=False)
        return model.fit(start_params=rough.params, method="newton", maxiter=maxiter,
                         disp=False)  # fmt: skip
    except np.linalg.LinAlgError:
        return None


_SEPARATION_FIX = (
    "This usually means (quasi-)separation: some combination of covariates predicts "
    "treatment perfectly. Drop or coarsen the named covariate(s), merge rare levels, or "
    "match exactly on them instead."
)


def _not_converged_message(design: _Design, params) -> str:
    sd = design.sd
    size = np.abs(np.asarray(params)) * np.where(sd > 0, sd, 1.0)
    worst = [design.names[k] for k in np.argsort(-size)[:3] if design.names[k] != "Intercept"]
    return (
        "the propensity model did not converge; the largest standardised coefficients are "
        + ", ".join(f"`{w}`" for w in worst)
    )


def _covariance(res, kinds) -> np.ndarray:
    """Inverse observed information at the MLE (statsmodels' ``cov_params``)."""
    cov = np.asarray(res.cov_params())
    if (
        HessianInversionWarning in kinds
        or PerfectSeparationWarning in kinds
        or not np.isfinite(cov).all()
        or (np.diag(cov) <= 0).any()
    ):
        raise ModelError("the information matrix is singular", fix=_SEPARATION_FIX)
    return cov


def _warn_extreme(design: _Design, params: np.ndarray) -> None:
    size = np.abs(params) * design.sd
    extreme = [
        n for n, s in zip(design.names, size, strict=True) if n != "Intercept" and s > _EXTREME
    ]
    if extreme:
        warnings.warn(
            "the propensity model has extreme coefficients (log odds change above "
            f"{_EXTREME:g} per SD) for {', '.join(f'`{e}`' for e in extreme)}: the score is "
            "close to 0 or 1 for some people; check overlap before matching",
            SeparationWarning,
            stacklevel=4,
        )


def _result(design, y, treatment, covariates, model, params, cov, res) -> PropensityModel:
    from scipy.stats import norm

    se = np.sqrt(np.diag(cov))
    z = params / se
    coef = pd.DataFrame(
        {"estimate": params, "std_error": se, "z": z, "p_value": 2 * norm.sf(np.abs(z))},
        index=pd.Index(design.names, name="term"),
    )
    eta = model.exog @ params
    score = expit(eta)
    eta.flags.writeable = False
    score.flags.writeable = False
    n1 = int(y.sum())
    n0 = y.size - n1
    terms = " + ".join(n for n in design.names if n != "Intercept") or "1"
    ll0 = n1 * np.log(n1 / y.size) + n0 * np.log(n0 / y.size)
    return PropensityModel(
        formula=f"{treatment} ~ {terms}",
        covariates=covariates if isinstance(covariates, str) else tuple(covariates),
        coefficients=coef,
        n=int(y.size),
        n_treated=n1,
        n_control=n0,
        auc=_auc(score, y == 1),
        log_likelihood=float(model.loglike(params)),
        null_log_likelihood=float(ll0),
        converged=True,
        iterations=int(res.mle_retvals.get("iterations", 0)),
        reference_levels=MappingProxyType(dict(design.reference)),
        merged_levels=MappingProxyType(dict(design.merged)),
        merge_targets=MappingProxyType(dict(design.merge_targets)),
        score=score,
        logit=eta,
    )


def _auc(score: np.ndarray, treated: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score_treated > score_comparison) + P(tie) / 2."""
    s0 = np.sort(score[~treated])
    s1 = score[treated]
    below = np.searchsorted(s0, s1, side="left")
    ties = np.searchsorted(s0, s1, side="right") - below
    return float((below + 0.5 * ties).sum() / (s1.size * s0.size))
