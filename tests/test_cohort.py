"""Index event choice, eligibility, the comparison pool and attrition."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from _records import person, sanction, write_records
from helpers import cohort
from helpers.errors import CohortError
from helpers.params import IngestParams
from helpers.records import connect, open_records
from helpers.sql import date_literal

EXTRACT = "DATE '2024-12-31'"


def _people(*pairs) -> pd.DataFrame:
    return pd.DataFrame([{"row": i + 2, "person_id": p, "anchor_date": dt.date.fromisoformat(d),
                          "programme_start": dt.date.fromisoformat(d), "programme_end": None}
                         for i, (p, d) in enumerate(pairs)])  # fmt: skip


@pytest.fixture
def con(tmp_path):
    people = [person(p) for p in "ABCDEFG"] + [person("P", region="Wales")]
    s = [
        # A: programme in custody, released after it → index = that release
        sanction(1, "A", "2019-01-01", "2019-02-01", "custody", days=400, release="2019-08-01"),
        # B: released before the programme started, and much later again → the later one
        sanction(2, "B", "2018-01-01", "2018-02-01", "custody", days=100, release="2018-03-01"),
        sanction(3, "B", "2020-01-01", "2020-02-01", "custody", days=200, release="2020-06-01"),
        # C: a release, but more than a year after the programme start
        sanction(4, "C", "2019-01-01", "2019-02-01", "custody", days=1000, release="2020-09-01"),
        # D: released in the window but follow-up not complete by the extract
        sanction(5, "D", "2023-05-01", "2023-06-01", "custody", days=100, release="2023-08-01"),
        # E, F: community orders near the programme start
        sanction(6, "E", "2019-12-01", "2020-01-10", "community_order"),
        sanction(7, "E", "2020-02-01", "2020-03-20", "suspended_sentence"),
        sanction(8, "F", "2017-01-01", "2017-02-01", "community_order"),
        # G and P: people who did not take part (P is in Wales)
        sanction(9, "G", "2019-01-01", "2019-02-01", "custody", days=300, release="2019-06-01"),
        sanction(10, "P", "2019-01-01", "2019-02-01", "custody", days=300, release="2019-06-01"),
    ]  # fmt: skip
    return connect(open_records(write_records(tmp_path / "rec", people, s)))


def test_custody_index_event_is_the_first_release_after_the_programme_start(con):
    params = IngestParams(setting="custody", window_end=dt.date(2023, 12, 31))
    attrition = cohort.Attrition()
    people = _people(("A", "2019-03-01"), ("B", "2019-11-01"), ("C", "2019-03-01"),
                     ("D", "2023-06-10"))  # fmt: skip
    events = cohort.participant_events(con, people, params, EXTRACT, attrition)
    chosen = {r.person_id: str(r.index_date)[:10] for r in events.itertuples()}
    assert chosen == {"A": "2019-08-01", "B": "2020-06-01"}
    table = attrition.frame().set_index("step")
    assert table.loc["Index event linked to the programme", "removed"] == 1  # C
    assert table.loc["Follow-up complete", "removed"] == 1  # D
    assert "365 days" in table.loc["Index event linked to the programme", "reason"]


def test_community_index_event_is_the_nearest_order_within_the_window(con):
    params = IngestParams(setting="community", order_within_days=90)
    attrition = cohort.Attrition()
    events = cohort.participant_events(con, _people(("E", "2020-03-01"), ("F", "2020-03-01")),
                                       params, EXTRACT, attrition)  # fmt: skip
    assert events["person_id"].tolist() == ["E"]
    assert str(events.iloc[0]["index_date"])[:10] == "2020-03-20"  # 19 days beats 51
    assert events.iloc[0]["index_disposal"] == "suspended_sentence"


def test_pool_excludes_participants_and_follows_restrictions(con):
    params = IngestParams(setting="custody")
    con.register("participants_df", _people(("A", "2019-03-01")))
    attrition = cohort.Attrition()
    pool = cohort.comparison_pool(con, params, EXTRACT, attrition)
    assert set(pool["person_id"]) == {"B", "C", "G", "P"}  # D: released after the window
    wales = cohort.comparison_pool(con, IngestParams(setting="custody", region="Wales"),
                                   EXTRACT, cohort.Attrition())  # fmt: skip
    assert wales["person_id"].tolist() == ["P"]


def test_example_cohort_is_pseudonymous_and_its_attrition_adds_up(example_root):
    from helpers.linkage import link_submission
    from helpers.submission import read_submission

    params = IngestParams(
        national_records=str(example_root / "data/national"),
        submission=str(example_root / "data/example/submission.csv"),
    )
    records = open_records(params.records_path())
    con = connect(records)
    sub = read_submission(params.submission_path(), reference_date=records.extract_date)
    attrition = cohort.start_attrition(sub, params)
    linked = link_submission(con, sub.valid_rows)
    people = cohort.linked_participants(sub, linked, attrition)
    extract = date_literal(records.extract_date)
    treated = cohort.participant_events(con, people, params, extract, attrition)
    pool = cohort.comparison_pool(con, params, extract, attrition)
    table, identities = cohort.pseudonymise(cohort.derive(con, treated, pool, params), 1)
    steps = attrition.frame()
    treatment = steps[steps["group"] == "treatment"]
    assert (treatment["people"].diff().dropna() == -treatment["removed"].iloc[1:]).all()
    assert treatment["people"].iloc[-1] == table["treated"].sum()
    assert not {"person_id", "forename", "surname", "date_of_birth", "index_date", "row"} & set(
        table.columns
    )
    assert table["pid"].is_unique and table["pid"].str.fullmatch(r"P\d{7}").all()
    assert set(identities["person_id"]).isdisjoint(set(table["pid"]))
    truth = pd.read_csv(example_root / "data/example/truth/rows.csv")
    genuine = set(truth.loc[truth["role"] == "participant", "person_id"])
    found = set(identities.loc[identities["treated"] == 1, "person_id"])
    assert len(found & genuine) / len(genuine) > 0.9  # most genuine participants analysed
    assert found <= genuine  # nobody else slipped in
    assert len(pool) > 10 * len(treated)


def test_too_few_usable_people_stops_the_run(tmp_path):
    from helpers.submission import read_submission

    path = tmp_path / "few.csv"
    path.write_text("Surname,Forename,DOB,Sex,Programme start\nA,B,01/01/1980,M,01/01/2020\n")
    sub = read_submission(path, reference_date=dt.date(2024, 12, 31))
    with pytest.raises(CohortError, match="only 1 of 1 rows .* at least 60 people"):
        cohort.start_attrition(sub, IngestParams())
    table = pd.DataFrame({"treated": [1] * 5})
    steps = pd.DataFrame([{"step": "Submitted", "group": "treatment", "people": 70,
                           "removed": 0, "reason": ""}])  # fmt: skip
    with pytest.raises(CohortError, match="only 5 participants remain.*Submitted: 70"):
        cohort.require_minimum(table, steps, 60)
