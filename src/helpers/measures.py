"""The registry of Justice Data Lab outcome measures, their display rules and the JDL gates.

One place says, for every measure the JDL reports (reference ``jdl-methodology.md`` §4): which
column of the matched sample holds it, who it is measured on (everybody, or only the people who
reoffended), what kind of number it is, how it is printed, which JDL gate decides whether it may
be shown, and the words used to talk about it. :mod:`helpers.estimate`, :mod:`helpers.wording`,
:mod:`helpers.disclosure` and :mod:`helpers.plots.effects` all read it from here, so a table,
a sentence and a bar chart of the same measure can never disagree.

The seven JDL measures (numbered as in the JDL's reports) become eleven rows, because measures
4 and 5 are reported per court type:

==  ===========================  =====================  ===========  ===========
#   key                          column                 population   kind
==  ===========================  =====================  ===========  ===========
1   ``rate``                     ``reoffended``         all          proportion
2   ``frequency``                ``reoffences``         all          frequency
3   ``days``                     ``days_to_first``      reoffenders  days
4   ``first_indictable`` etc.    ``first_indictable``   reoffenders  proportion
5   ``frequency_indictable``     ``reoffences_...``     all          frequency
6   ``first_custody``            ``first_custody``      reoffenders  proportion
7   ``custody_frequency``        ``custodial_...``      reoffenders  frequency
==  ===========================  =====================  ===========  ===========

Display rules (§5): rates as whole percentages, frequencies to two decimals, days as whole
numbers; in sentences, rates and frequencies are scaled "per 100 typical people".

The JDL thresholds (§5, §3) live in one frozen :class:`Thresholds` object, and every gate
decision is a :class:`Gate` with PASS/FAIL and the reasons (``STYLE.md`` §8).

Where a measure is read from (:class:`Columns`, :func:`population`, :func:`analysis_frame`)
lives in :mod:`helpers.matched_sample`, and the rendering helpers shared by every result object
of the estimation stage (:func:`jsonable`, :func:`render_text`, :func:`render_html`) in
:mod:`helpers.rendering`; both are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from helpers.errors import ParamsError
from helpers.matched_sample import (
    DEFAULT_COLUMNS,
    Columns,
    analysis_frame,
    complete_sets,
    population,
)
from helpers.rendering import jsonable, render_html, render_text

__all__ = [
    "BALANCE_RATINGS",
    "DEFAULT_COLUMNS",
    "JDL_THRESHOLDS",
    "MEASURES",
    "Columns",
    "Gate",
    "Measure",
    "Thresholds",
    "analysis_frame",
    "complete_sets",
    "format_per_100",
    "format_value",
    "get_measure",
    "jsonable",
    "per_100",
    "population",
    "render_html",
    "render_text",
    "round_half_up",
]

Kind = Literal["proportion", "frequency", "days"]
Population = Literal["all", "reoffenders"]

#: Balance ratings from best to worst (reference §3: good < 5%, acceptable 5–10%, poor > 10%).
BALANCE_RATINGS: tuple[str, ...] = ("good", "acceptable", "poor")


@dataclass(frozen=True)
class Measure:
    """One outcome measure.

    Attributes
    ----------
    key
        Short identifier used in tables and ``results.json`` (e.g. ``"rate"``).
    label
        Name printed in tables and figures.
    column
        Default column of the matched sample holding the outcome per person.
    population
        ``"all"`` (everybody in the group) or ``"reoffenders"`` (only people with at least one
        proven reoffence; the JDL's measures 3, 4, 6 and 7).
    kind
        ``"proportion"`` (0/1 per person), ``"frequency"`` (a count per person) or ``"days"``.
    jdl_number
        The measure's number in the JDL's list (1–7); 0 for measures outside the list.
    noun
        What one unit of the per-100 difference is: ``"people"``, ``"proven reoffences"``,
        ``"days"``.
    subject
        The phrase a JDL sentence talks about, e.g. "the number of people who commit a proven
        reoffence during a one-year period".
    name
        The measure as a noun phrase in running text ("the one-year proven reoffending rate");
        defaults to the label.
    """

    key: str
    label: str
    column: str
    population: Population = "all"
    kind: Kind = "frequency"
    jdl_number: int = 0
    noun: str = "units"
    subject: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        if self.population not in ("all", "reoffenders"):
            raise ParamsError(
                f"measure {self.key!r}: population must be 'all' or 'reoffenders' "
                f"(got {self.population!r})"
            )
        if self.kind not in ("proportion", "frequency", "days"):
            raise ParamsError(
                f"measure {self.key!r}: kind must be 'proportion', 'frequency' or 'days' "
                f"(got {self.kind!r})"
            )

    @property
    def gate(self) -> str:
        """Which JDL gate applies: ``"reoffenders"`` (≥ 30 treatment reoffenders) for time to
        reoffend, ``"expected_count"`` (n·p ≥ 10) for everything else."""
        return "reoffenders" if self.kind == "days" else "expected_count"

    @property
    def phrase(self) -> str:
        """The measure in running text: ``name``, or the label in lower case."""
        return self.name or f"the {self.label[0].lower()}{self.label[1:]}"

    @property
    def per_100(self) -> bool:
        """Whether sentences scale this measure per 100 people (rates and frequencies)."""
        return self.kind != "days"

    @property
    def lower_word(self) -> str:
        """The word for a negative difference ("lower", or "shorter" for days)."""
        return "shorter" if self.kind == "days" else "lower"

    @property
    def higher_word(self) -> str:
        """The word for a positive difference ("higher", or "longer" for days)."""
        return "longer" if self.kind == "days" else "higher"

    def with_column(self, column: str | None) -> Measure:
        """The same measure read from another column (``None`` keeps the default)."""
        if column is None or column == self.column:
            return self
        return replace(self, column=column)


def _m(key, label, column, population, kind, number, noun, subject, name) -> Measure:
    return Measure(key, label, column, population, kind, number, noun, subject, name)


_COURT = {"indictable": "indictable", "either_way": "either-way", "summary": "summary"}
_OFFENCE = {"indictable": "an indictable offence", "either_way": "an either-way offence",
            "summary": "a summary offence"}  # fmt: skip

#: Every JDL measure, in the JDL's order. Keys are stable: ``results.json`` uses them.
MEASURES: dict[str, Measure] = {
    m.key: m
    for m in [
        _m("rate", "One-year proven reoffending rate", "reoffended", "all", "proportion", 1,
           "people", "the number of people who commit a proven reoffence during a one-year "
           "period", "the one-year proven reoffending rate"),
        _m("frequency", "One-year proven reoffending frequency (per person)", "reoffences",
           "all", "frequency", 2, "proven reoffences", "the number of proven reoffences "
           "committed during a one-year period",
           "the number of proven reoffences per person"),
        _m("days", "Average time to first proven reoffence (days, reoffenders)",
           "days_to_first", "reoffenders", "days", 3, "days",
           "the average time to first proven reoffence",
           "the time to first proven reoffence"),
        *[
            _m(f"first_{c}", f"First proven reoffence {w} (share of reoffenders)",
               f"first_{c}", "reoffenders", "proportion", 4, "people",
               f"the number of people whose first proven reoffence is {_OFFENCE[c]}",
               f"the share of reoffenders whose first proven reoffence is {_OFFENCE[c]}")
            for c, w in _COURT.items()
        ],
        *[
            _m(f"frequency_{c}", f"Proven {w} reoffences (per person)", f"reoffences_{c}",
               "all", "frequency", 5, "proven reoffences",
               f"the number of proven {w} reoffences committed during a one-year period",
               f"the number of proven {w} reoffences per person")
            for c, w in _COURT.items()
        ],
        _m("first_custody", "First proven reoffence given custody (share of reoffenders)",
           "first_custody", "reoffenders", "proportion", 6, "people",
           "the number of people whose first proven reoffence receives a custodial sentence",
           "the share of reoffenders whose first proven reoffence receives custody"),
        _m("custody_frequency", "Custodial sentences for proven reoffences (per reoffender)",
           "custodial_reoffences", "reoffenders", "frequency", 7, "custodial sentences",
           "the number of custodial sentences received for proven reoffences",
           "the number of custodial sentences per reoffender"),
    ]
}  # fmt: skip


def get_measure(measure: str | Measure, column: str | None = None) -> Measure:
    """Look up a measure by key (or pass one through), optionally reading another column."""
    if isinstance(measure, Measure):
        return measure.with_column(column)
    if measure not in MEASURES:
        raise ParamsError(
            f"unknown measure {measure!r}: use one of {', '.join(MEASURES)} or pass a Measure"
        )
    return MEASURES[measure].with_column(column)


def round_half_up(value: float, digits: int = 0) -> float:
    """Round halves away from zero, as printed tables do (Python's ``round`` rounds to even)."""
    if value is None or not math.isfinite(value):
        return value
    quantum = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))


