"""Index events, covariates and outcomes derived from national records, as of an index date.

The same SQL serves the treatment group and the whole comparison pool, so both are measured
identically, and everything is computed *as of* the index date so that nothing from after it
leaks into the covariates (tests/test_national.py checks this by perturbing later records).

Definitions (reference §2, §4; MoJ proven reoffending statistics):

- **Index event.** *custody*: release from a custodial spell (overlapping or back-to-back
  custodial sentences are merged into one spell; the index date is the spell's last release);
  *community*: the start (sentence date) of a community order or suspended sentence;
  *any*: every release and every non-custodial sanction (caution, fine, discharge, court
  order), the MoJ's whole-offender cohort used for calibration. Sanctions given on the same day
  count as one event whose disposal is the most severe of them.
- **History** is every proven offence sanctioned before the index sanction (for releases, before
  the spell's first custodial sentence), so offences dealt with during the index sentence are
  neither history nor outcome. Penalty notices for disorder are never proven offences.
- **Proven reoffence**: an offence committed after the index date and within the follow-up
  (12 months), proven by a caution or conviction within the follow-up or a further six months.
- **Copas rate** = ln((previous sanctions + 1) / (10 + years since first sanction)), where a
  sanction is a sentencing occasion (all offences dealt with on one day).
"""

from __future__ import annotations

from helpers.records import DISPOSALS, NOT_PROVEN, OFFENCE_GROUPS
from helpers.sql import string_list

SETTINGS = ("custody", "community", "any")
COURT_ORDERS = ("community_order", "suspended_sentence")

#: Outcome columns written per index event (ARCHITECTURE.md lists their populations).
OUTCOME_COLUMNS = (
    "reoffended",
    "reoffences",
    "days_to_first",
    "first_indictable",
    "first_either_way",
    "first_summary",
    "reoffences_indictable",
    "reoffences_either_way",
    "reoffences_summary",
    "first_custody",
    "custodial_reoffences",
    "time_to_event",
    "event",
)

#: Right-skewed counts, also given on the log(1 + x) scale: propensity models fit them far
#: better that way, and a misspecified model leaves imbalance that means alone do not show.
COUNT_COVARIATES = ("prev_offences", "prev_sanctions", "prev_custody", "prev_court_orders",
                    *(f"prev_{g}" for g in OFFENCE_GROUPS), "custodial_days")  # fmt: skip
#: MoJ proven reoffending age groups.
_AGE_GROUP = """CASE WHEN age < 18 THEN '10-17' WHEN age < 21 THEN '18-20'
    WHEN age < 25 THEN '21-24' WHEN age < 30 THEN '25-29' WHEN age < 40 THEN '30-39'
    WHEN age < 50 THEN '40-49' ELSE '50+' END"""

_PROVEN = f"disposal NOT IN {string_list(NOT_PROVEN)}"
_DISPOSAL_RANK = "list_position(" + "[" + ", ".join(f"'{d}'" for d in DISPOSALS) + "], disposal)"
_COURT_RANK = "list_position(['indictable', 'either_way', 'summary'], court_type)"


def principal_sanctions_sql() -> str:
    """One row per person and sentencing day: the most severe sanction that day."""
    return f"""
        SELECT * EXCLUDE (rn) FROM (
            SELECT *, row_number() OVER (
                PARTITION BY person_id, sanction_date
                ORDER BY {_DISPOSAL_RANK} DESC, custodial_days DESC NULLS LAST,
                         {_COURT_RANK}, sanction_id
            ) AS rn
            FROM sanctions
        ) WHERE rn = 1"""


