"""An organisation's submission with a known truth.

``generate_submission`` plays both the world and the charity:

1. From the national records it draws the people the programme worked with: index events of
   the programme's setting in the window, selected on observable risk (and, optionally, on the
   latent propensity the records cannot show — hidden bias that matching cannot remove).
2. It gives the programme a known effect: each proven offence a participant commits in the two
   years after the index date is prevented with probability ``1 - effect`` (thinning an
   offending process scales its rate by ``effect``, a rate ratio). The prevented sanctions are
   removed from the national records, so the records show the world *with* the programme.
3. It writes the participant list as a charity would send it (typos, nicknames, swapped day and
   month, missing fields, duplicates, people not in the records, programme dates with no
   eligible index event, a few unusable rows) and, separately, the truth: who each row really
   is, and every participant's outcomes with and without the programme.

The pipeline never reads the truth; validation compares estimates with it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import national
from helpers.errors import CohortError
from helpers.records import NationalRecords, connect, open_records
from helpers.sql import create_table, date_literal, run_sql
from helpers.synth import messy
from helpers.synth.names import draw_demographics, draw_names

log = logging.getLogger(__name__)

EFFECT_YEARS = 2  #: the programme changes offending for this long after the index date


@dataclass(frozen=True)
class SubmissionSpec:
    """What the organisation did, for whom, with what true effect, and how messy its list is."""

    name: str = "example"
    organisation: str = "Example Charity"
    setting: str = "custody"  #: custody (released after the programme) or community
    participants: int = 400  #: genuine participants with an eligible index event
    window_start: dt.date = dt.date(2019, 1, 1)
    window_end: dt.date = dt.date(2022, 12, 31)
    region: str | None = None
    sex: str | None = None
    effect: float = 0.8  #: rate ratio on proven offending after the index date (1 = placebo)
    selection: float = 1.0  #: selection on observable risk (0 = random, 2 = strong)
    hidden_selection: float = 0.0  #: selection on latent propensity, invisible in the records
    seed: int = 1
    typo_rate: float = 0.06
    nickname_rate: float = 0.04
    swapped_dob_rate: float = 0.02
    missing_dob_rate: float = 0.02
    duplicate_rate: float = 0.04
    not_in_records_rate: float = 0.05
    ineligible_rate: float = 0.08
    pnc_rate: float = 0.35
    invalid_rate: float = 0.01


def generate_submission(records_dir: str | Path, out_dir: str | Path, spec: SubmissionSpec) -> dict:
    """Select participants, apply the effect to the records, write submission and truth."""
    records = open_records(records_dir)
    _refuse_reapplying(records, spec)
    rng = np.random.default_rng([spec.seed, 7])
    con = connect(records)
    chosen = _select_participants(con, records, spec, rng)
    removed = _prevented_offences(con, chosen, spec.effect, rng)
    y0, y1 = _potential_outcomes(con, removed)
    rows, truth_rows = _messy_rows(con, chosen, spec, rng, records)
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "submission.csv", index=False, encoding="utf-8")
    truth = _truth(spec, chosen, y0, y1, truth_rows, removed)
    _write_truth(out / "truth", truth, truth_rows, chosen, y0, y1)
    _apply_to_records(con, records, removed, chosen, spec)
    log.info("wrote %d submission rows (%d genuine participants) to %s", len(rows),
             len(chosen), out)  # fmt: skip
    return truth


def _refuse_reapplying(records: NationalRecords, spec: SubmissionSpec) -> None:
    if any(s.get("name") == spec.name for s in records.manifest.get("submissions", [])):
        raise CohortError(
            f"a submission named {spec.name!r} was already applied to {records.folder}. "
            "Regenerate the records (`jdl synth national`) or use another --name."
        )


def _select_participants(con, records, spec, rng) -> pd.DataFrame:
    """Index events of the setting in the window, drawn with selection on risk."""
    filters = [f"ev.index_date BETWEEN {date_literal(spec.window_start)} "
               f"AND {date_literal(spec.window_end)}",
               national.follow_up_complete_sql(date_literal(records.extract_date))
               .replace("index_date", "ev.index_date")]  # fmt: skip
    if spec.region:
        filters.append(f"p.region = '{spec.region}'")
    if spec.sex:
        filters.append(f"p.sex = '{spec.sex}'")
    con.register("taken", pd.DataFrame({"person_id": _earlier_participants(records)},
                                       dtype="string"))  # fmt: skip
    create_table(
        con,
        "candidates",
        f"""SELECT row_number() OVER (ORDER BY person_id) AS event_id, * FROM (
              SELECT ev.* FROM ({national.index_events_sql(spec.setting)}) ev
              JOIN people p USING (person_id)
              WHERE {" AND ".join(filters)}
                AND ev.person_id NOT IN (SELECT person_id FROM taken)
              QUALIFY row_number() OVER (PARTITION BY ev.person_id
                                         ORDER BY ev.index_date) = 1)""",
    )
    cov = run_sql(con, national.covariates_sql("candidates"), "candidate covariates")
    events = run_sql(con, "SELECT * FROM candidates", "candidates").merge(cov, on="event_id")
    if len(events) < spec.participants * 2:
        raise CohortError(
            f"only {len(events)} people have a {spec.setting} index event in the window; "
            f"ask for at most {len(events) // 2} participants or generate more people."
        )
    latent = pd.read_parquet(records.folder / "truth" / "latent.parquet")
    events = events.merge(latent, on="person_id", how="left")
    score = spec.selection * _risk_score(events) + spec.hidden_selection * np.log(
        events["propensity"].to_numpy()
    )
    key = score + rng.gumbel(size=len(events))  # Gumbel top-k: sampling ∝ exp(score)
    chosen = events.iloc[np.sort(np.argsort(-key)[: spec.participants])].reset_index(drop=True)
    return _programme_dates(chosen, spec.setting, rng)


def _risk_score(events: pd.DataFrame) -> np.ndarray:
    """Observable risk a programme might target: Copas rate, custody history, youth."""

    def z(x):
        x = np.asarray(x, dtype=float)
        return (x - x.mean()) / (x.std() or 1.0)

    return (
        z(events["copas_rate"]) + 0.5 * z(np.log1p(events["prev_custody"]))
        + 0.5 * (events["age"].to_numpy() < 25)
    )  # fmt: skip


def _earlier_participants(records: NationalRecords) -> list[str]:
    path = records.folder / "truth" / "participants.parquet"
    return pd.read_parquet(path)["person_id"].tolist() if path.exists() else []


def _programme_dates(chosen: pd.DataFrame, setting: str, rng) -> pd.DataFrame:
    """Custody: during the sentence, ending by release. Community: soon after the order."""
    index = pd.to_datetime(chosen["index_date"]).dt.date
    n = len(chosen)
    if setting == "custody":
        spell = pd.to_datetime(chosen["history_before"]).dt.date
        earliest = [max(s, i - dt.timedelta(days=365)) for s, i in zip(spell, index, strict=True)]
        span = np.array([(i - e).days for e, i in zip(earliest, index, strict=True)])
        start = [e + dt.timedelta(days=int(d)) for e, d in
                 zip(earliest, rng.random(n) * np.maximum(span - 14, 0), strict=True)]  # fmt: skip
        end = [min(s + dt.timedelta(days=int(d)), i) for s, d, i in
               zip(start, rng.integers(42, 120, n), index, strict=True)]  # fmt: skip
    else:
        start = [i + dt.timedelta(days=int(d)) for i, d in zip(index, rng.integers(0, 42, n),
                                                             strict=True)]  # fmt: skip
        end = [s + dt.timedelta(days=int(d)) for s, d in zip(start, rng.integers(42, 180, n),
                                                           strict=True)]  # fmt: skip
    return chosen.assign(programme_start=start, programme_end=end)


def _prevented_offences(con, chosen: pd.DataFrame, effect: float, rng) -> pd.DataFrame:
    """Sanctions the programme prevented: each later offence kept with probability ``effect``."""
    con.register("chosen_view", chosen[["event_id", "person_id", "index_date"]])
    later = run_sql(
        con,
        f"""SELECT s.sanction_id, s.person_id FROM sanctions s JOIN chosen_view c
            USING (person_id)
            WHERE s.offence_date > c.index_date
              AND s.offence_date <= c.index_date + INTERVAL {EFFECT_YEARS} YEAR
            ORDER BY s.sanction_id""",
        "participants' later offences",
    )
    prevented = rng.random(len(later)) >= effect
    return later[prevented].reset_index(drop=True)


def _potential_outcomes(con, removed: pd.DataFrame):
    """Outcomes without the programme (records as simulated) and with it (offences removed)."""
    create_table(con, "participant_events", "SELECT * FROM candidates WHERE event_id IN "
                 "(SELECT event_id FROM chosen_view)")  # fmt: skip
    con.register("removed_view", removed)
    create_table(con, "sanctions_with_programme", "SELECT * FROM sanctions WHERE sanction_id "
                 "NOT IN (SELECT sanction_id FROM removed_view)")  # fmt: skip
    y0 = run_sql(con, national.outcomes_sql("participant_events"), "outcomes without")
    y1 = run_sql(con, national.outcomes_sql("participant_events",
                                            sanctions="sanctions_with_programme"),
                 "outcomes with")  # fmt: skip
    return y0.sort_values("event_id", ignore_index=True), y1.sort_values(
        "event_id", ignore_index=True
    )


def _true_effects(y0: pd.DataFrame, y1: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Sample average effect on the participants, per outcome column and population."""
    effects = {}
    for col in national.OUTCOME_COLUMNS:
        all0, all1 = y0[col].astype(float), y1[col].astype(float)
        r0, r1 = all0[y0["reoffended"] == 1], all1[y1["reoffended"] == 1]
        effects[col] = {
            "all_without": _mean(all0), "all_with": _mean(all1),
            "all_effect": _mean(all1) - _mean(all0),
            "reoffenders_without": _mean(r0), "reoffenders_with": _mean(r1),
            "reoffenders_effect": _mean(r1) - _mean(r0),
        }  # fmt: skip
    return effects


