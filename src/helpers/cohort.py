"""From linked participants to an analysable treatment group and comparison pool.

Index event rules (reference §2; both windows are parameters):

- *custody*: the first release from custody on or after the programme start, within
  ``release_within_days`` of it — the programme ran inside, the follow-up starts at release;
- *community*: the start of the community order or suspended sentence nearest to the programme
  start, within ± ``order_within_days`` (ties go to the earlier order).

A person is eligible when that index event lies in the eligibility window, in the analysis
region and sex if the run is restricted, and its 12 + 6 month follow-up has ended by the
extract date. The comparison pool is everyone else with an index event of the same setting in
the window (their first such event), under the same restrictions.

Every filter appends an attrition row (CohortMethod's habit), so the chevron diagram is a plot
of :attr:`Cohort.attrition`, and nobody disappears unexplained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb
import pandas as pd

from helpers import national
from helpers.errors import CohortError
from helpers.linkage import LinkageResult
from helpers.params import IngestParams
from helpers.sql import create_table, date_literal, run_sql
from helpers.submission import Submission

ATTRITION_COLUMNS = ["step", "group", "people", "removed", "reason"]


@dataclass(frozen=True)
class Cohort:
    """The analysable cohort.

    Attributes
    ----------
    table
        One row per index event (treatment group and comparison pool): ``pid``, ``treated``,
        covariates and outcomes; no names, dates of birth, PNC ids or exact dates.
    attrition
        ``step``, ``group``, ``people`` remaining, ``removed`` and ``reason``.
    identities
        ``pid`` ↔ ``person_id``, index date and submitted ``row`` (restricted).
    participants
        What became of every submitted row: ``row``, ``status`` (restricted).
    """

    table: pd.DataFrame
    attrition: pd.DataFrame
    identities: pd.DataFrame
    participants: pd.DataFrame


class Attrition:
    """Collects attrition rows as filters are applied."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, step: str, group: str, people: int, removed: int = 0, reason: str = "") -> None:
        self.rows.append({"step": step, "group": group, "people": people, "removed": removed,
                          "reason": reason})  # fmt: skip

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=ATTRITION_COLUMNS)


def start_attrition(submission: Submission, params: IngestParams) -> Attrition:
    """Rows sent and rows usable; stop early if the usable rows cannot reach the minimum."""
    attrition = Attrition()
    total, valid = len(submission.rows), int(submission.rows["valid"].sum())
    attrition.add("Submitted", "treatment", total)
    attrition.add("Usable rows", "treatment", valid, total - valid,
                  "missing or impossible name, date or programme date")  # fmt: skip
    if valid < params.min_cohort:
        raise CohortError(
            f"only {valid} of {total} rows in the participant file are usable; at least "
            f"{params.min_cohort} people are needed (`min_cohort`). See the row-by-row "
            "problems in restricted/validation.csv and send a corrected file."
        )
    return attrition


def linked_participants(
    submission: Submission, linkage: LinkageResult, attrition: Attrition
) -> pd.DataFrame:
    """One row per linked person (duplicates collapsed onto the earliest programme date)."""
    rows = submission.valid_rows.merge(linkage.rows[["row", "status", "person_id"]], on="row")
    counts = rows["status"].value_counts()
    found = rows[rows["status"] == "linked"]
    attrition.add("Found in national records", "treatment", len(found),
                  len(rows) - len(found),
                  f"{counts.get('not_found', 0)} not found, "
                  f"{counts.get('ambiguous', 0)} matched several records")  # fmt: skip
    people = found.sort_values(["person_id", "anchor_date", "row"]).drop_duplicates("person_id")
    attrition.add("Distinct people", "treatment", len(people), len(found) - len(people),
                  "the same person listed more than once")  # fmt: skip
    return people[["row", "person_id", "anchor_date", "programme_start", "programme_end"]]


