"""Linkage: accurate on messy synthetic submissions, never guessing between look-alikes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from _records import person, sanction, write_records
from helpers.linkage import link_submission
from helpers.records import connect, open_records
from helpers.submission import read_submission

EXAMPLES = ("example", "example_community", "example_placebo")


def _accuracy(root, name: str) -> dict[str, float]:
    records = open_records(root / "data" / "national")
    sub = read_submission(root / "data" / name / "submission.csv",
                          reference_date=records.extract_date)  # fmt: skip
    result = link_submission(connect(records), sub.valid_rows, threshold=0.95)
    truth = pd.read_csv(root / "data" / name / "truth" / "rows.csv")
    m = truth.merge(result.rows, on="row", how="inner", suffixes=("_true", ""))
    linked = m["status"] == "linked"
    correct = linked & (m["person_id"] == m["person_id_true"])
    in_records = m["person_id_true"].notna()
    return {
        "precision": correct.sum() / linked.sum(),
        "recall": (correct & in_records).sum() / in_records.sum(),
        "fabricated_linked": int((linked & ~in_records).sum()),
    }


@pytest.mark.parametrize("name", EXAMPLES)
def test_linkage_precision_and_recall_on_messy_submissions(example_root, name):
    acc = _accuracy(example_root, name)
    assert acc["precision"] >= 0.99, acc
    assert acc["recall"] >= 0.95, acc
    assert acc["fabricated_linked"] == 0


def _rows(*people) -> pd.DataFrame:
    rows = []
    for i, (forename, surname, dob, sex, pnc) in enumerate(people):
        rows.append({"row": i + 2, "forename": forename, "surname": surname,
                     "date_of_birth": dt.date.fromisoformat(dob) if dob else None,
                     "sex": sex, "pnc_id": pnc})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def small_records(tmp_path):
    people = [
        person("2001/0000001Z", "1985-04-03", forename="William", surname="Okonkwo"),
        person("2001/0000002A", "1990-11-07", forename="Margaret", surname="Featherstonehaugh",
               sex="F"),
        person("2001/0000003B", "1978-02-14", forename="Ali", surname="Rahman"),
        person("2001/0000004C", "1978-02-14", forename="Ali", surname="Rahman"),  # look-alike
        person("2001/0000005D", "1966-06-06", forename="Zbigniew", surname="Wójcik"),
    ]  # fmt: skip
    filler = [person(f"2002/{i:07d}X", f"19{60 + i % 40}-0{1 + i % 9}-1{i % 9}",
                     forename=f"Name{i}", surname=f"Filler{i}") for i in range(300)]  # fmt: skip
    sanctions = [sanction(k + 1, p["person_id"], "2019-01-01", "2019-02-01")
                 for k, p in enumerate(people + filler)]  # fmt: skip
    return connect(open_records(write_records(tmp_path / "rec", people + filler, sanctions)))


def test_typos_nicknames_swapped_dates_and_accents_still_link(small_records):
    rows = _rows(
        ("Bill", "Okonkwo", "1985-04-03", "M", None),  # nickname
        ("Margaret", "Featherstonhaugh", "1990-07-11", "F", None),  # typo + day/month swapped
        ("Zbigniew", "Wojcik", "1966-06-06", "M", None),  # accent dropped
    )  # fmt: skip
    result = link_submission(small_records, rows).rows.set_index("row")
    assert result["status"].tolist() == ["linked"] * 3
    assert result["person_id"].tolist() == ["2001/0000001Z", "2001/0000002A", "2001/0000005D"]


def test_look_alikes_are_reported_ambiguous_not_guessed(small_records):
    result = link_submission(small_records, _rows(("Ali", "Rahman", "1978-02-14", "M", None)))
    row = result.rows.iloc[0]
    assert row["status"] == "ambiguous" and pd.isna(row["person_id"])
    assert "2 records" in row["note"]


def test_a_pnc_id_decides_between_look_alikes_but_not_against_the_evidence(small_records):
    rows = _rows(
        ("Ali", "Rahman", "1978-02-14", "M", "2001/0000004C"),  # exact and consistent
        ("John", "Nobody", "1950-01-01", "M", "2001/0000002A"),  # someone else's id
        ("Someone", "Else", "1950-01-01", "M", "2009/0000009Z"),  # not in the records
    )  # fmt: skip
    result = link_submission(small_records, rows).rows.set_index("row")
    assert result.loc[2, "status"] == "linked" and result.loc[2, "method"] == "pnc"
    assert result.loc[2, "person_id"] == "2001/0000004C"
    assert result.loc[3, "status"] == "not_found"
    assert "another name and date of birth" in result.loc[3, "note"]
    assert result.loc[4, "status"] == "not_found" and "not in the records" in result.loc[4, "note"]


def test_people_who_are_not_in_the_records_are_not_found(small_records):
    result = link_submission(small_records, _rows(("Priya", "Unheardof", "1999-09-09", "F", None)))
    assert result.rows.iloc[0]["status"] == "not_found"
