"""Finding submitted people in the national records.

Two routes, as the JDL does (reference §2):

1. **Exact on PNC id** where the organisation supplied one and it exists in the records; the
   link is accepted only if the record agrees on date of birth or surname, so that a mistyped
   id cannot silently attach someone else's history.
2. **Probabilistic** (Fellegi–Sunter, with splink on DuckDB) on names, date of birth and sex
   for everyone else. The model is written as data (:func:`splink_settings`): comparison levels
   for surname and forename (exact with term-frequency adjustment, Jaro–Winkler bands, known
   nicknames from the ``nicknames`` package), date of birth (exact, day and month swapped, one
   typo, within a year) and sex. m-probabilities are fixed priors stated below (a list of a few
   hundred people is too small to estimate them by EM); u-probabilities are estimated from
   random pairs of national records with a fixed seed, so linkage is reproducible.

Each submitted row is then *linked* (one person above the threshold), *ambiguous* (two or more
people above it: reported, never guessed) or *not found*.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import pandas as pd
from splink import DuckDBAPI, Linker, block_on

from helpers.sql import create_table, run_sql

log = logging.getLogger(__name__)

#: Expected share of submitted people who are in the records (sets the prior match odds).
EXPECTED_FOUND = 0.9
STATUSES = ("linked", "ambiguous", "not_found")

_STD = "nullif(regexp_replace(lower(strip_accents({c})), '[^a-z]', '', 'g'), '')"


@dataclass(frozen=True)
class LinkageResult:
    """Who each submitted row is.

    Attributes
    ----------
    rows
        One row per submitted row: ``row``, ``status`` (linked / ambiguous / not_found),
        ``person_id`` (when linked), ``method`` (pnc / probabilistic), ``match_probability``,
        ``note`` (why a PNC id was not used, how many candidates were ambiguous).
    candidates
        Scored candidate records above half the threshold, for an analyst's review
        (personal data: restricted).
    threshold
        The match probability a link needs.
    """

    rows: pd.DataFrame
    candidates: pd.DataFrame
    threshold: float

    def counts(self) -> dict[str, int]:
        counts = self.rows["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in STATUSES}


def link_submission(
    con: duckdb.DuckDBPyConnection,
    rows: pd.DataFrame,
    *,
    threshold: float = 0.95,
    use_pnc: bool = True,
    seed: int = 1,
) -> LinkageResult:
    """Link the valid rows of a submission (``helpers.submission``) to ``people``."""
    _standardise(con, rows)
    exact = _pnc_links(con) if use_pnc else _no_links()
    rest = rows[~rows["row"].isin(exact.loc[exact["status"] == "linked", "row"])]
    scored = _score(con, rest["row"], threshold, seed) if len(rest) else _empty_scores()
    decided = _decide(rest["row"], scored, threshold)
    linked = pd.concat([exact[exact["status"] == "linked"], decided], ignore_index=True)
    notes = exact.set_index("row")["note"].dropna()
    linked["note"] = linked["row"].map(notes).combine_first(linked["note"])
    return LinkageResult(
        rows=linked.sort_values("row", ignore_index=True),
        candidates=scored,
        threshold=threshold,
    )


def _standardise(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> None:
    """Comparable columns on both sides: lower-case ASCII letters, dates, name keys."""
    con.register("submitted_rows", rows[["row", "forename", "surname", "date_of_birth", "sex",
                                         "pnc_id"]])  # fmt: skip
    _name_keys(con)
    create_table(con, "link_people", f"SELECT {_comparable('person_id')} FROM people {_KEYS}")
    participants = _comparable("'row' || row")
    create_table(con, "link_participants",
                 f"SELECT {participants}, row, pnc_id FROM submitted_rows {_KEYS}")  # fmt: skip


#: Each forename's nickname keys, joined on the standardised forename (``_name_keys``).
_KEYS = (
    "LEFT JOIN (SELECT name, list(key ORDER BY key) AS forename_keys FROM name_keys "
    f"GROUP BY name) k ON k.name = {_STD.format(c='forename')}"
)


def _comparable(uid: str) -> str:
    """The columns splink compares, the same for records and submitted rows (which share the
    column names forename, surname, date_of_birth and sex); ``uid`` is the unique id."""
    std_f, std_s = _STD.format(c="forename"), _STD.format(c="surname")
    return f"""
        {uid} AS unique_id, {std_f} AS forename, {std_s} AS surname,
        date_of_birth::DATE AS dob, sex, strftime(date_of_birth::DATE, '%Y-%m-%d') AS dob_text,
        CASE WHEN day(date_of_birth::DATE) <= 12
             THEN make_date(year(date_of_birth::DATE), day(date_of_birth::DATE),
                            month(date_of_birth::DATE)) END AS dob_swapped,
        year(date_of_birth::DATE) AS dob_year, coalesce(k.forename_keys, []) AS forename_keys"""


def _name_keys(con: duckdb.DuckDBPyConnection) -> None:
    """name → canonical name, from the curated English nickname list (Bill → William)."""
    from nicknames import NickNamer

    pairs = [(c, c) for c in NickNamer().nickname_lookup]
    pairs += [(nick, c) for c, nicks in NickNamer().nickname_lookup.items() for nick in nicks]
    frame = pd.DataFrame(sorted(set(pairs)), columns=["name", "key"])
    frame["name"] = frame["name"].str.replace(r"[^a-z]", "", regex=True)
    con.register("name_keys_df", frame)
    create_table(con, "name_keys", "SELECT DISTINCT name, key FROM name_keys_df")


def _pnc_links(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Exact links on PNC id, accepted when the record agrees on date of birth or surname."""
    found = run_sql(
        con,
        """SELECT p.row, n.unique_id AS person_id,
                  (p.dob IS NULL OR p.dob = n.dob OR p.dob_swapped = n.dob
                   OR jaro_winkler_similarity(p.surname, n.surname) >= 0.88) AS agrees
           FROM link_participants p JOIN link_people n ON n.unique_id = p.pnc_id""",
        "PNC id links",
    )
    given = run_sql(con, "SELECT row FROM link_participants WHERE pnc_id IS NOT NULL", "PNC ids")
    out = given.merge(found, on="row", how="left")
    out["status"] = out["agrees"].map({True: "linked"}).fillna("not_found")
    out["method"] = "pnc"
    out["match_probability"] = out["agrees"].map({True: 1.0})
    out["note"] = None
    out.loc[out["person_id"].isna(), "note"] = "PNC id not in the records"
    out.loc[out["agrees"].eq(False), "note"] = (
        "PNC id belongs to a record with another name and date of birth"
    )
    out.loc[out["status"] != "linked", "person_id"] = None
    return out[["row", "status", "person_id", "method", "match_probability", "note"]]


