"""The measures registry, display rules, thresholds, gates and measure populations."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from _estimate_fixtures import simulated_matched
from helpers.errors import JDLWarning, ModelError, ParamsError
from helpers.measures import (
    JDL_THRESHOLDS,
    MEASURES,
    Columns,
    Gate,
    Measure,
    Thresholds,
    analysis_frame,
    complete_sets,
    format_per_100,
    format_value,
    get_measure,
    jsonable,
    per_100,
    population,
    render_html,
    render_text,
    round_half_up,
)

CONTRACT_COLUMNS = {
    "reoffended",
    "reoffences",
    "days_to_first",
    "first_indictable",
    "first_either_way",
    "first_summary",
    "reoffences_indictable",
    "reoffences_either_way",
    "reoffences_summary",
    "first_custody",
    "custodial_reoffences",
}


def test_registry_covers_the_seven_jdl_measures_with_contract_columns():
    assert sorted({m.jdl_number for m in MEASURES.values()}) == [1, 2, 3, 4, 5, 6, 7]
    assert {m.column for m in MEASURES.values()} == CONTRACT_COLUMNS
    assert list(MEASURES)[:3] == ["rate", "frequency", "days"]


@pytest.mark.parametrize(
    ("key", "population", "kind", "gate"),
    [
        ("rate", "all", "proportion", "expected_count"),
        ("frequency", "all", "frequency", "expected_count"),
        ("days", "reoffenders", "days", "reoffenders"),
        ("first_summary", "reoffenders", "proportion", "expected_count"),
        ("frequency_indictable", "all", "frequency", "expected_count"),
        ("first_custody", "reoffenders", "proportion", "expected_count"),
        ("custody_frequency", "reoffenders", "frequency", "expected_count"),
    ],
)
def test_measure_population_kind_and_gate(key, population, kind, gate):
    m = MEASURES[key]
    assert (m.population, m.kind, m.gate) == (population, kind, gate)


def test_words_per_kind():
    assert (MEASURES["rate"].noun, MEASURES["rate"].lower_word) == ("people", "lower")
    assert MEASURES["frequency"].noun == "proven reoffences"
    days = MEASURES["days"]
    assert (days.noun, days.lower_word, days.higher_word, days.per_100) == (
        "days",
        "shorter",
        "longer",
        False,
    )
    assert MEASURES["rate"].phrase == "the one-year proven reoffending rate"
    assert Measure("x", "Earnings", "re78").phrase == "the earnings"


def test_get_measure_unknown_lists_valid_keys_and_column_override():
    with pytest.raises(ParamsError, match="use one of rate, frequency"):
        get_measure("reoffending")
    m = get_measure("rate", "reoffended_2y")
    assert m.column == "reoffended_2y" and MEASURES["rate"].column == "reoffended"


def test_invalid_measure_definition_is_refused():
    with pytest.raises(ParamsError, match="kind must be"):
        Measure("x", "X", "x", kind="ratio")
    with pytest.raises(ParamsError, match="population must be"):
        Measure("x", "X", "x", population="women")


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("rate", 0.345, "35%"),  # halves round up, not to even
        ("rate", 0.3449, "34%"),
        ("rate", 0.0, "0%"),
        ("frequency", 1.005, "1.01"),
        ("frequency", 2.0, "2.00"),
        ("days", 141.5, "142"),
        ("days", 140.49, "140"),
        ("rate", math.nan, ""),
    ],
)
def test_format_value_display_rules(key, value, text):
    assert format_value(MEASURES[key], value) == text


def test_per_100_scaling():
    assert per_100(MEASURES["rate"], 0.25) == pytest.approx(25)
    assert per_100(MEASURES["frequency"], 1.48) == pytest.approx(148)
    assert per_100(MEASURES["days"], 140) == 140
    assert format_per_100(MEASURES["frequency"], 1.484) == "148 proven reoffences"
    assert format_per_100(MEASURES["rate"], 0.355) == "36 people"


def test_round_half_up():
    assert round_half_up(2.5) == 3 and round_half_up(-2.5) == -3 and round(2.5) == 2
    assert math.isnan(round_half_up(math.nan))


def test_thresholds_defaults_and_validation():
    th = JDL_THRESHOLDS
    assert (th.min_group_size, th.min_reoffenders_time, th.min_expected_count) == (60, 30, 10)
    values = (0.01, 0.05, -0.07, 0.10, 0.2, math.nan)
    ratings = ["good", "good", "acceptable", "acceptable", "poor", "poor"]
    assert [th.rate_smd(v) for v in values] == ratings
    with pytest.raises(ParamsError, match="worst_balance"):
        Thresholds(worst_balance="fine")
    with pytest.raises(ParamsError, match="alpha"):
        Thresholds(alpha=5)


def test_gate_from_reasons():
    assert Gate.from_reasons([]) == Gate("PASS", ())
    gate = Gate.from_reasons(["a", "b"])
    assert (gate.status, gate.passed, gate.reason) == ("FAIL", False, "a; b")
    assert gate.to_dict() == {"status": "FAIL", "reasons": ["a", "b"]}


def test_population_keeps_reoffenders_and_positive_weights():
    matched, _ = simulated_matched(80, seed=3, replace=False)
    matched.loc[0, "weight"] = 0.0
    pop = population(matched, "days_to_first", "reoffenders")
    assert (pop["reoffended"] == 1).all() and (pop["weight"] > 0).all()
    assert len(pop) == int(((matched.reoffended == 1) & (matched.weight > 0)).sum())


def test_population_refuses_missing_values_and_names_missing_columns():
    matched, _ = simulated_matched(80, seed=3, replace=False)
    with pytest.raises(ModelError, match="'days_to_first' have missing values"):
        population(matched, "days_to_first", "all")
    with pytest.raises(ModelError, match="no column 'treat'"):
        population(matched, "reoffended", cols=Columns(treatment="treat"))


def test_analysis_frame_designs():
    matched, pairs = simulated_matched(60, seed=4, k=2, replace=True)
    stacked, design = analysis_frame(matched, "reoffended", pairs=pairs)
    assert design == "pairs" and len(stacked) == len(pairs)
    assert list(stacked.columns[:5]) == ["y", "t", "w", "set", "unit"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        units, design = analysis_frame(matched, "reoffended")
    assert design == "units" and len(units) == len(matched)
    assert any(issubclass(w.category, JDLWarning) for w in caught)
    no_repl, _ = simulated_matched(60, seed=4, replace=False)
    assert analysis_frame(no_repl, "reoffended")[1] == "sets"


def test_complete_sets_treats_missing_and_negative_subclass_as_no_set():
    frame = pd.DataFrame({"subclass": pd.array([1, 2, None], dtype="Int64")})
    assert not complete_sets(frame) and complete_sets(frame.iloc[:2])
    assert not complete_sets(pd.DataFrame({"subclass": [1, -1]}))
    assert complete_sets(pd.DataFrame({"subclass": ["a", "b"]}))
    assert not complete_sets(pd.DataFrame({"other": [1]}))


def test_analysis_frame_refuses_pairs_from_another_run():
    matched, pairs = simulated_matched(60, seed=4, replace=True)
    pairs = pd.concat(
        [
            pairs,
            pd.DataFrame({"subclass": [999], "pid": ["nobody"], "treated": [0], "weight": [1.0]}),
        ]
    )
    with pytest.raises(ModelError, match="not in the matched sample"):
        analysis_frame(matched, "reoffended", pairs=pairs)


def test_jsonable_and_rendering():
    data = {"a": np.float64(math.nan), "b": [np.int64(2), np.inf], "c": np.bool_(True)}
    assert json.dumps(jsonable(data), allow_nan=False) == '{"a": null, "b": [2, null], "c": true}'
    assert "x  1.5" in render_text("T", [("x", 1.5)])
    assert "<caption>T &amp; U</caption>" in render_html("T & U", [("x", "<b>")])
