"""Make a clean participant list look like one a charity would send.

Each function takes clean values and a random generator and returns altered values plus a
flag per row saying whether it changed, so the truth file can record what was done to whom.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

#: Common English nicknames (formal → familiar). Linkage must survive these.
NICKNAMES = {
    "William": "Bill", "Robert": "Bob", "Richard": "Dick", "James": "Jim", "John": "Jack",
    "Michael": "Mike", "David": "Dave", "Christopher": "Chris", "Thomas": "Tom",
    "Anthony": "Tony", "Daniel": "Dan", "Matthew": "Matt", "Joseph": "Joe",
    "Stephen": "Steve", "Steven": "Steve", "Andrew": "Andy", "Edward": "Ed",
    "Benjamin": "Ben", "Samuel": "Sam", "Alexander": "Alex", "Jonathan": "Jon",
    "Nicholas": "Nick", "Timothy": "Tim", "Peter": "Pete", "Kenneth": "Ken",
    "Ronald": "Ron", "Donald": "Don", "Gregory": "Greg", "Lawrence": "Larry",
    "Elizabeth": "Liz", "Margaret": "Maggie", "Jennifer": "Jenny", "Katherine": "Kate",
    "Catherine": "Cathy", "Rebecca": "Becky", "Jessica": "Jess", "Samantha": "Sam",
    "Victoria": "Vicky", "Deborah": "Debbie", "Patricia": "Pat", "Susan": "Sue",
    "Christine": "Chris", "Alexandra": "Alex", "Charlotte": "Charlie", "Abigail": "Abbie",
}  # fmt: skip

_KEYBOARD_NEIGHBOURS = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}  # fmt: skip


def typo(name: str, rng: np.random.Generator) -> str:
    """One keyboard slip: a neighbouring key, a dropped letter, a doubled or swapped pair."""
    if len(name) < 4:
        return name
    i = int(rng.integers(1, len(name) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        near = _KEYBOARD_NEIGHBOURS.get(name[i].lower(), name[i])
        return name[:i] + near[int(rng.integers(0, len(near)))] + name[i + 1 :]
    if kind == 1:
        return name[:i] + name[i + 1 :]
    if kind == 2:
        return name[:i] + name[i] + name[i:]
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def with_typos(names: np.ndarray, rate: float, rng: np.random.Generator):
    changed = rng.random(names.size) < rate
    out = names.copy()
    for i in np.flatnonzero(changed):
        out[i] = typo(str(names[i]), rng)
    return out, changed & (out != names)


def with_nicknames(forenames: np.ndarray, rate: float, rng: np.random.Generator):
    has = np.array([f in NICKNAMES for f in forenames])
    changed = has & (rng.random(forenames.size) < rate / max(has.mean(), 1e-9))
    out = forenames.copy()
    out[changed] = [NICKNAMES[f] for f in forenames[changed]]
    return out, changed


def swap_day_month(dates: list[dt.date | None], rate: float, rng: np.random.Generator):
    """American-style dates typed into a UK form: day and month exchanged (day ≤ 12 only)."""
    out, changed = list(dates), np.zeros(len(dates), dtype=bool)
    for i, d in enumerate(dates):
        if d is not None and d.day <= 12 and d.day != d.month and rng.random() < rate:
            out[i] = d.replace(day=d.month, month=d.day)
            changed[i] = True
    return out, changed


def blank(values: list, rate: float, rng: np.random.Generator):
    changed = rng.random(len(values)) < rate
    return [None if c else v for v, c in zip(values, changed, strict=True)], changed


def sex_labels(sex: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same sex written the many ways forms record it."""
    styles = {"M": ("M", "Male", "m", "male"), "F": ("F", "Female", "f", "female")}
    pick = rng.choice(4, sex.size, p=[0.6, 0.3, 0.05, 0.05])
    return np.array([styles[s][k] for s, k in zip(sex, pick, strict=True)], dtype=object)


def uk_date(d: dt.date | None, rng: np.random.Generator) -> str:
    """Mostly dd/mm/yyyy as UK forms use; sometimes ISO or with a two-digit year."""
    if d is None:
        return ""
    style = rng.random()
    if style < 0.85:
        return d.strftime("%d/%m/%Y")
    if style < 0.95:
        return d.isoformat()
    return d.strftime("%d/%m/%y")