def participant_events(
    con: duckdb.DuckDBPyConnection, people: pd.DataFrame, params: IngestParams,
    extract_literal: str, attrition: Attrition,
) -> pd.DataFrame:  # fmt: skip
    """Each participant's index event, then the eligibility filters."""
    con.register("participants_df", people)
    rule = _rule_sql(params)
    events = run_sql(
        con,
        f"""SELECT p.row, ev.* FROM participants_df p
            JOIN ({national.index_events_sql(params.setting)}) ev USING (person_id)
            WHERE {rule["where"]}
            QUALIFY row_number() OVER (PARTITION BY p.person_id
                                       ORDER BY {rule["order"]}, ev.index_date) = 1""",
        "participants' index events",
    )
    attrition.add("Index event linked to the programme", "treatment", len(events),
                  len(people) - len(events), rule["reason"])  # fmt: skip
    return _eligible(con, events, params, extract_literal, attrition, "treatment")


_DAYS_APART = "abs(date_diff('day', p.anchor_date, ev.index_date))"


def _rule_sql(params: IngestParams) -> dict[str, str]:
    if params.setting == "custody":
        return {
            "where": "ev.index_date >= p.anchor_date AND ev.index_date <= p.anchor_date + "
                     f"INTERVAL {params.release_within_days} DAY",
            "order": "ev.index_date",
            "reason": f"no release from custody within {params.release_within_days} days "
                      "after the programme start",
        }  # fmt: skip
    return {
        "where": f"{_DAYS_APART} <= {params.order_within_days}",
        "order": _DAYS_APART,
        "reason": "no community order or suspended sentence starting within "
                  f"{params.order_within_days} days of the programme start",
    }  # fmt: skip


def _eligible(con, events: pd.DataFrame, params: IngestParams, extract_literal: str,
              attrition: Attrition, group: str) -> pd.DataFrame:  # fmt: skip
    """Window, restrictions and complete follow-up, each with its attrition row."""
    con.register("events_df", events)
    people = run_sql(con, "SELECT e.*, p.region, p.sex FROM events_df e JOIN people p "
                     "USING (person_id)", f"{group} demographics")  # fmt: skip
    start, end = params.window_start, params.window_end
    index = pd.to_datetime(people["index_date"]).dt.date
    steps = [("Index event in the eligibility window", index.between(start, end),
              f"index event outside {start:%d/%m/%Y}–{end:%d/%m/%Y}")]  # fmt: skip
    if params.region:
        steps.append(("In the analysis region", people["region"] == params.region,
                      f"not in {params.region}"))  # fmt: skip
    if params.sex:
        steps.append(("Of the analysed sex", people["sex"] == params.sex,
                      f"sex is not {params.sex}"))  # fmt: skip
    condition = national.follow_up_complete_sql(
        extract_literal, params.follow_up_months, params.proving_months
    )
    complete = run_sql(con, f"SELECT {condition} AS ok FROM events_df", "follow-up complete")
    complete = complete["ok"].to_numpy()
    steps.append(("Follow-up complete", complete,
                  f"{params.follow_up_months} + {params.proving_months} months of follow-up "
                  "not over by the extract date"))  # fmt: skip
    keep = pd.Series(True, index=people.index)
    for step, ok, reason in steps:
        before = int(keep.sum())
        keep &= pd.Series(ok, index=people.index).fillna(False).astype(bool)
        attrition.add(step, group, int(keep.sum()), before - int(keep.sum()), reason)
    return events[keep.to_numpy()].reset_index(drop=True)


