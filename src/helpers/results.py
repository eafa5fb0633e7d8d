"""``results.json``: every number the report prints, in one machine-readable file.

The report never types a number: its prose and tables are filled from this file, and its
figures were drawn from the same objects. Personal data never enter it; small counts are
suppressed by the disclosure rules before they are written.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from helpers.artefacts import jsonable
from helpers.disclosure import format_count

#: Bump when the structure of results.json changes (readers check it).
SCHEMA_VERSION = 1


def treatment_profile(matched: pd.DataFrame, min_cell: int) -> dict[str, Any]:
    """Who the analysed participants were (the JDL's treatment-group profile, reference §6):
    shares by sex, ethnicity and nationality, age mean and range, all with small counts
    suppressed."""
    treated = matched[matched["treated"] == 1]
    n = len(treated)

    def shares(series: pd.Series, labels: dict | None = None) -> list[dict]:
        named = series.map(labels).fillna(series) if labels else series
        counts = named.value_counts(sort=False)
        counts = counts.sort_index() if not isinstance(named.dtype, pd.CategoricalDtype) else counts
        return [{"group": str(k), "count": format_count(v, min_cell),
                 "percent": (round(100 * v / n) if v >= min_cell else None)}
                for k, v in counts.items()]  # fmt: skip

    ages = treated["age"]
    return jsonable({
        "n": n,
        "sex": shares(treated["sex"], {"M": "Male", "F": "Female"}),
        "ethnicity": shares(treated["ethnicity"]),
        "uk_national": shares(treated["uk_national"].map({1: "UK national",
                                                         0: "Not UK national"})),
        "age_mean": round(float(ages.mean()), 1) if n else None,
        "age_range": [int(np.floor(ages.min())), int(np.floor(ages.max()))] if n >= min_cell
        else None,
        "age_bands": shares(pd.cut(ages, [0, 18, 25, 35, 50, 200], right=False,
                                   labels=["Under 18", "18–24", "25–34", "35–49", "50+"])),
    })  # fmt: skip


def analysis_sizes(matched: pd.DataFrame, attrition: pd.DataFrame, ess: float) -> dict:
    """The analyses overview: group sizes and reoffenders (weighted for the comparison)."""
    t = matched[matched["treated"] == 1]
    c = matched[matched["treated"] == 0]
    weighted = float((c["weight"] * c["reoffended"]).sum() / c["weight"].sum() * len(t))
    return jsonable({
        "treatment_group": len(t),
        "comparison_group": len(c),
        "comparison_effective": ess,
        "treatment_reoffenders": int(t["reoffended"].sum()),
        "comparison_reoffenders_per_treatment_size": round(weighted, 1),
        "attrition": attrition.to_dict(orient="records"),
    })  # fmt: skip


def assemble(**parts: Any) -> dict[str, Any]:
    """The results document: named parts, each already JSON-ready, plus the schema version."""
    return jsonable({"schema_version": SCHEMA_VERSION, **parts})


def subgroup_rows(subgroups, min_cell: int) -> list[dict[str, Any]]:
    """One publishable row per subgroup: sizes, balance, the gate and, if it passed, the
    estimate of the headline measure (small counts suppressed)."""
    rows = []
    for s in subgroups:
        row = {
            "subgroup": s.subgroup, "level": s.level,
            "treatment_group": format_count(s.n_treatment, min_cell),
            "comparison_pool": format_count(s.n_comparison, min_cell),
            "balance": s.balance, "gate": s.gate.status, "why_not": s.gate.reason or None,
        }  # fmt: skip
        est = s.estimate
        if est is not None and est.gate.passed:
            row |= {"treatment": est.treatment.value, "comparison": est.comparison.value,
                    "difference": est.difference, "ci_low": est.ci_low, "ci_high": est.ci_high,
                    "p_value": est.p_value, "significant": est.significant}  # fmt: skip
        rows.append(jsonable(row))
    return rows
