"""The JDL's standard sentences: every branch, the right nouns and directions, never "no effect"."""

from __future__ import annotations

import math

import pytest

from _estimate_fixtures import group, make_estimate
from helpers.measures import MEASURES, Gate
from helpers.power import minimum_detectable_effect, people_needed
from helpers.sensitivity import RosenbaumBounds, e_value
from helpers.wording import (
    boxes,
    effect_sentence,
    effect_sentences,
    explain_e_value,
    explain_gamma,
    power_sentence,
    what_you_can_say,
    what_you_cannot_say,
)

OPENING = "For 100 typical people who receive the programme, compared with 100 similar people "
RATE = "the number of people who commit a proven reoffence during a one-year period could be"

CASES = {
    "significant lower": make_estimate("rate", (-0.15, -0.05)),
    "significant higher": make_estimate("rate", (0.03, 0.11)),
    "not significant": make_estimate("rate", (-0.12, 0.04)),
    "frequency lower": make_estimate("frequency", (-0.64, -0.13)),
    "days shorter": make_estimate("days", (-40.0, -10.0)),
    "days inconclusive": make_estimate("days", (-12.0, 30.0)),
    "reoffenders": make_estimate("first_custody", (-0.2, -0.02)),
    "gated": make_estimate("days", (-40, -10), gate=Gate.from_reasons(["only 12 reoffenders"])),
    "suppressed": make_estimate("rate", (-0.15, -0.05), treatment=group(0.3, reoffenders=6)),
}


def test_significant_lower():
    assert effect_sentence(CASES["significant lower"]) == (
        f"{OPENING}who do not, {RATE} lower by between 5 and 15 people — a statistically "
        "significant result."
    )


def test_significant_higher():
    assert effect_sentence(CASES["significant higher"]).endswith(
        f"{RATE} higher by between 3 and 11 people — a statistically significant result."
    )


def test_not_significant_gives_both_directions_and_asks_for_more_people():
    assert effect_sentence(CASES["not significant"]).endswith(
        f"{RATE} lower by as many as 12 people, or higher by as many as 4 people. More people "
        "would need to be analysed to determine the direction of the difference."
    )


def test_nouns_and_directions_per_measure_kind():
    assert "could be lower by between 13 and 64 proven reoffences" in effect_sentence(
        CASES["frequency lower"]
    )
    days = effect_sentence(CASES["days shorter"])
    assert days.startswith("For typical people who receive the programme and reoffend")
    assert (
        "average time to first proven reoffence could be shorter by between 10 and 40 days" in days
    )
    assert "shorter by as many as 12 days, or longer by as many as 30 days" in effect_sentence(
        CASES["days inconclusive"]
    )
    assert effect_sentence(CASES["reoffenders"]).startswith(
        "For 100 typical people who receive the programme and reoffend, compared with 100 "
        "similar people who do not receive it and reoffend,"
    )


def test_gated_and_suppressed_say_why_not():
    assert effect_sentence(CASES["gated"]) == (
        "The time to first proven reoffence is not reported: only 12 reoffenders."
    )
    suppressed = effect_sentence(CASES["suppressed"])
    assert suppressed.startswith("The one-year proven reoffending rate is not reported: fewer ")
    assert "treatment group reoffenders" in suppressed


def test_small_amounts_keep_one_decimal_and_programme_name_is_used():
    est = make_estimate("rate", (-0.03, -0.004))
    text = effect_sentence(est, programme="the Horizon mentoring scheme")
    assert "lower by between 0.4 and 3 people" in text and "Horizon mentoring scheme" in text


def test_effect_sentences_for_a_table():
    class Table(list):
        pass

    out = effect_sentences(Table([CASES["significant lower"], CASES["days shorter"]]))
    assert set(out) == {"rate", "days"}


