"""Shared helpers for the matching tests: synthetic cohorts, an O(n^2) brute-force reference
implementation of the documented matching semantics, and an invariants checker that any
MatchResult must pass. Also imported by bench/bench_matching.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.matching import MatchResult, MatchSpec, variable_ratios


def make_cohort(
    n_treated: int, n_control: int, seed: int, *, ties: bool = False, strata: int = 1
) -> pd.DataFrame:
    """A small cohort with a distance column (a logit-like score), optionally with many
    exact ties (values rounded to one decimal) and a stratum column."""
    rng = np.random.default_rng(seed)
    treated = np.r_[np.ones(n_treated, int), np.zeros(n_control, int)]
    d = rng.normal(0.6 * treated, 1.0)
    if ties:
        d = np.round(d, 1)
    df = pd.DataFrame(
        {
            "treated": treated,
            "distance": d,
            "stratum": rng.integers(0, strata, treated.size),
            "age": rng.normal(30 + 2 * treated, 8),
            "sex": rng.choice(["F", "M"], treated.size),
        }
    )
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# --- brute force ----------------------------------------------------------------------------


def _keep(d: np.ndarray, t: np.ndarray, discard: str) -> np.ndarray:
    if discard == "none":
        return np.ones(d.size, bool)
    lo1, hi1, lo0, hi0 = d[t].min(), d[t].max(), d[~t].min(), d[~t].max()
    if discard == "control":
        return t | ((d >= lo1) & (d <= hi1))
    if discard == "treated":
        return ~t | ((d >= lo0) & (d <= hi0))
    return (d >= max(lo0, lo1)) & (d <= min(hi0, hi1))


def _order(spec: MatchSpec, d: np.ndarray, all_t: np.ndarray, keep: np.ndarray) -> list[int]:
    if spec.order == "largest":
        rows = sorted(all_t, key=lambda i: (-d[i], i))
    elif spec.order == "smallest":
        rows = sorted(all_t, key=lambda i: (d[i], i))
    elif spec.order == "random":
        rows = [all_t[j] for j in np.random.default_rng(spec.seed).permutation(all_t.size)]
    else:
        rows = list(all_t)
    return [i for i in rows if keep[i]]


def brute_force(
    d: np.ndarray, treated: np.ndarray, spec: MatchSpec, strata: np.ndarray | None = None
) -> dict[int, list[int]]:
    """Treated row -> matched control rows (in the order matched), by exhaustive search."""
    t = np.asarray(treated).astype(bool)
    strata = np.zeros(d.size, int) if strata is None else np.asarray(strata)
    keep = _keep(d, t, spec.discard)
    cal = np.inf
    if spec.caliper is not None:
        sd = np.std(d[keep], ddof=1)
        cal = spec.caliper * (sd if spec.caliper_units == "sd" else 1.0)
    all_t = np.flatnonzero(t)
    if spec.variable:
        wanted = variable_ratios(
            d[t], d[~t].mean(), spec.ratio, spec.min_controls or 1, spec.max_controls
        )
        ratio = dict(zip(all_t, wanted, strict=True))
    else:
        ratio = dict.fromkeys(all_t, int(spec.ratio))
    t_rows = np.flatnonzero(t & keep)
    c_rows = np.flatnonzero(~t & keep)
    sets: dict[int, list[int]] = {i: [] for i in t_rows}

    def candidates(i, used):
        ok = [c for c in c_rows if strata[c] == strata[i] and abs(d[i] - d[c]) <= cal]
        return sorted(
            (c for c in ok if c not in used and c not in sets[i]),
            key=lambda c: (abs(d[i] - d[c]), c),
        )

    if spec.method == "radius":
        for i in t_rows:
            sets[i] = [c for c in c_rows if strata[c] == strata[i] and abs(d[i] - d[c]) <= cal]
    elif spec.replace:
        for i in t_rows:
            sets[i] = candidates(i, set())[: ratio[i]]
    elif spec.order == "closest":
        _brute_closest(d, t_rows, ratio, sets, candidates)
    else:
        used: set[int] = set()
        for r in range(1, max(ratio.values()) + 1):
            for i in _order(spec, d, all_t, keep):
                if ratio[i] >= r and len(sets[i]) == r - 1:
                    cands = candidates(i, used)
                    if cands:
                        sets[i].append(cands[0])
                        used.add(cands[0])
    return {i: s for i, s in sets.items() if s}


def _brute_closest(d, t_rows, ratio, sets, candidates) -> None:
    used: set[int] = set()
    for r in range(1, max(ratio.values()) + 1):
        waiting = [i for i in t_rows if ratio[i] >= r and len(sets[i]) == r - 1]
        while waiting:
            best = None
            for i in waiting:
                cands = candidates(i, used)
                if cands:
                    key = (abs(d[i] - d[cands[0]]), i, cands[0])
                    best = key if best is None or key < best else best
            if best is None:
                break
            _, i, c = best
            sets[i].append(c)
            used.add(c)
            waiting.remove(i)


def result_sets(result: MatchResult) -> dict[int, list[int]]:
    """Treated row -> control rows, from a MatchResult's pairs."""
    p = result.pairs
    return {
        int(t): [int(c) for c in p.control[p.indptr[k] : p.indptr[k + 1]]]
        for k, t in enumerate(p.treated)
    }


