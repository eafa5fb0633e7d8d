"""Simulated criminal careers: the event-level records behind the synthetic national data.

Each person has a latent propensity to offend (gamma frailty), a sex, a date of birth and an
onset age. From onset, proven offending occurs month by month at a rate

    rate = base · propensity · age curve(age) · (1 + previous offences)^state · release boost

The age–crime curve peaks in the mid teens; ``state`` is state dependence (offending makes
further offending likelier); the boost covers the high-risk months after a short sentence.
Nobody offends while in custody. Each offending episode yields one or more proven offences
dealt with on one day, whose disposal escalates with seriousness and previous offences
(caution → fine → community order → suspended sentence → custody); custodial sentences are
served to the halfway point, then released. A share of people start offending only as adults,
at low risk. The parameters were tuned so that one-year proven reoffending matches the
published figures (reference §8; ``jdl synth calibrate`` prints the comparison).

All randomness comes from the generator passed in; the loop is vectorised over people."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers.records import COURT_TYPES, DISPOSALS, OFFENCE_GROUPS

EPOCH = np.datetime64("1970-01-01", "D")

#: Offence groups: base mix, propensity tilt (> 0: committed more by prolific people),
#: seriousness for sentencing, court-type mix (indictable, either-way, summary) and the
#: median custodial sentence in days.
OFFENCE_TABLE = pd.DataFrame(
    {
        "weight": [0.20, 0.02, 0.015, 0.05, 0.20, 0.06, 0.10, 0.04, 0.08, 0.03, 0.13, 0.075],
        "tilt": [0.3, -0.8, 0.3, 0.5, 1.4, 0.1, 0.2, 0.0, 0.3, -0.7, -0.5, 0.0],
        "female": [0.8, 0.1, 0.5, 0.5, 1.6, 0.9, 0.7, 0.4, 0.9, 1.8, 0.8, 1.2],
        "seriousness": [1.0, 2.2, 2.4, 1.6, 0.6, 0.4, 0.9, 1.2, 0.3, 0.9, 0.0, 0.3],
        "indictable": [0.12, 0.55, 0.90, 0.10, 0.02, 0.03, 0.12, 0.05, 0.02, 0.08, 0.01, 0.05],
        "summary": [0.40, 0.05, 0.00, 0.00, 0.35, 0.55, 0.30, 0.20, 0.70, 0.10, 0.95, 0.55],
        "custody_median_days": [180, 1200, 1000, 450, 80, 120, 500, 250, 100, 300, 90, 150],
    },
    index=list(OFFENCE_GROUPS),
)


@dataclass(frozen=True)
class CareerModel:
    """Parameters of the career simulation (defaults are the calibrated values)."""

    start_year: int = 1950  #: first calendar year simulated
    birth_years: tuple[int, int] = (1940, 2008)  #: range of years of birth
    male_share: float = 0.83  #: share of people with records who are male
    frailty_shape: float = (
        0.33  #: gamma shape of latent propensity (mean 1); smaller = more unequal
    )
    frailty_floor: float = 0.02  #: share of propensity everyone has (the rest is gamma-distributed)
    female_propensity: float = 0.8  #: propensity multiplier for women
    onset_median_age: float = 17.0  #: median age at first proven offence (average propensity)
    onset_sd: float = 0.45  #: log-scale spread of onset age
    late_onset_share: float = 0.3  #: share of people whose first offence comes in adulthood
    late_onset_propensity: float = 0.2  #: their propensity relative to everyone else's
    onset_propensity: float = 0.1  #: higher propensity → earlier onset (log-age per log-propensity)
    base_rate: float = 0.026  #: offending episodes per month at propensity 1, peak age, no history
    state_dependence: float = 0.1  #: exponent on (1 + previous offences)
    peak_age: float = 16.0  #: age of peak offending
    decline: float = 2.2  #: after the peak, offending falls as (peak age / age) ** decline
    release_boost: float = 10.0  #: extra risk just after release, decaying over ``boost_months``
    boost_months: float = 4.0
    boost_served_days: float = 200.0  #: the boost fades with time served (short sentences)
    spree_mean: float = 0.3  #: mean extra offences per episode at propensity 1
    caution_bias: float = 0.5  #: tendency to caution first and second offenders
    penalty_notice_rate: float = 0.06  #: share of eligible minor adult offences given a PND
    severity_thresholds: tuple[float, ...] = (0.8, 2.7, 3.8, 5.0)  #: discharge|fine|CO|SSO|custody
    escalation: float = 0.8  #: weight of log(1 + previous offences) in sentencing
    seriousness_weight: float = 2.0  #: weight of the offence's seriousness in sentencing
    sentencing_noise: float = 1.6  #: spread of sentences for the same offence and record
    lag_mean_days: float = 70.0  #: mean days from offence to court sanction
    offence_table: pd.DataFrame = field(
        default_factory=OFFENCE_TABLE.copy, compare=False, repr=False
    )


@dataclass(frozen=True)
class ChunkResult:
    """People and sanctions of one simulated chunk (internal ids; names added later)."""

    people: pd.DataFrame  # person (0..n-1), sex, birth_day, theta
    sanctions: (
        pd.DataFrame
    )  # person, offence_day, sanction_day, group, court, disposal, days, release_day


def simulate_chunk(
    n: int, rng: np.random.Generator, model: CareerModel, extract_date: np.datetime64
) -> ChunkResult:
    """Simulate ``n`` careers up to ``extract_date`` (everyone has at least one sanction)."""
    people = _draw_people(n, rng, model, extract_date)
    sanctions = _run_months(people, rng, model, extract_date)
    return ChunkResult(people=people, sanctions=sanctions)


def _draw_people(
    n: int, rng: np.random.Generator, model: CareerModel, extract_date: np.datetime64
) -> pd.DataFrame:
    """People who have a record by the extract date.

    Everyone born in the range gets a natural onset age (log-normal years after age 10,
    earlier for higher propensity); only those whose first offence comes early enough to be
    sanctioned before the extract are kept. Rejection, not truncation, so the youngest birth
    years hold only the early starters — who are the higher-propensity people, as in reality.
    """
    latest = (extract_date - EPOCH).astype(int) - 800
    kept: list[pd.DataFrame] = []
    while sum(len(k) for k in kept) < n:
        batch = _candidates(2 * n, rng, model)
        kept.append(batch[batch["onset_day"] <= latest])
    people = pd.concat(kept, ignore_index=True).iloc[:n]
    return people.assign(person=np.arange(n))


def _candidates(n: int, rng: np.random.Generator, model: CareerModel) -> pd.DataFrame:
    sex = np.where(rng.random(n) < model.male_share, "M", "F")
    first, last = model.birth_years
    birth = (np.datetime64(f"{first}-01-01") - EPOCH).astype(int) + rng.integers(
        0, (last - first + 1) * 365, n
    )
    theta = model.frailty_floor + (1 - model.frailty_floor) * rng.gamma(
        model.frailty_shape, 1 / model.frailty_shape, n
    )
    theta = theta * np.where(sex == "F", model.female_propensity, 1.0)
    loc = np.log(model.onset_median_age - 10) - model.onset_propensity * np.log(theta)
    onset_age = 10 + np.exp(loc + model.onset_sd * rng.standard_normal(n))
    # Adult-onset, low-risk people: a first (often only) offence at any adult age.
    late = rng.random(n) < model.late_onset_share
    theta = np.where(late, theta * model.late_onset_propensity, theta)
    onset_age = np.where(late, 18 + 45 * rng.random(n), onset_age)
    onset_day = birth + (onset_age * 365.25).astype(int)
    return pd.DataFrame({"sex": sex, "birth_day": birth, "theta": theta, "onset_day": onset_day})


def _month_starts(model: CareerModel, extract_date: np.datetime64) -> np.ndarray:
    months = np.arange(
        np.datetime64(f"{model.start_year}-01", "M"), np.datetime64(extract_date, "M") + 1
    )
    return (months.astype("datetime64[D]") - EPOCH).astype(int)


def age_curve(age: np.ndarray, model: CareerModel) -> np.ndarray:
    """Relative offending by age: rising through the early teens, declining after the peak."""
    rise = np.clip((age - 10) / (model.peak_age - 10), 0.05, 1.0)
    fall = (model.peak_age / np.maximum(age, model.peak_age)) ** model.decline
    return np.where(age < 10, 0.0, rise * fall)


def _run_months(
    people: pd.DataFrame, rng: np.random.Generator, model: CareerModel, extract: np.datetime64
) -> pd.DataFrame:
    """Step month by month; slowly changing factors (age) are refreshed once a year and the
    custody adjustments touch only people recently in custody, so a month costs a few passes
    over the chunk."""
    n = len(people)
    birth = people["birth_day"].to_numpy()
    theta = people["theta"].to_numpy()
    onset = people["onset_day"].to_numpy()
    female = (people["sex"] == "F").to_numpy()
    state = _State(n)
    end_day = int((extract - EPOCH).astype(int))
    starts = _month_starts(model, extract)
    out: list[dict[str, np.ndarray]] = []
    static = np.zeros(n)
    for m, (d0, d1) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        if m % 12 == 0:  # refresh the age curve at mid-year
            static = model.base_rate * theta * age_curve((d0 + 182 - birth) / 365.25, model)
        rate = static * state.history_factor * (onset < d0)
        recent = np.flatnonzero(state.cust_to > d0 - 730)
        rate[recent] *= _custody_factor(state, recent, d0, d1, model)
        count = rng.poisson(rate)
        first = (onset >= d0) & (onset < d1)
        who = np.flatnonzero((count > 0) | first)
        if who.size == 0:
            continue
        who = np.repeat(who, np.maximum(count[who], first[who]))
        lead = first[who] & np.r_[True, who[1:] != who[:-1]]
        day = np.where(lead, onset[who], d0 + rng.integers(0, d1 - d0, who.size))
        free = (day < state.cust_from[who]) | (day >= state.cust_to[who])
        who, day = who[free], np.minimum(day[free], end_day)
        age = (day - birth[who]) / 365.25
        events = _episodes(who, day, age, theta[who], female[who], state.priors[who], rng, model)
        keep = events["sanction_day"] <= end_day
        events = {k: v[keep] for k, v in events.items()}
        if events["person"].size:
            out.append(events)
            state.update(events, d0, model)
    cols = ["person", "offence_day", "sanction_day", "group", "court", "disposal", "days",
            "release_day"]  # fmt: skip
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame({c: np.concatenate([e[c] for e in out]) for c in cols})


def _custody_factor(state: _State, idx: np.ndarray, d0: int, d1: int, model) -> np.ndarray:
    """Share of the month spent free, times the raised risk of the months after release.

    The post-release boost is largest after short sentences, which release people straight
    back into the circumstances they came from; it fades with time served.
    """
    c_from, c_to = state.cust_from[idx], state.cust_to[idx]
    busy = np.clip(np.minimum(c_to, d1) - np.maximum(c_from, d0), 0, None) / (d1 - d0)
    since = (d0 - c_to) / 30.44
    fade = np.exp(-since / model.boost_months - (c_to - c_from) / model.boost_served_days)
    boost = np.where(since >= 0, 1 + model.release_boost * fade, 1)
    return boost * (1 - busy)


class _State:
    """Per-person state carried from month to month."""

    def __init__(self, n: int) -> None:
        self.priors = np.zeros(n)
        self.history_factor = np.ones(n)
        self.cust_from = np.full(n, -(10**9))
        self.cust_to = np.full(n, -(10**9))

    def update(self, events: dict[str, np.ndarray], today: int, model: CareerModel) -> None:
        """Count proven offences and merge custodial sentences into the current spell.

        A sentence starting after the current spell has ended opens a new spell; otherwise it
        runs concurrently (the spell stretches to the later release).
        """
        person, disposal = events["person"], events["disposal"]
        proven = disposal != DISPOSALS.index("penalty_notice")
        np.add.at(self.priors, person[proven], 1)
        touched = np.unique(person)
        self.history_factor[touched] = (1 + self.priors[touched]) ** model.state_dependence
        cust = disposal == DISPOSALS.index("custody")
        if not cust.any():
            return
        p, s, r = person[cust], events["sanction_day"][cust], events["release_day"][cust]
        fresh = (s > self.cust_to[p]) & (self.cust_to[p] <= today)
        self.cust_from[p[fresh]] = s[fresh]
        np.minimum.at(self.cust_from, p[~fresh], s[~fresh])
        np.maximum.at(self.cust_to, p, r)


def _episodes(who, day, age, theta, female, priors, rng, model) -> dict[str, np.ndarray]:
    """Expand offending episodes into proven offences dealt with on one sentencing day."""
    table = model.offence_table
    k = 1 + rng.poisson(model.spree_mean * np.sqrt(theta))
    group = _draw_groups(theta, female, rng, table)
    disposal, days = _sentence(group, age, female, priors, rng, model)
    lag = _sanction_lag(disposal, group, rng, model)
    idx = np.repeat(np.arange(who.size), k)
    extra = np.r_[False, np.diff(idx) == 0]  # offences after the first in an episode
    # Further offences of an episode follow within days, before the sentencing day.
    spread = np.minimum(rng.integers(0, 20, idx.size), np.maximum(lag[idx] - 1, 0))
    offence_day = day[idx] + np.where(extra, spread, 0)
    same = rng.random(idx.size) < 0.6
    g = np.where(extra & ~same, _draw_groups(theta[idx], female[idx], rng, table), group[idx])
    court = _draw_courts(g, rng, table)
    dsp = disposal[idx]
    sanction_day = day[idx] + lag[idx]
    release = np.where(dsp == DISPOSALS.index("custody"), sanction_day + days[idx] // 2, -1)
    return {"person": who[idx], "offence_day": offence_day, "sanction_day": sanction_day,
            "group": g, "court": court, "disposal": dsp, "days": days[idx],
            "release_day": release}  # fmt: skip


def _draw_groups(theta, female, rng, table) -> np.ndarray:
    logw = (
        np.log(table["weight"].to_numpy())[None, :]
        + np.log1p(theta)[:, None] * table["tilt"].to_numpy()[None, :]
        + np.where(female[:, None], np.log(table["female"].to_numpy())[None, :], 0.0)
    )
    p = np.exp(logw - logw.max(axis=1, keepdims=True))
    cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    return (rng.random(theta.size)[:, None] > cum).sum(axis=1).clip(0, len(table) - 1)


def _draw_courts(group, rng, table) -> np.ndarray:
    u = rng.random(group.size)
    ind = table["indictable"].to_numpy()[group]
    summ = table["summary"].to_numpy()[group]
    return np.where(u < ind, 0, np.where(u < ind + summ, 2, 1))


def _sentence(group, age, female, priors, rng, model):
    """Disposal code and custodial sentence length (days) for each episode."""
    table = model.offence_table
    n = group.size
    serious = table["seriousness"].to_numpy()[group]
    z = (
        model.seriousness_weight * serious + model.escalation * np.log1p(priors)
        + rng.normal(0, model.sentencing_noise, n)
        - 0.5 * (age < 18) - 0.3 * female
    )  # fmt: skip
    t = model.severity_thresholds
    court = np.select(
        [z < t[0], z < t[1], z < t[2], z < t[3]],
        [DISPOSALS.index(d) for d in ("discharge", "fine", "community_order",
                                      "suspended_sentence")],
        DISPOSALS.index("custody"),
    )  # fmt: skip
    p_caution = 1 / (1 + np.exp(-(model.caution_bias - 1.1 * priors - 1.2 * serious
                                 + 1.0 * (age < 18))))  # fmt: skip
    caution = (rng.random(n) < p_caution) & (serious < 2.0)
    minor = np.isin(
        group,
        [OFFENCE_GROUPS.index(g) for g in ("public_order", "theft", "criminal_damage", "other")],
    )
    pnd = minor & (age >= 18) & (priors < 5) & (rng.random(n) < model.penalty_notice_rate)
    disposal = np.where(pnd, DISPOSALS.index("penalty_notice"),
                        np.where(caution, DISPOSALS.index("caution"), court))  # fmt: skip
    median = table["custody_median_days"].to_numpy()[group]
    days = np.exp(np.log(median) + rng.normal(0, 0.75, n)).astype(int).clip(7, 365 * 30)
    days = np.where(disposal == DISPOSALS.index("custody"), days, 0)
    return disposal, days


def _sanction_lag(disposal, group, rng, model) -> np.ndarray:
    out_of_court = disposal <= DISPOSALS.index("caution")
    indictable_share = model.offence_table["indictable"].to_numpy()[group]
    court_lag = rng.gamma(1.3, model.lag_mean_days * (1 + indictable_share) / 1.3)
    lag = np.where(out_of_court, 1 + rng.gamma(1.0, 12.0, disposal.size), court_lag)
    return np.minimum(lag, 730).astype(int)  # cases older than two years are rare


def code_labels() -> dict[str, tuple[str, ...]]:
    """Labels for the integer codes used inside the simulation."""
    return {"group": OFFENCE_GROUPS, "court": COURT_TYPES, "disposal": DISPOSALS}