def test_boxes_for_each_branch():
    can = what_you_can_say(CASES["significant lower"])
    assert can[0] == (
        "This analysis provides evidence that the programme may decrease the "
        "one-year proven reoffending rate of the people who take part."
    )
    assert "may lengthen" in what_you_can_say(make_estimate("days", (5.0, 30.0)))[0]
    assert "does not provide clear evidence" in what_you_can_say(CASES["not significant"])[0]
    assert "cannot say anything" in what_you_can_say(CASES["gated"])[0]
    cannot = what_you_cannot_say(CASES["significant lower"])
    assert cannot[0].startswith(
        "That the programme decreases the one-year proven reoffending "
        "rate by exactly 10 people per 100 people"
    )
    inconclusive = what_you_cannot_say(CASES["not significant"])
    assert (
        inconclusive[0]
        == "That the programme increases or decreases the one-year proven reoffending rate."
    )
    assert "does not change" in inconclusive[1]
    assert set(boxes(CASES["significant higher"])) == {"What you can say", "What you cannot say"}


def _bounds(gamma_star, beyond=False, approximate=False):
    return RosenbaumBounds(
        "reoffended",
        "lower",
        4,
        10.0,
        60,
        20,
        0.05,
        gamma_star,
        20.0,
        beyond,
        ((1.0, 0.006),),
        "exact",
        approximate,
    )


def test_explain_gamma_branches():
    assert "1.29 times as likely" in explain_gamma(_bounds(1.2903))
    assert "more than 20.00 times" in explain_gamma(_bounds(20.0, beyond=True))
    assert "approximate" in explain_gamma(_bounds(1.5, approximate=True))
    assert "no threshold of hidden bias" in explain_gamma(_bounds(None))


def test_explain_e_value_branches():
    text = explain_e_value(e_value(0.8, 0.65, 0.98))
    assert "risk ratio of 0.80" in text and "at least 1.81 each" in text and "1.16 each" in text
    assert "already includes 1" in explain_e_value(e_value(0.8, 0.6, 1.1))
    assert explain_e_value(e_value(0.8)).endswith("could not explain it away.")


def test_power_sentences():
    rate = MEASURES["rate"]
    needed = power_sentence(people_needed(0.30, 0.35, ratio=3.0), rate)
    assert "difference of this size (5 people per 100 people) with 80% power" in needed
    assert "about 920 people" in needed  # 918 rounded to tens
    assert "no number of people" in power_sentence(people_needed(0.3, 0.3), rate)
    mde = power_sentence(minimum_detectable_effect(100, 300, 0.40), rate)
    assert "100 people in the treatment group" in mde and "comparison group value of 40%" in mde


def test_no_sentence_ever_says_no_effect():
    texts = []
    for est in CASES.values():
        texts.append(effect_sentence(est))
        texts += what_you_can_say(est) + what_you_cannot_say(est)
    texts += [explain_gamma(_bounds(g)) for g in (None, 1.1, 3.0)]
    texts += [
        explain_e_value(e_value(r, lo, hi)) for r, lo, hi in ((0.8, 0.6, 1.1), (1.5, 1.2, 1.9))
    ]
    texts += [power_sentence(people_needed(0.3, p), MEASURES["rate"]) for p in (0.3, 0.32)]
    assert len(texts) > 40
    assert not [t for t in texts if "no effect" in t.lower()]
    assert not any(math.isnan(len(t)) for t in texts)


@pytest.mark.parametrize("key", list(MEASURES))
def test_every_measure_has_a_sentence(key):
    lo, hi = (-0.2, 0.1) if MEASURES[key].kind != "days" else (-20.0, 10.0)
    text = effect_sentence(make_estimate(key, (lo, hi)))
    assert MEASURES[key].noun in text and "More people would need to be analysed" in text


def test_a_count_of_one_takes_the_singular():
    from helpers.wording import _count

    assert _count(1.0, "people") == "1 person"
    assert _count(0.96, "proven reoffences") == "1 proven reoffence"
    assert _count(1.6, "custodial sentences") == "2 custodial sentences"
