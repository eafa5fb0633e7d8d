"""Matched sets: the record every matching method returns, and running a method stratum by stratum.

A method (:data:`helpers.matching.METHODS`) is given one exact-matching stratum's problem, a
:class:`_Stratum` (treated people in matching order, controls sorted by distance), and the
caliper in raw units, and returns that stratum's :class:`MatchedSets`. :func:`_run` builds the
strata, runs the method on each and joins the sets in the data order of their treated person,
so subclass 1..S numbers them as :mod:`helpers.matching` describes. Sets are held in compressed
sparse row (CSR) form, MatchIt's ``match.matrix`` without its padding, so no treated x control
matrix is ever formed and the stacked pairs (MatchIt's ``get_matches``) are a view of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MatchedPairs", "MatchedSets", "Method"]


# --- the records --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MatchedSets:
    """Matched sets in CSR form: set i is treated row ``treated[i]`` with control rows
    ``control[indptr[i]:indptr[i + 1]]`` (in the order they were matched). Every method
    returns one of these for each stratum."""

    treated: np.ndarray
    indptr: np.ndarray
    control: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """Number of controls in each set."""
        return np.diff(self.indptr)

    @staticmethod
    def empty() -> MatchedSets:
        return MatchedSets(np.empty(0, np.int64), np.zeros(1, np.int64), np.empty(0, np.int64))


@dataclass(frozen=True, eq=False)
class MatchedPairs(MatchedSets):
    """All matched sets of a result, ordered by subclass (1..S = data order of the treated)."""

    def __len__(self) -> int:
        return int(self.control.size)

    @property
    def subclass(self) -> np.ndarray:
        """Subclass id (1-based) of each set."""
        return np.arange(1, self.treated.size + 1)

    def to_frame(self, ids=None) -> pd.DataFrame:
        """MatchIt's ``get_matches``: one row per treated and per (set, control) pair.

        Columns ``subclass``, ``unit`` (row position, or ``ids[row]`` when ``ids`` is given),
        ``treated`` (1/0) and ``weight`` (1 for the treated, 1/k for each of its k controls).
        Rows are ordered by subclass, the treated person first.
        """
        k = self.sizes
        s = self.treated.size
        sub = np.concatenate([np.arange(1, s + 1), np.repeat(np.arange(1, s + 1), k)])
        rows = np.concatenate([self.treated, self.control])
        first = np.concatenate([np.zeros(s, np.int8), np.ones(self.control.size, np.int8)])
        weight = np.concatenate([np.ones(s), np.repeat(1.0 / np.maximum(k, 1), k)])
        order = np.lexsort((np.arange(rows.size), first, sub))
        unit = rows[order] if ids is None else np.asarray(ids)[rows[order]]
        return pd.DataFrame(
            {
                "subclass": sub[order],
                "unit": unit,
                "treated": 1 - first[order],
                "weight": weight[order],
            }
        )


# --- strata and assembly ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Stratum:
    """One stratum's problem: treated in matching order, controls sorted by distance."""

    t_rows: np.ndarray  # treated rows, in matching order
    t_dist: np.ndarray
    t_ratio: np.ndarray
    c_rows: np.ndarray  # control rows sorted by (distance, row)
    c_dist: np.ndarray
    closest: bool = False
    replace: bool = False


Method = Callable[[_Stratum, float | None], MatchedSets]


def _run(method: Method, spec, d, treated, keep, strata, ratios, order, caliper) -> MatchedSets:
    rows = np.arange(d.size)
    t_rows, c_rows = rows[treated & keep], rows[~treated & keep]
    t_ratio = np.zeros(d.size, np.int64)
    t_ratio[treated] = ratios
    t_rank = np.full(d.size, -1, np.int64)
    t_rank[treated] = order
    t_rows = t_rows[np.argsort(t_rank[t_rows], kind="stable")]
    c_rows = c_rows[_order_with_ties_by_row(d[c_rows])]
    n_strata = int(strata.max()) + 1
    if n_strata > 1:  # by stratum, then distance, then row
        c_rows = c_rows[np.argsort(strata[c_rows], kind="stable")]
        t_rows = t_rows[np.argsort(strata[t_rows], kind="stable")]
    t_cut = np.searchsorted(strata[t_rows], np.arange(n_strata + 1))
    c_cut = np.searchsorted(strata[c_rows], np.arange(n_strata + 1))
    out = []
    for s in range(t_cut.size - 1):
        tr, cr = t_rows[t_cut[s] : t_cut[s + 1]], c_rows[c_cut[s] : c_cut[s + 1]]
        if tr.size == 0 or cr.size == 0:
            continue
        problem = _Stratum(tr, d[tr], t_ratio[tr], cr, d[cr], spec.order == "closest", spec.replace)
        out.append(method(problem, caliper))
    return _concat(out)


def _order_with_ties_by_row(values: np.ndarray) -> np.ndarray:
    """``argsort(values, kind="stable")``, faster: an unstable sort, then only the runs of
    equal values are re-sorted into input (row) order."""
    order = np.argsort(values)
    v = values[order]
    tie = v[1:] == v[:-1]
    if tie.any():
        in_run = np.flatnonzero(np.r_[tie, False] | np.r_[False, tie])
        run = np.cumsum(np.r_[True, ~tie])[in_run]
        order[in_run] = order[in_run][np.lexsort((order[in_run], run))]
    return order


def _concat(parts: list[MatchedSets]) -> MatchedSets:
    parts = [p for p in parts if p.treated.size]
    if not parts:
        return MatchedSets.empty()
    treated = np.concatenate([p.treated for p in parts])
    sizes = np.concatenate([p.sizes for p in parts])
    control = np.concatenate([p.control for p in parts])
    if len(parts) == 1 and (np.diff(treated) > 0).all():
        return parts[0]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    order = np.argsort(treated, kind="stable")  # subclass = data order of the treated
    sizes_o = sizes[order]
    indptr = np.concatenate([[0], np.cumsum(sizes_o)])
    take = np.repeat(starts[:-1][order] - indptr[:-1], sizes_o) + np.arange(indptr[-1])
    return MatchedSets(treated[order], indptr, control[take])