def per_100(measure: Measure, value: float) -> float:
    """The value as the JDL's sentences state it: per 100 people for rates and frequencies."""
    return value * 100.0 if measure.per_100 else value


def format_value(measure: Measure, value: float | None) -> str:
    """A group value for a table: rates "35%", frequencies "1.48", days "142" (§5)."""
    if value is None or not math.isfinite(value):
        return ""
    if measure.kind == "proportion":
        return f"{round_half_up(100.0 * value):.0f}%"
    if measure.kind == "frequency":
        return f"{round_half_up(value, 2):.2f}"
    return f"{round_half_up(value):.0f}"


def format_per_100(measure: Measure, value: float | None) -> str:
    """A value per 100 people in words: "35 people", "148 proven reoffences", "142 days"."""
    if value is None or not math.isfinite(value):
        return ""
    return f"{round_half_up(per_100(measure, value)):.0f} {measure.noun}"


@dataclass(frozen=True)
class Thresholds:
    """The JDL's publication thresholds, in one place (reference §1, §3, §5).

    Attributes
    ----------
    min_group_size
        Fewest people in a treatment group (or subgroup) the JDL analyses: 60.
    min_reoffenders_time
        Fewest treatment-group reoffenders for time to first reoffence to be shown: 30.
    min_expected_count
        Smallest n·p (people with the outcome) in each group for a row to be shown: 10. With
        ``both_tails`` the same applies to n·(1 − p) for proportions, the usual condition for
        the normal approximation behind the JDL's t-tests.
    both_tails
        Apply ``min_expected_count`` to n·(1 − p) as well (default True).
    worst_balance
        Worst balance rating a (sub)group may have and still be analysed: ``"acceptable"``.
    smd_good, smd_acceptable
        Absolute standardised mean difference cut-offs for "good" and "acceptable" (unverified
        for the JDL; 5% and 10% are the common choices, reference §3).
    alpha
        Significance level: the JDL calls a result significant at p ≤ 0.05.
    """

    min_group_size: int = 60
    min_reoffenders_time: int = 30
    min_expected_count: float = 10.0
    both_tails: bool = True
    worst_balance: str = "acceptable"
    smd_good: float = 0.05
    smd_acceptable: float = 0.10
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.worst_balance not in BALANCE_RATINGS:
            raise ParamsError(
                f"worst_balance must be one of {', '.join(BALANCE_RATINGS)} "
                f"(got {self.worst_balance!r})"
            )
        if not 0 < self.alpha < 1:
            raise ParamsError(f"alpha must be between 0 and 1 (got {self.alpha}): use 0.05")

    def rate_smd(self, smd: float) -> str:
        """Rate a standardised mean difference: good if |SMD| ≤ ``smd_good``, acceptable if
        ≤ ``smd_acceptable``, else poor (also when missing), as ``helpers.balance.rate_smd``."""
        smd = abs(smd)
        if not math.isfinite(smd) or smd > self.smd_acceptable:
            return "poor"
        return "good" if smd <= self.smd_good else "acceptable"


#: The JDL's own thresholds.
JDL_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Gate:
    """The outcome of a publication gate: ``status`` is ``"PASS"`` or ``"FAIL"``.

    ``reasons`` says why it failed (empty when it passed), each naming the rule and the fix.
    """

    status: Literal["PASS", "FAIL"] = "PASS"
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @classmethod
    def from_reasons(cls, reasons: list[str] | tuple[str, ...]) -> Gate:
        """PASS when there are no reasons to fail, FAIL with all of them otherwise."""
        return cls("FAIL", tuple(reasons)) if reasons else cls("PASS", ())

    def to_dict(self) -> dict:
        return {"status": self.status, "reasons": list(self.reasons)}
