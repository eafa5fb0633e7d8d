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
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import pandas as pd
import scipy.linalg
from scipy.special import expit
from statsmodels.discrete.discrete_model import Logit
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationWarning,
)

from helpers.errors import ModelError, SeparationWarning

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
_OTHER = "(other)"
_CHUNK = 1 << 13  # rows per chunk for X'WX (cache-sized; no n x p temporaries)
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


# --- inputs ------------------------------------------------------------------------------


def _treatment_vector(cohort: pd.DataFrame, treatment: str) -> np.ndarray:
    if treatment not in cohort.columns:
        raise ModelError(f"treatment column `{treatment}` is not in the cohort")
    col = cohort[treatment]
    if col.isna().any():
        raise ModelError(f"`{treatment}` has {int(col.isna().sum())} missing values: use 0/1")
    values = col.to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise ModelError(f"`{treatment}` must be 0/1 or True/False for every row")
    y = values.astype(np.float64)
    n1 = int(y.sum())
    if n1 == 0 or n1 == y.size:
        raise ModelError(
            f"the propensity model needs treated and comparison rows "
            f"(got {n1} treated, {y.size - n1} comparison)",
            fix="Check the cohort: the treatment group or the comparison pool is empty.",
        )
    return y


def _check_missing(cohort: pd.DataFrame, columns: Sequence[str]) -> None:
    absent = [c for c in columns if c not in cohort.columns]
    if absent:
        raise ModelError([f"covariate `{c}` is not in the cohort" for c in absent])
    counts = {c: int(cohort[c].isna().sum()) for c in columns}
    problems = [f"covariate `{c}` has {k:,} missing values" for c, k in counts.items() if k]
    if problems:
        raise ModelError(
            problems,
            fix="Impute them or add a missing-value category before fitting the model.",
        )


# --- designs -----------------------------------------------------------------------------


@dataclass
class _Design:
    X: np.ndarray  # float64, C order, n x p, intercept first when present
    names: list[str]
    blocks: dict[str, tuple[list[str], np.ndarray]]  # covariate -> (levels, level code/row)
    indicator: set[int] = field(default_factory=set)  # columns checked as levels, not ranges
    sd: np.ndarray | None = None  # column standard deviations, set by _check_rank
    reference: dict[str, str] = field(default_factory=dict)
    merged: dict[str, tuple[str, ...]] = field(default_factory=dict)
    merge_targets: dict[str, str] = field(default_factory=dict)


def _is_categorical(s: pd.Series) -> bool:
    return bool(
        s.dtype == object
        or isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(s)
        or pd.api.types.is_string_dtype(s)
    )


def _is_binary(v: np.ndarray) -> bool:
    return bool(((v == 0.0) | (v == 1.0)).all())


def _levels_and_codes(s: pd.Series) -> tuple[list, np.ndarray]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.cat.remove_unused_categories()
    elif pd.api.types.is_bool_dtype(s):
        cat = pd.Categorical(s.astype(bool), categories=[False, True])
        cat = cat.remove_unused_categories()
    else:
        cat = pd.Categorical(s.astype(str))
    cat = pd.Categorical(cat)
    return list(cat.categories), np.asarray(cat.codes, dtype=np.int64)


def _column_design(cohort, columns, y, rare_levels, min_count) -> _Design:
    if not columns:
        raise ModelError("no covariates given: name at least one column")
    _check_missing(cohort, columns)
    n = len(cohort)
    blocks: dict[str, tuple[list[str], np.ndarray]] = {}
    merged: dict[str, tuple[str, ...]] = {}
    targets: dict[str, str] = {}
    ncols = 1
    for c in columns:
        if _is_categorical(cohort[c]):
            levels, codes = _levels_and_codes(cohort[c])
            levels = [str(v) for v in levels]
            if rare_levels == "merge":
                levels, codes, pooled, target = _merge_rare(c, levels, codes, y, min_count)
                if pooled:
                    merged[c] = pooled
                    targets[c] = target
            blocks[c] = (levels, codes)
            ncols += len(levels) - 1
        else:
            ncols += 1
    X = np.empty((n, ncols), dtype=np.float64)
    X[:, 0] = 1.0
    names, reference, indicator, j = ["Intercept"], {}, set(), 1
    for c in columns:
        if c in blocks:
            levels, codes = blocks[c]
            reference[c] = levels[0]
            for k, level in enumerate(levels[1:], start=1):
                np.equal(codes, k, out=X[:, j], casting="unsafe")
                names.append(f"{c}[{level}]")
                indicator.add(j)
                j += 1
        else:
            v = cohort[c].to_numpy(dtype=np.float64)
            X[:, j] = v
            names.append(c)
            if _is_binary(v):  # a 0/1 covariate is checked like a two-level factor
                blocks[c] = (["0", "1"], v.astype(np.int64))
                indicator.add(j)
            j += 1
    return _Design(X, names, blocks, indicator, reference=reference, merged=merged,
                   merge_targets=targets)  # fmt: skip


