"""Sensitivity to hidden bias: how strong would an unmeasured difference have to be?

Matching removes differences in what was measured; it cannot remove differences in what was
not, such as motivation (reference §7). Two standard answers are given.

**Rosenbaum bounds** (Rosenbaum 2002, *Observational Studies*, 2nd ed., ch. 4) for the
matched binary outcome. Γ ≥ 1 bounds how much more likely one of two people in the same
matched set could have been to join the programme because of something unmeasured. For each
Γ the worst-case p-value of the matched test of no effect is computed; the result is sensitive
at the Γ where that p-value crosses the significance level.

* Each matched set holds one treated person. A set is informative only when its outcomes are
  mixed (1:1: a discordant pair). Given the number of reoffenders m in a set of size n, the
  chance that the treated person is a reoffender lies between m / (m + Γ(n − m)) and
  Γm / (Γm + n − m); these bounds are attained (they are the separable bounds of Gastwirth,
  Krieger & Rosenbaum 2000, *JRSS B* 62:545, which for a binary outcome with one treated
  person per set are exact, not approximate). The statistic T — treated reoffenders in
  informative sets — is a sum of independent Bernoulli variables, and its worst-case
  distribution is the Poisson-binomial with all sets at the bound, computed exactly here.
* For 1:1 pairs this is the McNemar sign test's bound: T ~ Binomial(D, 1/(1 + Γ)) over the D
  discordant pairs (Rosenbaum 2002 §4.3.2).
* The test is one-sided in the direction of the observed difference at level α/2, which
  matches the JDL's two-sided 5% test: Γ* is where the worst-case p-value reaches 0.025.
* With matching with replacement the stacked sets share controls and are not independent;
  the bound is then an approximation and says so (``approximate``).

**E-values** (VanderWeele & Ding 2017, *Ann Intern Med* 167:268): the minimum strength of
association, on the risk ratio scale, that an unmeasured confounder would need with both
joining the programme and reoffending, above the measured covariates, to explain away the
observed risk ratio (and for its confidence limit closest to 1, to make it non-significant).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from helpers.errors import ModelError
from helpers.measures import (
    DEFAULT_COLUMNS,
    Columns,
    analysis_frame,
    complete_sets,
    jsonable,
    render_text,
)

__all__ = [
    "EValue",
    "RosenbaumBounds",
    "e_value",
    "e_value_for",
    "matched_sets",
    "rosenbaum_bounds",
    "worst_case_p_value",
]

log = logging.getLogger(__name__)

DEFAULT_GAMMAS = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0, 2.5, 3.0)


def matched_sets(
    matched: pd.DataFrame,
    outcome: str = "reoffended",
    *,
    pairs: pd.DataFrame | None = None,
    cols: Columns = DEFAULT_COLUMNS,
) -> pd.DataFrame:
    """One row per person per matched set: ``set``, ``t``, ``y`` (0/1), ``unit``."""
    pos = matched[matched[cols.weight] > 0] if cols.weight in matched else matched
    if pairs is None and not complete_sets(pos, cols):
        raise ModelError(
            "Rosenbaum bounds need matched sets, but the subclass column is incomplete",
            fix="Pass pairs=<match/pairs.parquet> (the stacked matched sets).",
        )
    frame, _ = analysis_frame(matched, outcome, pairs=pairs, cols=cols)
    if not frame["y"].isin([0, 1]).all():
        raise ModelError(f"Rosenbaum bounds here need a 0/1 outcome; {outcome!r} is not 0/1")
    treated_per_set = frame.groupby("set")["t"].sum()
    if (treated_per_set != 1).any():
        raise ModelError(
            f"{int((treated_per_set != 1).sum())} matched sets do not hold exactly one treated "
            "person; these bounds are for one treated person per set (nearest/radius matching)"
        )
    return frame[["set", "t", "y", "unit"]]


def _set_summary(sets: pd.DataFrame) -> pd.DataFrame:
    """Per informative set: size n, reoffenders m, treated person's outcome."""
    g = sets.groupby("set")
    out = pd.DataFrame(
        {"n": g.size(), "m": g["y"].sum(), "yt": sets[sets["t"] == 1].set_index("set")["y"]}
    )
    return out[(out["m"] > 0) & (out["m"] < out["n"])]


def _poisson_binomial(groups: pd.DataFrame, prob) -> np.ndarray:
    """pmf of T: sets with the same (n, m) share one probability, so convolve binomials."""
    pmf = np.ones(1)
    for (n, m), count in groups.value_counts(["n", "m"]).items():
        pmf = np.convolve(pmf, stats.binom.pmf(np.arange(count + 1), count, prob(n, m)))
    return pmf


def _direction(info: pd.DataFrame) -> str:
    expected = float((info["m"] / info["n"]).sum())
    return "lower" if info["yt"].sum() < expected else "higher"


def worst_case_p_value(sets: pd.DataFrame, gamma: float, direction: str | None = None) -> float:
    """Largest one-sided p-value of no effect over all hidden biases of strength ≤ ``gamma``.

    ``direction`` "lower" tests whether the treated reoffend less than chance would give
    (default: the observed direction).
    """
    info = _set_summary(sets)
    if info.empty:
        return 1.0
    direction = direction or _direction(info)
    t_obs = int(info["yt"].sum())
    if direction == "lower":
        pmf = _poisson_binomial(info, lambda n, m: m / (m + gamma * (n - m)))
        return float(min(pmf[: t_obs + 1].sum(), 1.0))
    pmf = _poisson_binomial(info, lambda n, m: gamma * m / (gamma * m + n - m))
    return float(min(pmf[t_obs:].sum(), 1.0))


