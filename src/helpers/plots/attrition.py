"""The attrition ("chevron") diagram of the JDL reports: people remaining at each step."""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from helpers.plots import NEUTRAL_COLOUR, TREATMENT_COLOUR, new_figure


def chevron_diagram(attrition: pd.DataFrame, group: str = "treatment") -> Figure:
    """One chevron per step of ``attrition`` (columns step, group, people, removed, reason),
    with the people remaining inside and the people removed (and why) beneath."""
    steps = attrition[attrition["group"] == group].reset_index(drop=True)
    n = max(len(steps), 1)
    fig = new_figure(width=max(7.0, 1.45 * n), height=3.4)
    ax = fig.add_subplot()
    ax.set_xlim(0, n)
    ax.set_ylim(-1.25, 0.9)
    ax.axis("off")
    for i, step in steps.iterrows():
        _chevron(ax, i, first=i == 0, colour=TREATMENT_COLOUR if i == n - 1 else "#5b8fbf")
        ax.text(i + 0.5, 0.55, f"{step['people']:,}", ha="center", va="center",
                fontsize=12, weight="bold", color="white")  # fmt: skip
        ax.text(i + 0.5, 0.2, textwrap.fill(str(step["step"]), 14), ha="center", va="center",
                fontsize=7, color="white")  # fmt: skip
        if step["removed"]:
            ax.text(i + 0.5, -0.35, f"−{step['removed']:,}", ha="center", va="top",
                    fontsize=9, color=NEUTRAL_COLOUR, weight="bold")  # fmt: skip
            ax.text(i + 0.5, -0.6, textwrap.fill(str(step["reason"]), 18), ha="center",
                    va="top", fontsize=6, color=NEUTRAL_COLOUR)  # fmt: skip
    return fig


def _chevron(ax, i: int, first: bool, colour: str) -> None:
    notch = 0.0 if first else 0.12
    points = [(i, 0), (i + 0.88, 0), (i + 1.0, 0.4), (i + 0.88, 0.8), (i, 0.8),
              (i + notch, 0.4)]  # fmt: skip
    ax.add_patch(Polygon(points, closed=True, facecolor=colour, edgecolor="white"))
