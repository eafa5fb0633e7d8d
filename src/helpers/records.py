"""National records extracts: their schema, opening them in DuckDB, and checking them.

An extract is a folder with two Parquet tables (the shape of the Police National Computer data
the JDL holds) and an optional ``manifest.json`` that states the extract date:

- ``people.parquet``: one row per person (PNC id, names, date of birth, demographics);
- ``sanctions.parquet``: one row per proven offence (offence date, sanction date, offence
  group, court type, disposal, custodial sentence length and release date).

Everything else (index events, covariates, outcomes) is derived from these by ``national``.
DuckDB reads the Parquet files in place, so millions of people cost little memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from helpers.errors import RecordsError

log = logging.getLogger(__name__)

SEXES = ("M", "F")
ETHNICITIES = ("White", "Black", "Asian", "Mixed", "Other", "Not stated")
REGIONS = (
    "North East",
    "North West",
    "Yorkshire and the Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
    "Wales",
)
OFFENCE_GROUPS = (
    "violence",
    "sexual",
    "robbery",
    "burglary",
    "theft",
    "criminal_damage",
    "drugs",
    "weapons",
    "public_order",
    "fraud",
    "motoring",
    "other",
)
COURT_TYPES = ("indictable", "either_way", "summary")
#: Disposals from least to most severe; the order ranks sanctions given on the same day.
DISPOSALS = (
    "penalty_notice",
    "caution",
    "discharge",
    "fine",
    "community_order",
    "suspended_sentence",
    "custody",
)
#: Penalty notices for disorder are recorded but are not proven offences (reference §4).
NOT_PROVEN = ("penalty_notice",)

#: Column → DuckDB type family expected in each table.
SCHEMA: dict[str, dict[str, str]] = {
    "people": {
        "person_id": "VARCHAR",
        "forename": "VARCHAR",
        "surname": "VARCHAR",
        "date_of_birth": "DATE",
        "sex": "VARCHAR",
        "ethnicity": "VARCHAR",
        "nationality": "VARCHAR",
        "region": "VARCHAR",
    },
    "sanctions": {
        "sanction_id": "BIGINT",
        "person_id": "VARCHAR",
        "offence_date": "DATE",
        "sanction_date": "DATE",
        "offence_group": "VARCHAR",
        "court_type": "VARCHAR",
        "disposal": "VARCHAR",
        "custodial_days": "INTEGER",
        "release_date": "DATE",
    },
}


@dataclass(frozen=True)
class NationalRecords:
    """A national records extract on disk.

    Attributes
    ----------
    folder
        The extract's folder.
    extract_date
        The date the extract was taken: no event after it can be in the data, so follow-up
        windows must end on or before it.
    manifest
        The extract's ``manifest.json`` (generator settings for synthetic data), or ``{}``.
    """

    folder: Path
    extract_date: dt.date
    manifest: dict

    def path(self, table: str) -> Path:
        return self.folder / f"{table}.parquet"


def open_records(folder: str | Path, extract_date: dt.date | None = None) -> NationalRecords:
    """Locate an extract and read its manifest; raise :class:`RecordsError` if unusable.

    ``extract_date`` overrides the manifest's; one of the two must exist, because every
    follow-up window is checked against it.
    """
    folder = Path(folder)
    missing = [t for t in SCHEMA if not (folder / f"{t}.parquet").is_file()]
    if not folder.is_dir() or missing:
        where = (
            f"folder {folder} does not exist"
            if not folder.is_dir()
            else (f"{', '.join(t + '.parquet' for t in missing)} missing in {folder}")
        )
        raise RecordsError(
            f"{where}. Point `national_records` at a folder holding people.parquet and "
            "sanctions.parquet (for synthetic records run `jdl synth national`)."
        )
    manifest = _read_manifest(folder)
    date = extract_date or _manifest_date(manifest, folder)
    return NationalRecords(folder=folder, extract_date=date, manifest=manifest)


def _read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordsError(f"{path} is not valid JSON ({exc}); restore or delete it.") from exc


def _manifest_date(manifest: dict, folder: Path) -> dt.date:
    value = manifest.get("extract_date")
    if value is None:
        raise RecordsError(
            f"the extract in {folder} does not state its extract date. Set `extract_date` "
            "in the params YAML to the date the records were taken."
        )
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise RecordsError(
            f"manifest.json in {folder} has extract_date {value!r}, which is not a date "
            "(use YYYY-MM-DD)."
        ) from exc


def connect(
    records: NationalRecords, *, threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with ``people`` and ``sanctions`` as views on the files."""
    con = duckdb.connect(config={"threads": threads} if threads else {})
    # No progress bar in logs and scripts; in Jupyter (no ipywidgets) DuckDB shows none and
    # refuses the setting.
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    for table in SCHEMA:
        path = str(records.path(table)).replace("'", "''")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    return con