def _no_links() -> pd.DataFrame:
    return pd.DataFrame(columns=["row", "status", "person_id", "method", "match_probability",
                                 "note"])  # fmt: skip


def _level(sql: str, label: str, m: float, **extra) -> dict:
    return {"sql_condition": sql, "label_for_charts": label, "m_probability": m, **extra}


def _null(col: str) -> dict:
    return {"sql_condition": f'"{col}_l" IS NULL OR "{col}_r" IS NULL',
            "label_for_charts": f"{col} missing", "is_null_level": True}  # fmt: skip


def _name(col: str, m: tuple[float, ...], nickname: bool) -> dict:
    levels = [_null(col), _level(f'"{col}_l" = "{col}_r"', "exact", m[0],
                                 tf_adjustment_column=col)]  # fmt: skip
    if nickname:
        levels.append(_level('len(list_intersect("forename_keys_l", "forename_keys_r")) > 0',
                             "known nickname", m[1]))  # fmt: skip
    similarity = f'jaro_winkler_similarity("{col}_l", "{col}_r")'
    levels += [
        _level(f"{similarity} >= 0.92", "Jaro-Winkler ≥ 0.92", m[2]),
        _level(f"{similarity} >= 0.80", "Jaro-Winkler ≥ 0.80", m[3]),
        _level("ELSE", "different", m[4]),
    ]
    return {"output_column_name": col, "comparison_levels": levels}