def _mean(x: pd.Series) -> float:
    x = x.dropna()
    return float(x.mean()) if len(x) else float("nan")


def _truth(spec, chosen, y0, y1, truth_rows, removed) -> dict:
    return {
        "spec": {
            k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(spec).items()
        },  # fmt: skip
        "participants": len(chosen),
        "prevented_sanctions": len(removed),
        "rows_by_role": truth_rows["role"].value_counts().sort_index().to_dict(),
        "true_effects": _true_effects(y0, y1),
    }


def _write_truth(folder: Path, truth, truth_rows, chosen, y0, y1) -> None:
    (folder / "truth.json").write_text(json.dumps(truth, indent=2, default=float) + "\n")
    truth_rows.to_csv(folder / "rows.csv", index=False)
    keep = ["event_id", "person_id", "index_date", "programme_start", "programme_end"]
    base = chosen[keep]
    wide = base.merge(
        y0.add_suffix("_without").rename(columns={"event_id_without": "event_id"}), on="event_id"
    ).merge(y1.add_suffix("_with").rename(columns={"event_id_with": "event_id"}), on="event_id")
    wide.to_parquet(folder / "outcomes.parquet", index=False)


def _apply_to_records(con, records: NationalRecords, removed, chosen, spec) -> None:
    """Rewrite sanctions without the prevented offences (atomically) and note it."""
    target = records.path("sanctions")
    tmp = target.with_suffix(".parquet.tmp")
    con.execute(f"COPY (SELECT * FROM sanctions_with_programme ORDER BY sanction_id) "
                f"TO '{tmp}' (FORMAT parquet)")  # fmt: skip
    con.close()
    os.replace(tmp, target)
    truth_path = records.folder / "truth" / "participants.parquet"
    earlier = pd.read_parquet(truth_path) if truth_path.exists() else None
    mine = pd.DataFrame({"person_id": chosen["person_id"], "submission": spec.name})
    pd.concat([earlier, mine]).to_parquet(truth_path, index=False)
    manifest = dict(records.manifest)
    manifest["submissions"] = [*manifest.get("submissions", []), {
        "name": spec.name, "seed": spec.seed, "effect": spec.effect,
        "participants": len(chosen), "prevented_sanctions": len(removed)}]  # fmt: skip
    (records.folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _messy_rows(con, chosen, spec, rng, records) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The list as the charity sends it, and what each row really is."""
    people = run_sql(con, "SELECT person_id, forename, surname, date_of_birth FROM people "
                     "WHERE person_id IN (SELECT person_id FROM chosen_view)",
                     "participants' details")  # fmt: skip
    genuine = chosen.merge(people, on="person_id")
    genuine = genuine.assign(role="participant")
    n = spec.participants
    extras = [
        _ineligible_people(con, spec, int(round(n * spec.ineligible_rate)), rng),
        _fabricated_people(int(round(n * spec.not_in_records_rate)), spec, rng),
    ]
    base = pd.concat([genuine, *extras], ignore_index=True)
    dup_idx = rng.choice(len(genuine), int(round(n * spec.duplicate_rate)), replace=False)
    dups = genuine.iloc[np.sort(dup_idx)].assign(role="duplicate")
    frame = pd.concat([base, dups], ignore_index=True)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    return _render_rows(frame, spec, rng)


def _ineligible_people(con, spec, k: int, rng) -> pd.DataFrame:
    """Real people with programme dates that give them no eligible index event."""
    margin = dt.timedelta(days=400)
    sql = f"""SELECT * FROM people WHERE person_id NOT IN (
                SELECT person_id FROM ({national.index_events_sql(spec.setting)})
                WHERE index_date BETWEEN {date_literal(spec.window_start - margin)}
                                     AND {date_literal(spec.window_end + margin)})
              AND person_id NOT IN (SELECT person_id FROM taken)
              ORDER BY person_id"""
    pool = run_sql(con, sql, "people without index events")
    picked = pool.iloc[np.sort(rng.choice(len(pool), k, replace=False))].reset_index(drop=True)
    days = (spec.window_end - spec.window_start).days
    start = [spec.window_start + dt.timedelta(days=int(d)) for d in rng.integers(0, days, k)]
    end = [s + dt.timedelta(days=int(d)) for s, d in zip(start, rng.integers(42, 120, k),
                                                       strict=True)]  # fmt: skip
    return picked.assign(programme_start=start, programme_end=end, role="no_eligible_event")


def _fabricated_people(k: int, spec, rng) -> pd.DataFrame:
    """People the records have never heard of."""
    sex = np.where(rng.random(k) < 0.8, "M", "F")
    forename, surname = draw_names(sex, draw_demographics(k, rng), rng)
    dob = [dt.date(1965, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 14000, k)]
    days = (spec.window_end - spec.window_start).days
    start = [spec.window_start + dt.timedelta(days=int(d)) for d in rng.integers(0, days, k)]
    return pd.DataFrame({"forename": forename, "surname": surname, "date_of_birth": dob,
                         "sex": sex, "programme_start": start,
                         "programme_end": [s + dt.timedelta(days=60) for s in start],
                         "person_id": None, "role": "not_in_records"})  # fmt: skip


def _render_rows(frame: pd.DataFrame, spec, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    forename, nick = messy.with_nicknames(
        frame["forename"].to_numpy(object), spec.nickname_rate, rng
    )
    forename, t1 = messy.with_typos(forename, spec.typo_rate / 2, rng)
    surname, t2 = messy.with_typos(frame["surname"].to_numpy(object), spec.typo_rate / 2, rng)
    dob = [pd.Timestamp(d).date() for d in frame["date_of_birth"]]
    dob, swapped = messy.swap_day_month(dob, spec.swapped_dob_rate, rng)
    dob, missing = messy.blank(dob, spec.missing_dob_rate, rng)
    has_id = frame["person_id"].notna().to_numpy()
    pnc = np.where(has_id & (rng.random(len(frame)) < spec.pnc_rate), frame["person_id"], "")
    rows = pd.DataFrame({
        "Surname": surname, "Forename": forename,
        "Date of Birth": [messy.uk_date(d, rng) for d in dob],
        "Gender": messy.sex_labels(frame["sex"].to_numpy(), rng), "PNC Number": pnc,
        "Programme Start": [messy.uk_date(pd.Timestamp(d).date(), rng)
                            for d in frame["programme_start"]],
        "Programme End": [messy.uk_date(pd.Timestamp(d).date(), rng)
                          for d in frame["programme_end"]],
    })  # fmt: skip
    invalid = _break_rows(rows, spec.invalid_rate, rng)
    truth = pd.DataFrame({
        "row": np.arange(len(rows)) + 2,  # spreadsheet row: the header is row 1
        "role": frame["role"], "person_id": frame["person_id"],
        "typo": t1 | t2, "nickname": nick, "swapped_dob": swapped, "missing_dob": missing,
        "pnc_given": pnc != "", "invalid": invalid,
    })  # fmt: skip
    return rows, truth


def _break_rows(rows: pd.DataFrame, rate: float, rng) -> np.ndarray:
    """A few rows no one could use: an impossible date, a placeholder, no surname."""
    broken = rng.random(len(rows)) < rate
    for k, i in enumerate(np.flatnonzero(broken)):
        if k % 3 == 0:
            rows.loc[i, "Date of Birth"] = "31/02/1990"
        elif k % 3 == 1:
            rows.loc[i, "Programme Start"] = "TBC"
        else:
            rows.loc[i, "Surname"] = ""
    return broken
