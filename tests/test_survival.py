"""Weighted Kaplan–Meier curves and the weighted Cox hazard ratio with matched-set robust SEs."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from matplotlib.figure import Figure

from _estimate_fixtures import simulated_matched
from helpers.plots.effects import kaplan_meier_plot
from helpers.survival import cox_hazard_ratio, kaplan_meier

no_r = pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript is not installed")


def _survival_data(n_sets=150, hr=0.6, k=2, ties=True, seed=0) -> pd.DataFrame:
    """1:k matched sets without replacement; exponential times, true hazard ratio ``hr``."""
    rng = np.random.default_rng(seed)
    sets = np.repeat(np.arange(n_sets), k + 1)
    treated = np.tile([1] + [0] * k, n_sets)
    frailty = np.repeat(rng.normal(0, 0.3, n_sets), k + 1)  # sets share risk
    rate = np.exp(frailty) * np.where(treated == 1, hr, 1.0) / 300
    time = rng.exponential(1 / rate)
    time = np.ceil(time) if ties else time
    event = (time <= 365).astype(int)
    return pd.DataFrame(
        {
            "pid": np.arange(len(sets)),
            "treated": treated,
            "subclass": sets,
            "weight": np.where(treated == 1, 1.0, rng.choice([0.5, 1.0, 1.5], len(sets))),
            "time_to_event": np.minimum(time, 365.0),
            "event": event,
        }
    )


def test_unweighted_curve_equals_lifelines_kaplan_meier():
    data = _survival_data(seed=1).assign(weight=1.0)
    km = kaplan_meier(data)
    ref = KaplanMeierFitter().fit(
        data.query("treated == 1").time_to_event, data.query("treated == 1").event
    )
    assert km.treatment.survival == pytest.approx(tuple(ref.survival_function_.iloc[:, 0]))
    ci = ref.confidence_interval_.to_numpy()
    assert km.treatment.ci_low == pytest.approx(tuple(ci[:, 0]))


def test_weighted_curve_equals_replicated_data_and_ci_uses_effective_size():
    data = _survival_data(seed=2)
    controls = data.query("treated == 0")
    km = kaplan_meier(data)
    copies = (controls.weight * 2).astype(int)  # weights 0.5/1/1.5 -> 1/2/3 copies
    rep = controls.loc[controls.index.repeat(copies)]
    ref = KaplanMeierFitter().fit(rep.time_to_event, rep.event)
    assert km.comparison.survival == pytest.approx(tuple(ref.survival_function_.iloc[:, 0]))
    # Doubling every weight changes nothing: the interval rests on the effective sample size.
    doubled = kaplan_meier(data.assign(weight=data.weight * 2))
    assert doubled.comparison.ci_low == pytest.approx(km.comparison.ci_low)
    w = controls.weight.to_numpy()
    assert km.comparison.ess == pytest.approx(w.sum() ** 2 / (w**2).sum())


def test_kaplan_meier_result_api():
    km = kaplan_meier(_survival_data(seed=3))
    assert 0 < km.treatment.at(365) < 1 and km.treatment.at(0) == 1.0
    assert set(km.to_frame().group) == {"treatment", "comparison"}
    assert json.dumps(km.to_dict(), allow_nan=False)
    assert "day 365" in km.summary() and km.gate.passed


def test_cox_recovers_known_hazard_ratio():
    est = cox_hazard_ratio(_survival_data(n_sets=400, hr=0.6, seed=4, ties=False))
    assert est.ci_low < 0.6 < est.ci_high
    assert est.design == "sets" and est.n_clusters == 400 and est.gate.passed
    assert est.hazard_ratio < 1 and est.significant
    assert json.dumps(est.to_dict(), allow_nan=False)


def test_cox_two_way_on_stacked_pairs_and_gate():
    matched, pairs = simulated_matched(40, seed=5, k=2, replace=True)
    est = cox_hazard_ratio(matched, pairs=pairs)
    assert est.design == "pairs" and "two-way" in est.variance
    assert est.events_treatment == int(matched.query("treated == 1").event.sum())
    assert not est.gate.passed and "30 reoffenders" in est.gate.reason


def _r_cox(path, clusters: tuple[str, ...]) -> list[tuple[float, float]]:
    """(coefficient, robust SE) from R's coxph with each cluster column, in one R session."""
    script = f"""
    suppressPackageStartupMessages(library(survival))
    d <- read.csv("{path}")
    for (cl in c({", ".join(repr(c) for c in clusters)})) {{
      f <- coxph(Surv(time_to_event, event) ~ treated, data = d, weights = weight,
                 cluster = d[[cl]])
      cat(sprintf("%.10f %.10f\\n", coef(f), sqrt(vcov(f)[1, 1])))
    }}
    """
    run = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        pytest.skip(f"R survival unavailable: {run.stderr[:200]}")
    return [tuple(map(float, line.split())) for line in run.stdout.strip().splitlines()]


@pytest.mark.needs_r
@no_r
@pytest.mark.parametrize(("ties", "rel"), [(False, 1e-6), (True, 5e-3)])
def test_cox_matches_r_survival_coxph(tmp_path, ties, rel):
    """Coefficients agree exactly; robust SEs exactly without ties and within 0.5% with tied
    days (lifelines' score residuals lack Efron's tie correction; R's carry it)."""
    data = _survival_data(n_sets=60, seed=6, ties=ties)
    data.to_csv(tmp_path / "d.csv", index=False)
    [(beta, se)] = _r_cox(tmp_path / "d.csv", ("subclass",))
    est = cox_hazard_ratio(data)
    assert est.log_hr == pytest.approx(beta, abs=1e-6)
    assert est.std_error == pytest.approx(se, rel=rel)


@pytest.mark.needs_r
@no_r
def test_cox_two_way_matches_r_three_fit_formula(tmp_path):
    """V = V(set) + V(person) − V(row), each from R's coxph, on untied stacked data."""
    matched, pairs = simulated_matched(80, seed=7, k=2, replace=True)
    rng = np.random.default_rng(7)
    matched["time_to_event"] = np.where(
        matched.event == 1, rng.uniform(1, 365, len(matched)), 365.0
    )
    stacked = pairs.merge(matched[["pid", "time_to_event", "event"]], on="pid")
    stacked["row"] = np.arange(len(stacked))
    stacked.to_csv(tmp_path / "d.csv", index=False)
    v = [se**2 for _, se in _r_cox(tmp_path / "d.csv", ("subclass", "pid", "row"))]
    est = cox_hazard_ratio(matched, pairs=pairs)
    assert est.std_error == pytest.approx(np.sqrt(v[0] + v[1] - v[2]), rel=1e-6)


def test_kaplan_meier_plot_draws_curves_or_the_gate():
    km = kaplan_meier(_survival_data(seed=8))
    fig = kaplan_meier_plot(km, cox_hazard_ratio(_survival_data(seed=8)))
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 2
    assert "Hazard ratio" in fig.axes[0].get_title()
    small, _ = simulated_matched(40, seed=9, replace=False)
    gated = kaplan_meier_plot(kaplan_meier(small))
    assert not gated.axes[0].lines and "Not reported" in gated.axes[0].texts[0].get_text()
