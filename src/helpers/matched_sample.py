"""Where a measure is read from: the matched sample's columns and the rows a model is fitted to.

:class:`Columns` names the matched sample's columns (defaults as in ``ARCHITECTURE.md``;
MatchIt's names for lalonde). :func:`population` picks the people a measure is about (positive
weight; only reoffenders for the JDL's measures 3, 4, 6 and 7) and :func:`analysis_frame` the
rows a model is fitted to: one row per person, or one row per person per matched set from the
stacked pairs table (MatchIt's ``get_matches``), which is what two-way clustering on matched set
and person needs (Austin & Cafri 2020, *Stat Med* 39:1623). The design it reports decides the
variance estimator in :mod:`helpers.estimate`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.errors import JDLWarning, ModelError

__all__ = ["DEFAULT_COLUMNS", "Columns", "analysis_frame", "complete_sets", "population"]


@dataclass(frozen=True)
class Columns:
    """Names of the matched sample's columns (``ARCHITECTURE.md``); change them for other data.

    For MatchIt's ``match.data()`` output use
    ``Columns(treatment="treat", weight="weights", id="id")``. The stacked pairs table uses the
    same names for its ``subclass``, ``id``, ``treatment`` and ``weight`` columns; a pairs
    table whose person column is called ``unit`` (``MatchResult.get_matches``) is also read.
    A subclass that is missing or negative (``-1``, "in no single set") counts as missing.
    """

    treatment: str = "treated"
    weight: str = "weight"
    subclass: str = "subclass"
    id: str = "pid"
    reoffended: str = "reoffended"


DEFAULT_COLUMNS = Columns()


def _check_columns(df: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise ModelError(
            f"the {what} has no column {', '.join(map(repr, missing))} "
            f"(it has: {', '.join(map(str, df.columns))})",
            fix="Pass the right names, e.g. column='re78' or cols=Columns(treatment='treat').",
        )


def population(
    matched: pd.DataFrame,
    column: str,
    population: str = "all",
    cols: Columns = DEFAULT_COLUMNS,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """The people a measure is about: positive weight, and only reoffenders if it says so.

    Raises :class:`~helpers.errors.ModelError` when a column is missing or has missing values
    in that population (silently dropping people would change who the measure is about).
    """
    needed = [cols.treatment, cols.weight, column, *extra]
    if population == "reoffenders":
        needed.append(cols.reoffended)
    _check_columns(matched, needed, "matched sample")
    pop = matched[matched[cols.weight] > 0]
    if population == "reoffenders":
        pop = pop[pop[cols.reoffended] == 1]
    bad = [c for c in [column, *extra] if pop[c].isna().any()]
    if bad:
        raise ModelError(
            f"column(s) {', '.join(map(repr, bad))} have missing values for "
            f"{'reoffenders' if population == 'reoffenders' else 'matched people'}",
            fix="Outcomes and covariates must be complete in the measure's population: check "
            "the outcome derivation (a reoffender-only measure is NaN only for non-reoffenders).",
        )
    return pop


def complete_sets(frame: pd.DataFrame, cols: Columns = DEFAULT_COLUMNS) -> bool:
    """True when every row of ``frame`` has a matched set (no missing or negative subclass)."""
    if cols.subclass not in frame.columns:
        return False
    sub = frame[cols.subclass]
    if sub.isna().any():
        return False
    return not (pd.api.types.is_numeric_dtype(sub) and (sub < 0).any())


def _design(pop: pd.DataFrame, pairs: pd.DataFrame | None, cols: Columns) -> str:
    if pairs is not None:
        return "pairs"
    if complete_sets(pop, cols):
        return "sets"
    warnings.warn(
        "matched sets are missing for some people (matching with replacement?) and no stacked "
        "pairs table was given: using HC1 standard errors on people, which ignore the pairing. "
        "Pass pairs=<match/pairs.parquet> for two-way clustered standard errors.",
        JDLWarning,
        stacklevel=4,
    )
    return "units"


def _stack(matched, pop, column, pairs, cols, extra) -> pd.DataFrame:
    if cols.id not in pairs.columns and "unit" in pairs.columns:
        pairs = pairs.rename(columns={"unit": cols.id})  # MatchResult.get_matches names it so
    keys = [cols.subclass, cols.id, cols.treatment, cols.weight]
    _check_columns(pairs, keys, "pairs table")
    _check_columns(matched, [cols.id], "matched sample")
    unknown = set(pairs[cols.id]) - set(matched[cols.id])
    if unknown:
        raise ModelError(
            f"{len(unknown)} people in the pairs table are not in the matched sample "
            f"(e.g. {sorted(map(str, unknown))[:3]})",
            fix="Use the pairs.parquet and matched.parquet written by the same matching run.",
        )
    units = pop[[cols.id, column, *extra]]
    st = pairs[keys].merge(units, on=cols.id, how="inner", validate="many_to_one")
    return pd.DataFrame(
        {
            "y": st[column],
            "t": st[cols.treatment],
            "w": st[cols.weight],
            "set": st[cols.subclass],
            "unit": st[cols.id],
        }
        | {c: st[c] for c in extra}
    ).reset_index(drop=True)


def analysis_frame(
    matched: pd.DataFrame,
    column: str,
    *,
    population: str = "all",
    pairs: pd.DataFrame | None = None,
    cols: Columns = DEFAULT_COLUMNS,
    extra: Sequence[str] = (),
) -> tuple[pd.DataFrame, str]:
    """The rows a model is fitted to: columns ``y, t, w, set, unit`` (plus ``extra``).

    Returns the frame and its design: ``"pairs"`` (stacked matched sets, one row per person
    per set), ``"sets"`` (one row per person, each in one set) or ``"units"`` (no sets).
    """
    pop = globals()["population"](matched, column, population, cols, extra)
    design = _design(pop, pairs, cols)
    if design == "pairs":
        return _stack(matched, pop, column, pairs, cols, list(extra)), design
    sets = pop[cols.subclass] if design == "sets" else pd.Series(np.arange(len(pop)))
    unit = pop[cols.id] if cols.id in pop.columns else pd.Series(np.arange(len(pop)))
    frame = pd.DataFrame(
        {
            "y": pop[column].to_numpy(float),
            "t": pop[cols.treatment].to_numpy(int),
            "w": pop[cols.weight].to_numpy(float),
            "set": sets.to_numpy(),
            "unit": unit.to_numpy(),
        }
        | {c: pop[c].to_numpy() for c in extra}
    )
    return frame, design