def _merge_rare(column, levels, codes, y, min_count):
    """Pool levels with < min_count treated or comparison rows into "(other)"."""
    treated = np.bincount(codes, weights=y, minlength=len(levels))
    total = np.bincount(codes, minlength=len(levels)).astype(float)
    rare = (treated < min_count) | (total - treated < min_count)
    if not rare.any():
        return levels, codes, (), None
    pooled = tuple(lv for lv, r in zip(levels, rare, strict=True) if r)
    keep = [lv for lv, r in zip(levels, rare, strict=True) if not r]
    new_codes = np.full(len(levels), -1)
    new_codes[~rare] = np.arange(len(keep))
    t_other, n_other = treated[rare].sum(), total[rare].sum()
    if keep and (t_other == 0 or n_other - t_other == 0):
        new_codes[rare] = int(np.argmax(total[~rare]))  # still separating: fold into largest
        target = keep[int(np.argmax(total[~rare]))]
    else:
        new_codes[rare] = len(keep)
        keep.append(_OTHER)
        target = _OTHER
    warnings.warn(
        f"covariate `{column}`: levels {', '.join(pooled)} have fewer than {min_count} "
        f"treated or comparison records and were pooled into '{target}'",
        SeparationWarning,
        stacklevel=4,
    )
    return keep, new_codes[codes], pooled, target


def _formula_design(cohort, formula, y, rare_levels) -> _Design:
    import patsy

    if rare_levels == "merge":
        raise ModelError(
            "`rare_levels='merge'` works with a list of covariates, not a formula",
            fix="Recode the rare levels in the cohort, or give the covariates as a list.",
        )
    rhs = formula.split("~", 1)[-1]
    try:
        dm = patsy.dmatrix(rhs, cohort, NA_action="raise", return_type="matrix")
    except patsy.PatsyError as exc:
        raise ModelError(f"the propensity formula {rhs.strip()!r} failed: {exc}") from exc
    X = np.ascontiguousarray(np.asarray(dm, dtype=np.float64))
    info = dm.design_info
    blocks, indicator = _indicator_blocks(X, info)
    return _Design(X, list(info.column_names), blocks, indicator)


def _indicator_blocks(X, info) -> tuple[dict[str, tuple[list[str], np.ndarray]], set[int]]:
    """Terms whose columns are 0/1 dummies of one partition, as (levels, codes) blocks."""
    blocks, indicator = {}, set()
    for term, sl in info.term_name_slices.items():
        cols = X[:, sl]
        if term == "Intercept" or not _is_binary(cols):
            continue
        rowsum = cols.sum(axis=1)
        if rowsum.max() > 1:
            continue
        codes = np.where(rowsum == 0, 0, cols.argmax(axis=1) + 1)
        blocks[term] = (["(reference)", *info.column_names[sl]], codes)
        indicator.update(range(sl.start, sl.stop))
    return blocks, indicator


# --- checks ------------------------------------------------------------------------------


def _check_design(design: _Design, y: np.ndarray, warn_below: int) -> None:
    _check_levels(design, y, warn_below)
    _check_columns(design, y)
    _check_rank(design)


def _check_levels(design: _Design, y: np.ndarray, warn_below: int) -> None:
    """Zero cells (a level with no treated or no comparison records) are errors; levels with
    fewer than ``warn_below`` of either warn."""
    problems, rare = [], []
    for cov, (levels, codes) in design.blocks.items():
        treated = np.bincount(codes, weights=y, minlength=len(levels)).astype(int)
        total = np.bincount(codes, minlength=len(levels))
        for level, t, n in zip(levels, treated, total, strict=True):
            if n == 0:
                continue
            if t == 0 or t == n:
                group = "treated" if t == 0 else "comparison"
                problems.append(
                    f"covariate `{cov}` level '{level}' has no {group} records "
                    f"({t:,} treated, {n - t:,} comparison), so treatment is perfectly "
                    f"predicted for it"
                )
            elif min(t, n - t) < warn_below:
                rare.append(f"`{cov}` level '{level}' ({t} treated, {n - t} comparison)")
    if problems:
        raise ModelError(
            problems,
            fix="Pass rare_levels='merge' to pool rare levels, merge the level in the cohort, "
            "or remove those records from the comparison pool (they cannot be matched).",
        )
    if rare:
        warnings.warn(
            "levels with very few treated or comparison records give unstable coefficients: "
            + "; ".join(rare)
            + " (consider rare_levels='merge')",
            SeparationWarning,
            stacklevel=4,
        )


