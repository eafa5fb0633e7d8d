"""Weighted differences with matched-design SEs, regression adjustment and the estimates table.

Statistical truth checked here: MatchIt's lalonde example (golden files from R MatchIt 4.5.1
and sandwich), a hand-computed matched-pair variance, and the coverage of the 95% interval for
a known effect in simulated matching with replacement.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from statsmodels.stats.multitest import multipletests

from _estimate_fixtures import (
    GOLDEN,
    LALONDE,
    LALONDE_COLUMNS,
    LALONDE_COVARIATES,
    RE78,
    lalonde_matched,
    lalonde_pairs,
    simulate_cohort,
    simulated_matched,
)
from helpers.errors import JDLWarning, ModelError, ParamsError
from helpers.estimate import (
    EffectTable,
    adjust_pvalues,
    estimate_effect,
    estimate_measures,
    regression_adjusted,
)
from helpers.measures import MEASURES, Columns, Measure
from helpers.plots.effects import forest_plot, measure_bars

no_r = pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript is not installed")


# --- parity with R MatchIt / sandwich on lalonde ---


def test_regression_adjusted_att_reproduces_matchit_golden():
    golden = pd.read_csv(GOLDEN / "nearest_att.csv").iloc[0]
    est = regression_adjusted(lalonde_matched(), RE78, LALONDE_COVARIATES, cols=LALONDE_COLUMNS)
    assert est.estimate == pytest.approx(golden["estimate"], abs=1e-6)  # 1121.1772
    assert est.std_error == pytest.approx(golden["std_error"], abs=1e-6)  # 776.5510
    assert (est.n_treatment, est.n_comparison, est.n_clusters) == (185, 185, 185)
    assert est.design == "sets" and est.dropped_terms == ()


def test_difference_matches_r_vcovcl_on_matched_pairs():
    # R: lm(re78 ~ treat, md, weights = weights); vcovCL(fit, cluster = ~subclass)
    est = estimate_effect(lalonde_matched(), RE78, cols=LALONDE_COLUMNS)
    assert est.difference == pytest.approx(894.367480270, abs=1e-6)
    assert est.std_error == pytest.approx(715.763421583, abs=1e-6)
    assert est.df == 184 and est.n_clusters == 185


def test_two_way_clustered_se_matches_r_on_stacked_pairs():
    # R: lm(re78 ~ treat, get_matches(m2), weights = weights);
    #    vcovCL(fit, cluster = ~subclass + id)  -> 943.8592 (subclass only: 696.31)
    matched = lalonde_matched("nearest_replace")
    est = estimate_effect(matched, RE78, pairs=lalonde_pairs(), cols=LALONDE_COLUMNS)
    assert est.difference == pytest.approx(1967.93968432, abs=1e-5)
    assert est.std_error == pytest.approx(943.8592, abs=1e-3)
    assert est.design == "pairs" and est.comparison.n == 80


@pytest.mark.needs_r
@no_r
def test_two_way_clustered_se_live_r_parity():
    script = f"""
    suppressPackageStartupMessages(library(sandwich))
    lal <- read.csv("{LALONDE}", row.names = 1)
    st <- read.csv("{GOLDEN / "nearest_replace_stacked.csv"}")
    st$re78 <- lal[st$id, "re78"]
    fit <- lm(re78 ~ treat, data = st, weights = weights)
    cat(sprintf("%.8f", sqrt(vcovCL(fit, cluster = ~subclass + id)[2, 2])))
    """
    run = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        pytest.skip(f"R sandwich unavailable: {run.stderr[:200]}")
    est = estimate_effect(
        lalonde_matched("nearest_replace"), RE78, pairs=lalonde_pairs(), cols=LALONDE_COLUMNS
    )
    assert est.std_error == pytest.approx(float(run.stdout), rel=1e-8)


def test_stacked_and_unit_level_point_estimates_agree():
    matched, pairs = simulated_matched(120, seed=5, k=3, replace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        units = estimate_effect(matched, "frequency")
    stacked = estimate_effect(matched, "frequency", pairs=pairs)
    assert stacked.difference == pytest.approx(units.difference, abs=1e-12)
    assert stacked.comparison.value == pytest.approx(units.comparison.value, abs=1e-12)
    assert units.design == "units" and "ignored" in units.variance


# --- hand-computed values ---


def _pairs_data(treated_y, control_y):
    n = len(treated_y)
    return pd.DataFrame(
        {
            "pid": [f"T{i}" for i in range(n)] + [f"C{i}" for i in range(n)],
            "treated": [1] * n + [0] * n,
            "weight": 1.0,
            "subclass": list(range(n)) * 2,
            "reoffences": list(treated_y) + list(control_y),
        }
    )


def test_matched_pair_variance_by_hand():
    ty, cy = np.array([3, 1, 0, 2, 5, 1]), np.array([1, 1, 2, 0, 1, 0])
    est = estimate_effect(_pairs_data(ty, cy), "frequency")
    d = ty - cy
    g = len(d)
    # CR1: G/(G-1) * (N-1)/(N-K) * sum((d_g - mean d)^2) / G^2 with N = 2G, K = 2
    var = g / (g - 1) * (2 * g - 1) / (2 * g - 2) * np.sum((d - d.mean()) ** 2) / g**2
    assert est.difference == pytest.approx(d.mean())
    assert est.std_error == pytest.approx(np.sqrt(var))
    assert est.treatment.value == pytest.approx(ty.mean())
    assert est.ratio == pytest.approx(ty.mean() / cy.mean())


def test_weighted_comparison_mean_and_ess():
    data = pd.DataFrame(
        {
            "pid": list("abcde"),
            "treated": [1, 1, 0, 0, 0],
            "weight": [1, 1, 0.5, 0.5, 1.0],
            "subclass": [1, 2, 1, 1, 2],
            "reoffended": [1, 0, 1, 0, 1],
        }
    )
    est = estimate_effect(data, "rate")
    assert est.comparison.value == pytest.approx((0.5 + 1.0) / 2.0)
    assert est.comparison.ess == pytest.approx(2.0**2 / 1.5)
    assert est.comparison.expected_count == pytest.approx(1.5)
    assert est.comparison.expected_complement == pytest.approx(0.5)


# --- coverage of a known effect under matching with replacement ---


def test_ci_covers_known_effect_with_replacement_at_nominal_rate():
    """1:1 nearest neighbour with replacement, true ATT −0.08 on the rate, 200 replications.

    Observed (seeds 0–199): coverage 0.955 for two-way clustered SEs on the stacked pairs
    (1:3 with replacement: 0.950; 1:1 without replacement: 0.945).
    The Monte Carlo SE of a coverage of 0.95 over 200 runs is 0.015.
    """
    effect, hits, estimates = -0.08, 0, []
    for seed in range(200):
        matched, pairs = simulated_matched(100, effect, seed=seed, k=1, replace=True, n_pool=800)
        est = estimate_effect(matched, "rate", pairs=pairs)
        hits += est.ci_low <= effect <= est.ci_high
        estimates.append(est.difference)
    coverage = hits / 200
    assert 0.91 <= coverage <= 0.99, coverage
    assert abs(np.mean(estimates) - effect) < 0.01


# --- gates, multiplicity and the table ---


def test_gates_fail_with_reasons_for_small_groups():
    matched, pairs = simulated_matched(40, seed=6, replace=True)
    est = estimate_effect(matched, "days", pairs=pairs)
    assert est.gate.status == "FAIL"
    assert "fewer than the JDL minimum of 60" in est.gate.reason
    assert "at least 30 reoffenders" in est.gate.reason
    assert np.isfinite(est.difference)  # computed anyway; the gate decides publication


def test_expected_count_gate_on_a_rare_outcome():
    matched, pairs = simulated_matched(150, seed=7, replace=True)
    matched["rare"] = 0
    matched.loc[matched.index[:5], "rare"] = 1
    rare = Measure("rare", "Rare", "rare", kind="proportion")
    est = estimate_effect(matched, rare, pairs=pairs)
    assert not est.gate.passed and "n·p" in est.gate.reason


def test_reoffender_measures_use_only_reoffenders():
    matched, pairs = simulated_matched(150, seed=8, replace=False)
    est = estimate_effect(matched, "first_custody")
    assert est.treatment.n == est.treatment.reoffenders
    assert est.treatment.n == int(matched.query("treated == 1").reoffended.sum())


def test_empty_group_gives_nan_estimate_not_a_crash():
    data = _pairs_data([1, 0, 1], [0, 0, 0])
    data["reoffended"] = (data.reoffences > 0).astype(int)
    data["days_to_first"] = np.where(data.reoffended == 1, 30.0, np.nan)
    est = estimate_effect(data, "days")
    assert np.isnan(est.difference) and est.comparison.n == 0 and not est.gate.passed


def test_table_has_headline_holm_and_bh_over_gated_family():
    matched, pairs = simulated_matched(200, seed=9, k=2, replace=True)
    table = estimate_measures(matched, pairs=pairs, headline="rate")
    assert isinstance(table, EffectTable) and len(table) == len(MEASURES)
    assert [e.key for e in table if e.headline] == ["rate"]
    family = [e for e in table if e.gate.passed]
    p = [e.p_value for e in family]
    assert [e.p_holm for e in family] == pytest.approx(multipletests(p, method="holm")[1])
    assert [e.p_bh for e in family] == pytest.approx(multipletests(p, method="fdr_bh")[1])
    assert all(np.isnan(e.p_holm) for e in table if not e.gate.passed)
    frame = table.to_frame()
    assert {"treatment_value", "comparison_n", "p_holm", "gate_reason"} <= set(frame.columns)
    assert "rate" in table.summary() and "<table" in table._repr_html_()
    text = table.describe()
    assert "clustered both on the matched set and on the person" in text
    assert f"for the {len(family)} measures reported" in text


def test_to_dict_is_json_with_documented_shape():
    matched, pairs = simulated_matched(150, seed=10, replace=True)
    table = estimate_measures(matched, ["rate", "days"], pairs=pairs)
    out = json.loads(json.dumps(table.to_dict(), allow_nan=False))
    assert set(out) == {"headline", "multiplicity", "estimates"}
    rate = out["estimates"][0]
    assert rate["measure"] == "rate" and rate["gate"]["status"] in ("PASS", "FAIL")
    assert {"value", "ci_low", "ci_high", "n", "reoffenders", "ess"} <= set(rate["treatment"])
    assert {
        "difference",
        "ci_low",
        "ci_high",
        "p_value",
        "p_holm",
        "p_bh",
        "significant",
        "ratio",
        "variance",
        "design",
        "headline",
    } <= set(rate)
    assert table["rate"].summary().startswith("One-year proven reoffending rate")


def test_headline_must_be_a_measure_and_missing_columns_are_named():
    matched, _ = simulated_matched(80, seed=11, replace=False)
    with pytest.raises(ParamsError, match="headline 'days'"):
        estimate_measures(matched, ["rate"], headline="days")
    with pytest.raises(ModelError, match="no column 'treat'"):
        estimate_effect(matched, "rate", cols=Columns(treatment="treat"))


def test_adjust_pvalues_without_family_is_a_no_op():
    matched, _ = simulated_matched(30, seed=12, replace=False)
    est = estimate_effect(matched, "days")
    assert adjust_pvalues([est])[0] is est


# --- regression adjustment ---


def test_regression_adjusted_recovers_known_effect_and_drops_collinear_terms():
    matched, pairs = simulated_matched(300, -0.10, seed=13, k=2, replace=True)
    matched["constant"] = 1.0
    est = regression_adjusted(matched, "rate", ["x", "constant"], pairs=pairs)
    assert abs(est.estimate - (-0.10)) < 3 * est.std_error  # within 3 SE of the truth
    assert est.dropped_terms == ("constant", "treated:constant")
    assert est.design == "pairs"
    assert json.dumps(est.to_dict(), allow_nan=False)
    assert "Regression-adjusted" in est.summary()


def test_regression_adjusted_needs_covariates():
    matched, _ = simulated_matched(80, seed=14, replace=False)
    with pytest.raises(ParamsError, match="covariates is empty"):
        regression_adjusted(matched, "rate", [])


# --- figures ---


def test_bar_chart_and_forest_plot_are_figures():
    matched, pairs = simulated_matched(100, seed=15, replace=True)
    table = estimate_measures(matched, pairs=pairs)
    bars, forest = measure_bars(table), forest_plot(table)
    assert isinstance(bars, Figure) and isinstance(forest, Figure)
    panels = [ax for ax in bars.axes if ax.get_title()]
    assert len(panels) == len(MEASURES)
    gated = [e for e in table if not e.gate.passed]
    hidden = [ax for ax in panels if not ax.axison]
    assert len(hidden) >= len(gated)  # gated measures are shown as "Not reported"


# --- the contract with helpers.matching (matched.parquet / pairs.parquet as notebook 02 writes)


def test_works_on_the_matching_modules_output():
    matching = pytest.importorskip("helpers.matching")
    cohort = simulate_cohort(120, 960, -0.08, seed=16)
    result = matching.match(cohort, matching.MatchSpec(replace=True, ratio=2), "x")
    matched = cohort.join(result.frame(cohort.index)).query("weight > 0")
    pairs = result.get_matches(ids=cohort.pid)  # person column "unit"
    est = estimate_effect(matched, "rate", pairs=pairs)
    assert est.design == "pairs" and est.comparison.n == (matched.treated == 0).sum()
    with pytest.warns(JDLWarning, match="pairs="):
        assert estimate_effect(matched, "rate").design == "units"
    assert estimate_effect(matched.fillna({"subclass": -1}), "rate", pairs=pairs).design == "pairs"
    with pytest.warns(JDLWarning):  # -1 ("in no single set") is not a matched set
        assert estimate_effect(matched.fillna({"subclass": -1}), "rate").design == "units"
