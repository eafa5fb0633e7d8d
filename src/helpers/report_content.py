"""The report's words and tables, written from ``results.json`` (never typed by hand).

Each function takes the results document and returns Markdown text or a table as Markdown,
so the same content renders in Quarto (HTML and Typst PDF) and in the nbconvert fallback. The
layout follows the JDL's standard report (reference §6): verdict, measurements for 100 typical
people, impact estimates in the standard wording, analysis sizes, attrition, treatment-group
profile, charts; then our further analyses and the methodology.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from tabulate import tabulate

Results = dict[str, Any]

_SETTINGS = {"custody": "released from custody", "community": "starting a community order or "
             "suspended sentence"}  # fmt: skip


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table (renders in HTML, Typst and nbconvert alike)."""
    return tabulate(frame, headers="keys", tablefmt="pipe", showindex=False, disable_numparse=True)


def _pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{round(100 * x)}%"


def _headline(results: Results) -> dict:
    key = results["headline"]["measure"]
    return next(e for e in results["estimates"]["estimates"] if e["measure"] == key)


def verdict(results: Results) -> str:
    """The opening paragraph: who, what, and the headline result in the JDL's words."""
    run, head = results["run"], _headline(results)
    sizes = results["sizes"]
    sentence = results["sentences"].get(head["measure"], "")
    lead = (f"**{run['organisation']}** asked whether its programme changed proven reoffending "
            f"among people {_SETTINGS.get(run['setting'], run['setting'])} between "
            f"{run['window_start']} and {run['window_end']}.")  # fmt: skip
    programme = f" {run['programme']}" if run.get("programme") else ""
    analysed = (f"We analysed **{sizes['treatment_group']:,} participants** and a matched "
                f"comparison group of **{sizes['comparison_group']:,} similar people** who did "
                "not take part.")  # fmt: skip
    if results["headline"]["gate"]["status"] != "PASS":
        result = ("The headline measure could not be reported: "
                  + "; ".join(results["headline"]["gate"]["reasons"]) + ".")  # fmt: skip
    else:
        result = f"**Headline result.** {sentence}"
    return "\n\n".join([lead + programme, analysed, result])


def measurements_table(results: Results) -> str:
    """Each measure for 100 typical people in each group (published values only)."""
    rows = []
    for row in results["published"]:
        shown = row["published"]
        rows.append(
            {
                "Measure": row["label"],
                "Treatment group": row["treatment_value"] if shown else "Not reported",
                "Comparison group": row["comparison_value"] if shown else "Not reported",
                "People (treatment / comparison)": f"{row['treatment_n']} / {row['comparison_n']}",
            }
        )
    return markdown_table(pd.DataFrame(rows))


def impacts_table(results: Results) -> str:
    """Differences with 95% intervals, p-values (raw and adjusted) and significance."""
    method = results["multiplicity"]["method"]
    adjusted = "p_holm" if method == "holm" else "p_bh"
    by_key = {e["measure"]: e for e in results["estimates"]["estimates"]}
    rows = []
    for row in results["published"]:
        headline = " (headline)" if row["measure"] == results["headline"]["measure"] else ""
        est = by_key.get(row["measure"], {})
        rows.append({
            "Measure": row["label"] + headline,
            "Difference": row["difference"] if row["published"] else "Not reported",
            "95% interval": row["difference_ci"] if row["published"] else "",
            "p-value": row["p_value"] if row["published"] else "",
            f"Adjusted p ({'Holm' if method == 'holm' else 'BH'})":
                _p(est.get(adjusted)) if row["published"] else "",
            "Significant?": row["significant"] if row["published"] else "",
        })  # fmt: skip
    return markdown_table(pd.DataFrame(rows))


def _p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    return "<0.01" if p < 0.01 else f"{p:.2f}"


def sentences(results: Results) -> str:
    """Every measure in the JDL's standard wording, then the 'what you can say' boxes."""
    lines = [f"- {text}" for text in results["sentences"].values()]
    for title, items in results["headline"]["boxes"].items():
        lines += ["", f"**{title}**", ""] + [f"- {t}" for t in items]
    return "\n".join(lines)


def sizes_table(results: Results) -> str:
    s = results["sizes"]
    rows = [
        ("People in the treatment group", f"{s['treatment_group']:,}"),
        ("People in the matched comparison group", f"{s['comparison_group']:,}"),
        ("Effective size of the weighted comparison group", f"{s['comparison_effective']:,.0f}"),
        ("Reoffenders in the treatment group", f"{s['treatment_reoffenders']:,}"),
        ("Reoffenders in the comparison group (weighted to the treatment group's size)",
         f"{s['comparison_reoffenders_per_treatment_size']:,.0f}"),
    ]  # fmt: skip
    return markdown_table(pd.DataFrame(rows, columns=["Analysis", "Number"]))


def profile_table(results: Results) -> str:
    """The treatment group profile (sex, ethnicity, nationality, age)."""
    p = results["profile"]
    rows = []
    for title, key in (("Sex", "sex"), ("Ethnicity", "ethnicity"), ("Nationality", "uk_national"),
                       ("Age at index date", "age_bands")):  # fmt: skip
        for item in p[key]:
            share = f"{item['percent']}%" if item["percent"] is not None else "[c]"
            rows.append((title, item["group"], item["count"], share))
    table = markdown_table(pd.DataFrame(rows, columns=["Characteristic", "Group", "People",
                                                       "Share"]))  # fmt: skip
    age = f"Average age {p['age_mean']}" + (
        f"; ages {p['age_range'][0]} to {p['age_range'][1]}." if p.get("age_range") else "."
    )
    return table + "\n\n" + age + " [c]: fewer than the smallest publishable count."