def splink_settings(n_people: int) -> dict:
    """The linkage model as data. m-probabilities are priors for administrative person data:
    names are recorded exactly about 90% of the time, dates of birth about 93%, with the rest
    spread over typos, nicknames, swapped day and month, and near misses."""
    return {
        "link_type": "link_only",
        "unique_id_column_name": "unique_id",
        "probability_two_random_records_match": EXPECTED_FOUND / max(n_people, 1),
        "comparisons": [
            _name("surname", (0.90, 0.0, 0.05, 0.03, 0.02), nickname=False),
            _name("forename", (0.84, 0.06, 0.04, 0.03, 0.03), nickname=True),
            {"output_column_name": "dob", "comparison_levels": [
                _null("dob"),
                _level('"dob_l" = "dob_r"', "exact", 0.93),
                _level('"dob_swapped_l" = "dob_r"', "day and month swapped", 0.02),
                _level('damerau_levenshtein("dob_text_l", "dob_text_r") <= 1', "one typo", 0.03),
                _level("abs(date_diff('day', \"dob_l\", \"dob_r\")) <= 366", "within a year", 0.01),
                _level("ELSE", "different", 0.01)]},
            {"output_column_name": "sex", "comparison_levels": [
                _null("sex"), _level('"sex_l" = "sex_r"', "same", 0.98),
                _level("ELSE", "different", 0.02)]},
        ],
        "blocking_rules_to_generate_predictions": [
            block_on("dob"), block_on("surname", "forename"), block_on("surname", "dob_year"),
            {"blocking_rule": "l.dob_swapped = r.dob"}, block_on("forename", "dob_year"),
        ],
        "retain_intermediate_calculation_columns": False,
    }  # fmt: skip


def _score(con, rows: pd.Series, threshold: float, seed: int) -> pd.DataFrame:
    n_people = con.execute("SELECT count(*) FROM link_people").fetchall()[0][0]
    con.register("rows_to_score", pd.DataFrame({"row": rows.to_numpy()}))
    create_table(con, "link_left", "SELECT * EXCLUDE (row, pnc_id) FROM link_participants "
                 "WHERE row IN (SELECT row FROM rows_to_score)")  # fmt: skip
    db = DuckDBAPI(con)
    linker = Linker([db.register("link_left"), db.register("link_people")],
                    splink_settings(n_people), log_level=logging.WARNING)  # fmt: skip
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    scored = linker.inference.predict(threshold_match_probability=threshold / 2)
    frame = scored.as_pandas_dataframe()
    if frame.empty:
        return _empty_scores()
    frame["row"] = frame["unique_id_l"].str.removeprefix("row").astype(int)
    frame = frame.rename(columns={"unique_id_r": "person_id"})
    keep = ["row", "person_id", "match_probability", "match_weight"]
    keep += [c for c in frame.columns if c.startswith("gamma_")]
    return frame[keep].sort_values(
        ["row", "match_probability", "person_id"], ascending=[True, False, True], ignore_index=True
    )


def _empty_scores() -> pd.DataFrame:
    return pd.DataFrame(columns=["row", "person_id", "match_probability", "match_weight"])


def _decide(rows: pd.Series, scored: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One person above the threshold → linked; several → ambiguous; none → not found."""
    above = scored[scored["match_probability"] >= threshold]
    people = above.groupby("row")["person_id"].nunique()
    best = above.drop_duplicates("row").set_index("row")
    out = pd.DataFrame({"row": rows.to_numpy()})
    n = out["row"].map(people).fillna(0).astype(int)
    out["status"] = pd.Series("not_found", index=out.index).mask(n == 1, "linked").mask(
        n > 1, "ambiguous")  # fmt: skip
    out["person_id"] = out["row"].map(best["person_id"]).where(n == 1)
    out["method"] = "probabilistic"
    out["match_probability"] = out["row"].map(scored.groupby("row")["match_probability"].max())
    out["note"] = None
    out.loc[n > 1, "note"] = n[n > 1].map(lambda k: f"{k} records match equally well")
    return out
