"""Figures for the matching stage: the Love plot and the propensity score overlap plot.

Both take results (a :class:`~helpers.balance.BalanceTable`, a
:class:`~helpers.matching.MatchResult`) and return a ``Figure``; labels and thresholds come
from :data:`helpers.balance.STATISTICS`, so the figure and the table cannot disagree.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from helpers.balance import STATISTICS, BalanceTable
from helpers.matching import MatchResult
from helpers.plots import COMPARISON_COLOUR, NEUTRAL_COLOUR, TREATMENT_COLOUR, new_figure

__all__ = ["love_plot", "overlap_plot"]


def love_plot(balance: BalanceTable, *, statistic: str = "smd", absolute: bool = True) -> Figure:
    """Dot plot of a balance statistic per covariate, before (hollow) and after (filled)
    matching, with the table's thresholds as dashed lines (Love 2002; cobalt's ``love.plot``)."""
    stat = _statistic(statistic)
    table = balance.table.iloc[::-1]
    before = table[f"{stat.name}_before"].to_numpy(dtype=float)
    after = table[f"{stat.name}_after"].to_numpy(dtype=float)
    if absolute and not stat.ratio:
        before, after = np.abs(before), np.abs(after)
    fig = new_figure(7.0, max(2.5, 0.28 * len(table) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(table))
    ax.scatter(before, y, facecolors="none", edgecolors=NEUTRAL_COLOUR, label="Before matching")
    ax.scatter(after, y, color=TREATMENT_COLOUR, label="After matching")
    for x in _thresholds(balance, stat, absolute):
        ax.axvline(x, color=COMPARISON_COLOUR, linestyle="--", linewidth=0.8)
    ax.axvline(1.0 if stat.ratio else 0.0, color=NEUTRAL_COLOUR, linewidth=0.6)
    ax.set_yticks(y, table["label"].tolist())
    prefix = "Absolute " if absolute and not stat.ratio else ""
    ax.set_xlabel(prefix + stat.label[0].lower() + stat.label[1:] if prefix else stat.label)
    ax.legend(loc="lower right", frameon=False, fontsize="small")
    ax.set_title("Covariate balance before and after matching")
    return fig


def _statistic(name: str):
    for s in STATISTICS:
        if s.name == name:
            return s
    valid = ", ".join(s.name for s in STATISTICS)
    raise ValueError(f"unknown balance statistic {name!r}: use one of {valid}")


def _thresholds(balance: BalanceTable, stat, absolute: bool) -> list[float]:
    if stat.name == "smd":
        lines = list(balance.thresholds)
        return lines if absolute else lines + [-v for v in lines]
    if stat.threshold is None:
        return []
    return [1 / stat.threshold, stat.threshold] if stat.ratio else [stat.threshold]


def overlap_plot(result: MatchResult, *, bins: int = 40) -> Figure:
    """Distribution of the distance measure in the treatment and comparison groups, before
    matching and after (weighted by the matching weights), as density histograms."""
    d, t = result.distance, result.treated
    edges = np.histogram_bin_edges(d, bins=bins)
    fig = new_figure(7.0, 3.2)
    axes = fig.subplots(1, 2, sharex=True, sharey=False)
    stages = (("Before matching", np.ones_like(d)), ("After matching", result.weights))
    for ax, (title, w) in zip(axes, stages, strict=True):
        for mask, colour, label in (
            (t, TREATMENT_COLOUR, "Treatment"),
            (~t, COMPARISON_COLOUR, "Comparison"),
        ):
            if w[mask].sum() > 0:
                ax.hist(
                    d[mask],
                    bins=edges,
                    weights=w[mask],
                    density=True,
                    histtype="step",
                    color=colour,
                    linewidth=1.4,
                    label=label,
                )
        ax.set_title(title)
        ax.set_xlabel(
            "Logit of the propensity score"
            if result.spec.distance == "logit"
            else "Propensity score"
        )
    axes[0].set_ylabel("Density")
    axes[0].legend(frameon=False, fontsize="small")
    return fig
