"""The JDL's forest plot of all analyses: effect on the one-year rate against cohort size."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from helpers.plots import NEUTRAL_COLOUR, TREATMENT_COLOUR, new_figure


def forest_by_size(table: pd.DataFrame) -> Figure:
    """Difference in the one-year proven reoffending rate (percentage points, 95% CI) for each
    analysis, plotted against the size of its treatment group; significant results filled."""
    fig = new_figure(width=7.5, height=4.5)
    ax = fig.add_subplot()
    shown = table.dropna(subset=["difference_pp"])
    for row in shown.itertuples():
        fill = TREATMENT_COLOUR if row.significant == "Yes" else "white"
        below, above = row.difference_pp - row.ci_low_pp, row.ci_high_pp - row.difference_pp
        ax.errorbar(row.treatment_group, row.difference_pp, yerr=[[below], [above]], fmt="o",
                    color=TREATMENT_COLOUR, mfc=fill, capsize=3, lw=1.2)  # fmt: skip
        ax.annotate(row.organisation, (row.treatment_group, row.difference_pp), fontsize=7,
                    xytext=(6, 0), textcoords="offset points", va="center")  # fmt: skip
    ax.axhline(0, color=NEUTRAL_COLOUR, lw=0.8)
    ax.set_xlabel("People in the treatment group")
    ax.set_ylabel("Difference in one-year proven\nreoffending rate (percentage points)")
    ax.set_title("All analyses: estimated effect with 95% confidence interval")
    if len(shown):
        lo, hi = shown["treatment_group"].min(), shown["treatment_group"].max()
        if hi / lo > 5:  # sizes spanning orders of magnitude read better on a log axis
            ax.set_xscale("log")
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticks(np.unique(np.round(np.geomspace(lo, hi, 4), -1)).clip(min=10))
        ax.set_xlim(lo - 0.2 * (hi - lo + 50), hi + 0.6 * (hi - lo + 50))
        ax.xaxis.set_major_formatter("{x:,.0f}")
    ax.text(0.01, 0.01, "Filled: statistically significant (p ≤ 0.05)", transform=ax.transAxes,
            fontsize=7, color=NEUTRAL_COLOUR)  # fmt: skip
    return fig
