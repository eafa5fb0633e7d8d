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

This module holds the public surface (the spec, the result, the verb, :data:`METHODS` and the
description); the methods live in :mod:`helpers.nearest_matching` and
:mod:`helpers.radius_matching`, the matched-set records and the per-stratum runner in
:mod:`helpers.matched_sets`, and the checks of the inputs in :mod:`helpers.matching_inputs`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers.errors import MatchingError
from helpers.matched_sets import MatchedPairs, MatchedSets, Method, _run
from helpers.matched_sets import _order_with_ties_by_row as _order_with_ties_by_row
from helpers.matching_inputs import (
    _distance,
    _ratios,
    _raw_caliper,
    _strata,
    _treated_order,
    _treatment,
)
from helpers.nearest_matching import _nearest, variable_ratios
from helpers.propensity import DISCARD_OPTIONS, PropensityModel, common_support
from helpers.radius_matching import _radius

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
