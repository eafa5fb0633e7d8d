"""The propensity model's design matrix: covariates checked, categoricals coded, rare levels pooled.

Covariates arrive as column names or as a patsy formula (:func:`helpers.propensity.fit_propensity`).
On the list path the design is built directly as one float64 matrix: numeric columns enter
linearly, categorical columns (object, category, string, bool) become dummy variables against
their first level, as R's treatment contrasts do; with ``rare_levels="merge"`` levels with few
treated or comparison records are pooled into ``"(other)"`` first, so that no cell is empty on
one side (quasi-complete separation; Albert & Anderson 1984). Each block of dummies is kept as
(levels, codes) so the checks in :mod:`helpers.propensity_checks` can count treated and
comparison records per level without recomputing it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers.errors import ModelError, SeparationWarning

__all__ = ["usable_covariates"]

_OTHER = "(other)"
_CHUNK = 1 << 13  # rows per chunk for X'WX (cache-sized; no n x p temporaries)


# --- covariates --------------------------------------------------------------------------


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


# --- chunked products --------------------------------------------------------------------


def _gram(X: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """X'X, or X' diag(w) X, accumulated over row chunks (BLAS syrk on sqrt(w) X)."""
    out = np.zeros((X.shape[1], X.shape[1]))
    for s in range(0, X.shape[0], _CHUNK):
        xc = X[s : s + _CHUNK]
        if w is not None:
            xc = xc * np.sqrt(w[s : s + _CHUNK])[:, None]
        out += xc.T @ xc
    return out
