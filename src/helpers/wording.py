"""The JDL's standard sentences, filled from the results (reference §5).

Every number in the report's prose comes from a result object through these functions, so the
words cannot disagree with the tables. The JDL's 2017 wording is used, per 100 typical people
who received the programme compared with 100 similar people who did not:

* significant: "... could be lower by between L and U people — a statistically significant
  result";
* not significant: "... could be lower by as many as L people, or higher by as many as U
  people. More people would need to be analysed to determine the direction of the difference."

The JDL never says that a programme "has no effect"; nor does anything here. Rates are counted
in people, frequencies in proven reoffences (or custodial sentences), and time to first
reoffence in days, "shorter" or "longer". Early JDL reports carried "What you can say" and
"What you cannot say" boxes; :func:`what_you_can_say` and :func:`what_you_cannot_say` fill
them. :func:`explain_gamma`, :func:`explain_e_value` and :func:`power_sentence` explain the
sensitivity and power analyses in plain English.
"""

from __future__ import annotations

import math

from helpers.disclosure import DEFAULT_MIN_CELL, publication_gate
from helpers.measures import Measure, format_value, per_100, round_half_up

__all__ = [
    "boxes",
    "effect_sentence",
    "effect_sentences",
    "explain_e_value",
    "explain_gamma",
    "power_sentence",
    "what_you_can_say",
    "what_you_cannot_say",
]

_SIGNIFICANT = " — a statistically significant result."
_MORE_PEOPLE = "More people would need to be analysed to determine the direction of the difference."


def _amount(value: float) -> str:
    """A per-100 amount in words: whole numbers, one decimal when that would show 0."""
    value = abs(value)
    whole = round_half_up(value)
    if whole == 0 and value > 0:
        return f"{round_half_up(value, 1):.1f}"
    return f"{whole:,.0f}"


_SINGULAR = {"people": "person"}


def _count(value: float, noun: str) -> str:
    """An amount with its noun, singular when the amount reads as exactly 1 ("1 person")."""
    amount = _amount(value)
    if amount != "1":
        return f"{amount} {noun}"
    words = noun.split(" ")
    last = words[-1]
    words[-1] = _SINGULAR.get(last, last[:-1] if last.endswith("s") else last)
    return f"{amount} {' '.join(words)}"


def _opening(m: Measure, programme: str) -> str:
    if m.kind == "days":
        return (
            f"For typical people who receive {programme} and reoffend, compared with "
            "similar people who do not receive it and reoffend,"
        )
    if m.population == "reoffenders":
        return (
            f"For 100 typical people who receive {programme} and reoffend, compared with "
            "100 similar people who do not receive it and reoffend,"
        )
    return (
        f"For 100 typical people who receive {programme}, compared with 100 similar "
        "people who do not,"
    )


def effect_sentence(
    estimate, *, programme: str = "the programme", min_cell: int = DEFAULT_MIN_CELL
) -> str:
    """The JDL sentence for one :class:`helpers.estimate.EffectEstimate`.

    Gated or suppressed estimates get a sentence saying why they are not reported.
    """
    m: Measure = estimate.measure
    gate = publication_gate(estimate, min_cell=min_cell)
    if not gate.passed:
        return f"{m.phrase[0].upper()}{m.phrase[1:]} is not reported: {gate.reason}."
    lo, hi = per_100(m, estimate.ci_low), per_100(m, estimate.ci_high)
    start = f"{_opening(m, programme)} {m.subject} could be"
    if hi < 0:
        return f"{start} {m.lower_word} by between {_amount(hi)} and {_count(lo, m.noun)}" + (
            _SIGNIFICANT
        )
    if lo > 0:
        return f"{start} {m.higher_word} by between {_amount(lo)} and {_count(hi, m.noun)}" + (
            _SIGNIFICANT
        )
    return (
        f"{start} {m.lower_word} by as many as {_count(lo, m.noun)}, or "
        f"{m.higher_word} by as many as {_count(hi, m.noun)}. {_MORE_PEOPLE}"
    )


def effect_sentences(
    table, *, programme: str = "the programme", min_cell: int = DEFAULT_MIN_CELL
) -> dict[str, str]:
    """The sentence for every measure of an :class:`helpers.estimate.EffectTable`, by key."""
    return {e.key: effect_sentence(e, programme=programme, min_cell=min_cell) for e in table}


def _verb(m: Measure, difference: float) -> str:
    if m.kind == "days":
        return "lengthen" if difference > 0 else "shorten"
    return "increase" if difference > 0 else "decrease"


def _direction(estimate) -> int:
    """+1 / −1 when the interval excludes zero, 0 when it does not."""
    if estimate.ci_low > 0:
        return 1
    return -1 if estimate.ci_high < 0 else 0


