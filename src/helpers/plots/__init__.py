"""Figures for the notebooks and the report (matplotlib, no display needed).

Each submodule draws the figures for one stage; every function takes the *result* of a
computing function and returns a ``matplotlib.figure.Figure`` (never shows or saves it), so
computing and displaying stay separate and figures are testable.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: the notebooks and the run command never need a screen

from matplotlib.figure import Figure

#: Colours used everywhere for the two groups, so every figure reads the same way.
TREATMENT_COLOUR = "#1b6ca8"
COMPARISON_COLOUR = "#e07b39"
NEUTRAL_COLOUR = "#6b6b6b"

#: Fixed metadata so that saved PNG/SVG files are byte-identical across runs.
SAVE_METADATA = {"Software": None}


def new_figure(width: float = 7.0, height: float = 4.0) -> Figure:
    """A figure sized for an A4 report column, without pyplot's global state."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def save_figure(fig: Figure, path) -> None:
    """Save deterministically (no timestamp or version in the file)."""
    fig.savefig(path, dpi=150, metadata=SAVE_METADATA)
