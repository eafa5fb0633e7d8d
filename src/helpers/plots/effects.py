"""Figures for the estimation stage: JDL bar charts, a forest plot of estimates, survival curves.

Each function takes result objects from :mod:`helpers.estimate` / :mod:`helpers.survival` and
returns a ``Figure`` (never shows or saves it). Measures that may not be published (a failed
JDL gate or a small cell, :func:`helpers.disclosure.publication_gate`) are drawn as a note,
never as numbers, so a figure cannot leak what a table withholds.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable

import numpy as np
from matplotlib.figure import Figure

from helpers.disclosure import DEFAULT_MIN_CELL, publication_gate
from helpers.plots import COMPARISON_COLOUR, NEUTRAL_COLOUR, TREATMENT_COLOUR, new_figure

__all__ = ["forest_plot", "kaplan_meier_plot", "measure_bars"]

_SCALE = {"proportion": 100.0, "frequency": 1.0, "days": 1.0}
_UNIT = {"proportion": "%", "frequency": "per person", "days": "days"}
_DIFF_UNIT = {"proportion": "percentage points", "frequency": "per person", "days": "days"}


def _estimates(estimates) -> list:
    return list(estimates.estimates if hasattr(estimates, "estimates") else estimates)


def _not_reported(ax, text: str) -> None:
    """A panel that says why nothing is drawn (a failed gate), instead of the numbers."""
    ax.text(0.5, 0.5, text, ha="center", va="center", color=NEUTRAL_COLOUR, transform=ax.transAxes)
    ax.set_axis_off()


def _bar_panel(ax, est, min_cell: int) -> None:
    m = est.measure
    ax.set_title(textwrap.fill(m.label, 32), fontsize=7)
    gate = publication_gate(est, min_cell=min_cell)
    if not gate.passed:
        _not_reported(ax, "Not reported")
        return
    s = _SCALE[m.kind]
    groups = (est.treatment, est.comparison)
    values = [g.value * s for g in groups]
    err = np.array([[g.value - g.ci_low, g.ci_high - g.value] for g in groups]).T * s
    ax.bar([0, 1], values, yerr=err, capsize=4, color=[TREATMENT_COLOUR, COMPARISON_COLOUR])
    ax.set_xticks([0, 1], ["Treatment", "Comparison"], fontsize=8)
    per = "per reoffender" if m.population == "reoffenders" else "per person"
    ax.set_ylabel(per if m.kind == "frequency" else _UNIT[m.kind], fontsize=8)
    ax.tick_params(axis="y", labelsize=7)


def measure_bars(estimates, *, ncols: int = 3, min_cell: int = DEFAULT_MIN_CELL) -> Figure:
    """JDL-style bar charts: each measure for both groups with 95% confidence intervals."""
    ests = _estimates(estimates)
    nrows = max(math.ceil(len(ests) / ncols), 1)
    fig = new_figure(7.0, 2.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, est in zip(axes, ests, strict=False):
        _bar_panel(ax, est, min_cell)
    for ax in axes[len(ests) :]:
        ax.set_axis_off()
    return fig


def forest_plot(estimates, *, min_cell: int = DEFAULT_MIN_CELL) -> Figure:
    """Differences (treatment − comparison) with confidence intervals, one panel per unit.

    Rates are in percentage points, frequencies per person and days in days; the headline
    measure is in bold; measures that may not be published are listed as "not reported".
    """
    ests = _estimates(estimates)
    kinds = [
        k for k in ("proportion", "frequency", "days") if any(e.measure.kind == k for e in ests)
    ]
    heights = [sum(e.measure.kind == k for e in ests) + 1 for k in kinds]
    fig = new_figure(7.0, 0.35 * sum(heights) + 1.0)
    axes = fig.subplots(len(kinds), 1, squeeze=False, height_ratios=heights).ravel()
    for ax, kind in zip(axes, kinds, strict=True):
        _forest_panel(ax, [e for e in ests if e.measure.kind == kind], kind, min_cell)
    return fig


def _forest_panel(ax, ests: Iterable, kind: str, min_cell: int) -> None:
    ests = list(ests)
    s = _SCALE[kind]
    for i, e in enumerate(ests):
        y = len(ests) - 1 - i
        if publication_gate(e, min_cell=min_cell).passed:
            colour = TREATMENT_COLOUR if e.significant else NEUTRAL_COLOUR
            ax.plot([e.ci_low * s, e.ci_high * s], [y, y], color=colour, lw=2)
            ax.plot(e.difference * s, y, "o", color=colour)
        else:
            ax.text(
                0.0, y, "not reported", ha="center", va="center", fontsize=7, color=NEUTRAL_COLOUR
            )
    labels = [e.measure.label for e in ests][::-1]
    ax.set_yticks(range(len(ests)), labels, fontsize=7)
    for tick, e in zip(ax.get_yticklabels(), ests[::-1], strict=True):
        tick.set_fontweight("bold" if e.headline else "normal")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_ylim(-0.7, len(ests) - 0.3)
    ax.set_xlabel(f"Difference, treatment − comparison ({_DIFF_UNIT[kind]})", fontsize=8)


def kaplan_meier_plot(km, cox=None, *, max_day: float = 365.0) -> Figure:
    """Share not yet reoffended over the follow-up, both groups, with confidence bands.

    ``km`` is a :class:`helpers.survival.KaplanMeierResult`; pass the
    :class:`helpers.survival.CoxEstimate` as ``cox`` to print the hazard ratio. When the
    time-to-reoffend gate failed the figure says so instead of drawing the curves.
    """
    fig = new_figure()
    ax = fig.subplots()
    if not km.gate.passed:
        _not_reported(ax, textwrap.fill(f"Not reported: {km.gate.reason}", 70))
        return fig
    for curve, colour, name in (
        (km.treatment, TREATMENT_COLOUR, "Treatment group"),
        (km.comparison, COMPARISON_COLOUR, "Comparison group"),
    ):
        ax.step(curve.timeline, curve.survival, where="post", color=colour, label=name)
        ax.fill_between(
            curve.timeline, curve.ci_low, curve.ci_high, step="post", color=colour, alpha=0.2, lw=0
        )
    ax.set_xlim(0, max_day)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Days since the index date")
    ax.set_ylabel("Share not yet proven to reoffend")
    if cox is not None and cox.gate.passed:
        pct = f"{100 * cox.conf_level:.0f}%"
        ax.set_title(
            f"Hazard ratio {cox.hazard_ratio:.2f} ({pct} CI {cox.ci_low:.2f} to {cox.ci_high:.2f})",
            fontsize=9,
        )
    ax.legend(loc="lower left", fontsize=8)
    return fig