def what_you_can_say(
    estimate, *, programme: str = "the programme", min_cell: int = DEFAULT_MIN_CELL
) -> tuple[str, ...]:
    """Statements the analysis supports (the JDL's "What you can say" box)."""
    m = estimate.measure
    if not publication_gate(estimate, min_cell=min_cell).passed:
        return (
            f"This analysis cannot say anything about {m.phrase}: there were too few "
            "people to report it.",
        )
    sign = _direction(estimate)
    if sign:
        return (
            f"This analysis provides evidence that {programme} may {_verb(m, sign)} {m.phrase} "
            "of the people who take part.",
            effect_sentence(estimate, programme=programme, min_cell=min_cell),
        )
    return (
        f"This analysis does not provide clear evidence that {programme} changes {m.phrase}: "
        "the difference could go in either direction.",
        effect_sentence(estimate, programme=programme, min_cell=min_cell),
    )


def what_you_cannot_say(estimate, *, programme: str = "the programme") -> tuple[str, ...]:
    """Claims the analysis does not support (the JDL's "What you cannot say" box)."""
    m, sign = estimate.measure, _direction(estimate)
    common = (
        f"That the difference is certainly caused by {programme}: people were matched on "
        "recorded characteristics only, and unrecorded ones such as motivation may differ "
        "(see the sensitivity analysis).",
        f"That the result applies to everyone {programme} works with: it describes people like "
        "those who could be found in the records and matched.",
    )
    if sign:
        point = per_100(m, abs(estimate.difference))
        unit = f"{m.noun} per 100 people" if m.per_100 else m.noun
        return (
            f"That {programme} {_verb(m, sign)}s {m.phrase} by exactly {_amount(point)} {unit}: "
            "the true difference lies anywhere in the confidence interval.",
            *common,
        )
    return (
        f"That {programme} increases or decreases {m.phrase}.",
        f"That {programme} does not change {m.phrase}: an inconclusive result is not evidence "
        "that nothing changed; more people would need to be analysed.",
        *common,
    )


def explain_gamma(bounds) -> str:
    """Γ (Rosenbaum bounds) in plain English."""
    approx = (
        " Because the comparison group re-uses some people, this figure is approximate."
        if bounds.approximate
        else ""
    )
    if bounds.gamma_star is None:
        return (
            "The result was not statistically significant before allowing for unmeasured "
            "differences, so there is no threshold of hidden bias to report."
        )
    size = "more than " if bounds.beyond_max else ""
    gamma = f"{size}{round_half_up(bounds.gamma_star, 2):.2f}"
    return (
        "People were matched on recorded characteristics only. The result would stop being "
        "statistically significant if an unrecorded characteristic, such as motivation, made "
        f"one of two similar people {gamma} times as likely (in odds) as the other to take "
        "part in the programme and also affected reoffending. Values close to 1 mean a small "
        "hidden difference could explain the result; larger values mean it is more robust." + approx
    )


def explain_e_value(ev) -> str:
    """The E-value in plain English (VanderWeele & Ding 2017)."""
    ratio = f"{round_half_up(ev.risk_ratio, 2):.2f}"
    text = (
        f"The observed risk ratio of {ratio} could be explained away only by an unrecorded "
        "characteristic that was associated with both taking part and reoffending by a risk "
        f"ratio of at least {round_half_up(ev.point, 2):.2f} each, over and above the "
        "characteristics used in matching; weaker hidden differences could not explain it away."
    )
    if not math.isfinite(ev.ci):
        return text
    if ev.ci <= 1:
        return text + (
            " The confidence interval already includes 1, so the result is not "
            "statistically significant even without any hidden difference."
        )
    return text + (
        f" A risk ratio of {round_half_up(ev.ci, 2):.2f} each would be enough to make "
        "the result no longer statistically significant."
    )


def power_sentence(result, measure: Measure) -> str:
    """The power result in words: the minimum detectable effect or the people needed."""
    unit = f"{measure.noun} per 100 people" if measure.per_100 else measure.noun
    if result.question == "people needed":
        if not math.isfinite(result.n_treatment):
            return (
                "The two groups' values are the same, so no number of people could "
                "determine the direction of a difference."
            )
        n = result.n_treatment if result.n_treatment < 100 else round(result.n_treatment, -1)
        size = _count(per_100(measure, result.difference), measure.noun)
        size += " per 100 people" if measure.per_100 else ""
        return (
            f"To detect a difference of this size ({size}) with {result.power:.0%} power, "
            f"about {n:,.0f} people would need to be analysed in the treatment group, with a "
            "comparison group of the same relative size."
        )
    lower = _amount(per_100(measure, result.detectable_lower))
    base = format_value(measure, result.baseline)
    return (
        f"With {result.n_treatment:,.0f} people in the treatment group, the analysis has "
        f"{result.power:.0%} power to detect a reduction of about {lower} {unit} or more "
        f"(from a comparison group value of {base}); smaller true differences would probably "
        "not be statistically significant."
    )


def boxes(
    estimate, *, programme: str = "the programme", min_cell: int = DEFAULT_MIN_CELL
) -> dict[str, tuple[str, ...]]:
    """Both boxes for one estimate, keyed by their titles (for ``results.json``)."""
    return {
        "What you can say": what_you_can_say(estimate, programme=programme, min_cell=min_cell),
        "What you cannot say": what_you_cannot_say(estimate, programme=programme),
    }
