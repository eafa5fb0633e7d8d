"""Minimum detectable effects and the people needed, against closed forms and simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from _estimate_fixtures import group, make_estimate, simulated_matched
from helpers.errors import CohortError, ParamsError
from helpers.power import (
    effective_sizes,
    minimum_detectable_effect,
    people_needed,
    people_needed_for,
)

Z = norm.ppf(0.975) + norm.ppf(0.8)  # 1.96 + 0.84


def test_mde_for_rates_matches_the_closed_form():
    res = minimum_detectable_effect(100, 300, 0.40)
    h = Z * math.sqrt(1 / 100 + 1 / 300)  # Cohen (1988) ch. 6, ignoring the far tail
    assert res.effect_size == pytest.approx(h, rel=1e-3)
    below = 2 * math.asin(math.sqrt(0.40 + res.detectable_lower)) - 2 * math.asin(math.sqrt(0.40))
    above = 2 * math.asin(math.sqrt(0.40 + res.detectable_higher)) - 2 * math.asin(math.sqrt(0.40))
    assert below == pytest.approx(-res.effect_size) and above == pytest.approx(res.effect_size)
    assert -0.20 < res.detectable_lower < -0.14  # about 17 points for a cohort of 100


def test_mde_shrinks_with_more_people_and_with_a_larger_effective_comparison_group():
    small = minimum_detectable_effect(60, 60, 0.3).detectable_lower
    big = minimum_detectable_effect(600, 600, 0.3).detectable_lower
    wide = minimum_detectable_effect(60, 600, 0.3).detectable_lower
    assert abs(big) < abs(wide) < abs(small)


def test_mde_for_means_uses_the_t_test():
    res = minimum_detectable_effect(200, 200, 1.5, kind="mean", sd=2.0)
    assert res.effect_size == pytest.approx(Z * math.sqrt(2 / 200), rel=5e-3)
    assert res.detectable_higher == pytest.approx(res.effect_size * 2.0)


def test_people_needed_matches_the_closed_form():
    res = people_needed(0.30, 0.35, ratio=2.0)
    h = abs(2 * math.asin(math.sqrt(0.30)) - 2 * math.asin(math.sqrt(0.35)))
    assert res.n_treatment == math.ceil(Z**2 * (1 + 1 / 2.0) / h**2)
    assert res.n_comparison == pytest.approx(2.0 * res.n_treatment)
    assert res.difference == pytest.approx(-0.05)
    assert json.dumps(res.to_dict(), allow_nan=False)


def test_people_needed_gives_80_percent_power_by_simulation():
    res = people_needed(0.30, 0.38)
    n = int(res.n_treatment)
    rng = np.random.default_rng(0)
    p1 = rng.binomial(n, 0.30, 4000) / n
    p0 = rng.binomial(n, 0.38, 4000) / n
    pooled = (p1 + p0) / 2
    z = (p1 - p0) / np.sqrt(pooled * (1 - pooled) * 2 / n)
    power = np.mean(np.abs(z) > norm.ppf(0.975))
    assert power == pytest.approx(0.80, abs=0.03)


def test_equal_values_need_infinitely_many_people():
    assert math.isinf(people_needed(0.3, 0.3).n_treatment)


def test_people_needed_for_an_estimate_uses_its_effective_sizes():
    est = make_estimate(
        "rate", (-0.12, 0.02), treatment=group(0.30, n=100), comparison=group(0.35, n=400)
    )
    res = people_needed_for(est)
    direct = people_needed(0.30, 0.35, ratio=400 / 100)
    assert res.n_treatment == direct.n_treatment
    freq = people_needed_for(make_estimate("frequency", (-0.3, 0.1)))
    assert freq.kind == "mean" and freq.sd == pytest.approx(0.4)


def test_effective_sizes_of_a_matched_sample():
    matched, _ = simulated_matched(100, seed=1, k=1, replace=True)
    n, ess = effective_sizes(matched)
    w = matched.loc[matched.treated == 0, "weight"]
    assert n == 100 and ess == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert ess < (matched.treated == 0).sum()  # re-used controls carry less information


def test_bad_arguments_are_collected_and_named():
    with pytest.raises(ParamsError) as err:
        minimum_detectable_effect(100, 100, 0.3, alpha=2, power=80, kind="mean")
    text = str(err.value)
    assert "3 problems" in text and "alpha" in text and "power" in text and "sd" in text
    with pytest.raises(CohortError, match="at least 2 people"):
        minimum_detectable_effect(1, 100, 0.3)