def check_records(con: duckdb.DuckDBPyConnection, records: NationalRecords) -> None:
    """Check columns, types and the rules every extract must follow; report all problems.

    Cheap enough for millions of rows (a handful of aggregate scans). Problems name the
    table, column and an example id so that whoever produced the extract can fix it.
    """
    problems = _schema_problems(con)
    if not problems:
        problems = _content_problems(con, records.extract_date)
    if problems:
        raise RecordsError(
            problems,
            fix=f"The extract in {records.folder} must be corrected (or regenerated) first.",
        )


def _schema_problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    problems = []
    for table, columns in SCHEMA.items():
        have = {row[0]: row[1] for row in con.execute(f"DESCRIBE {table}").fetchall()}
        for column, kind in columns.items():
            if column not in have:
                problems.append(f"{table}.parquet has no column `{column}` ({kind}).")
            elif not _type_ok(have[column], kind):
                problems.append(
                    f"{table}.parquet column `{column}` is {have[column]}, expected {kind}."
                )
    return problems


def _type_ok(actual: str, expected: str) -> bool:
    if expected in ("BIGINT", "INTEGER"):
        return actual in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
    if expected == "DATE":
        return actual == "DATE" or actual.startswith("TIMESTAMP")
    return actual == expected


#: (rule broken, table, condition on a row that breaks it). Each is checked with one scan.
_RULES: tuple[tuple[str, str, str], ...] = (
    ("people.person_id is empty", "people", "person_id IS NULL OR person_id = ''"),
    ("people.sex is not M or F", "people", "sex IS NULL OR sex NOT IN ('M', 'F')"),
    ("people.date_of_birth is missing", "people", "date_of_birth IS NULL"),
    ("sanctions.offence_date or sanction_date is missing", "sanctions",
     "offence_date IS NULL OR sanction_date IS NULL"),
    ("sanctions.sanction_date is before offence_date", "sanctions",
     "sanction_date < offence_date"),
    ("sanctions.disposal is not a known code", "sanctions",
     "disposal IS NULL OR disposal NOT IN {disposals}"),
    ("sanctions.court_type is not a known code", "sanctions",
     "court_type IS NULL OR court_type NOT IN {courts}"),
    ("sanctions.offence_group is not a known code", "sanctions",
     "offence_group IS NULL OR offence_group NOT IN {groups}"),
    ("custody rows need custodial_days > 0 and a release_date on or after sanction_date",
     "sanctions", "disposal = 'custody' AND (custodial_days IS NULL OR custodial_days <= 0 "
     "OR release_date IS NULL OR release_date < sanction_date)"),
    ("sanctions are dated after the extract date", "sanctions",
     "sanction_date > DATE '{extract}'"),
)  # fmt: skip

#: Rules about keys, each a query returning an example offending id (or NULL).
_KEY_RULES: tuple[tuple[str, str], ...] = (
    ("people.person_id is duplicated", "SELECT any_value(person_id) FROM (SELECT person_id "
     "FROM people GROUP BY 1 HAVING count(*) > 1)"),
    ("sanctions.sanction_id is duplicated", "SELECT any_value(sanction_id)::VARCHAR FROM "
     "(SELECT sanction_id FROM sanctions GROUP BY 1 HAVING count(*) > 1)"),
    ("sanctions.person_id is not in people", "SELECT any_value(s.sanction_id)::VARCHAR "
     "FROM sanctions s ANTI JOIN people p USING (person_id)"),
)  # fmt: skip


def _content_problems(con: duckdb.DuckDBPyConnection, extract_date: dt.date) -> list[str]:
    fill = {
        "disposals": _sql_tuple(DISPOSALS),
        "courts": _sql_tuple(COURT_TYPES),
        "groups": _sql_tuple(OFFENCE_GROUPS),
        "extract": extract_date.isoformat(),
    }
    queries = [
        (rule, f"SELECT any_value({_ID[table]})::VARCHAR, count(*) FROM {table} "
               f"WHERE {condition.format(**fill)}")
        for rule, table, condition in _RULES
    ] + [(rule, f"SELECT ({query}), 1") for rule, query in _KEY_RULES]  # fmt: skip
    problems = []
    for rule, query in queries:
        example, count = con.execute(query).fetchall()[0]
        if example is not None:
            problems.append(f"{rule}: {count:,} rows, e.g. id {example}." if count > 1
                            else f"{rule} (id {example}).")  # fmt: skip
    return problems


_ID = {"people": "person_id", "sanctions": "sanction_id"}


def _sql_tuple(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"