def same_sets(a: dict[int, list[int]], b: dict[int, list[int]]) -> bool:
    return {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}


# --- invariants -----------------------------------------------------------------------------


def check_invariants(result: MatchResult, strata: np.ndarray | None = None) -> None:
    """Assert the properties every MatchResult must have, whatever the specification."""
    spec, t, w = result.spec, result.treated, result.weights
    sets = result_sets(result)
    assert (w >= 0).all()
    assert set(np.unique(w[t])) <= {0.0, 1.0}
    assert (w[result.discarded] == 0).all()
    matched_t = np.flatnonzero(t & (w > 0))
    assert sorted(sets) == matched_t.tolist()
    controls = [c for cs in sets.values() for c in cs]
    assert all(len(cs) >= 1 for cs in sets.values())
    assert all(not t[c] and not result.discarded[c] for c in controls)
    cap = spec.max_controls if spec.variable else spec.ratio
    if spec.method == "nearest":
        assert all(len(cs) <= cap for cs in sets.values())
    for c_list in sets.values():
        assert len(set(c_list)) == len(c_list)
    if not spec.replace:
        assert len(controls) == len(set(controls)), "a control was reused without replacement"
    if result.caliper is not None:
        for i, cs in sets.items():
            assert all(abs(result.distance[i] - result.distance[c]) <= result.caliper for c in cs)
    if strata is not None:
        for i, cs in sets.items():
            assert all(strata[c] == strata[i] for c in cs)
    _check_weights(result, sets)
    _check_counts(result)


def _check_weights(result: MatchResult, sets: dict[int, list[int]]) -> None:
    t, w = result.treated, result.weights
    raw = np.zeros(w.size)
    for cs in sets.values():
        for c in cs:
            raw[c] += 1.0 / len(cs)
    distinct = int((raw > 0).sum())
    np.testing.assert_allclose(w[~t].sum(), distinct)
    np.testing.assert_allclose(w[~t], raw[~t] * distinct / raw.sum(), rtol=1e-12)
    frame = result.get_matches()
    assert len(frame) == len(sets) + sum(len(v) for v in sets.values())
    per_set = frame[frame.treated == 0].groupby("subclass")["weight"].sum()
    np.testing.assert_allclose(per_set.to_numpy(), 1.0)
    if not result.spec.replace:
        sub = result.subclass
        for i, cs in sets.items():
            assert (sub[cs] == sub[i]).all() and sub[i] > 0
        assert ((sub > 0) == (w > 0)).all()


def _check_counts(result: MatchResult) -> None:
    t = result.treated
    assert (
        result.n_treated_matched + result.n_treated_unmatched + result.n_treated_discarded
        == t.sum()
    )
    assert (
        result.n_control_matched + result.n_control_unmatched + result.n_control_discarded
        == (~t).sum()
    )
