"""Tests for helpers.balance (weighted primitives against hand-computed values, the balance
table) and helpers.plots.balance (figures)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from _matching_fixtures import make_cohort
from helpers.balance import (
    STATISTICS,
    BalanceTable,
    balance_table,
    effective_sample_size,
    rate_smd,
    weighted_ecdf,
    weighted_mean,
    weighted_smd,
    weighted_variance,
    weighted_variance_ratio,
)
from helpers.errors import BalanceWarning, MatchingError
from helpers.matching import MatchSpec, match
from helpers.plots.balance import love_plot, overlap_plot

# --- primitives against hand-computed values ----------------------------------------------


def test_weighted_mean_and_variance_by_hand():
    x, w = np.array([1.0, 2, 3, 4]), np.array([1.0, 1, 2, 0])
    assert weighted_mean(x, w) == pytest.approx(9 / 4)
    # normalised w = (.25, .25, .5, 0); sum w (x - 2.25)^2 = 0.6875; 1 - sum w^2 = 0.625
    assert weighted_variance(x, w) == pytest.approx(0.6875 / 0.625)
    assert weighted_variance(x) == pytest.approx(np.var(x, ddof=1))
    assert weighted_variance(np.array([0.0, 1, 1, 0])) == pytest.approx(0.25)  # p (1 - p)
    assert weighted_variance(np.array([0.0, 1, 1, 0]), binary=False) == pytest.approx(1 / 3)
    assert np.isnan(weighted_variance(x, np.array([0.0, 0, 1, 0])))
    assert np.isnan(weighted_mean(x, np.zeros(4)))


def test_weighted_smd_by_hand():
    x = np.array([1.0, 2, 3, 2, 3, 4])
    t = np.array([1, 1, 1, 0, 0, 0])
    assert weighted_smd(x, t) == pytest.approx(-1.0)  # (2 - 3) / SD of the treated (1)
    w = np.array([1.0, 1, 1, 0, 1, 3])
    assert weighted_smd(x, t, w) == pytest.approx(-1.75)  # control mean 15 / 4
    assert weighted_smd(x, t, sd=2.0) == pytest.approx(-0.5)
    # binary: standardised by sqrt(p (1 - p)) of the treated
    b, tb = np.array([1.0, 1, 0, 0, 0, 1]), np.array([1, 1, 1, 0, 0, 0])
    assert weighted_smd(b, tb) == pytest.approx((2 / 3 - 1 / 3) / np.sqrt(2 / 9))
    # constant in the treated group: the pooled SD is used instead
    c = np.array([5.0, 5, 5, 4, 6, 5])
    assert np.isfinite(weighted_smd(c, t))
    assert weighted_smd(np.ones(6), t) == 0.0


def test_variance_ratio_and_ecdf_by_hand():
    x = np.array([1.0, 2, 3, 2, 3, 4])
    t = np.array([1, 1, 1, 0, 0, 0])
    assert weighted_variance_ratio(x, t) == pytest.approx(1.0)
    assert np.isnan(weighted_variance_ratio(np.array([0.0, 1, 1, 0, 1, 0]), t))
    # treated {1, 2}, comparison {2, 3}: |F1 - F0| at 1, 2, 3 = .5, .5, 0
    mean, mx = weighted_ecdf(np.array([1.0, 2, 2, 3]), np.array([1, 1, 0, 0]))
    assert (mean, mx) == pytest.approx((1 / 3, 0.5))
    # zero-weight rows still add evaluation points: F1 - F0 at 1, 2, 3, 9 = .5, .5, 0, 0
    mean, mx = weighted_ecdf(
        np.array([1.0, 2, 2, 3, 9]), np.array([1, 1, 0, 0, 0]), np.array([1.0, 1, 1, 1, 0])
    )
    assert (mean, mx) == pytest.approx((0.25, 0.5))
    b = np.array([1.0, 0, 1, 1])
    assert weighted_ecdf(b, np.array([1, 1, 0, 0])) == pytest.approx((0.5, 0.5))


def test_effective_sample_size_and_ratings():
    assert effective_sample_size([1, 1, 2]) == pytest.approx(16 / 6)
    assert effective_sample_size([0.5] * 10) == pytest.approx(10)
    assert effective_sample_size([0, 0]) == 0.0
    assert [rate_smd(v) for v in (0.05, -0.0500001, -0.1, 0.11, np.nan)] == [
        "good",
        "acceptable",
        "acceptable",
        "poor",
        "poor",
    ]
    assert rate_smd(0.07, (0.1, 0.2)) == "good"


def test_weights_must_be_valid():
    with pytest.raises(ValueError, match="non-negative"):
        weighted_mean([1.0, 2.0], [1.0, -1.0])


# --- the table ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matched():
    df = make_cohort(80, 400, 11)
    df["adult"] = df["age"] > 25
    df["region"] = pd.Categorical(np.where(df["age"] > 32, "South", "North"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BalanceWarning)
        result = match(df, MatchSpec(caliper=0.2, ratio=2, discard="both"), "distance")
    return df, result


def test_balance_table_structure(matched):
    df, result = matched
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BalanceWarning)
        table = balance_table(df, ["age", "sex", "adult", "region"], result)
    assert isinstance(table, BalanceTable)
    t = table.table
    assert list(t.index) == [
        "distance", "age", "sex_F", "sex_M", "adult", "region_North", "region_South",
    ]  # fmt: skip
    assert t.loc["sex_F", "label"] == "sex: F" and t.loc["sex_F", "covariate"] == "sex"
    for s in STATISTICS:
        assert f"{s.name}_before" in t.columns and f"{s.name}_after" in t.columns
    assert t["variance_ratio_after"].isna().tolist() == [False, False, True, True, True, True, True]
    assert set(t["rating"]) <= {"good", "acceptable", "poor"}
    # before matching: plain group means
    treated = df["treated"] == 1
    assert t.loc["age", "mean_treated_before"] == pytest.approx(df.loc[treated, "age"].mean())
    assert t.loc["age", "mean_control_before"] == pytest.approx(df.loc[~treated, "age"].mean())
    # after: weighted
    w = result.weights
    expected = np.average(df.loc[~treated, "age"], weights=w[~treated.to_numpy()])
    assert t.loc["age", "mean_control_after"] == pytest.approx(expected)
    s = table.summary
    assert s.n_treated_matched == result.n_treated_matched
    assert s.n_control_discarded == result.n_control_discarded
    assert s.ess_treated_after == pytest.approx(result.n_treated_matched)
    assert s.worst_term != "distance" and s.rating == rate_smd(s.worst_smd)
    long = table.long()
    assert set(long["stage"]) == {"before", "after"} and len(long) == 7 * 2 * len(STATISTICS)
    assert "Worst |SMD| after matching" in table.text() and "<table" in table._repr_html_()


def test_poor_balance_warns_and_thresholds_are_arguments(matched):
    df, result = matched
    with pytest.warns(BalanceWarning, match="poor balance after matching"):
        table = balance_table(df, ["age"], result, distance=False, thresholds=(1e-6, 2e-6))
    assert table.table.loc["age", "rating"] == "poor" and table.thresholds == (1e-6, 2e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = balance_table(df, ["age"], result, distance=False, thresholds=(10, 20))
    assert table.summary.rating == "good"


def test_balance_table_errors(matched):
    df, result = matched
    with pytest.raises(MatchingError, match="`nope` is not in the cohort"):
        balance_table(df, ["nope"], result)
    with pytest.raises(MatchingError, match="rows but the match result"):
        balance_table(df.iloc[:10], ["age"], result)
    with pytest.raises(MatchingError, match="`thresholds` must be increasing"):
        balance_table(df, ["age"], result, thresholds=(0.1, 0.05))
    with pytest.raises(MatchingError, match="missing values"):
        balance_table(df.assign(age=np.nan), ["age"], result)


# --- plots --------------------------------------------------------------------------------


def test_plots_return_figures(matched):
    df, result = matched
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BalanceWarning)
        table = balance_table(df, ["age", "sex"], result)
    fig = love_plot(table)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "sex: M",
        "sex: F",
        "age",
        table.table.loc["distance", "label"],
    ]
    assert ax.get_xlabel() == "Absolute standardised mean difference"
    assert isinstance(love_plot(table, statistic="variance_ratio"), Figure)
    assert isinstance(love_plot(table, absolute=False), Figure)
    with pytest.raises(ValueError, match="unknown balance statistic 'ks'"):
        love_plot(table, statistic="ks")
    fig = overlap_plot(result)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "Logit of the propensity score"