def custody_releases_sql() -> str:
    """Custodial spells (gaps-and-islands over sentence → release) and their final release."""
    return f"""
        WITH c AS (
            SELECT person_id, sanction_id, sanction_date, release_date, custodial_days,
                   offence_group, court_type,
                   max(release_date) OVER (
                       PARTITION BY person_id ORDER BY sanction_date, sanction_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_release
            FROM sanctions WHERE disposal = 'custody'
        ), spells AS (
            SELECT *, sum(CASE WHEN prev_release IS NULL OR sanction_date > prev_release
                               THEN 1 ELSE 0 END) OVER (
                       PARTITION BY person_id ORDER BY sanction_date, sanction_id) AS spell
            FROM c
        ), ranked AS (
            SELECT *, min(sanction_date) OVER (PARTITION BY person_id, spell) AS spell_start,
                   row_number() OVER (
                       PARTITION BY person_id, spell
                       ORDER BY release_date DESC, custodial_days DESC, {_COURT_RANK},
                                sanction_id) AS rn
            FROM spells
        )
        SELECT person_id, release_date AS index_date, spell_start AS history_before,
               sanction_id AS index_sanction_id, offence_group AS index_offence,
               court_type AS index_court, 'custody' AS index_disposal,
               custodial_days, 'custody' AS setting
        FROM ranked WHERE rn = 1"""


def court_events_sql(disposals: tuple[str, ...]) -> str:
    """Non-custodial sentencing days whose principal disposal is one of ``disposals``."""
    return f"""
        SELECT person_id, sanction_date AS index_date, sanction_date AS history_before,
               sanction_id AS index_sanction_id, offence_group AS index_offence,
               court_type AS index_court, disposal AS index_disposal,
               0 AS custodial_days,
               CASE WHEN disposal IN {string_list(COURT_ORDERS)} THEN 'community'
                    ELSE 'out_of_court_or_fine' END AS setting
        FROM ({principal_sanctions_sql()})
        WHERE disposal IN {string_list(disposals)}"""


def index_events_sql(setting: str) -> str:
    """Every candidate index event of a programme setting (see module docstring)."""
    if setting == "custody":
        return custody_releases_sql()
    if setting == "community":
        return court_events_sql(COURT_ORDERS)
    if setting == "any":
        others = tuple(d for d in DISPOSALS if d not in NOT_PROVEN and d != "custody")
        return f"{custody_releases_sql()}\nUNION ALL\n{court_events_sql(others)}"
    raise ValueError(f"unknown setting {setting!r}; use one of {SETTINGS}")


def covariates_sql(events: str, sanctions: str = "sanctions") -> str:
    """Demographics and criminal history as of each event in table ``events``.

    ``events`` needs ``event_id``, ``person_id``, ``index_date``, ``history_before`` and the
    index sanction's columns. Only sanctions strictly before ``history_before`` are read.
    """
    by_group = ",\n".join(
        f"count(*) FILTER (WHERE s.offence_group = '{g}') AS prev_{g}" for g in OFFENCE_GROUPS
    )
    logs = ",\n".join(f"ln(1 + {c}) AS log_{c}" for c in COUNT_COVARIATES)
    return f"""
        WITH hist AS (
            SELECT e.event_id,
                   count(s.sanction_id) AS prev_offences,
                   count(DISTINCT s.sanction_date) AS prev_sanctions,
                   count(DISTINCT s.sanction_date) FILTER (WHERE s.disposal = 'custody')
                       AS prev_custody,
                   count(DISTINCT s.sanction_date)
                       FILTER (WHERE s.disposal IN {string_list(COURT_ORDERS)})
                       AS prev_court_orders,
                   {by_group},
                   min(s.sanction_date) AS first_prev
            FROM {events} e
            LEFT JOIN {sanctions} s
              ON s.person_id = e.person_id AND s.sanction_date < e.history_before
             AND s.{_PROVEN}
            GROUP BY e.event_id
        )
        SELECT e.event_id,
               date_diff('day', p.date_of_birth, e.index_date) / 365.25 AS age,
               p.sex, p.ethnicity, (p.nationality = 'British')::INTEGER AS uk_national,
               p.region, year(e.index_date) AS index_year,
               e.index_offence, e.index_court, e.index_disposal, e.custodial_days,
               h.* EXCLUDE (event_id, first_prev),
               (h.prev_sanctions = 0)::INTEGER AS first_sanction,
               date_diff('day', p.date_of_birth, coalesce(h.first_prev, e.history_before))
                   / 365.25 AS age_first_sanction,
               date_diff('day', coalesce(h.first_prev, e.history_before), e.index_date)
                   / 365.25 AS years_since_first,
               ln((h.prev_sanctions + 1) / (10 + date_diff('day',
                   coalesce(h.first_prev, e.history_before), e.index_date) / 365.25))
                   AS copas_rate,
               {logs},
               {_AGE_GROUP} AS age_group
        FROM {events} e
        JOIN people p USING (person_id)
        JOIN hist h USING (event_id)"""


