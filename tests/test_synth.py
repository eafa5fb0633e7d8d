"""The synthetic national records: determinism, schema, calibration, submissions and truth."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest

from helpers.errors import CohortError
from helpers.records import DISPOSALS, check_records, connect, open_records
from helpers.synth.calibrate import (
    TARGETS,
    calibration_cohort,
    calibration_table,
    prior_gradient_is_monotone,
)
from helpers.synth.cli import EXAMPLES
from helpers.synth.names import pnc_check_letter, pnc_ids
from helpers.synth.national import NationalSpec, generate_national
from helpers.synth.submission import SubmissionSpec, generate_submission


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}  # fmt: skip


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    a = generate_national(tmp_path / "a", NationalSpec(people=3000, seed=5))
    b = generate_national(tmp_path / "b", NationalSpec(people=3000, seed=5))
    c = generate_national(tmp_path / "c", NationalSpec(people=3000, seed=6))
    assert _digest(a) == _digest(b)
    assert _digest(a)["sanctions.parquet"] != _digest(c)["sanctions.parquet"]


def test_extract_follows_the_schema_and_its_own_rules(example_records):
    records = open_records(example_records)
    con = connect(records)
    check_records(con, records)  # raises on any violation
    people, sanctions = con.execute(
        "SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM sanctions)"
    ).fetchone()
    assert people == 200_000
    assert 4 < sanctions / people < 20  # a realistic number of proven offences per person
    every_person_has_a_record = con.execute(
        "SELECT count(*) FROM people ANTI JOIN sanctions USING (person_id)"
    ).fetchone()[0]
    assert every_person_has_a_record == 0
    disposals = dict(con.execute("SELECT disposal, count(*) FROM sanctions GROUP BY 1").fetchall())
    assert set(disposals) == set(DISPOSALS)


def test_no_offending_while_in_custody(example_records):
    con = connect(open_records(example_records))
    inside = con.execute(
        """SELECT count(*) FROM sanctions s JOIN sanctions c
           ON s.person_id = c.person_id AND c.disposal = 'custody'
          AND s.offence_date > c.sanction_date + 20 AND s.offence_date < c.release_date"""
    ).fetchone()[0]
    total = con.execute("SELECT count(*) FROM sanctions").fetchone()[0]
    assert inside / total < 0.005  # only concurrent-sentence edge cases


def test_pnc_ids_carry_a_valid_check_letter(example_records):
    ids = pd.read_parquet(example_records / "people.parquet", columns=["person_id"])["person_id"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"\d{4}/\d{7}[A-Z]").all()
    sample = ids.sample(500, random_state=1)
    assert all(pnc_check_letter(i) == i[-1] for i in sample)
    assert pnc_ids(np.array([2001]), np.array([42]))[0] == "2001/0000042" + pnc_check_letter(
        "2001/0000042X"
    )


@pytest.fixture(scope="module")
def calibration(example_records):
    records = open_records(example_records)
    return calibration_table(calibration_cohort(connect(records), records))


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.measure)
def test_reoffending_matches_published_figures(calibration, target):
    row = calibration.set_index("measure").loc[target.measure]
    assert target.low <= row["generated"] <= target.high, (
        f"{target.measure}: generated {row['generated']}, published {target.source}"
    )


def test_reoffending_rises_with_every_band_of_previous_offences(calibration):
    assert prior_gradient_is_monotone(calibration)


def test_women_reoffend_less_and_teens_most_and_over_fifties_least(calibration):
    value = calibration.set_index("measure")["generated"]
    assert value["women"] < value["men"]
    ages = value[[m for m in value.index if m.startswith("age ")]]
    assert ages.idxmax() == "age 10–17"
    assert ages.idxmin() == "age 50+"


def test_example_submissions_have_every_kind_of_mess(example_root):
    truth = json.loads((example_root / "data/example/truth/truth.json").read_text())
    rows = pd.read_csv(example_root / "data/example/truth/rows.csv")
    sent = pd.read_csv(example_root / "data/example/submission.csv", dtype=str)
    assert len(sent) == len(rows)
    assert truth["participants"] == EXAMPLES[0].participants
    assert set(rows["role"]) == {"participant", "duplicate", "no_eligible_event",
                                 "not_in_records"}  # fmt: skip
    for flag in ("typo", "nickname", "swapped_dob", "missing_dob", "pnc_given", "invalid"):
        assert rows[flag].any(), flag
    assert "person_id" not in sent.columns  # the truth stays out of the submission
    given = sent["PNC Number"].dropna()
    assert given.str.fullmatch(r"\d{4}/\d{7}[A-Z]").all()


def test_programme_effect_is_applied_to_the_records_and_recorded_as_truth(example_root):
    truth = json.loads((example_root / "data/example/truth/truth.json").read_text())
    effects = truth["true_effects"]
    assert truth["prevented_sanctions"] > 0
    assert effects["reoffences"]["all_effect"] < 0
    assert effects["reoffended"]["all_effect"] < 0
    outcomes = pd.read_parquet(example_root / "data/example/truth/outcomes.parquet")
    assert (outcomes["reoffences_with"] <= outcomes["reoffences_without"]).all()
    placebo = json.loads((example_root / "data/example_placebo/truth/truth.json").read_text())
    assert placebo["prevented_sanctions"] == 0
    assert all(v["all_effect"] == 0 for v in placebo["true_effects"].values()
               if not np.isnan(v["all_effect"]))  # fmt: skip
    manifest = json.loads((example_root / "data/national/manifest.json").read_text())
    assert [s["name"] for s in manifest["submissions"]] == [s.name for s in EXAMPLES]


def test_participants_are_never_reused_and_a_submission_is_not_applied_twice(example_root):
    parts = pd.read_parquet(example_root / "data/national/truth/participants.parquet")
    assert parts["person_id"].is_unique
    with pytest.raises(CohortError, match="already applied"):
        generate_submission(example_root / "data/national", example_root / "again",
                            SubmissionSpec(name="example"))  # fmt: skip


def test_selection_on_risk_picks_higher_risk_people(tmp_path, example_records):
    import shutil

    records = shutil.copytree(example_records, tmp_path / "national")
    spec = dict(setting="community", participants=200, effect=1.0, seed=3)
    generate_submission(records, tmp_path / "random", SubmissionSpec(name="r", selection=0, **spec))
    generate_submission(records, tmp_path / "risky", SubmissionSpec(name="h", selection=2, **spec))
    rate = {n: json.loads((tmp_path / n / "truth/truth.json").read_text())["true_effects"][
        "reoffended"]["all_without"] for n in ("random", "risky")}  # fmt: skip
    assert rate["risky"] > rate["random"] + 0.1


def test_dates_in_the_submission_are_uk_style(example_root):
    sent = pd.read_csv(example_root / "data/example/submission.csv", dtype=str)
    dates = sent["Programme Start"].dropna()
    uk = dates.str.fullmatch(r"\d{2}/\d{2}/\d{2}(\d{2})?")
    iso = dates.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    assert (uk | iso | (dates == "TBC")).all()
    assert uk.mean() > 0.8
    assert re.search(r"[^\x00-\x7f]", "".join(sent["Surname"].dropna()))  # non-ASCII names
