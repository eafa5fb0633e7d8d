"""What may be published: the JDL gates, small-cell suppression and the rounding rules.

Three rules decide what a published table shows:

1. **The JDL gates** (reference §5; thresholds in :class:`helpers.measures.Thresholds`):
   a measure is shown only when the treatment group has at least 60 people, each group's
   n·p is at least 10 (and n·(1 − p), for rates), and — for time to first reoffence — the
   treatment group has at least 30 reoffenders. :func:`measure_gate` applies them to an
   estimate; :func:`subgroup_gate` decides whether a sub-analysis may run at all (size and
   balance rules).
2. **Small cells**: a count of people below ``min_cell`` is withheld, and so is every value in
   its row that would reveal it (a rate times a group size gives the count back). The default
   ``min_cell`` is :data:`DEFAULT_MIN_CELL` = 10: the JDL already refuses rows whose n·p is
   below 10, so any count below 10 is withheld everywhere for consistency; this is also the
   cautious end of UK official-statistics practice (thresholds of 3, 5 or 10 are common).
   Zero counts are withheld too ("none of the 12 reoffended" discloses something about each).
3. **Rounding** (reference §5): rates as whole percentages (their differences in whole
   percentage points, "pp"), frequencies to 2 decimals, days as whole numbers, p-values to 2
   decimals ("<0.01" below that).

:func:`apply_disclosure` turns an estimates table into the strings that may be published.
Nothing is silently dropped: withheld cells carry the Government Statistical Service symbols
``[x]`` (not available: gated) and ``[c]`` (confidential: small cell), and a ``note`` column
says why.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from helpers.errors import ParamsError
from helpers.measures import (
    BALANCE_RATINGS,
    JDL_THRESHOLDS,
    Gate,
    Measure,
    Thresholds,
    format_value,
    round_half_up,
)

__all__ = [
    "DEFAULT_MIN_CELL",
    "GATED",
    "SUPPRESSED",
    "apply_disclosure",
    "format_count",
    "format_difference",
    "format_p_value",
    "measure_gate",
    "publication_gate",
    "small_cells",
    "subgroup_gate",
    "time_to_event_gate",
]

log = logging.getLogger(__name__)

#: Smallest count of people that may be published (see the module docstring for why 10).
DEFAULT_MIN_CELL = 10
#: Marker for a cell withheld because its row failed a JDL gate (GSS "not available").
GATED = "[x]"
#: Marker for a cell withheld to protect individuals (GSS "confidential").
SUPPRESSED = "[c]"

_COUNT_COLUMNS = (
    "treatment_n",
    "comparison_n",
    "treatment_reoffenders",
    "comparison_reoffenders",
)
_VALUE_COLUMNS = (
    "treatment_value",
    "treatment_ci",
    "comparison_value",
    "comparison_ci",
    "difference",
    "difference_ci",
    "p_value",
    "p_holm",
    "significant",
)


def measure_gate(
    measure: Measure,
    *,
    group_size: int,
    treatment,
    comparison,
    thresholds: Thresholds = JDL_THRESHOLDS,
) -> Gate:
    """Whether the JDL would show this measure, with every reason it would not.

    ``treatment`` and ``comparison`` are :class:`helpers.estimate.GroupValue` (anything with
    ``n``, ``reoffenders``, ``expected_count``, ``expected_complement``); ``group_size`` is
    the number of people in the treatment group as a whole.
    """
    if measure.gate == "reoffenders":
        return time_to_event_gate(
            group_size=group_size, reoffenders=treatment.reoffenders, thresholds=thresholds
        )
    th, reasons = thresholds, _size_reasons(group_size, thresholds)
    for name, g in (("treatment", treatment), ("comparison", comparison)):
        checks = [("n·p", g.expected_count)]
        if measure.kind == "proportion" and th.both_tails:
            checks.append(("n·(1 − p)", g.expected_complement))
        for label, value in checks:
            if not value >= th.min_expected_count:
                reasons.append(
                    f"{label} is {_num(value)} in the {name} group, below "
                    f"{th.min_expected_count:g}: too few people for a reliable estimate"
                )
    return Gate.from_reasons(reasons)


def _size_reasons(group_size: int, thresholds: Thresholds) -> list[str]:
    if group_size >= thresholds.min_group_size:
        return []
    return [
        f"the treatment group has {group_size} people, fewer than the JDL minimum of "
        f"{thresholds.min_group_size}"
    ]


def time_to_event_gate(
    *, group_size: int, reoffenders: int, thresholds: Thresholds = JDL_THRESHOLDS
) -> Gate:
    """The JDL's rule for time to reoffend (mean days, and here also the Cox hazard ratio):
    at least ``thresholds.min_reoffenders_time`` (30) reoffenders in the treatment group."""
    reasons = _size_reasons(group_size, thresholds)
    if reoffenders < thresholds.min_reoffenders_time:
        reasons.append(
            f"time to first reoffence needs at least {thresholds.min_reoffenders_time} "
            f"reoffenders in the treatment group (there are {max(reoffenders, 0)})"
        )
    return Gate.from_reasons(reasons)


def _num(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "not available"


def subgroup_gate(
    *,
    n_treatment: int,
    n_comparison: int,
    balance: str | float,
    thresholds: Thresholds = JDL_THRESHOLDS,
) -> Gate:
    """Whether a sub-analysis (e.g. women only) may run, and if not, why.

    The JDL ran sub-analyses only "when the sample is big enough and matching good enough"
    (reference §3): both groups need at least ``thresholds.min_group_size`` people (the
    comparison group counted as distinct matched people), and the worst covariate balance
    must be no worse than ``thresholds.worst_balance``. ``balance`` is a rating ("good",
    "acceptable", "poor") or the worst absolute standardised mean difference.
    """
    th, reasons = thresholds, []
    rating = th.rate_smd(balance) if isinstance(balance, int | float) else balance
    if rating not in BALANCE_RATINGS:
        raise ParamsError(
            f"balance must be one of {', '.join(BALANCE_RATINGS)} or a number (got {balance!r})"
        )
    for name, n in (("treatment", n_treatment), ("comparison", n_comparison)):
        if n < th.min_group_size:
            reasons.append(
                f"the {name} group has {n} people, fewer than the minimum of "
                f"{th.min_group_size}: combine subgroups or analyse the whole cohort"
            )
    if BALANCE_RATINGS.index(rating) > BALANCE_RATINGS.index(th.worst_balance):
        reasons.append(
            f"balance is {rating} (worst allowed: {th.worst_balance}): the groups are not "
            "comparable enough; refine the matching for this subgroup or do not report it"
        )
    return Gate.from_reasons(reasons)


def small_cells(counts: dict[str, float], min_cell: int = DEFAULT_MIN_CELL) -> list[str]:
    """Names of the counts of people that are too small to publish (0 up to ``min_cell`` − 1)."""
    return [k for k, v in counts.items() if v is not None and 0 <= v < min_cell]


def publication_gate(estimate, *, min_cell: int = DEFAULT_MIN_CELL) -> Gate:
    """Whether an estimate may be published at all: its JDL gate and the small-cell rule."""
    counts = {
        f"{g} group {what}": getattr(getattr(estimate, g), attr)
        for g in ("treatment", "comparison")
        for what, attr in (("people", "n"), ("reoffenders", "reoffenders"))
    }
    small = small_cells(counts, min_cell)
    reasons = list(estimate.gate.reasons)
    if small:
        reasons.append(f"fewer than {min_cell} people in the {', '.join(small)}")
    return Gate.from_reasons(reasons)


def format_count(count: float, min_cell: int = DEFAULT_MIN_CELL) -> str:
    """A count of people as published: the number, or ``[c]`` when below ``min_cell``."""
    if count is None or not math.isfinite(count) or count < 0:
        return GATED
    return SUPPRESSED if count < min_cell else f"{int(round_half_up(count)):,}"


def format_p_value(p: float) -> str:
    """p-values as the JDL prints them: two decimals, "<0.01" below that."""
    if p is None or not math.isfinite(p):
        return ""
    return "<0.01" if p < 0.005 else f"{round_half_up(p, 2):.2f}"


def format_difference(measure: Measure, value: float) -> str:
    """A signed difference between groups with the measure's rounding; rates in percentage
    points ("-8 pp"), frequencies to 2 decimals, days whole."""
    if value is None or not math.isfinite(value):
        return ""
    if measure.kind == "proportion":
        text = f"{round_half_up(100 * abs(value)):.0f} pp"
    else:
        text = format_value(measure, abs(value))
    if text.split(" ")[0] in ("0", "0.00"):
        return text
    return ("-" if value < 0 else "+") + text


def _row(row: pd.Series, min_cell: int) -> dict:
    from helpers.measures import MEASURES

    m = MEASURES.get(row["measure"]) or Measure(
        row["measure"], row["label"], "", row["population"], row["kind"]
    )
    out = {"measure": m.key, "label": m.label}
    out |= {c: format_count(row[c], min_cell) for c in _COUNT_COLUMNS}
    ci = "{} to {}"
    out |= {
        "treatment_value": format_value(m, row["treatment_value"]),
        "treatment_ci": ci.format(
            format_value(m, row["treatment_ci_low"]), format_value(m, row["treatment_ci_high"])
        ),
        "comparison_value": format_value(m, row["comparison_value"]),
        "comparison_ci": ci.format(
            format_value(m, row["comparison_ci_low"]), format_value(m, row["comparison_ci_high"])
        ),
        "difference": format_difference(m, row["difference"]),
        "difference_ci": ci.format(
            format_difference(m, row["ci_low"]), format_difference(m, row["ci_high"])
        ),
        "p_value": format_p_value(row["p_value"]),
        "p_holm": format_p_value(row["p_holm"]),
        "significant": "Yes" if row["significant"] else "No",
    }
    return out


def apply_disclosure(table, *, min_cell: int = DEFAULT_MIN_CELL) -> pd.DataFrame:
    """The publishable version of an estimates table: rounded strings, withheld cells marked.

    ``table`` is an :class:`helpers.estimate.EffectTable` or its ``to_frame()``. Rows that
    failed a JDL gate keep their label but every value becomes ``[x]``; a count below
    ``min_cell`` becomes ``[c]`` and so does every value in its row (they would reveal it).
    The ``note`` column gives the reason; the ``published`` column is False for withheld rows.
    Rows are never dropped, so the reader sees what was not shown.
    """
    if min_cell < 1:
        raise ParamsError(f"min_cell must be at least 1 (got {min_cell}): the default is 10")
    frame = table.to_frame() if hasattr(table, "to_frame") else table
    rows = []
    for _, row in frame.iterrows():
        out = _row(row, min_cell)
        small = small_cells({c: row[c] for c in _COUNT_COLUMNS}, min_cell)
        if row["gate"] != "PASS":
            out |= dict.fromkeys(_VALUE_COLUMNS, GATED)
            out |= {"note": f"Not shown: {row['gate_reason']}.", "published": False}
        elif small:
            out |= dict.fromkeys(_VALUE_COLUMNS, SUPPRESSED)
            out |= {
                "note": f"Withheld: fewer than {min_cell} people in "
                f"{', '.join(c.replace('_', ' ') for c in small)}.",
                "published": False,
            }
        else:
            out |= {"note": "", "published": True}
        rows.append(out)
    log.info("disclosure: %d of %d rows published", sum(r["published"] for r in rows), len(rows))
    return pd.DataFrame(rows)
