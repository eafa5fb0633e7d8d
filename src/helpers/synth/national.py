"""Write a synthetic national records extract (``people`` and ``sanctions`` Parquet files).

People are generated in fixed-size chunks, each from its own seeded random stream, so the
extract for a seed is identical byte for byte however often it is run, an extract of k × 100,000
people holds the first k chunks of any bigger one, and memory stays flat: 5 million people need
no more memory than 100,000.
The latent propensity of each person is written apart, under ``truth/``, for validation only;
the analysis never reads it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from helpers import __version__
from helpers.records import COURT_TYPES, DISPOSALS, OFFENCE_GROUPS
from helpers.synth.careers import EPOCH, CareerModel, simulate_chunk
from helpers.synth.names import draw_demographics, draw_names, pnc_ids

log = logging.getLogger(__name__)

#: People per chunk. Part of the data's definition: changing it changes every extract.
CHUNK = 100_000

PEOPLE_SCHEMA = pa.schema(
    [("person_id", pa.string()), ("forename", pa.string()), ("surname", pa.string()),
     ("date_of_birth", pa.date32()), ("sex", pa.string()), ("ethnicity", pa.string()),
     ("nationality", pa.string()), ("region", pa.string())]
)  # fmt: skip
SANCTIONS_SCHEMA = pa.schema(
    [("sanction_id", pa.int64()), ("person_id", pa.string()), ("offence_date", pa.date32()),
     ("sanction_date", pa.date32()), ("offence_group", pa.string()), ("court_type", pa.string()),
     ("disposal", pa.string()), ("custodial_days", pa.int32()), ("release_date", pa.date32())]
)  # fmt: skip
LATENT_SCHEMA = pa.schema([("person_id", pa.string()), ("propensity", pa.float64())])


@dataclass(frozen=True)
class NationalSpec:
    """What to generate: how many people, from which seed, up to which extract date."""

    people: int = 200_000
    seed: int = 20261124
    extract_date: dt.date = dt.date(2024, 12, 31)


def generate_national(
    folder: str | Path, spec: NationalSpec, model: CareerModel | None = None
) -> Path:
    """Generate an extract into ``folder`` (replaced only once the new one is complete)."""
    model = model or CareerModel()
    folder = Path(folder)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "truth").mkdir(parents=True)
    start = time.perf_counter()
    counts = _write_chunks(staging, spec, model, start)
    manifest = {
        "kind": "synthetic national records",
        "generator": f"helpers.synth {__version__}",
        "extract_date": spec.extract_date.isoformat(),
        "seed": spec.seed,
        "people": counts["people"],
        "sanctions": counts["sanctions"],
        "chunk_size": CHUNK,
        "model": {k: v for k, v in asdict(model).items() if k != "offence_table"},
        "submissions": [],
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    log.info("wrote %s people and %s sanctions to %s in %.1fs", f"{counts['people']:,}",
             f"{counts['sanctions']:,}", folder, time.perf_counter() - start)  # fmt: skip
    return folder


def _write_chunks(staging: Path, spec: NationalSpec, model: CareerModel, start: float) -> dict:
    extract = np.datetime64(spec.extract_date.isoformat(), "D")
    n_chunks = -(-spec.people // CHUNK)
    counts = {"people": 0, "sanctions": 0}
    with (
        pq.ParquetWriter(staging / "people.parquet", PEOPLE_SCHEMA) as people_w,
        pq.ParquetWriter(staging / "sanctions.parquet", SANCTIONS_SCHEMA) as sanctions_w,
        pq.ParquetWriter(staging / "truth" / "latent.parquet", LATENT_SCHEMA) as latent_w,
    ):
        for c in range(n_chunks):
            n = min(CHUNK, spec.people - c * CHUNK)
            people, sanctions, latent = _chunk_tables(c, n, spec, model, extract, counts)
            people_w.write_table(people)
            sanctions_w.write_table(sanctions)
            latent_w.write_table(latent)
            counts["people"] += people.num_rows
            counts["sanctions"] += sanctions.num_rows
            elapsed = time.perf_counter() - start
            log.info("  chunk %d/%d: %s people so far (%.0fs, about %.0fs left)", c + 1,
                     n_chunks, f"{counts['people']:,}", elapsed,
                     elapsed / (c + 1) * (n_chunks - c - 1))  # fmt: skip
    return counts


def _chunk_tables(c, n, spec, model, extract, counts):
    rng = np.random.default_rng([spec.seed, c])
    result = simulate_chunk(n, rng, model, extract)
    people, s = result.people, result.sanctions
    s = s.sort_values(["person", "offence_day", "sanction_day"], kind="stable")
    first_day = s.groupby("person")["sanction_day"].min().reindex(people["person"]).to_numpy()
    first_year = first_day.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
    serial = c * CHUNK + people["person"].to_numpy() + 1
    ids = pnc_ids(first_year, serial)
    names_rng = np.random.default_rng([spec.seed, c, 1])
    demo = draw_demographics(n, names_rng)
    forename, surname = draw_names(people["sex"].to_numpy(), demo, names_rng)
    people_t = pa.table(
        {"person_id": ids, "forename": forename, "surname": surname,
         "date_of_birth": _dates(people["birth_day"]), "sex": people["sex"],
         "ethnicity": demo["ethnicity"], "nationality": demo["nationality"],
         "region": demo["region"]},
        schema=PEOPLE_SCHEMA,
    )  # fmt: skip
    custody = s["disposal"].to_numpy() == DISPOSALS.index("custody")
    sanctions_t = pa.table(
        {"sanction_id": counts["sanctions"] + np.arange(len(s)) + 1,
         "person_id": ids[s["person"].to_numpy()],
         "offence_date": _dates(s["offence_day"]), "sanction_date": _dates(s["sanction_day"]),
         "offence_group": np.array(OFFENCE_GROUPS)[s["group"].to_numpy()],
         "court_type": np.array(COURT_TYPES)[s["court"].to_numpy()],
         "disposal": np.array(DISPOSALS)[s["disposal"].to_numpy()],
         "custodial_days": s["days"].to_numpy().astype("int32"),
         "release_date": pa.array(_dates(s["release_day"]), mask=~custody)},
        schema=SANCTIONS_SCHEMA,
    )  # fmt: skip
    latent = pa.table({"person_id": ids, "propensity": people["theta"]}, schema=LATENT_SCHEMA)
    return people_t, sanctions_t, latent


def _dates(days: pd.Series | np.ndarray) -> np.ndarray:
    return (EPOCH + np.asarray(days).astype("timedelta64[D]")).astype("datetime64[D]")
