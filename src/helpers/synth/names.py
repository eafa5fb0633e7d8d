"""Names, demographics and PNC-style identifiers for synthetic people.

Name pools come from Faker's locale data (en_GB for most people; en_IN, en_PK, en_NG, pl_PL
and ro_RO so that names reflect ethnicity and nationality, including non-ASCII letters).
Forenames are drawn with Zipf-like weights over Faker's popularity-ordered lists, surnames
with Faker's own frequencies, so common names collide the way they do in real records —
which is what makes record linkage hard.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from helpers.records import ETHNICITIES, REGIONS

#: Shares among people with criminal records (approximate, England and Wales).
ETHNICITY_SHARES = (0.74, 0.09, 0.08, 0.05, 0.02, 0.02)
REGION_SHARES = (0.06, 0.14, 0.10, 0.08, 0.10, 0.09, 0.15, 0.13, 0.08, 0.07)
#: Nationalities of non-UK nationals and the name locale each uses.
FOREIGN = {"Polish": "pl_PL", "Romanian": "ro_RO", "Irish": "en_GB", "Indian": "en_IN",
           "Pakistani": "en_PK", "Nigerian": "en_NG"}  # fmt: skip
FOREIGN_SHARES = (0.30, 0.25, 0.15, 0.10, 0.10, 0.10)
NON_UK_SHARE = 0.11
ETHNIC_LOCALES = {"Asian": ("en_IN", "en_PK"), "Black": ("en_NG", "en_GB")}


@dataclass(frozen=True)
class NamePool:
    forenames: tuple[np.ndarray, np.ndarray]  # (names, probabilities) for men
    forenames_f: tuple[np.ndarray, np.ndarray]  # for women
    surnames: tuple[np.ndarray, np.ndarray]


@cache
def name_pool(locale: str) -> NamePool:
    """Names and draw probabilities for one Faker locale."""
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    return NamePool(
        forenames=_weighted(getattr(provider, "first_names_male", provider.first_names)),
        forenames_f=_weighted(getattr(provider, "first_names_female", provider.first_names)),
        surnames=_weighted(provider.last_names),
    )


def _weighted(names) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(names, dict):
        keys = np.array(list(names))
        w = np.array(list(names.values()), dtype=float)
    else:
        keys = np.array(list(dict.fromkeys(names)))
        w = 1 / (np.arange(len(keys)) + 3.0)  # Zipf-like over popularity order
    return keys, w / w.sum()


def draw_demographics(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Ethnicity, nationality and region for ``n`` people."""
    ethnicity = rng.choice(np.array(ETHNICITIES), n, p=ETHNICITY_SHARES)
    foreign = rng.random(n) < NON_UK_SHARE
    nationality = np.where(
        foreign, rng.choice(np.array(list(FOREIGN)), n, p=FOREIGN_SHARES), "British"
    )
    region = rng.choice(np.array(REGIONS), n, p=REGION_SHARES)
    return pd.DataFrame({"ethnicity": ethnicity, "nationality": nationality, "region": region})


def _locale_for(ethnicity: np.ndarray, nationality: np.ndarray, rng) -> np.ndarray:
    locale = np.full(ethnicity.size, "en_GB", dtype=object)
    for group, options in ETHNIC_LOCALES.items():
        mask = ethnicity == group
        locale[mask] = rng.choice(np.array(options), mask.sum())
    for nat, loc in FOREIGN.items():
        locale[nationality == nat] = loc
    return locale


def draw_names(sex: np.ndarray, demographics: pd.DataFrame, rng: np.random.Generator):
    """Forename and surname for each person, from the locale matching their background."""
    locale = _locale_for(
        demographics["ethnicity"].to_numpy(), demographics["nationality"].to_numpy(), rng
    )
    forename = np.empty(sex.size, dtype=object)
    surname = np.empty(sex.size, dtype=object)
    for loc in sorted(set(locale)):
        pool = name_pool(loc)
        for s, (names, p) in (("M", pool.forenames), ("F", pool.forenames_f)):
            mask = (locale == loc) & (sex == s)
            forename[mask] = rng.choice(names, mask.sum(), p=p)
        mask = locale == loc
        surname[mask] = rng.choice(pool.surnames[0], mask.sum(), p=pool.surnames[1])
    return forename, surname


_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"


def pnc_ids(first_year: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """PNC-style ids, ``YYYY/NNNNNNNL``: year of first record, serial, check letter (mod 23)."""
    number = (first_year % 100) * 10**7 + serial
    letters = np.array(list(_CHECK_LETTERS))[number % 23]
    return np.char.add(
        np.char.add(np.char.add(first_year.astype(str), "/"), np.char.zfill(serial.astype(str), 7)),
        letters,
    )


def pnc_check_letter(pnc_id: str) -> str:
    """The check letter a PNC-style id should end with (used to validate submitted ids)."""
    year, rest = pnc_id.split("/")
    return _CHECK_LETTERS[(int(year) % 100 * 10**7 + int(rest[:-1])) % 23]