def balance_text(results: Results) -> str:
    m = results["matching"]
    b = m["balance"]
    left = "".join(f" {name} was left out: {why}." for name, why in m["left_out"].items())
    return (f"{m['design'].capitalize()}. Propensity model: {m['model']['n']:,} people, "
            f"area under the ROC curve {m['model']['auc']:.2f}.{left} After matching, the "
            f"largest standardised mean difference is {b['worst_smd']:+.3f} ({b['worst_term']}), "
            f"rated **{b['rating']}** (good below {m['thresholds']['good']}, acceptable below "
            f"{m['thresholds']['acceptable']}).")  # fmt: skip


def survival_text(results: Results) -> str:
    cox = results["survival"]["cox"]
    if cox["gate"]["status"] != "PASS":
        return "The hazard ratio is not reported: " + "; ".join(cox["gate"]["reasons"]) + "."
    direction = "lower" if cox["hazard_ratio"] < 1 else "higher"
    verdict_ = ("statistically significant" if cox["p_value"] <= 0.05
                else "not statistically significant")  # fmt: skip
    return (f"Over the year of follow-up, the daily risk of a first proven reoffence was "
            f"{direction} in the treatment group: hazard ratio {cox['hazard_ratio']:.2f} "
            f"(95% interval {cox['ci_low']:.2f} to {cox['ci_high']:.2f}), {verdict_} "
            f"(p = {_p(cox['p_value']) or 'n/a'}).")  # fmt: skip


def sensitivity_text(results: Results) -> str:
    return "\n\n".join(results["sensitivity"]["explanations"])


def power_text(results: Results) -> str:
    mde = results["minimum_detectable"]
    text = (f"Before looking at the results: with {mde['n_treatment']:,.0f} participants and "
            f"a comparison group of effective size {mde['n_comparison']:,.0f}, the analysis had "
            f"80% power to detect a change in the one-year reoffending rate of about "
            f"{round(100 * mde['detectable_lower'])} percentage points or more from the "
            f"comparison group's {_pct(mde['baseline'])}.")  # fmt: skip
    needed = results["headline"].get("people_needed")
    if needed:
        text += (f" To detect the difference actually observed with 80% power, about "
                 f"{needed['n_treatment']:,.0f} participants would be needed.")  # fmt: skip
    return text


def subgroups_table(results: Results) -> str:
    rows = []
    for s in results["subgroups"]:
        if s["gate"] == "PASS" and "difference" in s:
            finding = (f"{_pct(s['treatment'])} vs {_pct(s['comparison'])}; difference "
                       f"{100 * s['difference']:+.0f} pp ({100 * s['ci_low']:+.0f} to "
                       f"{100 * s['ci_high']:+.0f}); p = {_p(s['p_value'])}")  # fmt: skip
        else:
            finding = "Not reported: " + (s.get("why_not") or "gate failed")
        rows.append((s["subgroup"].replace("_", " "), s["level"], s["treatment_group"],
                     s["balance"], finding))  # fmt: skip
    if not rows:
        return "No subgroup analyses were requested."
    return markdown_table(
        pd.DataFrame(
            rows, columns=["Subgroup", "Group", "Participants", "Balance", "Headline measure"]
        )
    )


def methodology(results: Results) -> str:
    """The methods in plain English, from what actually ran."""
    run, m, link = results["run"], results["matching"], results["linkage"]
    th = results["thresholds"]
    parts = [
        "## Data",
        f"National records as extracted on {run['extract_date']}: one row per person and one per "
        "proven offence. The organisation's list was checked row by row; unusable rows are "
        "counted in the attrition diagram.",
        "## Finding people",
        f"People were linked exactly on PNC id where one was given and the record agreed on date "
        f"of birth or surname ({link['by_pnc']} people), and otherwise probabilistically "
        f"(Fellegi–Sunter, splink) on surname, forename, date of birth and sex with a match "
        f"probability of at least {link['threshold']}; rows matching several records equally "
        f"well ({link['ambiguous']}) were not guessed.",
        "## Index event and follow-up",
        f"Setting: {run['setting']}. The follow-up starts at the index event associated with the "
        f"programme and lasts {run['follow_up_months']} months; an offence counts as a proven "
        f"reoffence if committed in that time and proven by a conviction or caution within it "
        f"or a further {run['proving_months']} months. Penalty notices do not count.",
        "## Comparison group",
        f"{m['design'].capitalize()}. Covariates, all measured at the index date: "
        f"{', '.join(m['covariates'])}.",
        "## Estimation",
        results["description"],
        "## Publication rules",
        f"A measure is shown only when at least {th['min_expected_count']} people in each group "
        f"have (and do not have) the outcome; time to first reoffence only when at least "
        f"{th['min_reoffenders_time']} participants reoffended; subgroups only with at least "
        f"{th['min_group_size']} people in each group and {th['worst_balance']} balance. Counts "
        "below the smallest publishable count are shown as [c]. Results are statistically "
        "significant at the 5% level; a non-significant result is never described as 'no "
        "effect'.",
        "## Limitations",
        "Matching balances only what the records show. Participants may differ from their "
        "matches in unrecorded ways (motivation, support, circumstances); the sensitivity "
        "analysis says how strong such differences would need to be to change the conclusion. "
        "People who could not be found or matched are not represented.",
    ]  # fmt: skip
    return "\n\n".join(parts)