def _gamma_star(p_at, level: float, gamma_max: float) -> tuple[float | None, bool]:
    """The Γ where the worst-case p-value reaches ``level`` (None if it starts above it), and
    whether the result is still significant at ``gamma_max``. p(Γ) rises continuously in Γ."""
    if p_at(1.0) > level:
        return None, False
    if p_at(gamma_max) <= level:
        return gamma_max, True
    return float(optimize.brentq(lambda g: p_at(g) - level, 1.0, gamma_max, xtol=1e-6)), False


@dataclass(frozen=True)
class RosenbaumBounds:
    """Sensitivity of the matched binary outcome to hidden bias.

    Attributes
    ----------
    outcome, direction
        The 0/1 outcome column; "lower" when the treatment group reoffended less.
    statistic, expected
        Treated people with the outcome in informative sets, and its expectation with no bias.
    n_sets, n_informative
        Matched sets, and those with mixed outcomes (discordant pairs for 1:1).
    alpha
        Two-sided level; each bound is one-sided at ``alpha / 2``.
    gamma_star
        The Γ at which the result stops being significant; None when it is not significant
        even with no hidden bias (Γ = 1); equal to ``gamma_max`` when it is still
        significant there (``beyond_max``).
    table
        (Γ, worst-case p-value) pairs.
    method, approximate
        Which bound was used; True when sets share controls (matching with replacement).
    """

    outcome: str
    direction: str
    statistic: int
    expected: float
    n_sets: int
    n_informative: int
    alpha: float
    gamma_star: float | None
    gamma_max: float
    beyond_max: bool
    table: tuple[tuple[float, float], ...]
    method: str
    approximate: bool

    def to_dict(self) -> dict:
        return jsonable(self.__dict__ | {"table": [list(r) for r in self.table]})

    def summary(self) -> str:
        rows = [("Γ*", self.gamma_star), ("Direction", self.direction), ("Method", self.method)]
        rows += [(f"worst-case p at Γ = {g:g}", p) for g, p in self.table]
        return render_text("Rosenbaum bounds", rows)


def rosenbaum_bounds(
    matched: pd.DataFrame,
    outcome: str = "reoffended",
    *,
    pairs: pd.DataFrame | None = None,
    cols: Columns = DEFAULT_COLUMNS,
    alpha: float = 0.05,
    gammas: Sequence[float] = DEFAULT_GAMMAS,
    gamma_max: float = 20.0,
) -> RosenbaumBounds:
    """Rosenbaum bounds for a 0/1 outcome over matched sets (see the module docstring)."""
    sets = matched_sets(matched, outcome, pairs=pairs, cols=cols)
    info = _set_summary(sets)
    direction = _direction(info) if len(info) else "lower"
    p_at = lambda g: worst_case_p_value(sets, g, direction)  # noqa: E731
    gamma_star, beyond = _gamma_star(p_at, alpha / 2, gamma_max)
    sizes = sets.groupby("set").size()
    one_to_one = bool((sizes == 2).all())
    method = (
        "exact McNemar sign-test bound over discordant pairs"
        if one_to_one
        else "exact Poisson-binomial bound over 1:k matched sets"
    )
    approximate = bool(sets["unit"].duplicated().any())
    if approximate:
        log.warning("Rosenbaum bounds: matched sets share controls, the bound is approximate")
    return RosenbaumBounds(
        outcome,
        direction,
        int(info["yt"].sum()),
        float((info["m"] / info["n"]).sum()),
        int(sizes.size),
        len(info),
        alpha,
        gamma_star,
        gamma_max,
        beyond,
        tuple((float(g), p_at(g)) for g in gammas),
        method,
        approximate,
    )


@dataclass(frozen=True)
class EValue:
    """E-values for a risk ratio (VanderWeele & Ding 2017).

    Attributes
    ----------
    risk_ratio, ci_low, ci_high
        The observed ratio and its confidence interval.
    point
        E-value for the point estimate.
    ci
        E-value for the confidence limit closest to 1 (1 when the interval contains 1).
    """

    risk_ratio: float
    ci_low: float
    ci_high: float
    point: float
    ci: float

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


def _e(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return rr + math.sqrt(rr * (rr - 1))


def e_value(rr: float, ci_low: float = math.nan, ci_high: float = math.nan) -> EValue:
    """E-value of a risk ratio and of its confidence limit closest to 1.

    E = RR + √(RR·(RR − 1)) for RR ≥ 1, with RR replaced by 1/RR below 1.
    """
    if not (rr > 0 and math.isfinite(rr)):
        raise ModelError(f"an E-value needs a positive, finite risk ratio (got {rr})")
    limit = ci_low if rr >= 1 else ci_high
    if not math.isfinite(limit):
        ci = math.nan
    elif (rr >= 1 and limit <= 1) or (rr < 1 and limit >= 1):
        ci = 1.0
    else:
        ci = _e(limit)
    return EValue(rr, ci_low, ci_high, _e(rr), ci)


def e_value_for(estimate) -> EValue:
    """E-value of an :class:`helpers.estimate.EffectEstimate`'s ratio (risk ratio for rates)."""
    return e_value(estimate.ratio, estimate.ratio_ci_low, estimate.ratio_ci_high)
