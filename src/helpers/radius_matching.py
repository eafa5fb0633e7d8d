"""Radius matching of one stratum: every comparison record within the caliper.

Each treated person is matched, with replacement, to every control with |d_t - d_c| <= caliper,
its controls sharing one unit of weight (the JDL's one-to-many comparison groups; Dehejia &
Wahba 2002, *Review of Economics and Statistics* 84:151-161). Vectorised: two binary searches
per treated person on the sorted controls, then the window's edges are corrected so that
floating-point rounding decides membership exactly as the pairwise test |d_t - d_c| <= caliper.
"""

from __future__ import annotations

import numpy as np

from helpers.matched_sets import MatchedSets, _Stratum

__all__: list[str] = []


def _radius(problem: _Stratum, caliper: float | None) -> MatchedSets:
    """Every control with |d_t - d_c| <= caliper, for each treated person (vectorised)."""
    by_row = np.argsort(problem.t_rows)  # the order is irrelevant: build sets in row order
    t_rows, dt = problem.t_rows[by_row], problem.t_dist[by_row]
    v, cal = problem.c_dist, float(caliper)
    lo = np.searchsorted(v, dt - cal, side="left")
    hi = np.searchsorted(v, dt + cal, side="right")
    lo, hi = _exact_edges(v, dt, cal, lo, hi)
    sizes = hi - lo
    has = sizes > 0
    lo, sizes = lo[has], sizes[has]
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    pos = np.repeat(lo - indptr[:-1], sizes) + np.arange(indptr[-1])
    return MatchedSets(t_rows[has], indptr, problem.c_rows[pos])


def _exact_edges(v, dt, cal, lo, hi):
    """Move the searchsorted edges so the window is exactly {c : fl(|d_t - d_c|) <= cal}."""
    n = v.size
    for _ in range(4):  # rounding moves an edge by at most a few positions
        grow_lo = (lo > 0) & (np.abs(dt - v[np.maximum(lo - 1, 0)]) <= cal)
        shrink_lo = (lo < hi) & (np.abs(dt - v[np.minimum(lo, n - 1)]) > cal)
        grow_hi = (hi < n) & (np.abs(dt - v[np.minimum(hi, n - 1)]) <= cal)
        shrink_hi = (hi > lo) & (np.abs(dt - v[np.maximum(hi - 1, 0)]) > cal)
        if not (grow_lo.any() or shrink_lo.any() or grow_hi.any() or shrink_hi.any()):
            break
        lo = lo - grow_lo + shrink_lo
        hi = hi + grow_hi - shrink_hi
    return lo, hi