def _group_ranges(X: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per column: min and max among treated and among comparison rows, shape (4, p),
    in one chunked pass over the rows (no masked copies of the design)."""
    p = X.shape[1]
    out = np.array([[np.inf] * p, [-np.inf] * p, [np.inf] * p, [-np.inf] * p])
    for s in range(0, X.shape[0], 8 * _CHUNK):
        xc, tc = X[s : s + 8 * _CHUNK], t[s : s + 8 * _CHUNK]
        for k, group in ((0, tc), (2, ~tc)):
            if group.any():
                part = xc[group]
                out[k] = np.minimum(out[k], part.min(axis=0))
                out[k + 1] = np.maximum(out[k + 1], part.max(axis=0))
    return out


def _check_columns(design: _Design, y: np.ndarray) -> None:
    lo1, hi1, lo0, hi0 = _group_ranges(design.X, y == 1)
    constant, separating = [], []
    for j, name in enumerate(design.names):
        if name == "Intercept":
            continue
        if min(lo0[j], lo1[j]) == max(hi0[j], hi1[j]):
            constant.append(f"covariate `{name}` has the same value ({lo1[j]:g}) for everyone")
        elif j not in design.indicator and (hi1[j] <= lo0[j] or hi0[j] <= lo1[j]):
            separating.append(
                f"covariate `{name}` separates the groups: treated range "
                f"[{lo1[j]:g}, {hi1[j]:g}], comparison range [{lo0[j]:g}, {hi0[j]:g}] "
                "do not overlap"
            )
    if constant:
        raise ModelError(constant, fix="Drop the constant covariate(s) from the model.")
    if separating:
        raise ModelError(
            separating,
            fix="Restrict the comparison pool to the treated range, or match exactly on the "
            "covariate instead of modelling it.",
        )


def _gram(X: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """X'X, or X' diag(w) X, accumulated over row chunks (BLAS syrk on sqrt(w) X)."""
    out = np.zeros((X.shape[1], X.shape[1]))
    for s in range(0, X.shape[0], _CHUNK):
        xc = X[s : s + _CHUNK]
        if w is not None:
            xc = xc * np.sqrt(w[s : s + _CHUNK])[:, None]
        out += xc.T @ xc
    return out


def _check_rank(design: _Design) -> None:
    X = design.X
    gram = _gram(X)
    n = X.shape[0]
    if design.names[0] == "Intercept":
        mean = gram[0] / n
        design.sd = np.sqrt(np.maximum(np.diag(gram) / n - mean**2, 0.0))
    else:
        design.sd = X.std(axis=0)
    scale = np.sqrt(np.diag(gram))
    corr = gram / np.outer(scale, scale)
    _, r, piv = scipy.linalg.qr(corr, pivoting=True)
    rank = int((np.abs(np.diag(r)) > 1e-9 * abs(r[0, 0])).sum())
    if rank < X.shape[1]:
        aliased = [design.names[k] for k in piv[rank:]]
        raise ModelError(
            f"covariates are collinear: {', '.join(f'`{a}`' for a in aliased)} "
            f"can be written from the other covariates",
            fix="Drop the aliased covariate(s) (e.g. one of age, age at first sanction and "
            "years since first sanction) and fit again.",
        )


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


def usable_covariates(
    cohort: pd.DataFrame, covariates: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """Covariates that vary in this cohort, and why each other one was left out.

    A column that takes one value for everybody (``index_disposal`` in a custody cohort, a
    region when the run is restricted to it) cannot predict participation; fitting it would
    only make the model singular, so it is dropped and the report says so.
    """
    unknown = [name for name in covariates if name not in cohort.columns]
    if unknown:
        from helpers.errors import ParamsError

        raise ParamsError(
            f"`covariates` names {', '.join(map(repr, unknown))}, which the cohort does not "
            f"have. Available: {', '.join(c for c in cohort.columns if c not in ('pid',))}."
        )
    kept, dropped = [], {}
    for name in covariates:
        if cohort[name].nunique(dropna=False) <= 1:
            dropped[name] = f"the same for everyone ({cohort[name].iloc[0]!r}) in this cohort"
        else:
            kept.append(name)
    return kept, dropped
