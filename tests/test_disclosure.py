"""The JDL gates, small-cell suppression, rounding and the publishable table."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from _estimate_fixtures import group, make_estimate, simulated_matched
from helpers.disclosure import (
    DEFAULT_MIN_CELL,
    GATED,
    SUPPRESSED,
    apply_disclosure,
    format_count,
    format_difference,
    format_p_value,
    measure_gate,
    publication_gate,
    small_cells,
    subgroup_gate,
    time_to_event_gate,
)
from helpers.errors import ParamsError
from helpers.estimate import EffectTable, estimate_measures
from helpers.measures import MEASURES, Gate, Thresholds


def _gate(key, treatment, comparison=None, size=200, **kw):
    return measure_gate(
        MEASURES[key],
        group_size=size,
        treatment=treatment,
        comparison=comparison or group(0.3),
        **kw,
    )


def test_measure_gate_passes_a_healthy_rate():
    assert _gate("rate", group(0.3)).passed


def test_expected_count_gate_checks_both_groups_and_both_tails():
    few = replace(group(0.03), expected_count=6.0)
    gate = _gate("rate", few)
    assert not gate.passed and "n·p is 6.0 in the treatment group, below 10" in gate.reason
    common = replace(group(0.97), expected_complement=4.0)
    assert "n·(1 − p) is 4.0 in the comparison group" in _gate("rate", group(0.3), common).reason
    assert _gate("rate", group(0.3), common, thresholds=Thresholds(both_tails=False)).passed
    # frequencies have no complement rule
    assert _gate("frequency", group(1.2), common).passed


def test_time_to_reoffend_needs_thirty_treatment_reoffenders():
    gate = _gate("days", group(150, reoffenders=29))
    assert gate.reasons == (
        "time to first reoffence needs at least 30 reoffenders in the "
        "treatment group (there are 29)",
    )
    assert _gate("days", group(150, reoffenders=30)).passed
    assert not time_to_event_gate(group_size=200, reoffenders=10).passed


def test_minimum_group_size_is_reported_with_other_reasons():
    gate = _gate("days", group(150, reoffenders=12), size=45)
    assert len(gate.reasons) == 2 and "fewer than the JDL minimum of 60" in gate.reasons[0]


def test_subgroup_gate_size_and_balance_rules():
    assert subgroup_gate(n_treatment=80, n_comparison=500, balance="good").passed
    gate = subgroup_gate(n_treatment=40, n_comparison=30, balance="poor")
    assert gate.status == "FAIL" and len(gate.reasons) == 3
    assert "treatment group has 40 people" in gate.reasons[0]
    assert "balance is poor (worst allowed: acceptable)" in gate.reasons[2]
    assert not subgroup_gate(n_treatment=80, n_comparison=80, balance=0.14).passed
    assert subgroup_gate(n_treatment=80, n_comparison=80, balance=-0.07).passed
    strict = Thresholds(worst_balance="good", min_group_size=100)
    assert (
        len(
            subgroup_gate(
                n_treatment=80, n_comparison=200, balance="acceptable", thresholds=strict
            ).reasons
        )
        == 2
    )
    with pytest.raises(ParamsError, match="balance must be one of"):
        subgroup_gate(n_treatment=80, n_comparison=80, balance="great")


def test_small_cells_and_counts():
    assert DEFAULT_MIN_CELL == 10
    assert small_cells({"a": 0, "b": 9, "c": 10, "d": -1}) == ["a", "b"]
    assert format_count(9) == SUPPRESSED and format_count(1234) == "1,234"
    assert format_count(3, min_cell=3) == "3" and format_count(-1) == GATED


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0004, "<0.01"),
        (0.005, "0.01"),
        (0.045, "0.05"),
        (0.5, "0.50"),
        (float("nan"), ""),
    ],
)
def test_p_values_print_to_two_decimals(p, text):
    assert format_p_value(p) == text


def test_differences_are_signed_and_rounded_per_measure():
    assert format_difference(MEASURES["rate"], -0.084) == "-8 pp"
    assert format_difference(MEASURES["frequency"], 0.456) == "+0.46"
    assert format_difference(MEASURES["days"], -12.5) == "-13"
    assert format_difference(MEASURES["rate"], 0.001) == "0 pp"


def test_publication_gate_adds_small_cells_to_the_jdl_gate():
    est = make_estimate(treatment=group(0.3, reoffenders=7))
    gate = publication_gate(est)
    assert not gate.passed and "treatment group reoffenders" in gate.reason
    assert publication_gate(make_estimate()).passed
    failed = make_estimate(gate=Gate.from_reasons(["too few"]))
    assert publication_gate(failed).reasons == ("too few",)


def test_apply_disclosure_marks_but_never_drops_rows():
    ok = make_estimate("rate", (-0.15, -0.05))
    gated = make_estimate("days", (-20, 10), gate=Gate.from_reasons(["only 12 reoffenders"]))
    small = make_estimate("frequency", (-0.3, 0.1), comparison=group(1.2, reoffenders=4))
    out = apply_disclosure(EffectTable((ok, gated, small), "rate"))
    assert list(out.measure) == ["rate", "days", "frequency"]
    assert list(out.published) == [True, False, False]
    rate = out.iloc[0]
    assert (rate.treatment_value, rate.difference, rate.difference_ci) == (
        "30%",
        "-10 pp",
        "-15 pp to -5 pp",
    )
    assert rate.significant == "Yes" and rate.note == ""
    assert (out.iloc[1][["treatment_value", "p_value"]] == GATED).all()
    assert out.iloc[1].note == "Not shown: only 12 reoffenders."
    assert out.iloc[2].comparison_reoffenders == SUPPRESSED
    assert (
        out.iloc[2].treatment_value == SUPPRESSED and "comparison reoffenders" in out.iloc[2].note
    )
    assert out.iloc[2].treatment_n == "200"  # large counts stay visible


def test_apply_disclosure_on_real_estimates_and_frames():
    matched, pairs = simulated_matched(45, seed=1, replace=True)
    table = estimate_measures(matched, pairs=pairs)
    out = apply_disclosure(table.to_frame())
    assert len(out) == len(table) and not out.published.any()  # 45 people: below 60
    assert out.note.str.contains("fewer than the JDL minimum of 60").all()
    with pytest.raises(ParamsError, match="min_cell"):
        apply_disclosure(table, min_cell=0)
    assert isinstance(out, pd.DataFrame)
