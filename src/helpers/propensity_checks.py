"""Checks on the propensity design before fitting: empty cells, separation, collinearity.

A logistic model has no finite maximum likelihood estimate when a covariate separates the
treatment group from the comparison pool, completely (non-overlapping ranges) or
quasi-completely (a level with no treated or no comparison records; Albert & Anderson 1984,
*Biometrika* 71:1-10). Rather than let Newton-Raphson drift to a huge coefficient and a score of
0 or 1, each problem is found here first and raised as :class:`~helpers.errors.ModelError`
naming the covariate or level and the fix; levels that are merely rare warn
(:class:`~helpers.errors.SeparationWarning`). Constant columns and exact collinearity are found
from a pivoted QR of the design's correlation matrix, as R's ``lm`` finds aliased terms.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from helpers.errors import ModelError, SeparationWarning
from helpers.propensity_design import _CHUNK, _Design, _gram

__all__: list[str] = []


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
