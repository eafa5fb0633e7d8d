"""Rosenbaum bounds against hand-computed binomial bounds and brute-force enumeration; E-values
against VanderWeele & Ding's (2017) worked example."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from _estimate_fixtures import make_estimate, simulated_matched
from helpers.errors import ModelError
from helpers.sensitivity import (
    e_value,
    e_value_for,
    matched_sets,
    rosenbaum_bounds,
    worst_case_p_value,
)


def _pairs(treated_only: int, control_only: int, both: int = 10, neither: int = 30):
    """1:1 pairs: discordant pairs where only the treated / only the control reoffended."""
    outcomes = (
        [(1, 0)] * treated_only + [(0, 1)] * control_only + [(1, 1)] * both + [(0, 0)] * neither
    )
    rows = []
    for s, (yt, yc) in enumerate(outcomes):
        rows += [(f"T{s}", 1, s, yt), (f"C{s}", 0, s, yc)]
    data = pd.DataFrame(rows, columns=["pid", "treated", "subclass", "reoffended"])
    return data.assign(weight=1.0)


def _binom_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k + 1))


def test_one_to_one_bound_is_the_mcnemar_binomial_by_hand():
    data = _pairs(treated_only=4, control_only=16)
    sets = matched_sets(data)
    assert worst_case_p_value(sets, 1.0) == pytest.approx(6196 / 2**20)  # P(Bin(20, ½) ≤ 4)
    assert worst_case_p_value(sets, 2.0) == pytest.approx(_binom_cdf(4, 20, 1 / 3))
    res = rosenbaum_bounds(data)
    assert (res.direction, res.statistic, res.n_informative, res.n_sets) == ("lower", 4, 20, 60)
    assert res.method.startswith("exact McNemar") and not res.approximate


def test_gamma_star_solves_the_binomial_bound_at_alpha_over_two():
    data = _pairs(treated_only=4, control_only=16)
    lo, hi = 1.0, 10.0  # bisection on the hand formula, independent of the module
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _binom_cdf(4, 20, 1 / (1 + mid)) <= 0.025 else (lo, mid)
    res = rosenbaum_bounds(data)
    assert res.gamma_star == pytest.approx(lo, abs=1e-5)
    assert res.gamma_star == pytest.approx(1.29, abs=0.005)
    ps = [p for _, p in res.table]
    assert ps == sorted(ps)  # the worst case worsens as Γ grows


def _brute_force(sets: pd.DataFrame, gamma: float, direction: str) -> float:
    """Enumerate who is treated in each informative set under the worst-case hidden bias."""
    groups = [g.y.to_numpy() for _, g in sets.groupby("set") if 0 < g.y.sum() < len(g)]
    t_obs = sum(
        g.loc[g.t == 1, "y"].item() for _, g in sets.groupby("set") if 0 < g.y.sum() < len(g)
    )
    u_of = (lambda y: y) if direction == "higher" else (lambda y: 1 - y)
    total = 0.0
    for choice in itertools.product(*[range(len(y)) for y in groups]):
        prob, t = 1.0, 0
        for y, i in zip(groups, choice, strict=True):
            odds = gamma ** u_of(y)
            prob *= odds[i] / odds.sum()
            t += y[i]
        total += prob * (t <= t_obs if direction == "lower" else t >= t_obs)
    return total


@pytest.mark.parametrize(("gamma", "direction"), [(1.0, "lower"), (1.7, "lower"), (1.4, "higher")])
def test_one_to_k_bound_equals_brute_force(gamma, direction):
    y = [(0, 1, 1), (0, 1, 0), (1, 0, 0), (0, 0, 1), (0, 1, 1), (1, 1, 0), (0, 0, 0)]
    rows = [(f"{s}-{j}", int(j == 0), s, v) for s, ys in enumerate(y) for j, v in enumerate(ys)]
    data = pd.DataFrame(rows, columns=["pid", "treated", "subclass", "reoffended"])
    sets = matched_sets(data.assign(weight=1.0))
    assert worst_case_p_value(sets, gamma, direction) == pytest.approx(
        _brute_force(sets, gamma, direction)
    )


def test_not_significant_result_has_no_gamma_star():
    res = rosenbaum_bounds(_pairs(treated_only=9, control_only=11))
    assert res.gamma_star is None and res.table[0][1] > 0.025
    assert json.dumps(res.to_dict(), allow_nan=False)


def test_harmful_direction_and_beyond_max():
    res = rosenbaum_bounds(_pairs(treated_only=40, control_only=0), gamma_max=5.0)
    assert res.direction == "higher" and res.beyond_max and res.gamma_star == 5.0


def test_with_replacement_sets_are_flagged_approximate():
    matched, pairs = simulated_matched(150, -0.15, seed=2, k=2, replace=True)
    res = rosenbaum_bounds(matched, pairs=pairs)
    assert res.approximate and "Poisson-binomial" in res.method
    assert "Rosenbaum bounds" in res.summary()


def test_sets_need_exactly_one_treated_person_and_a_binary_outcome():
    data = _pairs(3, 10)
    data.loc[1, "treated"] = 1
    with pytest.raises(ModelError, match="exactly one treated"):
        rosenbaum_bounds(data)
    with pytest.raises(ModelError, match="not 0/1"):
        rosenbaum_bounds(_pairs(3, 10).assign(count=2), "count")
    matched, _ = simulated_matched(50, seed=3, replace=True)
    with pytest.raises(ModelError, match="pairs="):
        rosenbaum_bounds(matched.assign(subclass=np.nan))


def test_e_value_worked_example_of_vanderweele_and_ding():
    # Their worked example: RR 3.9 (95% CI 1.8 to 8.7); E-values 3.9 + sqrt(3.9 * 2.9) = 7.26
    # for the estimate and 1.8 + sqrt(1.8 * 0.8) = 3.0 for the lower limit (also EValue's
    # evalues.RR(3.9) = 7.263034).
    ev = e_value(3.9, 1.8, 8.7)
    assert ev.point == pytest.approx(7.263034, abs=1e-6)
    assert ev.ci == pytest.approx(3.0)


def test_e_value_for_protective_ratios_and_intervals_containing_one():
    ev = e_value(0.8, 0.65, 0.98)
    assert ev.point == pytest.approx(1.25 + math.sqrt(1.25 * 0.25))  # 1/0.8 = 1.25
    assert ev.ci == pytest.approx(1 / 0.98 + math.sqrt(1 / 0.98 * (1 / 0.98 - 1)))
    assert e_value(0.8, 0.6, 1.1).ci == 1.0
    assert math.isnan(e_value(1.3).ci)
    with pytest.raises(ModelError, match="positive, finite"):
        e_value(0.0)


def test_e_value_for_an_estimate_uses_its_ratio():
    est = make_estimate("rate")
    est = replace(est, ratio=0.75, ratio_ci_low=0.6, ratio_ci_high=0.9)
    assert e_value_for(est).point == pytest.approx(e_value(0.75).point)
