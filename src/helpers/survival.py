"""Time to first proven reoffence by survival methods, beside the JDL's mean days.

The JDL reports the mean number of days to the first proven reoffence among reoffenders
(measure 3), a summary reviewers criticise (reference §7): it conditions on reoffending, which
the programme may itself change. The standard answer uses everybody, with people who did not
reoffend censored at the end of the one-year follow-up:

* :func:`kaplan_meier` — weighted Kaplan–Meier curves of the share not yet reoffended, per
  group (lifelines). The comparison group's curve uses the matching weights. Pointwise
  intervals use Greenwood's formula with the weights rescaled to sum to the group's Kish
  effective sample size, so that the interval reflects the information the weighted group
  carries (Xie & Liu 2005, *Stat Med* 24:3089); the curve itself does not depend on the scale.
* :func:`cox_hazard_ratio` — weighted Cox proportional hazards model of the hazard of a first
  reoffence on treatment (lifelines ``CoxPHFitter`` with ``weights_col``, Efron ties) with a
  robust sandwich variance clustered on matched sets (Lin & Wei 1989; Austin 2013, *Stat Med*
  32:2837). When controls are re-used (matching with replacement, stacked pairs) the variance
  is two-way clustered on set and person, V = V_set + V_person − V_row (Austin & Cafri 2020,
  *Stat Med* 39:1623; Cameron, Gelbach & Miller 2011). Wald inference on the normal scale, as in
  R's ``survival::coxph``. Parity with ``coxph(..., weights, cluster)``: coefficients agree to
  machine precision; robust SEs agree exactly without tied times and to within about 0.5% with
  tied days, because lifelines' score residuals do not carry Efron's tie correction.

The hazard ratio is gated like the JDL's time to reoffend: at least 30 reoffenders in the
treatment group.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from scipy import stats

from helpers.disclosure import time_to_event_gate
from helpers.errors import ModelError
from helpers.measures import (
    DEFAULT_COLUMNS,
    JDL_THRESHOLDS,
    Columns,
    Gate,
    Thresholds,
    analysis_frame,
    jsonable,
    render_html,
    render_text,
)

__all__ = [
    "CoxEstimate",
    "KaplanMeierResult",
    "SurvivalCurve",
    "cox_hazard_ratio",
    "kaplan_meier",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SurvivalCurve:
    """One group's weighted Kaplan–Meier curve.

    Attributes
    ----------
    group
        ``"treatment"`` or ``"comparison"``.
    timeline, survival, ci_low, ci_high
        Days since the index date; share not yet reoffended; pointwise confidence limits.
    n, events, ess
        People, people who reoffended, and Kish effective sample size of the weights.
    """

    group: str
    timeline: tuple[float, ...]
    survival: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    n: int
    events: int
    ess: float

    def at(self, day: float) -> float:
        """Share not yet reoffended by ``day`` (the step function's value)."""
        i = np.searchsorted(np.asarray(self.timeline), day, side="right") - 1
        return float(self.survival[max(i, 0)])

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class KaplanMeierResult:
    """Weighted Kaplan–Meier curves for both groups (see the module docstring).

    ``gate`` is the JDL's time-to-reoffend rule (≥ 30 treatment-group reoffenders): a step
    curve of a small group reveals individual reoffences, so figures honour it.
    """

    treatment: SurvivalCurve
    comparison: SurvivalCurve
    conf_level: float
    method: str
    gate: Gate

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per group and time."""
        parts = [
            pd.DataFrame(
                {
                    "group": c.group,
                    "day": c.timeline,
                    "survival": c.survival,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                }
            )
            for c in (self.treatment, self.comparison)
        ]
        return pd.concat(parts, ignore_index=True)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "conf_level": self.conf_level,
                "method": self.method,
                "gate": self.gate.to_dict(),
                "treatment": self.treatment.to_dict(),
                "comparison": self.comparison.to_dict(),
            }
        )

    def _rows(self):
        return [
            (
                f"Not reoffended by day {d}",
                f"{self.treatment.at(d):.3f} vs {self.comparison.at(d):.3f}",
            )
            for d in (90, 180, 365)
        ]

    def summary(self) -> str:
        return render_text("Kaplan–Meier: treatment vs comparison", self._rows())

    def _repr_html_(self) -> str:
        return render_html("Kaplan–Meier: treatment vs comparison", self._rows())


def _curve(group: str, frame: pd.DataFrame, conf_level: float) -> SurvivalCurve:
    w = frame["w"].to_numpy(float)
    ess = w.sum() ** 2 / np.sum(w**2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*weights are not integers.*")
        km = KaplanMeierFitter().fit(
            frame["y"], frame["event"], weights=w * ess / w.sum(), alpha=1 - conf_level
        )
    ci = km.confidence_interval_.to_numpy()
    return SurvivalCurve(
        group,
        tuple(km.timeline.astype(float)),
        tuple(km.survival_function_.iloc[:, 0]),
        tuple(ci[:, 0]),
        tuple(ci[:, 1]),
        len(frame),
        int(frame["event"].sum()),
        float(ess),
    )


def kaplan_meier(
    matched: pd.DataFrame,
    *,
    time: str = "time_to_event",
    event: str = "event",
    cols: Columns = DEFAULT_COLUMNS,
    thresholds: Thresholds = JDL_THRESHOLDS,
    conf_level: float = 0.95,
) -> KaplanMeierResult:
    """Weighted Kaplan–Meier curves of time to first proven reoffence for both groups."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the design does not matter for the curves
        frame, _ = analysis_frame(matched, time, cols=cols, extra=[event])
    curves = [
        _curve(g, frame[frame["t"] == t], conf_level)
        for g, t in (("treatment", 1), ("comparison", 0))
    ]
    if min(c.n for c in curves) == 0:
        raise ModelError(
            "one group is empty: Kaplan–Meier curves need both groups",
            fix="Check the treatment column of the matched sample.",
        )
    method = (
        "weighted Kaplan–Meier; Greenwood intervals on the effective sample size (Xie & Liu 2005)"
    )
    group_size = int(((matched[cols.treatment] == 1) & (matched[cols.weight] > 0)).sum())
    gate = time_to_event_gate(
        group_size=group_size, reoffenders=curves[0].events, thresholds=thresholds
    )
    return KaplanMeierResult(*curves, conf_level, method, gate)


@dataclass(frozen=True)
class CoxEstimate:
    """Weighted Cox hazard ratio of a first proven reoffence, treatment vs comparison.

    Attributes
    ----------
    hazard_ratio, ci_low, ci_high
        exp(coefficient) and its confidence interval (below 1: reoffending happens later or
        less often in the treatment group).
    log_hr, std_error, statistic, p_value, conf_level
        The coefficient, its robust SE, Wald z and two-sided p-value.
    n_treatment, n_comparison, events_treatment, events_comparison
        People and reoffenders per group (people, not weighted).
    design, variance, n_clusters
        Variance estimator (clustered on sets, two-way on set and person, or robust on people).
    gate
        PASS when the treatment group has enough reoffenders (the JDL's time-to-reoffend rule).
    """

    hazard_ratio: float
    ci_low: float
    ci_high: float
    log_hr: float
    std_error: float
    statistic: float
    p_value: float
    conf_level: float
    n_treatment: int
    n_comparison: int
    events_treatment: int
    events_comparison: int
    design: str
    variance: str
    n_clusters: int
    gate: Gate

    @property
    def significant(self) -> bool:
        return bool(self.p_value <= 1 - self.conf_level + 1e-12)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "gate"}
        return jsonable(out | {"significant": self.significant, "gate": self.gate.to_dict()})

    def _rows(self):
        return [
            ("Hazard ratio", self.hazard_ratio),
            ("CI", f"[{self.ci_low:.4g}, {self.ci_high:.4g}]"),
            ("p-value", self.p_value),
            (
                "Reoffenders (treatment / comparison)",
                f"{self.events_treatment} / {self.events_comparison}",
            ),
            ("Variance", f"{self.variance}, {self.n_clusters} clusters"),
            ("Gate", f"{self.gate.status} {self.gate.reason}".strip()),
        ]

    def summary(self) -> str:
        return render_text("Cox proportional hazards: time to first proven reoffence", self._rows())

    def _repr_html_(self) -> str:
        return render_html("Cox proportional hazards: time to first proven reoffence", self._rows())


