"""The all-measures table: every estimate in order, multiplicity-adjusted, the headline flagged.

Reporting every JDL measure invites a false positive, so beside each measure's own p-value the
table carries Holm's family-wise (Holm 1979, *Scand J Statist* 6:65) and Benjamini-Hochberg's
false-discovery-rate (Benjamini & Hochberg 1995, *JRSS B* 57:289) adjusted p-values over the
measures a reader actually sees, and names the headline measure declared before the results.
:meth:`EffectTable.describe` states the method from what ran, for the report's methodology.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pandas as pd
from statsmodels.stats.multitest import multipletests

if TYPE_CHECKING:
    from helpers.estimate import EffectEstimate

__all__ = ["EffectTable", "adjust_pvalues"]

_DESCRIBE = {
    "sets": "Each person is in one matched set, so standard errors are cluster-robust with the "
    "matched set as the cluster (Abadie & Spiess 2022).",
    "pairs": "Some comparison people are matched to several treated people, so the analysis "
    "uses every matched set in turn and standard errors are clustered both on the matched set "
    "and on the person, which accounts for people used more than once (Austin & Cafri 2020).",
    "units": "Matched sets were not available, so standard errors are robust to unequal "
    "variances and account for the matching weights but not for the pairing.",
}


def adjust_pvalues(estimates: Sequence[EffectEstimate]) -> tuple[EffectEstimate, ...]:
    """Add Holm (family-wise) and Benjamini–Hochberg (false discovery rate) adjusted p-values.

    The family is the measures that passed their gates and have a p-value — the tests a reader
    of the report sees (statsmodels ``multipletests``; Holm 1979; Benjamini & Hochberg 1995).
    """
    family = [i for i, e in enumerate(estimates) if e.gate.passed and math.isfinite(e.p_value)]
    out = list(estimates)
    if not family:
        return tuple(out)
    p = [out[i].p_value for i in family]
    holm, bh = (multipletests(p, method=meth)[1] for meth in ("holm", "fdr_bh"))
    for j, i in enumerate(family):
        out[i] = replace(out[i], p_holm=float(holm[j]), p_bh=float(bh[j]))
    return tuple(out)


@dataclass(frozen=True)
class EffectTable:
    """All measures' estimates, in order, with the headline flagged (the JDL's results tables).

    Attributes
    ----------
    estimates
        One :class:`EffectEstimate` per measure, with adjusted p-values filled in.
    headline
        Key of the pre-declared headline measure.
    """

    estimates: tuple[EffectEstimate, ...]
    headline: str

    def __getitem__(self, key: str) -> EffectEstimate:
        for e in self.estimates:
            if e.key == key:
                return e
        raise KeyError(f"no measure {key!r}: have {', '.join(e.key for e in self.estimates)}")

    def __iter__(self):
        return iter(self.estimates)

    def __len__(self) -> int:
        return len(self.estimates)

    def to_frame(self) -> pd.DataFrame:
        """One row per measure (:meth:`EffectEstimate.to_row`); the input of
        :func:`helpers.disclosure.apply_disclosure`."""
        return pd.DataFrame([e.to_row() for e in self.estimates])

    def to_dict(self) -> dict:
        """``{"headline": key, "multiplicity": {...}, "estimates": [EffectEstimate.to_dict()]}``."""
        family = [e.key for e in self.estimates if math.isfinite(e.p_holm)]
        return {
            "headline": self.headline,
            "multiplicity": {"family": family, "methods": ["holm", "fdr_bh"]},
            "estimates": [e.to_dict() for e in self.estimates],
        }

    def describe(self) -> str:
        """The method in plain English for the report's methodology, from what actually ran."""
        designs = dict.fromkeys(e.design for e in self.estimates)
        family = sum(math.isfinite(e.p_holm) for e in self.estimates)
        pct = f"{100 * self.estimates[0].conf_level:.0f}%" if self.estimates else "95%"
        return " ".join(
            [
                "Each measure compares the treatment group with the comparison group weighted by "
                "the matching (a weighted two-sample t-test; significant at p ≤ 0.05).",
                *[_DESCRIBE[d] for d in designs],
                f"Intervals are {pct} confidence intervals on the t distribution with one degree "
                "of freedom fewer than the number of clusters. Holm and Benjamini–Hochberg "
                f"adjusted p-values allow for the {family} measures reported; the "
                "headline measure, "
                f"{self[self.headline].measure.phrase}, was declared before the results.",
            ]
        )

    def summary(self) -> str:
        """The main columns of :meth:`to_frame` as text."""
        cols = ["measure", "treatment_value", "comparison_value", "difference", "ci_low"]
        cols += ["ci_high", "p_value", "p_holm", "gate"]
        frame = self.to_frame()[cols]
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}")
