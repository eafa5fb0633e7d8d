"""Nearest-neighbour matching of one stratum, and MatchIt's variable-ratio allocation.

The semantics are R MatchIt 4.5's classic nearest-neighbour algorithm (see
:mod:`helpers.matching`). Without replacement, in rounds r = 1..ratio, either each treated
person in turn (:func:`_ordered_rounds`) or the globally closest (treated, control) pair first
(:func:`_closest_rounds`: MatchIt >= 4.6's ``m.order = "closest"``, CohortMethod's greedy
matching) takes the nearest available control within the caliper; with replacement, each
treated person takes its k nearest controls independently. Among equally distant controls the
earliest row wins, as MatchIt's ``which.min`` over controls in data order.

Removed controls are skipped by path-halving skip links (:class:`_Available`, a union-find
"next free slot"; Tarjan & van Leeuwen 1984), so each choice costs a binary search and a short
walk: O(n log n) overall instead of the treated x control distance matrix.
"""

from __future__ import annotations

import heapq
import math
from itertools import islice

import numpy as np

from helpers.matched_sets import MatchedSets, _Stratum

__all__ = ["variable_ratios"]


# --- variable ratio (Ming & Rosenbaum 2000) -----------------------------------------------


def variable_ratios(
    d_treated: np.ndarray, mean_control: float, ratio: float, min_controls: int, max_controls: int
) -> np.ndarray:
    """Controls wanted by each treated person in variable-ratio matching (MatchIt's rule).

    m = round(ratio x n1) controls in all: ``max_controls`` for as many treated people as
    possible, ``min_controls`` for the rest, one person in between. They go to treated people
    in order of distance, the most typical of the comparison group (lowest distance when the
    treated mean is above the comparison mean) receiving the most.
    """
    n1 = d_treated.size
    m = round(ratio * n1)
    kmax = math.floor((m - min_controls * (n1 - 1)) / (max_controls - min_controls))
    kmax = min(max(kmax, 0), max(n1 - 1, 0))
    kmin = max(n1 - kmax - 1, 0)
    kmed = m - (min_controls * kmin + max_controls * kmax)
    alloc = np.array([min_controls] * kmin + [kmed] + [max_controls] * kmax, np.int64)[:n1]
    zero = np.flatnonzero(alloc == 0)
    alloc[zero] = 1
    alloc[np.minimum(zero + 1, n1 - 1)] -= 1
    decreasing = d_treated.mean() > mean_control
    order = np.argsort(-d_treated if decreasing else d_treated, kind="stable")
    out = np.empty(n1, np.int64)
    out[order] = alloc
    return out


# --- skip links and the nearest available controls ----------------------------------------


class _Available:
    """Positions 0..n-1 with deletion: next/previous available by path-halving skip links
    (a union-find "next free slot"), stored only for deleted positions."""

    __slots__ = ("_nxt", "_prv")

    def __init__(self) -> None:
        self._nxt: dict[int, int] = {}
        self._prv: dict[int, int] = {}

    def next(self, p: int) -> int:
        """Smallest available position >= p (n if none)."""
        nxt = self._nxt
        while p in nxt:
            q = nxt[p]
            if q in nxt:
                nxt[p] = q = nxt[q]
            p = q
        return p

    def prev(self, p: int) -> int:
        """Largest available position <= p (-1 if none)."""
        prv = self._prv
        while p in prv:
            q = prv[p]
            if q in prv:
                prv[p] = q = prv[q]
            p = q
        return p

    def remove(self, p: int) -> None:
        self._nxt[p] = p + 1
        self._prv[p] = p - 1


def _nearest_k(
    dt: float, k: int, v: np.ndarray, rows: np.ndarray, avail: _Available, caliper: float
) -> list[int]:
    """Positions of the k available controls nearest to dt by (|dt - v|, position), within
    the caliper. Positions within a block of equal values are in row order, so the lowest
    position is the earliest row; distinct values at an equal float distance are merged."""
    n = v.size
    pos = int(np.searchsorted(v, dt))
    right, left = avail.next(pos), avail.prev(pos - 1)
    out: list[int] = []
    while len(out) < k:
        dr = abs(dt - v[right]) if right < n else math.inf
        dl = abs(dt - v[left]) if left >= 0 else math.inf
        best = min(dl, dr)
        if best == math.inf or best > caliper:
            break
        blocks = []
        while right < n and abs(dt - v[right]) == best:
            end = int(np.searchsorted(v, v[right], side="right"))
            blocks.append((right, end))
            right = avail.next(end)
        while left >= 0 and abs(dt - v[left]) == best:
            start = int(np.searchsorted(v, v[left], side="left"))
            blocks.append((avail.next(start), left + 1))
            left = avail.prev(start - 1)
        out.extend(_first_available(blocks, k - len(out), avail, rows))
    return out