_COX_VARIANCE = {
    "sets": "robust (Lin–Wei) clustered on matched sets",
    "pairs": "robust two-way clustered on matched set and person (stacked matched sets)",
    "units": "robust (Lin–Wei) on people; matched-set correlation ignored",
}


def _cox_variance(data: pd.DataFrame, cluster: str | None) -> tuple[float, float]:
    """Coefficient and robust variance from one lifelines fit (``cluster`` None: by row)."""
    cph = CoxPHFitter()
    kwargs = {"cluster_col": cluster} if cluster else {}
    keep = ["y", "event", "t", "w", *([cluster] if cluster else [])]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph.fit(
                data[keep],
                "y",
                "event",
                weights_col="w",
                robust=True,
                fit_options={"precision": 1e-12},
                **kwargs,
            )
    except (ConvergenceError, ValueError) as exc:
        raise ModelError(
            f"the Cox model of time to first reoffence could not be fitted ({exc})",
            fix="Check that both groups have reoffenders and positive times to event.",
        ) from exc
    # variance_matrix_ is the model-based inverse information; the robust sandwich is only
    # in standard_errors_.
    return float(cph.params_["t"]), float(cph.standard_errors_["t"]) ** 2


def cox_hazard_ratio(
    matched: pd.DataFrame,
    *,
    time: str = "time_to_event",
    event: str = "event",
    pairs: pd.DataFrame | None = None,
    cols: Columns = DEFAULT_COLUMNS,
    thresholds: Thresholds = JDL_THRESHOLDS,
    conf_level: float = 0.95,
) -> CoxEstimate:
    """Weighted Cox hazard ratio with matched-set robust SEs (see the module docstring)."""
    frame, design = analysis_frame(matched, time, pairs=pairs, cols=cols, extra=[event])
    frame = frame.assign(
        t=frame["t"].astype(float),
        set=pd.factorize(frame["set"])[0],
        unit=pd.factorize(frame["unit"])[0],
    )
    if design == "sets":
        beta, var = _cox_variance(frame, "set")
    elif design == "pairs":
        beta, v_set = _cox_variance(frame, "set")
        v_unit, v_row = _cox_variance(frame, "unit")[1], _cox_variance(frame, None)[1]
        var = v_set + v_unit - v_row
        var = var if var > 0 else max(v_set, v_unit)
    else:
        beta, var = _cox_variance(frame, None)
    return _cox_result(matched, frame, beta, var, design, cols, thresholds, conf_level)


def _cox_result(matched, frame, beta, var, design, cols, thresholds, conf) -> CoxEstimate:
    se = math.sqrt(var)
    crit = stats.norm.ppf(0.5 + conf / 2)
    units = frame.drop_duplicates("unit")
    counts = [int((units["t"] == g).sum()) for g in (1, 0)]
    events = [int(units.loc[units["t"] == g, "event"].sum()) for g in (1, 0)]
    group_size = int(((matched[cols.treatment] == 1) & (matched[cols.weight] > 0)).sum())
    gate = time_to_event_gate(group_size=group_size, reoffenders=events[0], thresholds=thresholds)
    n_clusters = {
        "sets": frame["set"].nunique(),
        "units": len(frame),
        "pairs": min(frame["set"].nunique(), frame["unit"].nunique()),
    }[design]
    z = beta / se
    return CoxEstimate(
        math.exp(beta),
        math.exp(beta - crit * se),
        math.exp(beta + crit * se),
        beta,
        se,
        z,
        float(2 * stats.norm.sf(abs(z))),
        conf,
        *counts,
        *events,
        design,
        _COX_VARIANCE[design],
        n_clusters,
        gate,
    )
