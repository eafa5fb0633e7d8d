"""Matching the treatment group to the comparison pool: nearest neighbour and radius.

One verb, :func:`match`, takes the cohort, a validated :class:`MatchSpec` and the propensity
model (or any distance), and returns a frozen :class:`MatchResult`: MatchIt's ATT weights, the
matched-set ids (``subclass``) for clustered standard errors, and the stacked pairs (MatchIt's
``get_matches``) held as compact CSR index arrays until a DataFrame is asked for.

Semantics (identical to R MatchIt 4.5's classic nearest-neighbour algorithm, the one it uses
when ``distance`` is a matrix, when configured the same way):

* **Distance** between a treated person t and a comparison record c is |d_t - d_c|, computed in
  float64, where d is the propensity score or its logit (``MatchSpec.distance``).
* **Nearest, without replacement**: in round r = 1..ratio, each treated person in turn (in
  ``order``) takes the nearest still-available comparison record within the caliper, which is
  then no longer available. A treated person with no eligible control in round 1 stays
  unmatched; later rounds may give some people fewer than ``ratio`` controls.
* **Nearest, with replacement**: each treated person independently takes its ``ratio`` nearest
  comparison records within the caliper (the order is irrelevant).
* **Order**: ``"largest"`` / ``"smallest"`` distance first (ties in data order, as R's stable
  ``order``), ``"data"`` (row order), ``"random"`` (a permutation from
  ``numpy.random.default_rng(seed)``; MatchIt's ``sample.int`` cannot be reproduced), or
  ``"closest"``: in each round, pairs are formed from the globally closest (treated, available
  control) pair upwards, as MatchIt >= 4.6's ``m.order = "closest"`` and CohortMethod's greedy
  matching; ties by the treated person's row, then the control's row.
* **Ties**: among comparison records at the same distance, the one earliest in the data wins
  (MatchIt's ``which.min`` over controls in data order). For k:1 matching with replacement
  MatchIt's ``std::partial_sort`` leaves the choice among records tied at the k-th place
  unspecified; here it is again the earliest rows.
* **Caliper**: a pair is allowed when |d_t - d_c| <= caliper. With ``caliper_units="sd"`` the
  caliper is ``caliper x SD(d)``, the sample SD (n - 1) of the distance over all treated and
  comparison rows not discarded by common support, as MatchIt's ``std.caliper = TRUE``
  (0.2 SD of the logit: Austin 2011, Pharmaceutical Statistics 10:150-161).
* **Radius**: every comparison record within the caliper of each treated person, with
  replacement, each treated person's controls sharing one unit of weight (the JDL's one-to-many
  comparison groups; Dehejia & Wahba 2002).
* **Exact**: strata (combinations of the ``exact`` columns) are matched independently; the
  caliper SD and variable ratios are computed over the whole cohort, as in MatchIt.
* **Variable ratio** (``max_controls``; Ming & Rosenbaum 2000): MatchIt's allocation, treated
  people with the distance least typical of the treated group get the most controls.
* **Weights** (ATT, MatchIt's convention): matched treated 1; a control gets the sum over the
  matched sets it belongs to of 1 / (controls in the set), then control weights are rescaled
  to sum to the number of distinct matched controls. Unmatched and discarded rows get 0.
* **Subclass**: matched sets are numbered 1..S in the data order of their treated person
  (MatchIt numbers the same sets in a different order). With replacement and radius matching,
  controls can be in several sets, so only treated rows carry a subclass (-1 elsewhere).

Complexity: O(n log n) sorting plus, per treated person, a binary search and a walk over
skip lists of removed controls; no treated x control matrix is ever formed.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import pandas as pd

from helpers.errors import MatchingError
from helpers.propensity import DISCARD_OPTIONS, PropensityModel, common_support

__all__ = [
    "DISTANCES",
    "METHODS",
    "ORDERS",
    "MatchResult",
    "MatchSpec",
    "MatchedPairs",
    "MatchedSets",
    "match",
    "variable_ratios",
]

log = logging.getLogger(__name__)

ORDERS = ("largest", "smallest", "closest", "random", "data")
DISTANCES = ("logit", "score")
_NO_SET = -1


# --- specification ------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchSpec:
    """What matching to do. Validated on construction; problems are reported together.

    Attributes
    ----------
    method
        A name in :data:`METHODS`: ``"nearest"`` or ``"radius"``.
    distance
        What the distance measure is: ``"logit"`` (the linear predictor of the propensity
        model, the default) or ``"score"`` (the propensity score, MatchIt's default).
    ratio
        Controls per treated person (k:1). With ``max_controls``, the average number of
        controls for variable-ratio matching (may be fractional).
    min_controls, max_controls
        Bounds for variable-ratio matching (MatchIt's ``min.controls`` / ``max.controls``).
    replace
        Whether a comparison record may be matched to more than one treated person.
    caliper
        Largest allowed distance, or ``None`` for no caliper (radius matching needs one).
    caliper_units
        ``"sd"``: ``caliper`` is in SDs of the distance measure; ``"raw"``: in its own units.
    order
        Order in which treated people choose: one of :data:`ORDERS`.
    exact
        Columns to match exactly on (e.g. ``("sex", "index_year")``).
    discard
        Common support: ``"none"``, ``"treated"``, ``"control"`` or ``"both"`` (MatchIt).
    seed
        Seed for ``order="random"``.
    """

    method: str = "nearest"
    distance: str = "logit"
    ratio: float = 1
    min_controls: int | None = None
    max_controls: int | None = None
    replace: bool = False
    caliper: float | None = None
    caliper_units: str = "sd"
    order: str = "largest"
    exact: tuple[str, ...] = ()
    discard: str = "none"
    seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.exact, str):
            object.__setattr__(self, "exact", (self.exact,))
        else:
            object.__setattr__(self, "exact", tuple(self.exact))
        problems = _spec_problems(self)
        if problems:
            raise MatchingError(problems)
        if self.max_controls is None:
            object.__setattr__(self, "ratio", int(self.ratio))
            if self.min_controls is not None:
                object.__setattr__(self, "min_controls", None)

    @property
    def variable(self) -> bool:
        """Whether this is variable-ratio matching."""
        return self.max_controls is not None


def _choice(name: str, value, options: Sequence[str]) -> list[str]:
    if value in options:
        return []
    return [f"`{name}` must be one of {', '.join(options)} (got {value!r})"]


def _spec_problems(s: MatchSpec) -> list[str]:
    p = []
    if s.method not in METHODS:
        p.append(f"unknown matching method {s.method!r}: use one of {', '.join(METHODS)}")
    p += _choice("distance", s.distance, DISTANCES)
    p += _choice("order", s.order, ORDERS)
    p += _choice("caliper_units", s.caliper_units, ("sd", "raw"))
    p += _choice("discard", s.discard, DISCARD_OPTIONS)
    if s.caliper is not None and not (isinstance(s.caliper, int | float) and s.caliper > 0):
        p.append(f"`caliper` must be positive (got {s.caliper}): use a value such as 0.2")
    elif s.caliper is not None and not math.isfinite(s.caliper):
        p.append(f"`caliper` must be finite (got {s.caliper}): use None for no caliper")
    p += _ratio_problems(s)
    if s.order == "random" and s.seed is None:
        p.append("`seed` is needed when `order` is 'random': use an integer such as 2024")
    if not all(isinstance(c, str) for c in s.exact):
        p.append(f"`exact` must be column names (got {s.exact!r})")
    if s.method == "radius":
        if s.caliper is None:
            p.append("radius matching needs a `caliper`: use a value such as 0.2")
        if not s.replace:
            p.append("radius matching re-uses comparison records: set `replace=True`")
        if s.ratio != 1 or s.max_controls is not None:
            p.append("radius matching takes every control within the caliper: leave `ratio` at 1")
    return p


def _ratio_problems(s: MatchSpec) -> list[str]:
    if not isinstance(s.ratio, int | float) or not s.ratio >= 1:
        return [f"`ratio` must be a number >= 1 (got {s.ratio!r}): use 1 for 1:1 matching"]
    if s.max_controls is None:
        if s.ratio != int(s.ratio):
            return [f"`ratio` must be a whole number (got {s.ratio}) unless `max_controls` is set"]
        return []
    lo = 1 if s.min_controls is None else s.min_controls
    p = []
    if s.ratio <= 1:
        p.append(f"`ratio` must be above 1 for variable-ratio matching (got {s.ratio})")
    if s.max_controls <= s.ratio:
        p.append(f"`max_controls` ({s.max_controls}) must be greater than `ratio` ({s.ratio})")
    if not 1 <= lo < s.ratio:
        p.append(f"`min_controls` ({lo}) must be at least 1 and less than `ratio` ({s.ratio})")
    return p


# --- results ------------------------------------------------------------------------------


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


@dataclass(frozen=True, eq=False)
class MatchResult:
    """The outcome of :func:`match`. Arrays are per cohort row, in the cohort's order.

    Attributes
    ----------
    spec
        The specification that ran.
    treated, discarded
        Boolean arrays: treatment group; outside common support.
    distance
        The distance measure matched on.
    weights
        ATT matching weights (see the module docstring); 0 for unmatched rows.
    subclass
        Matched-set id (1..S), -1 where a row is in no set or (controls, with replacement)
        may be in several.
    pairs
        The stacked matched sets (:class:`MatchedPairs`); ``pairs.to_frame()`` for a table.
    caliper
        The caliper in the distance's own units (``None`` without a caliper).
    distance_sd
        SD of the distance over rows not discarded (the unit of an SD caliper).
    """

    spec: MatchSpec
    treated: np.ndarray
    discarded: np.ndarray
    distance: np.ndarray
    weights: np.ndarray
    subclass: np.ndarray
    pairs: MatchedPairs
    caliper: float | None
    distance_sd: float
    n_strata: int = 1
    notes: tuple[str, ...] = field(default=())

    def _count(self, treated: bool, what: str) -> int:
        group = self.treated if treated else ~self.treated
        if what == "discarded":
            return int((group & self.discarded).sum())
        matched = self.weights > 0
        mask = matched if what == "matched" else ~matched & ~self.discarded
        return int((group & mask).sum())

    @property
    def n_treated_matched(self) -> int:
        return self._count(True, "matched")

    @property
    def n_treated_unmatched(self) -> int:
        return self._count(True, "unmatched")

    @property
    def n_treated_discarded(self) -> int:
        return self._count(True, "discarded")

    @property
    def n_control_matched(self) -> int:
        """Distinct comparison records with positive weight."""
        return self._count(False, "matched")

    @property
    def n_control_unmatched(self) -> int:
        return self._count(False, "unmatched")

    @property
    def n_control_discarded(self) -> int:
        return self._count(False, "discarded")

    def get_matches(self, ids=None) -> pd.DataFrame:
        """The stacked pairs table (MatchIt's ``get_matches``): :meth:`MatchedPairs.to_frame`."""
        return self.pairs.to_frame(ids)

    def frame(self, index=None) -> pd.DataFrame:
        """``weight`` and ``subclass`` (nullable Int64, missing outside a set) per row."""
        sub = pd.array(np.where(self.subclass > 0, self.subclass, 0), dtype="Int64")
        sub[self.subclass <= 0] = pd.NA
        return pd.DataFrame({"weight": self.weights, "subclass": sub}, index=index)

    def describe(self) -> str:
        """The method in plain English, for the report's methodology section."""
        return _describe(self)

    def summary(self) -> str:
        """Counts in plain English."""
        return (
            f"{self.n_treated_matched:,} of {int(self.treated.sum()):,} treated people matched "
            f"to {self.n_control_matched:,} comparison records "
            f"({self.n_treated_unmatched:,} treated and {self.n_control_unmatched:,} comparison "
            f"unmatched; {self.n_treated_discarded:,} treated and "
            f"{self.n_control_discarded:,} comparison discarded outside common support)"
        )


# --- the verb -----------------------------------------------------------------------------


def match(
    cohort: pd.DataFrame,
    spec: MatchSpec,
    distance: PropensityModel | str | Sequence[float] | np.ndarray,
    *,
    treatment: str = "treated",
) -> MatchResult:
    """Match the treatment group to the comparison pool as ``spec`` says.

    ``distance`` is the fitted :class:`~helpers.propensity.PropensityModel` (its logit or
    score is used, per ``spec.distance``), a column name in ``cohort``, or an array with one
    value per row. ``treatment`` is the 0/1 column marking the treatment group.

    Raises :class:`~helpers.errors.MatchingError` for an empty cohort, no treated or no
    comparison rows, missing or non-finite distances, missing exact-matching columns or
    values, and when no treated person could be matched at all. Treated people left without
    a match (caliper, exact strata, exhausted pool) are counted in the result instead.
    """
    treated = _treatment(cohort, treatment)
    d = _distance(cohort, distance, spec)
    discarded = common_support(d, treated, spec.discard)
    keep = ~discarded
    sd = float(np.std(d[keep], ddof=1)) if keep.sum() > 1 else float("nan")
    caliper = _raw_caliper(spec, sd)
    strata, n_strata = _strata(cohort, spec.exact)
    ratios = _ratios(spec, d, treated)
    order = _treated_order(spec, d, treated)
    sets = _run(METHODS[spec.method], spec, d, treated, keep, strata, ratios, order, caliper)
    if sets.treated.size == 0:
        raise MatchingError(
            "no treated person could be matched",
            fix="Widen the caliper, match exactly on fewer columns, or check common support.",
        )
    return _result(spec, treated, discarded, d, sets, caliper, sd, n_strata)


def _treatment(cohort: pd.DataFrame, treatment: str) -> np.ndarray:
    if treatment not in cohort.columns:
        raise MatchingError(f"treatment column `{treatment}` is not in the cohort")
    t = cohort[treatment].to_numpy()
    if len(t) == 0:
        raise MatchingError("the cohort is empty: there is nobody to match")
    if pd.isna(t).any() or not np.isin(t, (0, 1)).all():
        raise MatchingError(f"`{treatment}` must be 0/1 or True/False with no missing values")
    t = t.astype(bool)
    if not t.any():
        raise MatchingError("the cohort has no treated people: there is nobody to match")
    if t.all():
        raise MatchingError("the cohort has no comparison records to match to")
    return t


def _distance(cohort, distance, spec: MatchSpec) -> np.ndarray:
    if isinstance(distance, PropensityModel):
        d = distance.distance(spec.distance)
    elif isinstance(distance, str):
        if distance not in cohort.columns:
            raise MatchingError(f"distance column `{distance}` is not in the cohort")
        d = cohort[distance].to_numpy(dtype=np.float64)
    else:
        d = np.asarray(distance, dtype=np.float64)
    if d.shape != (len(cohort),):
        raise MatchingError(f"the distance has {d.size} values for {len(cohort)} cohort rows")
    if not np.isfinite(d).all():
        raise MatchingError(
            f"the distance is missing or infinite for {int((~np.isfinite(d)).sum())} rows"
        )
    if spec.distance == "score" and (d.min() < 0 or d.max() > 1):
        raise MatchingError(
            "`distance='score'` but values lie outside [0, 1]: pass the propensity score, "
            "or set distance='logit'"
        )
    return d


def _raw_caliper(spec: MatchSpec, sd: float) -> float | None:
    if spec.caliper is None:
        return None
    if spec.caliper_units == "raw":
        return float(spec.caliper)
    if not sd > 0:
        raise MatchingError(
            "a caliper in SD units needs a distance that varies",
            fix="Give the caliper in raw units (caliper_units='raw') or drop it.",
        )
    return float(spec.caliper) * sd


def _strata(cohort: pd.DataFrame, exact: tuple[str, ...]) -> tuple[np.ndarray, int]:
    if not exact:
        return np.zeros(len(cohort), np.int64), 1
    absent = [c for c in exact if c not in cohort.columns]
    if absent:
        raise MatchingError([f"exact matching column `{c}` is not in the cohort" for c in absent])
    missing = [c for c in exact if cohort[c].isna().any()]
    if missing:
        raise MatchingError(
            [f"exact matching column `{c}` has missing values" for c in missing],
            fix="Give the missing values a category of their own before matching.",
        )
    codes = cohort.groupby(list(exact), sort=True, observed=True).ngroup().to_numpy()
    return codes.astype(np.int64), int(codes.max()) + 1


def _ratios(spec: MatchSpec, d: np.ndarray, treated: np.ndarray) -> np.ndarray:
    n1 = int(treated.sum())
    if not spec.variable:
        return np.full(n1, int(spec.ratio), np.int64)
    return variable_ratios(
        d[treated], float(d[~treated].mean()), spec.ratio, spec.min_controls or 1, spec.max_controls
    )


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


def _treated_order(spec: MatchSpec, d: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Rank of each treated person in the matching order (0 = first), per treated row."""
    dt = d[treated]
    if spec.order == "largest":
        seq = np.argsort(-dt, kind="stable")
    elif spec.order == "smallest":
        seq = np.argsort(dt, kind="stable")
    elif spec.order == "random":
        seq = np.random.default_rng(spec.seed).permutation(dt.size)
    else:  # data; closest also breaks ties by data order
        seq = np.arange(dt.size)
    rank = np.empty(dt.size, np.int64)
    rank[seq] = np.arange(dt.size)
    return rank


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


def _result(spec, treated, discarded, d, sets, caliper, sd, n_strata) -> MatchResult:
    n = d.size
    itype = np.int32 if n < 2**31 else np.int64
    pairs = MatchedPairs(sets.treated.astype(itype), sets.indptr, sets.control.astype(itype))
    k = pairs.sizes
    weights = np.zeros(n)
    weights[pairs.treated] = 1.0
    cw = np.bincount(pairs.control, weights=np.repeat(1.0 / k, k), minlength=n)
    n_distinct = int((cw > 0).sum())
    weights[~treated] = cw[~treated] * (n_distinct / cw.sum())
    subclass = np.full(n, _NO_SET, np.int64)
    subclass[pairs.treated] = pairs.subclass
    if not spec.replace:
        subclass[pairs.control] = np.repeat(pairs.subclass, k)
    for a in (treated, discarded, d, weights, subclass):
        a.flags.writeable = False
    result = MatchResult(
        spec, treated, discarded, d, weights, subclass, pairs, caliper, sd, n_strata
    )
    log.info("matching: %s. %s", result.describe(), result.summary())
    return result


# --- nearest neighbour --------------------------------------------------------------------


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


# --- radius -------------------------------------------------------------------------------


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


#: The matching methods: every one takes a stratum's problem and the caliper in raw units and
#: returns that stratum's :class:`MatchedSets`.
METHODS: dict[str, Method] = {"nearest": _nearest, "radius": _radius}


# --- description --------------------------------------------------------------------------


def _describe(r: MatchResult) -> str:
    s = r.spec
    what = "the logit of the propensity score" if s.distance == "logit" else "the propensity score"
    unit = "the logit" if s.distance == "logit" else "the score"
    if s.caliper is None:
        width = ""
    elif s.caliper_units == "sd":
        width = f"{s.caliper:g} SD of {unit} ({r.caliper:.4g} on that scale)"
    else:
        width = f"{s.caliper:g} on the scale of {unit}"
    if s.method == "radius":
        text = (
            f"Radius matching on {what}: every comparison record within {width} of each "
            "treated person, with replacement, each treated person's comparison records "
            "sharing one unit of weight"
        )
    else:
        text = f"{_ratio_text(s)} nearest-neighbour matching {_replace_text(s)} on {what}"
        text += ", " + _order_text(s) + (f", caliper {width}" if width else ", no caliper")
    if s.exact:
        text += "; exact on " + ", ".join(s.exact)
    if s.discard != "none":
        text += f"; records outside common support discarded ({s.discard})"
    return text


def _ratio_text(s: MatchSpec) -> str:
    if s.variable:
        lo = s.min_controls or 1
        return f"Variable-ratio ({lo} to {s.max_controls} controls, {s.ratio:g} on average)"
    return f"1:{s.ratio}"


def _replace_text(s: MatchSpec) -> str:
    return "with replacement" if s.replace else "without replacement"


def _order_text(s: MatchSpec) -> str:
    if s.replace:
        return "each treated person matched independently"
    return {
        "largest": "largest score first",
        "smallest": "smallest score first",
        "closest": "closest pairs first",
        "random": f"in random order (seed {s.seed})",
        "data": "in data order",
    }[s.order]