def comparison_pool(
    con: duckdb.DuckDBPyConnection, params: IngestParams, extract_literal: str,
    attrition: Attrition,
) -> pd.DataFrame:  # fmt: skip
    """Everyone else's first index event of the setting in the window, same restrictions."""
    filters = [
        f"ev.index_date BETWEEN {date_literal(params.window_start)} "
        f"AND {date_literal(params.window_end)}",
        national.follow_up_complete_sql(extract_literal, params.follow_up_months,
                                        params.proving_months).replace("index_date",
                                                                       "ev.index_date"),
        "ev.person_id NOT IN (SELECT person_id FROM participants_df)",
    ]  # fmt: skip
    if params.region:
        filters.append(f"p.region = '{params.region}'")
    if params.sex:
        filters.append(f"p.sex = '{params.sex}'")
    pool = run_sql(
        con,
        f"""SELECT NULL::INTEGER AS row, ev.* FROM ({national.index_events_sql(params.setting)}) ev
            JOIN people p USING (person_id) WHERE {" AND ".join(filters)}
            QUALIFY row_number() OVER (PARTITION BY ev.person_id
                                       ORDER BY ev.index_date, ev.index_sanction_id) = 1""",
        "comparison pool",
    )
    attrition.add("Comparison pool", "comparison", len(pool), 0,
                  f"other people with a {params.setting} index event in the window, "
                  "follow-up complete, participants excluded")  # fmt: skip
    return pool


def derive(
    con: duckdb.DuckDBPyConnection, treated: pd.DataFrame, pool: pd.DataFrame,
    params: IngestParams,
) -> pd.DataFrame:  # fmt: skip
    """Covariates as of the index date and outcomes in the follow-up, for both groups."""
    events = pd.concat([treated.assign(treated=1), pool.assign(treated=0)], ignore_index=True)
    events = events.sort_values(["treated", "person_id"], ascending=[False, True],
                                ignore_index=True)  # fmt: skip
    events["event_id"] = range(1, len(events) + 1)
    con.register("cohort_events_df", events)
    create_table(con, "cohort_events", "SELECT * FROM cohort_events_df")
    cov = run_sql(con, national.covariates_sql("cohort_events"), "covariates")
    out = run_sql(con, national.outcomes_sql("cohort_events", params.follow_up_months,
                                             params.proving_months), "outcomes")  # fmt: skip
    keep = ["event_id", "row", "person_id", "index_date", "treated"]
    return events[keep].merge(cov, on="event_id").merge(out, on="event_id")


def pseudonymise(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace identities by run-local ids (``P0000001``…) in a seeded, content-free order.

    Returns the publishable-in-principle table and the restricted identity map.
    """
    digest = [hashlib.sha256(f"{seed}:{p}:{d}".encode()).hexdigest()
              for p, d in zip(frame["person_id"], frame["index_date"], strict=True)]  # fmt: skip
    order = pd.Series(digest).rank(method="first").astype(int)
    frame = frame.assign(pid=[f"P{k:07d}" for k in order])
    identities = frame[["pid", "person_id", "index_date", "row", "treated"]]
    table = frame.drop(columns=["person_id", "index_date", "row", "event_id"])
    table = table[["pid", *[c for c in table.columns if c != "pid"]]]
    return table.sort_values("pid", ignore_index=True), identities.sort_values(
        "pid", ignore_index=True)  # fmt: skip


def require_minimum(table: pd.DataFrame, attrition: pd.DataFrame, minimum: int) -> None:
    """Stop (with the attrition in the message) when too few participants remain."""
    n = int(table["treated"].sum())
    if n >= minimum:
        return
    steps = attrition[attrition["group"] == "treatment"]
    lost = "; ".join(f"{r.step}: {r.people}" for r in steps.itertuples())
    raise CohortError(
        f"only {n} participants remain for analysis; at least {minimum} are needed "
        f"(`min_cohort`). People at each step — {lost}. The reasons are in ingest/attrition.csv."
    )


def participant_status(submission: Submission, linkage: LinkageResult,
                       identities: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """What became of every submitted row (for the organisation; restricted)."""
    status = submission.rows[["row", "valid"]].merge(
        linkage.rows[["row", "status", "method", "match_probability", "note"]], on="row",
        how="left")  # fmt: skip
    status["status"] = status["status"].where(status["valid"], "invalid_row")
    analysed = set(identities.loc[identities["treated"] == 1, "row"].dropna().astype(int))
    status.loc[status["row"].isin(analysed), "status"] = "analysed"
    return status
