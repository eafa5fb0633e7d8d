"""One place that runs SQL (splink's habit): SQL is built by pure functions elsewhere as text,
executed here, logged at debug level, and failures re-raised naming the logical table.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import duckdb
import pandas as pd

from helpers.errors import RecordsError

log = logging.getLogger(__name__)


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, name: str) -> pd.DataFrame:
    """Run ``sql`` and return the result as a DataFrame; ``name`` labels logs and errors."""
    log.debug("-- %s\n%s", name, sql)
    start = time.perf_counter()
    try:
        frame = con.execute(sql).df()
    except duckdb.Error as exc:
        raise RecordsError(
            f"could not compute `{name}` from the national records: {exc}. Check that the "
            "extract follows the schema in helpers.records (run `jdl check`)."
        ) from exc
    log.debug("-- %s: %d rows in %.2fs", name, len(frame), time.perf_counter() - start)
    return frame


def create_table(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> None:
    """Materialise ``sql`` as a temporary table so later queries can reuse it."""
    log.debug("-- create %s\n%s", table, sql)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
    except duckdb.Error as exc:
        raise RecordsError(
            f"could not compute `{table}` from the national records: {exc}. Check that the "
            "extract follows the schema in helpers.records (run `jdl check`)."
        ) from exc


def date_literal(value: dt.date) -> str:
    """A DuckDB date literal; values come from validated params, never from free text."""
    return f"DATE '{value.isoformat()}'"


def string_list(values: tuple[str, ...] | list[str]) -> str:
    """A SQL list of string literals from a fixed vocabulary (quotes doubled)."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"
