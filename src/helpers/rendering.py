"""Rendering shared by every result object: JSON-ready values and two-column summaries.

Each frozen result of the estimation stage (``EffectEstimate``, ``AdjustedEstimate``, the power
and sensitivity results) renders the same way, as linearmodels' results do: ``summary()`` as
plain text and ``_repr_html_`` as a small HTML table for notebooks, from one list of
(label, value) rows; ``to_dict()`` passes through :func:`jsonable` so ``results.json`` holds
only plain JSON types (NaN and infinities become ``null``, which JSON cannot otherwise carry).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["jsonable", "render_html", "render_text"]


def jsonable(value):
    """Plain JSON types from numbers, arrays and nested dicts; NaN and infinities become None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def _fmt(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4g}" if math.isfinite(value) else "–"
    return str(value)


def render_text(title: str, rows: Sequence[tuple[str, object]]) -> str:
    """A two-column plain-text summary (the ``summary`` of every result object)."""
    width = max(len(k) for k, _ in rows)
    lines = [title, "=" * max(len(title), 40)]
    return "\n".join(lines + [f"{k:<{width}}  {_fmt(v)}" for k, v in rows])


def render_html(title: str, rows: Sequence[tuple[str, object]]) -> str:
    """The same summary as an HTML table (notebooks show it via ``_repr_html_``)."""
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table><caption>{html.escape(title)}</caption>{body}</table>"