def _first_available(
    blocks: list[tuple[int, int]], need: int, avail: _Available, rows: np.ndarray
) -> list[int]:
    """The ``need`` available positions of the earliest rows in the position ranges."""

    def walk(a: int, b: int):
        p = avail.next(a)
        while p < b:
            yield p
            p = avail.next(p + 1)

    if len(blocks) == 1:
        return list(islice(walk(*blocks[0]), need))
    merged = heapq.merge(*(walk(a, b) for a, b in blocks), key=lambda p: rows[p])
    return list(islice(merged, need))


def _nearest(problem: _Stratum, caliper: float | None) -> MatchedSets:
    """Greedy nearest-neighbour matching of one stratum (see the module docstring)."""
    cal = math.inf if caliper is None else caliper
    v = problem.c_dist
    if problem.replace:
        chosen = [
            _nearest_k(float(dt), int(k), v, problem.c_rows, _Available(), cal)
            for dt, k in zip(problem.t_dist, problem.t_ratio, strict=True)
        ]
    elif problem.closest:
        chosen = _closest_rounds(problem, cal)
    else:
        chosen = _ordered_rounds(problem, cal)
    return _sets_from_positions(problem, chosen)


def _ordered_rounds(problem: _Stratum, cal: float) -> list[list[int]]:
    avail, v = _Available(), problem.c_dist
    chosen: list[list[int]] = [[] for _ in problem.t_rows]
    left = v.size
    for r in range(1, int(problem.t_ratio.max(initial=0)) + 1):
        for i, (dt, k) in enumerate(zip(problem.t_dist, problem.t_ratio, strict=True)):
            if left == 0:
                return chosen
            if k < r or (r > 1 and len(chosen[i]) < r - 1):
                continue
            found = _nearest_k(float(dt), 1, v, problem.c_rows, avail, cal)
            if found:
                chosen[i].append(found[0])
                avail.remove(found[0])
                left -= 1
    return chosen


def _closest_rounds(problem: _Stratum, cal: float) -> list[list[int]]:
    """Each round, form pairs from the closest (treated, available control) pair upwards."""
    avail = _Available()
    chosen: list[list[int]] = [[] for _ in problem.t_rows]
    for r in range(1, int(problem.t_ratio.max(initial=0)) + 1):
        heap: list[tuple[float, int, int, int]] = []
        for i, k in enumerate(problem.t_ratio):
            if k >= r and len(chosen[i]) == r - 1:
                _push(heap, problem, i, avail, cal)
        while heap:  # lazy heap: a stale entry (control taken) is re-searched and re-pushed
            _, _, i, c = heapq.heappop(heap)
            if avail.next(c) == c:
                chosen[i].append(c)
                avail.remove(c)
            else:
                _push(heap, problem, i, avail, cal)
    return chosen


def _push(heap, problem: _Stratum, i: int, avail: _Available, cal: float) -> None:
    """Push treated i's nearest available control, keyed (distance, treated row)."""
    dt, v = float(problem.t_dist[i]), problem.c_dist
    found = _nearest_k(dt, 1, v, problem.c_rows, avail, cal)
    if found:
        heapq.heappush(heap, (abs(dt - v[found[0]]), int(problem.t_rows[i]), i, found[0]))


def _sets_from_positions(problem: _Stratum, chosen: list[list[int]]) -> MatchedSets:
    sizes = np.fromiter((len(c) for c in chosen), np.int64, len(chosen))
    has = sizes > 0
    flat = np.fromiter((p for c in chosen for p in c), np.int64, int(sizes.sum()))
    indptr = np.concatenate([[0], np.cumsum(sizes[has])])
    return MatchedSets(problem.t_rows[has], indptr, problem.c_rows[flat])
