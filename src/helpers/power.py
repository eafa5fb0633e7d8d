"""Statistical power: what a cohort this size can detect, and how many people a result needs.

Most JDL findings were inconclusive because cohorts of 60–200 people lack power (reference
§7). Two questions are answered here, both with ``statsmodels.stats.power``:

* **Before the results** — :func:`minimum_detectable_effect`: the smallest true difference the
  analysis would detect with the given power (80%) at the JDL's 5% two-sided level, given the
  treatment group's size, the comparison group's *effective* size and the comparison group's
  value (e.g. its reoffending rate).
* **After a non-significant result** — :func:`people_needed`: how many people in the treatment
  group (with a comparison group of the same relative effective size) would be needed to detect
  the observed difference with 80% power; the number behind the JDL's sentence "more people
  would need to be analysed".

Rates use Cohen's arcsine effect size h = 2·asin√p₁ − 2·asin√p₀ with the normal test
(``NormalIndPower``; Cohen 1988 ch. 6); frequencies and days use the standardised difference
d = Δ / SD with the two-sample t-test (``TTestIndPower``).

Weighting: the comparison group enters through its Kish effective sample size
(Σw)²/Σw², the number of unweighted people carrying the same information, so a comparison
group of 1,000 matched people whose weights are very uneven counts for less. Treatment-group
weights are all 1. The matched-pair correlation is ignored, which errs on the side of needing
more people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from helpers.errors import CohortError, ParamsError
from helpers.measures import DEFAULT_COLUMNS, Columns, jsonable, render_html, render_text

__all__ = [
    "PowerResult",
    "effective_sizes",
    "minimum_detectable_effect",
    "people_needed",
    "people_needed_for",
]


@dataclass(frozen=True)
class PowerResult:
    """The answer to a power question.

    Attributes
    ----------
    question
        ``"minimum detectable effect"`` or ``"people needed"``.
    kind
        ``"proportion"`` (Cohen's h, normal test) or ``"mean"`` (Cohen's d, t-test).
    alpha, power
        Two-sided significance level and power.
    n_treatment, n_comparison
        Treatment-group people and comparison-group effective size (given, or needed).
    baseline
        The comparison group's value (rate or mean).
    effect_size
        h or d: the detectable one (first question) or the observed one (second).
    detectable_lower, detectable_higher
        Minimum detectable differences below and above the baseline (first question; a rate
        difference, or a difference in the measure's units); NaN for the second question.
    difference
        The observed difference the second question is about (NaN for the first).
    sd
        Standard deviation per person used for means (NaN for rates).
    """

    question: str
    kind: str
    alpha: float
    power: float
    n_treatment: float
    n_comparison: float
    baseline: float
    effect_size: float
    detectable_lower: float = math.nan
    detectable_higher: float = math.nan
    difference: float = math.nan
    sd: float = math.nan

    @property
    def n_total(self) -> float:
        return self.n_treatment + self.n_comparison

    def to_dict(self) -> dict:
        return jsonable(self.__dict__ | {"n_total": self.n_total})

    def _rows(self):
        return [(k, v) for k, v in self.__dict__.items() if k != "question"]

    def summary(self) -> str:
        return render_text(f"Power: {self.question}", self._rows())

    def _repr_html_(self) -> str:
        return render_html(f"Power: {self.question}", self._rows())


def _check(alpha: float, power: float, kind: str, sd: float | None) -> None:
    problems = []
    if not 0 < alpha < 1:
        problems.append(f"alpha must be between 0 and 1 (got {alpha}); the JDL uses 0.05")
    if not 0 < power < 1:
        problems.append(f"power must be between 0 and 1 (got {power}); 0.8 is usual")
    if kind not in ("proportion", "mean"):
        problems.append(f"kind must be 'proportion' or 'mean' (got {kind!r})")
    if kind == "mean" and not (sd is not None and sd > 0):
        problems.append(f"sd must be a positive standard deviation for means (got {sd})")
    if problems:
        raise ParamsError(problems)


def _arcsine(p: float) -> float:
    return 2 * math.asin(math.sqrt(min(max(p, 0.0), 1.0)))


def minimum_detectable_effect(
    n_treatment: float,
    n_comparison: float,
    baseline: float,
    *,
    kind: str = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> PowerResult:
    """Smallest true difference from ``baseline`` detectable with ``power`` (two-sided test).

    ``n_comparison`` should be the comparison group's effective sample size
    (:func:`effective_sizes`). For rates the answer is converted from h back to rates:
    p₁ = sin²(asin√p₀ ∓ h/2), reported as differences p₁ − p₀ below and above the baseline.
    """
    _check(alpha, power, kind, sd)
    if min(n_treatment, n_comparison) < 2:
        raise CohortError(
            f"a power calculation needs at least 2 people per group "
            f"(got {n_treatment:g} and {n_comparison:g})"
        )
    engine = NormalIndPower() if kind == "proportion" else TTestIndPower()
    es = float(
        engine.solve_power(
            nobs1=n_treatment, ratio=n_comparison / n_treatment, alpha=alpha, power=power
        )
    )
    if kind == "proportion":
        half = math.asin(math.sqrt(baseline))
        lower = math.sin(max(half - es / 2, 0.0)) ** 2 - baseline
        higher = math.sin(min(half + es / 2, math.pi / 2)) ** 2 - baseline
    else:
        lower, higher = -es * sd, es * sd
    return PowerResult(
        "minimum detectable effect",
        kind,
        alpha,
        power,
        n_treatment,
        n_comparison,
        baseline,
        es,
        lower,
        higher,
        sd=sd or math.nan,
    )


def people_needed(
    treatment_value: float,
    comparison_value: float,
    *,
    ratio: float = 1.0,
    kind: str = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> PowerResult:
    """People in the treatment group needed to detect the observed difference with ``power``.

    ``ratio`` is the comparison group's effective size per treatment-group person (keep the
    study's own ratio). Returns ``n_treatment = inf`` when the two values are equal.
    """
    _check(alpha, power, kind, sd)
    if kind == "proportion":
        es = abs(_arcsine(treatment_value) - _arcsine(comparison_value))
        engine = NormalIndPower()
    else:
        es, engine = abs(treatment_value - comparison_value) / sd, TTestIndPower()
    n1 = math.inf
    if es > 1e-12:
        n1 = math.ceil(engine.solve_power(effect_size=es, ratio=ratio, alpha=alpha, power=power))
    return PowerResult(
        "people needed",
        kind,
        alpha,
        power,
        n1,
        ratio * n1,
        comparison_value,
        es,
        difference=treatment_value - comparison_value,
        sd=sd or math.nan,
    )


def people_needed_for(estimate, *, power: float = 0.8) -> PowerResult:
    """:func:`people_needed` for an :class:`helpers.estimate.EffectEstimate`.

    Uses the estimate's comparison effective size per treatment-group person as the ratio and,
    for frequencies and days, the pooled weighted SD of the two groups.
    """
    t, c = estimate.treatment, estimate.comparison
    kind = "proportion" if estimate.measure.kind == "proportion" else "mean"
    sd = None
    if kind == "mean":
        sd = math.sqrt(((t.n - 1) * t.sd**2 + (c.ess - 1) * c.sd**2) / (t.n + c.ess - 2))
    return people_needed(
        t.value,
        c.value,
        ratio=c.ess / t.n,
        kind=kind,
        sd=sd,
        alpha=round(1 - estimate.conf_level, 10),
        power=power,
    )


def effective_sizes(matched: pd.DataFrame, cols: Columns = DEFAULT_COLUMNS) -> tuple[int, float]:
    """(treatment-group people, comparison-group Kish effective size) of a matched sample."""
    pos = matched[matched[cols.weight] > 0]
    w = pos.loc[pos[cols.treatment] == 0, cols.weight].to_numpy(float)
    ess = float(w.sum() ** 2 / np.sum(w**2)) if len(w) else 0.0
    return int((pos[cols.treatment] == 1).sum()), ess
