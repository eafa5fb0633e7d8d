"""Tests for helpers.propensity: the fit against R, designs, separation and rare levels,
common support and the AUC."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.errors import ModelError, SeparationWarning
from helpers.propensity import PropensityModel, common_support, fit_propensity

HERE = Path(__file__).parent
LALONDE = HERE / "golden" / "lalonde" / "lalonde.csv"
COVS = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    if not LALONDE.exists():
        pytest.fail(f"{LALONDE} is missing: it is committed with the golden files")
    return pd.read_csv(LALONDE, index_col=0)


def _cohort(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "region": rng.choice(["North", "South", "Wales"], n),
            "female": rng.integers(0, 2, n),
            "adult": rng.random(n) < 0.7,
        }
    )
    eta = -1.5 + 0.5 * df["x1"] - 0.3 * df["female"] + 0.4 * (df["region"] == "South")
    df["treated"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return df


# --- the fit ------------------------------------------------------------------------------


def test_lalonde_score_matches_r_glm(lalonde):
    model = fit_propensity(lalonde, COVS, treatment="treat")
    golden = pd.read_csv(HERE / "golden" / "lalonde" / "nearest_units.csv").set_index("id")
    # R's glm stops at a deviance change below 1e-8, so agreement is to about 1e-8
    np.testing.assert_allclose(model.score, golden.loc[lalonde.index, "distance"], atol=1e-7)
    assert model.n == 614 and model.n_treated == 185 and model.n_control == 429
    assert model.reference_levels == {"race": "black"}
    assert list(model.coefficients.index) == [
        "Intercept", "age", "educ", "race[hispan]", "race[white]",
        "married", "nodegree", "re74", "re75",
    ]  # fmt: skip
    # R: coef(glm(treat ~ ., lalonde)): race white -3.065, educ 0.1613
    assert model.coefficients.loc["race[white]", "estimate"] == pytest.approx(-3.0654, abs=1e-3)
    assert model.coefficients.loc["educ", "estimate"] == pytest.approx(0.16128, abs=1e-4)
    np.testing.assert_allclose(model.logit, np.log(model.score / (1 - model.score)), atol=1e-9)


def test_list_and_formula_give_the_same_model(lalonde):
    a = fit_propensity(lalonde, COVS, treatment="treat")
    b = fit_propensity(
        lalonde, "~ age + educ + C(race) + married + nodegree + re74 + re75", treatment="treat"
    )
    np.testing.assert_allclose(a.score, b.score, atol=1e-12)
    assert a.log_likelihood == pytest.approx(b.log_likelihood)


def test_formula_with_spline_and_polynomial():
    df = _cohort()
    model = fit_propensity(df, "bs(x1, df=4) + I(x2 ** 2) + C(region)")
    assert model.converged and 0.5 < model.auc < 1
    assert any(t.startswith("bs(x1") for t in model.coefficients.index)


def test_summary_and_result_object():
    model = fit_propensity(_cohort(), ["x1", "x2", "region", "female", "adult"])
    text = model.summary()
    assert "AUC" in text and "n = 2,000" in text and "reference level of region: North" in text
    assert "adult[True]" in model.coefficients.index
    assert list(model.coefficients.columns) == ["estimate", "std_error", "z", "p_value"]
    assert isinstance(model, PropensityModel) and 0 <= model.pseudo_r2 < 1
    with pytest.raises(AttributeError):
        model.auc = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError):
        model.score[0] = 0.5
    np.testing.assert_array_equal(model.distance("score"), model.score)
    with pytest.raises(ModelError, match="`kind` must be"):
        model.distance("mahalanobis")
    assert "<table" in model._repr_html_()


def test_category_dtype_uses_first_category_as_reference():
    df = _cohort()
    df["region"] = pd.Categorical(df["region"], categories=["Wales", "South", "North"])
    model = fit_propensity(df, ["x1", "region"])
    assert model.reference_levels["region"] == "Wales"


def test_auc_against_pairwise_definition():
    df = _cohort(300, 3)
    model = fit_propensity(df, ["x1", "female"])
    s, t = model.score, df["treated"].to_numpy() == 1
    diff = s[t][:, None] - s[~t][None, :]
    expected = ((diff > 0) + 0.5 * (diff == 0)).mean()
    assert model.auc == pytest.approx(expected)


# --- separation and rare levels -----------------------------------------------------------


def _region_without_treated() -> pd.DataFrame:
    df = _cohort()
    df.loc[df["region"] == "Wales", "treated"] = 0
    return df


def test_level_without_treated_is_an_error_naming_it():
    with pytest.raises(ModelError) as err:
        fit_propensity(_region_without_treated(), ["x1", "region"])
    text = str(err.value)
    assert "covariate `region` level 'Wales' has no treated records" in text
    assert "rare_levels='merge'" in text


def test_merge_pools_rare_levels_with_a_warning():
    df = _region_without_treated()
    df.loc[df.index[:3], "region"] = "Jersey"
    df.loc[df.index[:3], "treated"] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit_propensity(df, ["x1", "region"], rare_levels="merge")
    assert [str(w.message) for w in caught] == [
        "covariate `region`: levels Jersey, Wales have fewer than 5 treated or comparison "
        "records and were pooled into '(other)'"
    ]
    assert model.merged_levels == {"region": ("Jersey", "Wales")}
    assert "region[(other)]" in model.coefficients.index


def test_merge_folds_a_still_separating_pool_into_the_largest_level():
    with pytest.warns(SeparationWarning, match="pooled into 'North'|pooled into 'South'"):
        model = fit_propensity(_region_without_treated(), ["x1", "region"], rare_levels="merge")
    assert model.merged_levels == {"region": ("Wales",)}


def test_binary_numeric_column_without_treated_in_one_value():
    df = _cohort()
    df.loc[df["female"] == 1, "treated"] = 0
    with pytest.raises(ModelError, match="covariate `female` level '1' has no treated records"):
        fit_propensity(df, ["x1", "female"])


def test_reference_level_separation_is_caught_in_formulas():
    with pytest.raises(ModelError, match="level '\\(reference\\)' has no treated"):
        df = _cohort()
        df.loc[df["region"] == "North", "treated"] = 0
        fit_propensity(df, "x1 + C(region)")


def test_rare_level_warns():
    df = _cohort()
    df.loc[df.index[:2], "region"] = "Jersey"
    df.loc[df.index[:2], "treated"] = [1, 0]
    with pytest.warns(
        SeparationWarning, match="`region` level 'Jersey' \\(1 treated, 1 comparison\\)"
    ):
        fit_propensity(df, ["x1", "region"])


def test_numeric_separation_is_an_error():
    df = _cohort()
    df["score"] = np.where(df["treated"] == 1, 5 + df["x2"].abs(), 5 - df["x2"].abs())
    with pytest.raises(ModelError, match="covariate `score` separates the groups"):
        fit_propensity(df, ["x1", "score"])


def test_combined_separation_does_not_converge():
    df = _cohort()
    df["treated"] = (df["x1"] + df["x2"] > 1).astype(int)
    with pytest.raises(ModelError, match="did not converge") as err:
        fit_propensity(df, ["x1", "x2"])
    assert "separation" in str(err.value)


def test_near_separation_warns_about_extreme_coefficients():
    rng = np.random.default_rng(1)
    df = _cohort()
    df["treated"] = (df["x1"] + 0.05 * rng.normal(size=len(df)) > 1.5).astype(int)
    with pytest.warns(SeparationWarning, match="extreme coefficients .* `x1`"):
        fit_propensity(df, ["x1", "x2"])


@pytest.mark.parametrize(
    ("change", "covs", "text"),
    [
        (lambda d: d.assign(k=3.0), ["x1", "k"], "`k` has the same value (3) for everyone"),
        (lambda d: d.assign(x3=2 * d.x1 + 1), ["x1", "x3"], "covariates are collinear"),
        (lambda d: d.assign(x1=d.x1.where(d.index > 5)), ["x1"], "`x1` has 6 missing values"),
        (lambda d: d, ["x1", "nope"], "covariate `nope` is not in the cohort"),
        (lambda d: d, [], "no covariates given"),
        (lambda d: d.assign(treated=0), ["x1"], "(got 0 treated, 2000 comparison)"),
        (lambda d: d.assign(treated=2), ["x1"], "must be 0/1"),
        (lambda d: d.iloc[:0], ["x1"], "(got 0 treated, 0 comparison)"),
        (lambda d: d, "x1 + nope", "the propensity formula"),
    ],
)
def test_input_errors(change, covs, text):
    with pytest.raises(ModelError) as err:
        fit_propensity(change(_cohort()), covs)
    assert text in str(err.value)


def test_rare_levels_option_is_validated():
    with pytest.raises(ModelError, match="`rare_levels` must be one of error, merge"):
        fit_propensity(_cohort(), ["x1"], rare_levels="drop")
    with pytest.raises(ModelError, match="works with a list of covariates"):
        fit_propensity(_cohort(), "x1", rare_levels="merge")


def test_no_warning_on_a_clean_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_propensity(_cohort(), ["x1", "x2", "region", "female"])


# --- common support -----------------------------------------------------------------------


def test_common_support_matches_matchit_rules():
    d = np.array([0.1, 0.2, 0.5, 0.9, 0.05, 0.3, 0.6, 0.95, 0.99])
    t = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0], bool)
    # treated range [0.1, 0.9], comparison range [0.05, 0.99]
    assert common_support(d, t, "none").sum() == 0
    assert common_support(d, t, "control").tolist() == [0, 0, 0, 0, 1, 0, 0, 1, 1]
    assert common_support(d, t, "treated").sum() == 0
    assert common_support(d, t, "both").tolist() == [0, 0, 0, 0, 1, 0, 0, 1, 1]
    assert common_support(1 - d, ~t, "treated").tolist() == [0, 0, 0, 0, 1, 0, 0, 1, 1]
    with pytest.raises(ModelError, match="`discard` must be one of"):
        common_support(d, t, "outside")
    assert common_support(np.array([]), np.array([], bool), "both").size == 0


def test_fit_is_fast_enough_for_a_large_pool():
    rng = np.random.default_rng(2)
    n = 300_000
    df = pd.DataFrame({"x1": rng.normal(size=n), "region": rng.choice(list("abcd"), n)})
    df["treated"] = (rng.random(n) < 1 / (1 + np.exp(6 - 0.5 * df["x1"]))).astype(int)
    model = fit_propensity(df, ["x1", "region"])
    assert model.converged and model.coefficients.loc["x1", "estimate"] == pytest.approx(
        0.5, abs=0.15
    )


def test_warm_start_on_a_large_pool_gives_the_full_data_mle():
    import statsmodels.api as sm

    rng = np.random.default_rng(5)
    n = 450_000  # ~1,000 treated: the subsample warm start is used
    df = pd.DataFrame({"x1": rng.normal(size=n), "female": rng.integers(0, 2, n)})
    eta = -6.2 + 0.5 * df["x1"] - 0.4 * df["female"]
    df["treated"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    model = fit_propensity(df, ["x1", "female"])
    X = sm.add_constant(df[["x1", "female"]].to_numpy(float))
    reference = sm.Logit(df["treated"].to_numpy(), X).fit(disp=False)
    np.testing.assert_allclose(model.coefficients["estimate"], reference.params, rtol=1e-6)
    np.testing.assert_allclose(model.coefficients["std_error"], reference.bse, rtol=1e-6)
