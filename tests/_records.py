"""Build tiny national records extracts by hand for rule-by-rule tests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from helpers.synth.national import PEOPLE_SCHEMA, SANCTIONS_SCHEMA


def person(pid: str, dob: str = "1990-01-01", sex: str = "M", **extra) -> dict:
    row = {
        "person_id": pid,
        "forename": "Test",
        "surname": pid,
        "date_of_birth": dob,
        "sex": sex,
        "ethnicity": "White",
        "nationality": "British",
        "region": "London",
    }
    return row | extra


def sanction(
    sid: int,
    pid: str,
    offence: str,
    sanction: str,
    disposal: str = "fine",
    group: str = "theft",
    court: str = "either_way",
    days: int = 0,
    release: str | None = None,
) -> dict:
    return {
        "sanction_id": sid,
        "person_id": pid,
        "offence_date": offence,
        "sanction_date": sanction,
        "offence_group": group,
        "court_type": court,
        "disposal": disposal,
        "custodial_days": days,
        "release_date": release,
    }


def write_records(
    folder: Path, people: list[dict], sanctions: list[dict], extract_date: str = "2024-12-31"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = pd.DataFrame(people)
    p["date_of_birth"] = pd.to_datetime(p["date_of_birth"]).dt.date
    s = pd.DataFrame(sanctions, columns=[f.name for f in SANCTIONS_SCHEMA])
    for col in ("offence_date", "sanction_date", "release_date"):
        s[col] = pd.to_datetime(s[col]).dt.date
    s["custodial_days"] = s["custodial_days"].astype("int32")
    p.to_parquet(folder / "people.parquet", index=False, schema=PEOPLE_SCHEMA)
    s.to_parquet(folder / "sanctions.parquet", index=False, schema=SANCTIONS_SCHEMA)
    (folder / "manifest.json").write_text(json.dumps({"extract_date": extract_date}))
    return folder


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