def outcomes_sql(
    events: str, follow_up_months: int = 12, proving_months: int = 6, sanctions: str = "sanctions"
) -> str:
    """The seven JDL measures' raw ingredients and a survival outcome for each event."""
    end = f"e.index_date + INTERVAL {int(follow_up_months)} MONTH"
    proven_by = f"e.index_date + INTERVAL {int(follow_up_months + proving_months)} MONTH"
    return f"""
        WITH re AS (
            SELECT e.event_id, s.offence_date, s.court_type, s.disposal,
                   row_number() OVER (PARTITION BY e.event_id
                       ORDER BY s.offence_date, {_COURT_RANK}, s.sanction_id) AS k
            FROM {events} e
            JOIN {sanctions} s
              ON s.person_id = e.person_id AND s.offence_date > e.index_date
             AND s.offence_date <= {end} AND s.sanction_date <= {proven_by} AND s.{_PROVEN}
        ), agg AS (
            SELECT event_id, count(*) AS reoffences,
                   min(offence_date) AS first_date,
                   count(*) FILTER (WHERE court_type = 'indictable') AS reoffences_indictable,
                   count(*) FILTER (WHERE court_type = 'either_way') AS reoffences_either_way,
                   count(*) FILTER (WHERE court_type = 'summary') AS reoffences_summary,
                   count(*) FILTER (WHERE disposal = 'custody') AS custodial_reoffences,
                   any_value(court_type) FILTER (WHERE k = 1) AS first_court,
                   any_value(disposal) FILTER (WHERE k = 1) AS first_disposal
            FROM re GROUP BY event_id
        )
        SELECT e.event_id,
               (coalesce(a.reoffences, 0) > 0)::INTEGER AS reoffended,
               coalesce(a.reoffences, 0) AS reoffences,
               date_diff('day', e.index_date, a.first_date)::DOUBLE AS days_to_first,
               CASE WHEN a.first_court IS NULL THEN NULL
                    ELSE (a.first_court = 'indictable')::DOUBLE END AS first_indictable,
               CASE WHEN a.first_court IS NULL THEN NULL
                    ELSE (a.first_court = 'either_way')::DOUBLE END AS first_either_way,
               CASE WHEN a.first_court IS NULL THEN NULL
                    ELSE (a.first_court = 'summary')::DOUBLE END AS first_summary,
               coalesce(a.reoffences_indictable, 0) AS reoffences_indictable,
               coalesce(a.reoffences_either_way, 0) AS reoffences_either_way,
               coalesce(a.reoffences_summary, 0) AS reoffences_summary,
               CASE WHEN a.first_disposal IS NULL THEN NULL
                    ELSE (a.first_disposal = 'custody')::DOUBLE END AS first_custody,
               coalesce(a.custodial_reoffences, 0) AS custodial_reoffences,
               coalesce(date_diff('day', e.index_date, a.first_date),
                        date_diff('day', e.index_date, {end}))::DOUBLE AS time_to_event,
               (a.first_date IS NOT NULL)::INTEGER AS event
        FROM {events} e LEFT JOIN agg a USING (event_id)"""


def follow_up_complete_sql(
    extract_date_literal: str, follow_up_months: int = 12, proving_months: int = 6
) -> str:
    """Condition on ``index_date``: the follow-up and proving windows end by the extract date."""
    months = int(follow_up_months + proving_months)
    return f"index_date + INTERVAL {months} MONTH <= {extract_date_literal}"
