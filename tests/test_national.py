"""Index events, covariates and outcomes: each JDL rule pinned on a hand-built extract, and
no information from after the index date leaking into the covariates."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from _records import person, sanction, write_records
from helpers import national
from helpers.records import connect, open_records
from helpers.sql import create_table, run_sql


def _con(tmp_path, people, sanctions):
    return connect(open_records(write_records(tmp_path / "rec", people, sanctions)))


def _events(con, setting: str) -> pd.DataFrame:
    sql = national.index_events_sql(setting)
    return run_sql(con, f"SELECT * FROM ({sql}) ORDER BY person_id, index_date", "events")


def _derive(con, setting: str) -> pd.DataFrame:
    create_table(con, "ev", f"SELECT row_number() OVER (ORDER BY person_id, index_date) "
                 f"AS event_id, * FROM ({national.index_events_sql(setting)})")  # fmt: skip
    cov = run_sql(con, national.covariates_sql("ev"), "cov")
    out = run_sql(con, national.outcomes_sql("ev"), "out")
    ev = run_sql(con, "SELECT event_id, person_id, index_date FROM ev", "ev")
    return ev.merge(cov, on="event_id").merge(out, on="event_id").sort_values("event_id")


def test_overlapping_custody_sentences_make_one_release_and_separate_ones_two(tmp_path):
    con = _con(tmp_path, [person("A"), person("B")], [
        sanction(1, "A", "2019-12-01", "2020-01-01", "custody", days=200, release="2020-04-20"),
        sanction(2, "A", "2019-12-05", "2020-03-01", "custody", days=400, release="2020-09-01"),
        sanction(3, "B", "2019-12-01", "2020-01-01", "custody", days=60, release="2020-01-31"),
        sanction(4, "B", "2020-03-01", "2020-04-01", "custody", days=60, release="2020-05-01"),
    ])  # fmt: skip
    ev = _events(con, "custody")
    assert ev.groupby("person_id").size().to_dict() == {"A": 1, "B": 2}
    a = ev[ev.person_id == "A"].iloc[0]
    assert str(a["index_date"])[:10] == "2020-09-01"  # the spell ends at the later release
    assert str(a["history_before"])[:10] == "2020-01-01"  # history stops at the spell start
    assert a["index_sanction_id"] == 2


def test_a_day_counts_as_its_most_severe_sentence(tmp_path):
    con = _con(tmp_path, [person("A"), person("B")], [
        sanction(1, "A", "2020-01-01", "2020-02-01", "community_order"),
        sanction(2, "A", "2020-01-02", "2020-02-01", "custody", days=60, release="2020-03-02"),
        sanction(3, "B", "2020-01-01", "2020-02-01", "fine"),
        sanction(4, "B", "2020-01-05", "2020-02-01", "suspended_sentence"),
    ])  # fmt: skip
    community = _events(con, "community")
    assert community["person_id"].tolist() == ["B"]
    assert community.iloc[0]["index_disposal"] == "suspended_sentence"


def test_outcome_rules_follow_the_proven_reoffending_definition(tmp_path):
    s = [sanction(1, "A", "2019-12-01", "2020-01-10", "community_order")]  # index 2020-01-10
    s += [
        sanction(2, "A", "2020-01-10", "2020-02-01"),  # on the index date: not a reoffence
        sanction(3, "A", "2020-03-01", "2020-04-01", court="summary"),  # counts (first)
        sanction(4, "A", "2020-05-01", "2020-06-01", "custody", court="indictable", days=30,
                 release="2020-06-16"),  # counts, custodial
        sanction(5, "A", "2020-07-01", "2020-07-02", "penalty_notice"),  # not proven
        sanction(6, "A", "2020-12-01", "2021-08-01"),  # proven after 18 months: no
        sanction(7, "A", "2021-02-01", "2021-03-01"),  # committed after 12 months: no
    ]  # fmt: skip
    con = _con(tmp_path, [person("A")], s)
    row = _derive(con, "community").iloc[0]
    assert str(row["index_date"])[:10] == "2020-01-10"
    assert row["reoffended"] == 1 and row["reoffences"] == 2
    assert row["days_to_first"] == 51
    assert (row["first_summary"], row["first_indictable"], row["first_either_way"]) == (1, 0, 0)
    assert row["reoffences_summary"] == 1 and row["reoffences_indictable"] == 1
    assert row["first_custody"] == 0 and row["custodial_reoffences"] == 1
    assert (row["time_to_event"], row["event"]) == (51, 1)


def test_non_reoffenders_are_censored_at_the_end_of_follow_up(tmp_path):
    con = _con(tmp_path, [person("A")], [sanction(1, "A", "2020-01-01", "2020-02-01",
                                                  "community_order")])  # fmt: skip
    row = _derive(con, "community").iloc[0]
    assert row["reoffended"] == 0 and pd.isna(row["days_to_first"])
    assert pd.isna(row["first_custody"]) and pd.isna(row["first_summary"])
    assert (row["time_to_event"], row["event"]) == (366, 0)  # 2020 is a leap year


def test_history_covariates_and_the_copas_rate(tmp_path):
    con = _con(tmp_path, [person("A", dob="1990-01-01")], [
        sanction(1, "A", "2009-12-01", "2010-01-01", "caution", group="theft"),
        sanction(2, "A", "2011-12-01", "2012-01-01", "custody", group="violence", days=90,
                 release="2012-02-15"),
        sanction(3, "A", "2011-12-02", "2012-01-01", "custody", group="theft", days=90,
                 release="2012-02-15"),
        sanction(4, "A", "2015-01-01", "2015-02-01", "penalty_notice", group="public_order"),
        sanction(5, "A", "2019-12-01", "2020-01-01", "community_order", group="drugs"),
    ])  # fmt: skip
    row = _derive(con, "community").iloc[0]
    assert row["prev_offences"] == 3  # the PND is not a proven offence
    assert row["prev_sanctions"] == 2  # two sentencing days
    assert row["prev_custody"] == 1 and row["prev_court_orders"] == 0
    assert row["prev_theft"] == 2 and row["prev_violence"] == 1 and row["prev_drugs"] == 0
    assert row["age"] == pytest.approx(30.0, abs=0.01)
    assert row["age_first_sanction"] == pytest.approx(20.0, abs=0.01)
    assert row["years_since_first"] == pytest.approx(10.0, abs=0.01)
    import math

    assert row["copas_rate"] == pytest.approx(math.log((2 + 1) / (10 + 10.0)), abs=1e-3)
    assert row["first_sanction"] == 0 and row["index_offence"] == "drugs"


def test_nothing_after_the_index_date_changes_the_covariates(example_records, tmp_path):
    """Delete every later sanction, and add fake ones: covariates must not move."""
    records = open_records(example_records)
    con = connect(records)
    create_table(
        con,
        "ev",
        f"""SELECT row_number() OVER (ORDER BY person_id) AS event_id, *
        FROM ({national.index_events_sql("custody")})
        WHERE index_date BETWEEN DATE '2020-01-01' AND DATE '2020-06-30'
        QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY index_date) = 1""",
    )
    before = run_sql(con, national.covariates_sql("ev"), "before").sort_values("event_id")
    create_table(
        con,
        "past_only",
        """SELECT s.* FROM sanctions s WHERE NOT EXISTS (
        SELECT 1 FROM ev WHERE ev.person_id = s.person_id AND s.sanction_date >= ev.history_before)""",
    )
    create_table(
        con,
        "with_future",
        """SELECT * FROM past_only UNION ALL
        SELECT s.sanction_id + 10000000, s.person_id, ev.index_date + 5, ev.index_date + 40,
               'robbery', 'indictable', 'custody', 900, ev.index_date + 500
        FROM ev JOIN sanctions s ON s.sanction_id = ev.index_sanction_id""",
    )
    after = run_sql(con, national.covariates_sql("ev", sanctions="with_future"), "after")
    after = after.sort_values("event_id")
    assert len(before) > 500
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))


@pytest.mark.parametrize(("index", "complete"), [("2020-06-30", True), ("2020-07-01", False)])
def test_follow_up_is_complete_only_when_12_plus_6_months_end_by_the_extract(index, complete):
    sql = national.follow_up_complete_sql("DATE '2021-12-31'")
    value = duckdb.sql(f"SELECT {sql} FROM (SELECT DATE '{index}' AS index_date)").fetchall()
    assert value[0][0] is complete
