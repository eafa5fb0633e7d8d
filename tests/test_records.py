"""A malformed national extract stops the run with a message that names the rule and an id."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _records import person, sanction, write_records
from helpers.errors import RecordsError
from helpers.params import IngestParams
from helpers.records import check_records, connect, open_records


def _check(folder):
    records = open_records(folder)
    check_records(connect(records), records)


@pytest.fixture
def good(tmp_path):
    return write_records(tmp_path / "rec", [person("A"), person("B")], [
        sanction(1, "A", "2019-01-01", "2019-02-01"),
        sanction(2, "B", "2019-01-01", "2019-02-01", "custody", days=60, release="2019-03-02"),
    ])  # fmt: skip


def test_a_good_extract_passes(good):
    _check(good)


def test_duckdb_limits_from_params_reach_the_connection(good):
    params = IngestParams(duckdb_memory_limit="1.5GB", duckdb_threads=1)
    con = connect(open_records(good), **params.duckdb_settings())
    limit, threads = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('threads')"
    ).fetchone()
    assert (limit, threads) == ("1.3 GiB", 1)  # DuckDB reports 1.5 GB (10^9) in GiB
    default = connect(open_records(good), **IngestParams().duckdb_settings())
    assert default.execute("SELECT current_setting('memory_limit')").fetchone()[0] != limit


def test_missing_folder_or_table_is_named(tmp_path, good):
    with pytest.raises(RecordsError, match="does not exist.*jdl synth national"):
        open_records(tmp_path / "nowhere")
    (good / "sanctions.parquet").unlink()
    with pytest.raises(RecordsError, match=r"sanctions\.parquet missing"):
        open_records(good)


def test_extract_date_must_be_known(good):
    (good / "manifest.json").write_text(json.dumps({}))
    with pytest.raises(RecordsError, match="does not state its extract date.*`extract_date`"):
        open_records(good)
    (good / "manifest.json").write_text("{not json")
    with pytest.raises(RecordsError, match="not valid JSON"):
        open_records(good)


def test_missing_and_mistyped_columns_are_listed(good):
    people = pd.read_parquet(good / "people.parquet").drop(columns=["sex"])
    people["date_of_birth"] = people["date_of_birth"].astype(str)
    people.to_parquet(good / "people.parquet")
    with pytest.raises(RecordsError) as info:
        _check(good)
    text = str(info.value)
    assert "people.parquet has no column `sex`" in text
    assert "people.parquet column `date_of_birth` is VARCHAR, expected DATE" in text


@pytest.mark.parametrize(
    ("people", "sanctions", "message"),
    [
        ([person("A"), person("A")], [sanction(1, "A", "2019-01-01", "2019-02-01")], "people.person_id is duplicated (id A)"),
        ([person("A", sex="X")], [sanction(1, "A", "2019-01-01", "2019-02-01")], "people.sex is not M or F (id A)"),
        ([person("A")], [sanction(1, "Z", "2019-01-01", "2019-02-01")], "sanctions.person_id is not in people (id 1)"),
        ([person("A")], [sanction(1, "A", "2019-03-01", "2019-02-01")], "sanction_date is before offence_date (id 1)"),
        ([person("A")], [sanction(1, "A", "2019-01-01", "2019-02-01", "prison")], "disposal is not a known code (id 1)"),
        ([person("A")], [sanction(1, "A", "2019-01-01", "2019-02-01", "custody", days=0)], "custody rows need custodial_days > 0"),
        ([person("A")], [sanction(1, "A", "2019-01-01", "2026-02-01")], "dated after the extract date (id 1)"),
        ([person("A")], [sanction(1, "A", "2019-01-01", "2019-02-01"), sanction(1, "A", "2019-01-01", "2019-02-01")], "sanction_id is duplicated (id 1)"),
    ],
)  # fmt: skip
def test_each_broken_rule_is_reported_with_an_example_id(tmp_path, people, sanctions, message):
    folder = write_records(tmp_path / "rec", people, sanctions)
    with pytest.raises(RecordsError, match="must be corrected") as info:
        _check(folder)
    assert message in str(info.value)


def test_all_broken_rules_are_reported_at_once(tmp_path):
    folder = write_records(tmp_path / "rec", [person("A", sex="X")], [
        sanction(1, "A", "2019-03-01", "2019-02-01", "prison"),
        sanction(2, "A", "2019-03-01", "2019-02-01", "prison"),
    ])  # fmt: skip
    with pytest.raises(RecordsError) as info:
        _check(folder)
    assert str(info.value).startswith("3 problems with the national records:")
    assert "2 rows, e.g. id" in str(info.value)
