"""Tests for helpers.matching: specification errors, invariants over many random
specifications, a brute-force reference on small data with ties, equivalences, edge cases."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from _matching_fixtures import (
    brute_force,
    check_invariants,
    make_cohort,
    result_sets,
    same_sets,
)
from helpers.errors import MatchingError
from helpers.matching import METHODS, MatchSpec, _order_with_ties_by_row, match, variable_ratios
from helpers.propensity import fit_propensity

# --- specification ------------------------------------------------------------------------


def test_negative_caliper_message():
    with pytest.raises(MatchingError) as err:
        MatchSpec(caliper=-0.2)
    assert str(err.value) == (
        "Problem with the matching: `caliper` must be positive (got -0.2): use a value such as 0.2"
    )


def test_unknown_method_lists_valid_ones():
    with pytest.raises(
        MatchingError, match="unknown matching method 'optimal': use one of nearest, radius"
    ):
        MatchSpec(method="optimal")


def test_problems_are_collected():
    with pytest.raises(MatchingError) as err:
        MatchSpec(order="sideways", ratio=0, caliper=0, distance="mahalanobis")
    assert len(err.value.problems) == 4
    assert str(err.value).startswith("4 problems with the matching:")


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"order": "random"}, "`seed` is needed"),
        ({"method": "radius", "replace": True}, "radius matching needs a `caliper`"),
        ({"method": "radius", "caliper": 0.1}, "set `replace=True`"),
        ({"ratio": 1.5}, "must be a whole number"),
        ({"ratio": 2, "max_controls": 2}, "`max_controls` (2) must be greater"),
        ({"ratio": 2, "max_controls": 4, "min_controls": 2}, "`min_controls` (2)"),
        ({"caliper": float("inf")}, "must be finite"),
        ({"discard": "some"}, "`discard` must be one of none, treated, control, both"),
        ({"caliper_units": "metres", "caliper": 1}, "`caliper_units` must be one of sd, raw"),
    ],
)
def test_spec_validation(kwargs, text):
    with pytest.raises(MatchingError, match=None) as err:
        MatchSpec(**kwargs)
    assert text in str(err.value)


def test_spec_is_frozen_and_normalised():
    spec = MatchSpec(exact=["sex"], ratio=2.0)
    assert spec.exact == ("sex",) and spec.ratio == 2 and isinstance(spec.ratio, int)
    assert MatchSpec(exact="sex").exact == ("sex",)
    with pytest.raises(AttributeError):
        spec.ratio = 3  # type: ignore[misc]
    assert set(METHODS) == {"nearest", "radius"}


# --- invariants over many random specifications ----------------------------------------------

SPECS = [
    MatchSpec(distance="logit"),
    MatchSpec(ratio=3),
    MatchSpec(ratio=2, replace=True),
    MatchSpec(caliper=0.1),
    MatchSpec(caliper=0.3, order="smallest", ratio=2),
    MatchSpec(caliper=0.05, caliper_units="raw", order="data"),
    MatchSpec(order="random", seed=7, ratio=2, caliper=0.5),
    MatchSpec(order="closest", ratio=2, caliper=0.2),
    MatchSpec(order="closest", exact=("stratum",)),
    MatchSpec(exact=("stratum", "sex"), caliper=0.2, ratio=2),
    MatchSpec(exact=("stratum",), replace=True, ratio=3, caliper=0.1),
    MatchSpec(discard="both", caliper=0.2),
    MatchSpec(discard="treated", replace=True),
    MatchSpec(discard="control", ratio=2),
    MatchSpec(ratio=2.5, max_controls=4),
    MatchSpec(ratio=2, min_controls=1, max_controls=3, caliper=0.3, exact=("stratum",)),
    MatchSpec(method="radius", caliper=0.1, replace=True),
    MatchSpec(method="radius", caliper=0.05, replace=True, exact=("stratum",), discard="both"),
]


def _strata(df: pd.DataFrame, spec: MatchSpec) -> np.ndarray | None:
    if not spec.exact:
        return None
    return df.groupby(list(spec.exact)).ngroup().to_numpy()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "spec", SPECS, ids=lambda s: s.describe() if hasattr(s, "describe") else None
)
def test_invariants(spec, seed):
    df = make_cohort(25 + 5 * seed, 120, seed, ties=seed % 2 == 1, strata=3)
    result = match(df, spec, "distance")
    check_invariants(result, _strata(df, spec))


# --- brute-force reference ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: repr(s)[10:60])
def test_matches_brute_force(spec, seed):
    df = make_cohort(20 + 3 * seed, 70 + 10 * seed, 100 + seed, ties=seed % 2 == 0, strata=3)
    result = match(df, spec, "distance")
    expected = brute_force(
        df["distance"].to_numpy(), df["treated"].to_numpy(), spec, _strata(df, spec)
    )
    got = result_sets(result)
    if spec.replace or spec.method == "radius":
        assert same_sets(got, expected)
    else:
        assert got == expected  # also the order in which each set was filled


def test_heavy_ties_follow_data_order():
    # every control at the same distance: the earliest rows win, in the matching order
    df = pd.DataFrame({"treated": [0, 1, 0, 0, 1, 0], "distance": [0.5, 0.6, 0.5, 0.5, 0.4, 0.5]})
    result = match(df, MatchSpec(distance="score", order="largest"), "distance")
    assert result_sets(result) == {1: [0], 4: [2]}
    # equidistant on both sides: the earlier row wins whichever side it is on
    df = pd.DataFrame({"treated": [0, 1, 0], "distance": [0.75, 0.5, 0.25]})
    assert result_sets(match(df, MatchSpec(distance="score"), "distance")) == {1: [0]}
    df = pd.DataFrame({"treated": [0, 1, 0], "distance": [0.25, 0.5, 0.75]})
    assert result_sets(match(df, MatchSpec(distance="score"), "distance")) == {1: [0]}


# --- equivalences ---------------------------------------------------------------------------


def test_caliper_in_sd_equals_caliper_in_raw_units():
    df = make_cohort(60, 300, 3)
    sd_spec = match(df, MatchSpec(caliper=0.2), "distance")
    raw = 0.2 * df["distance"].std(ddof=1)
    raw_spec = match(df, MatchSpec(caliper=raw, caliper_units="raw"), "distance")
    assert sd_spec.caliper == pytest.approx(raw, rel=1e-12)
    assert result_sets(sd_spec) == result_sets(raw_spec)
    np.testing.assert_array_equal(sd_spec.weights, raw_spec.weights)


@pytest.mark.parametrize("replace", [False, True])
def test_exact_matching_equals_matching_each_stratum(replace):
    df = make_cohort(60, 300, 4, ties=True, strata=4)
    spec = MatchSpec(exact=("stratum",), ratio=2, replace=replace)
    joint = result_sets(match(df, spec, "distance"))
    separate: dict[int, list[int]] = {}
    for _, part in df.groupby("stratum"):
        r = match(part, MatchSpec(ratio=2, replace=replace), "distance")
        separate.update(
            {
                int(part.index[t]): [int(part.index[c]) for c in cs]
                for t, cs in result_sets(r).items()
            }
        )
    assert joint == separate


def test_order_is_irrelevant_with_replacement():
    df = make_cohort(40, 100, 5, ties=True)
    results = [
        result_sets(match(df, MatchSpec(replace=True, ratio=2, order=o, seed=1), "distance"))
        for o in ("largest", "smallest", "data", "random", "closest")
    ]
    assert all(r == results[0] for r in results)


def test_distance_given_as_model_column_or_array():
    df = make_cohort(40, 200, 6)
    model = fit_propensity(df, ["age", "sex"])
    spec = MatchSpec(caliper=0.2)
    a = match(df, spec, model)
    b = match(df.assign(lp=model.logit), spec, "lp")
    c = match(df, spec, np.asarray(model.logit))
    assert result_sets(a) == result_sets(b) == result_sets(c)
    score = match(df, MatchSpec(distance="score"), model)
    np.testing.assert_array_equal(score.distance, model.score)


def test_radius_is_replacement_matching_with_every_control_in_the_caliper():
    df = make_cohort(30, 200, 8)
    rad = match(df, MatchSpec(method="radius", caliper=0.1, replace=True), "distance")
    big_k = match(df, MatchSpec(ratio=200, replace=True, caliper=0.1), "distance")
    assert same_sets(result_sets(rad), result_sets(big_k))
    np.testing.assert_allclose(rad.weights, big_k.weights)


# --- weights, subclass and pairs ------------------------------------------------------------


def test_weights_by_hand():
    # two treated share the nearest control with replacement: it gets 1/1 + 1/2, the other 1/2
    df = pd.DataFrame({"treated": [1, 1, 0, 0, 0], "distance": [0.1, 0.2, 0.15, 0.26, 0.9]})
    r = match(
        df,
        MatchSpec(distance="score", replace=True, ratio=2, caliper=0.12, caliper_units="raw"),
        "distance",
    )
    assert result_sets(r) == {0: [2], 1: [2, 3]}
    raw = np.array([0, 0, 1.5, 0.5, 0])
    np.testing.assert_allclose(r.weights, np.array([1, 1, 0, 0, 0]) + raw * 2 / 2.0)
    assert r.subclass.tolist() == [1, 2, -1, -1, -1]
    frame = r.get_matches(ids=np.array(list("abcde")))
    assert frame.to_dict("list") == {
        "subclass": [1, 1, 2, 2, 2],
        "unit": ["a", "c", "b", "c", "d"],
        "treated": [1, 0, 1, 0, 0],
        "weight": [1.0, 1.0, 1.0, 0.5, 0.5],
    }


def test_frame_has_nullable_subclass():
    df = pd.DataFrame({"treated": [1, 0, 0], "distance": [0.5, 0.4, 0.9]})
    r = match(df, MatchSpec(distance="score"), "distance")
    f = r.frame(index=["x", "y", "z"])
    assert f["subclass"].dtype == "Int64"
    assert f["subclass"].isna().tolist() == [False, False, True]
    assert f["weight"].tolist() == [1.0, 1.0, 0.0]
    assert len(r.pairs) == 1 and r.pairs.subclass.tolist() == [1]


def test_result_arrays_are_read_only():
    r = match(make_cohort(10, 30, 1), MatchSpec(), "distance")
    with pytest.raises(ValueError):
        r.weights[0] = 5.0


# --- variable ratio -------------------------------------------------------------------------


def test_variable_ratio_allocation_by_hand():
    # 4 treated, 2.5 controls on average between 1 and 4: m = 10, kmax = floor(7/3) = 2,
    # kmin = 1, kmed = 10 - (1 + 8) = 1 -> allocation (1, 1, 4, 4) from the highest distance
    d = np.array([0.9, 0.5, 0.7, 0.3])
    ratios = variable_ratios(d, mean_control=0.2, ratio=2.5, min_controls=1, max_controls=4)
    assert ratios.tolist() == [1, 4, 1, 4]
    assert ratios.sum() == 10


# --- describe -------------------------------------------------------------------------------


def test_describe_texts():
    df = make_cohort(30, 120, 2, strata=2)
    r = match(df.assign(sex=df["sex"]), MatchSpec(caliper=0.2, exact=("sex",)), "distance")
    assert r.describe() == (
        "1:1 nearest-neighbour matching without replacement on the logit of the propensity "
        f"score, largest score first, caliper 0.2 SD of the logit ({r.caliper:.4g} on that "
        "scale); exact on sex"
    )
    r = match(
        df, MatchSpec(method="radius", caliper=0.1, replace=True, distance="logit"), "distance"
    )
    assert r.describe().startswith("Radius matching on the logit of the propensity score: every ")
    r = match(df, MatchSpec(ratio=3, max_controls=5, replace=True), "distance")
    assert r.describe().startswith(
        "Variable-ratio (1 to 5 controls, 3 on average) nearest-neighbour"
    )
    r = match(df, MatchSpec(ratio=10, replace=True, order="random", seed=3), "distance")
    assert r.describe() == (
        "1:10 nearest-neighbour matching with replacement on the logit of the propensity "
        "score, each treated person matched independently, no caliper"
    )
    assert "of 30 treated people matched to" in r.summary()


# --- edge cases -----------------------------------------------------------------------------


def test_empty_and_one_sided_cohorts():
    spec = MatchSpec()
    empty = pd.DataFrame(
        {"treated": pd.Series([], dtype=int), "distance": pd.Series([], dtype=float)}
    )
    with pytest.raises(MatchingError, match="the cohort is empty"):
        match(empty, spec, "distance")
    with pytest.raises(MatchingError, match="no treated people"):
        match(pd.DataFrame({"treated": [0, 0], "distance": [0.1, 0.2]}), spec, "distance")
    with pytest.raises(MatchingError, match="no comparison records"):
        match(pd.DataFrame({"treated": [1, 1], "distance": [0.1, 0.2]}), spec, "distance")


def test_nothing_within_the_caliper():
    df = pd.DataFrame({"treated": [1, 0], "distance": [0.1, 0.9]})
    with pytest.raises(MatchingError, match="no treated person could be matched") as err:
        match(df, MatchSpec(caliper=0.1, caliper_units="raw"), "distance")
    assert "Widen the caliper" in str(err.value)


def test_stratum_without_controls_leaves_its_treated_unmatched():
    df = pd.DataFrame(
        {"treated": [1, 1, 0, 0], "distance": [0.1, 0.2, 0.3, 0.4], "sex": ["F", "M", "F", "F"]}
    )
    r = match(df, MatchSpec(exact=("sex",)), "distance")
    assert result_sets(r) == {0: [2]} and r.n_treated_unmatched == 1


@pytest.mark.parametrize(
    ("frame", "kwargs", "text"),
    [
        (
            pd.DataFrame({"treated": [1, 0], "distance": [0.1, np.nan]}),
            {},
            "missing or infinite for 1 rows",
        ),
        (
            pd.DataFrame({"treated": [1, 0], "distance": [0.1, 2.0]}),
            {"distance": "score"},
            "outside [0, 1]",
        ),
        (
            pd.DataFrame({"treated": [1, 0], "distance": [0.1, 0.2]}),
            {"exact": ("sex",)},
            "`sex` is not in",
        ),
        (
            pd.DataFrame({"treated": [1, 0], "distance": [0.1, 0.2], "sex": ["F", None]}),
            {"exact": ("sex",)},
            "missing values",
        ),
        (pd.DataFrame({"treated": [1, 2], "distance": [0.1, 0.2]}), {}, "must be 0/1"),
        (
            pd.DataFrame({"treated": [1, 0], "distance": [0.1, 0.1]}),
            {"caliper": 0.2},
            "distance that varies",
        ),
    ],
)
def test_input_errors(frame, kwargs, text):
    with pytest.raises(MatchingError) as err:
        match(frame, MatchSpec(**kwargs), "distance")
    assert text in str(err.value)


def test_distance_length_must_match():
    with pytest.raises(MatchingError, match="3 values for 2 cohort rows"):
        match(pd.DataFrame({"treated": [1, 0]}), MatchSpec(), [0.1, 0.2, 0.3])


def test_all_controls_used_up_without_replacement():
    df = make_cohort(30, 10, 9)
    r = match(df, MatchSpec(ratio=2), "distance")
    check_invariants(r)
    assert r.n_control_matched == 10 and r.n_treated_matched == 10


# --- scale ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replace", "order"), list(itertools.product([False, True], ["largest", "closest"]))
)
def test_large_pool_is_fast_and_correct(replace, order):
    rng = np.random.default_rng(0)
    n0 = 200_000
    d = np.r_[rng.normal(0.5, 1, 1000), rng.normal(0, 1, n0)]
    df = pd.DataFrame({"treated": np.r_[np.ones(1000, int), np.zeros(n0, int)], "distance": d})
    r = match(df, MatchSpec(ratio=2, replace=replace, order=order, caliper=0.2), "distance")
    assert r.n_treated_matched == 1000
    sample = result_sets(r)
    # spot-check ten treated people against exhaustive search for their first control
    if replace:
        c = np.flatnonzero(df["treated"].to_numpy() == 0)
        for t in list(sample)[:10]:
            best = c[np.lexsort((c, np.abs(d[t] - d[c])))][:2]
            assert sample[t] == best.tolist()


def test_ties_order_helper_equals_a_stable_sort():
    rng = np.random.default_rng(3)
    for values in (rng.integers(0, 5, 1000).astype(float), rng.normal(size=1000)):
        expected = np.argsort(values, kind="stable")
        np.testing.assert_array_equal(_order_with_ties_by_row(values), expected)
