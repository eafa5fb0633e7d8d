"""The truth check itself: scoring, Monte Carlo errors, scenario choice, one real replicate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.errors import ParamsError
from helpers.params import RunParams
from helpers.validate import (
    HIDDEN,
    SCENARIOS,
    Scenario,
    pristine_records,
    replicate,
    select_scenarios,
    summarise,
    true_effect,
)


def _runs() -> pd.DataFrame:
    """Four hand-made replicates of one scenario with a true effect of -0.05."""
    return pd.DataFrame({
        "scenario": ["s"] * 4,
        "truth": [-0.05] * 4,
        "estimate": [-0.04, -0.06, -0.10, 0.00],
        "ci_low": [-0.09, -0.11, -0.14, -0.06],
        "ci_high": [0.01, -0.01, -0.06, 0.06],
        "p_value": [0.12, 0.02, 0.001, 0.9],
        "naive": [0.15, 0.16, 0.14, 0.15],
        "balance": ["good", "good", "poor", "good"],
    })  # fmt: skip


def test_summary_scores_each_replicate_against_its_truth():
    row = summarise(_runs()).iloc[0]
    errors = np.array([0.01, -0.01, -0.05, 0.05])
    assert row["replicates"] == 4
    assert row["bias"] == pytest.approx(errors.mean())
    assert row["bias_mcse"] == pytest.approx(errors.std(ddof=1) / 2)
    assert row["rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    # The third interval (-0.14, -0.06) misses -0.05; the others cover it.
    assert row["coverage"] == pytest.approx(0.75)
    assert row["coverage_mcse"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    assert row["significant"] == pytest.approx(0.5)
    assert row["naive_bias"] == pytest.approx(0.20)
    assert row["poor_balance"] == pytest.approx(0.25)


def test_scenarios_are_chosen_by_part_of_their_name():
    assert select_scenarios(None) == (*SCENARIOS, HIDDEN)
    placebo = select_scenarios(["Placebo"])
    assert placebo and all("placebo" in s.name for s in placebo)
    assert select_scenarios(["community"]) == (SCENARIOS[3],)


def test_an_unknown_scenario_names_the_known_ones():
    with pytest.raises(ParamsError) as err:
        select_scenarios(["placebo", "nonsense"])
    message = str(err.value)
    assert "'nonsense'" in message and "placebo, random selection" in message
    assert "e.g. --scenario placebo" in message


def test_true_effect_is_the_participants_average_treatment_effect(tmp_path):
    pd.DataFrame({
        "person_id": ["a", "b", "c"],
        "reoffended_with": [0, 1, 1], "reoffended_without": [1, 1, 0],
        "reoffences_with": [0, 2, 4], "reoffences_without": [3, 5, 0],
    }).to_parquet(tmp_path / "outcomes.parquet")  # fmt: skip
    assert true_effect(tmp_path, ["a", "b"], "reoffended", "all") == pytest.approx(-0.5)
    # Per reoffender: with the programme b and c reoffend (2, 4); without it a and b (3, 5).
    assert true_effect(tmp_path, ["a", "b", "c"], "reoffences", "reoffenders") == pytest.approx(
        3.0 - 4.0
    )


@pytest.mark.slow
def test_one_replicate_recovers_a_strong_effect_that_the_naive_comparison_misses(
    tmp_path_factory,
):
    """The whole in-process analysis on a fresh extract: a large effect under strong selection.

    Programme halves offending (rate ratio 0.5) for high-risk participants: the true effect on
    the one-year rate is clearly negative, the naive comparison is pulled upward by selection,
    and the matched estimate lands within its own confidence interval's reach of the truth.
    """
    pristine = pristine_records(tmp_path_factory.mktemp("pristine"), people=60_000, seed=7)
    scenario = Scenario("strong effect", 0.5, selection=2.0, participants=200)
    row = replicate(pristine, scenario, seed=11, params=RunParams())
    assert row["column"] == "reoffended" and row["n_treated"] >= 150
    assert row["truth"] < -0.05
    assert row["naive"] > row["truth"] + 0.05
    half_width = (row["ci_high"] - row["ci_low"]) / 2
    assert abs(row["estimate"] - row["truth"]) < 2 * half_width
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
