"""Subgroup analyses: re-matched within each subgroup, run only when the rules allow.

The JDL ran sub-analyses only "when the sample is big enough and matching good enough"
(reference §3). Each subgroup here is analysed by *re-matching within it* — the propensity
model is refitted and matching repeated on the subgroup's treatment group and comparison pool
— so that participants are compared with non-participants of the same subgroup. The subgroup
is reported only if its treatment group meets the minimum size and its balance is acceptable
(:func:`helpers.disclosure.subgroup_gate`); otherwise the reason is reported instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from helpers.balance import balance_table
from helpers.disclosure import subgroup_gate
from helpers.errors import JDLError, ParamsError
from helpers.estimate import EffectEstimate, estimate_effect
from helpers.matching import MatchSpec, match
from helpers.measures import Gate, Thresholds
from helpers.propensity import fit_propensity, usable_covariates


def _sex(cohort: pd.DataFrame) -> pd.Series:
    return cohort["sex"].map({"M": "Men", "F": "Women"})


def _age_band(cohort: pd.DataFrame) -> pd.Series:
    bands = pd.cut(cohort["age"], [0, 18, 25, 35, 200], right=False,
                   labels=["Under 18", "18 to 24", "25 to 34", "35 and over"])  # fmt: skip
    return bands.astype(str)


def _index_offence(cohort: pd.DataFrame) -> pd.Series:
    return cohort["index_offence"].str.replace("_", " ").str.capitalize()


#: Subgroup name → how to label each person (the params' ``subgroups`` list picks from these).
SUBGROUPS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "sex": _sex,
    "age_band": _age_band,
    "index_offence": _index_offence,
}


@dataclass(frozen=True)
class SubgroupResult:
    """One subgroup: its size, balance after re-matching, gate and (if allowed) estimate."""

    subgroup: str
    level: str
    n_treatment: int
    n_comparison: int
    balance: str
    worst_smd: float
    gate: Gate
    estimate: EffectEstimate | None


def check_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in SUBGROUPS]
    if unknown:
        raise ParamsError(f"`subgroups` names {', '.join(map(repr, unknown))}: use any of "
                          f"{', '.join(SUBGROUPS)}")  # fmt: skip


def analyse_subgroups(
    cohort: pd.DataFrame, names: list[str], *, spec: MatchSpec, covariates: list[str],
    measure: str, thresholds: Thresholds, conf_level: float,
) -> list[SubgroupResult]:  # fmt: skip
    """Every level of every named subgroup, in a fixed order."""
    check_names(names)
    results = []
    for name in names:
        labels = SUBGROUPS[name](cohort)
        for level in sorted(labels[cohort["treated"] == 1].dropna().unique()):
            part = cohort[labels == level].reset_index(drop=True)
            results.append(_one(name, str(level), part, spec, covariates, measure, thresholds,
                                conf_level))  # fmt: skip
    return results


def _one(name, level, part, spec, covariates, measure, thresholds, conf_level) -> SubgroupResult:
    n_t, n_c = int(part["treated"].sum()), int((part["treated"] == 0).sum())
    too_small = subgroup_gate(n_treatment=n_t, n_comparison=n_c, balance="good",
                              thresholds=thresholds)  # fmt: skip
    if too_small.status == "FAIL":
        return SubgroupResult(name, level, n_t, n_c, "not assessed", float("nan"), too_small, None)
    kept, _ = usable_covariates(part, covariates)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fit_propensity(part, kept, rare_levels="merge")
            result = match(part, spec, model)
            balance = balance_table(
                part, kept, result, thresholds=(thresholds.smd_good, thresholds.smd_acceptable)
            )
    except JDLError as exc:
        gate = Gate("FAIL", (f"matching within the subgroup was not possible: {exc}",))
        return SubgroupResult(name, level, n_t, n_c, "not assessed", float("nan"), gate, None)
    summary = balance.summary
    gate = subgroup_gate(n_treatment=summary.n_treated_matched, n_comparison=n_c,
                         balance=summary.rating, thresholds=thresholds)  # fmt: skip
    estimate = None
    if gate.status == "PASS":
        matched = part.join(result.frame(part.index))
        matched = matched[matched["weight"] > 0]
        pairs = result.get_matches(part["pid"]) if spec.replace else None
        estimate = estimate_effect(matched, measure, pairs=pairs, thresholds=thresholds,
                                   conf_level=conf_level)  # fmt: skip
    return SubgroupResult(name, level, summary.n_treated_matched, n_c, summary.rating,
                          summary.worst_smd, gate, estimate)  # fmt: skip
