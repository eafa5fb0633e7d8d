"""Parity with R MatchIt 4.5.1.

1. The golden lalonde files (tests/golden/lalonde/make_golden.R: MatchIt's classic algorithm,
   1:1 nearest on the propensity score, largest first, without and with replacement): the
   same matched sets, weights, counts and every balance statistic of ``summary()``.
2. ``needs_r``: synthetic data with exact strata, ties and calipers, matched by MatchIt via
   Rscript (tests/golden/matchit_sets/*.R) and by us, compared set by set.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.balance import balance_table, effective_sample_size
from helpers.errors import BalanceWarning
from helpers.matching import MatchSpec, match, variable_ratios
from helpers.propensity import fit_propensity

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "lalonde"
SETS_R = HERE / "golden" / "matchit_sets"
LALONDE = HERE / "golden" / "lalonde" / "lalonde.csv"
COVS = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
COLUMNS = {
    "Means Treated": "mean_treated",
    "Means Control": "mean_control",
    "Std. Mean Diff.": "smd",
    "Var. Ratio": "variance_ratio",
    "eCDF Mean": "ecdf_mean",
    "eCDF Max": "ecdf_max",
}


def _golden(name: str) -> pd.DataFrame:
    return pd.read_csv(GOLDEN / name, dtype={"id": str, "subclass": str})


@pytest.fixture(scope="module")
def lal() -> pd.DataFrame:
    """lalonde in make_golden.R's row order (decreasing score) with R's fitted score."""
    if not LALONDE.exists():
        pytest.fail(f"{LALONDE} is missing: it is committed with the golden files")
    raw = pd.read_csv(LALONDE, index_col=0)
    units = _golden("nearest_units.csv").set_index("id")
    out = raw.loc[units.index].copy()
    out["distance"] = units["distance"]
    return out


def _partition(ids, subclass) -> set[frozenset]:
    sets: dict = {}
    for i, s in zip(ids, subclass, strict=True):
        if pd.notna(s) and s != -1:
            sets.setdefault(s, set()).add(i)
    return {frozenset(v) for v in sets.values()}


def _pairs(result, ids) -> set[tuple[str, str]]:
    frame = result.get_matches(ids)
    t = frame[frame.treated == 1].set_index("subclass")["unit"]
    c = frame[frame.treated == 0]
    return set(zip(t.loc[c["subclass"]].to_numpy(), c["unit"].to_numpy(), strict=True))


# --- golden lalonde: without replacement ---------------------------------------------------


@pytest.mark.parametrize("order", ["data", "largest"])
def test_nearest_matches_golden_sets(lal, order):
    result = match(lal, MatchSpec(distance="score", order=order), "distance", treatment="treat")
    golden = _golden("nearest_units.csv")
    assert _partition(lal.index, result.subclass) == _partition(golden["id"], golden["subclass"])
    np.testing.assert_array_equal(result.weights, golden["weights"])
    assert (result.n_treated_matched, result.n_control_matched) == (185, 185)
    assert result.n_control_unmatched == 244 and result.n_treated_unmatched == 0


def test_nearest_on_our_own_score_in_the_original_order(lal):
    raw = pd.read_csv(LALONDE, index_col=0)
    model = fit_propensity(raw, COVS, treatment="treat")
    result = match(raw, MatchSpec(distance="score"), model, treatment="treat")
    golden = _golden("nearest_units.csv")
    assert _partition(raw.index, result.subclass) == _partition(golden["id"], golden["subclass"])


@pytest.mark.parametrize("name", ["nearest", "nearest_replace"])
def test_balance_matches_golden_summary(lal, name):
    spec = MatchSpec(distance="score", order="data", replace=name == "nearest_replace")
    result = match(lal, spec, "distance", treatment="treat")
    with pytest.warns(BalanceWarning):  # lalonde is poorly balanced without a caliper
        table = balance_table(lal, COVS, result).table
    for part, stage in (("sum.all", "before"), ("sum.matched", "after")):
        golden = pd.read_csv(GOLDEN / f"{name}_{part}.csv").set_index("term")
        golden.index = golden.index.str.replace("^race", "race_", regex=True)
        for theirs, ours in COLUMNS.items():
            got = table.loc[golden.index, f"{ours}_{stage}"].to_numpy(dtype=float)
            np.testing.assert_allclose(
                got, golden[theirs], atol=1e-9, rtol=1e-9, err_msg=f"{part} {theirs}"
            )


@pytest.mark.parametrize("name", ["nearest", "nearest_replace"])
def test_sample_sizes_match_golden(lal, name):
    spec = MatchSpec(distance="score", order="data", replace=name == "nearest_replace")
    result = match(lal, spec, "distance", treatment="treat")
    nn = pd.read_csv(GOLDEN / f"{name}_nn.csv").set_index("row")
    t = result.treated
    assert result.n_control_matched == nn.loc["Matched", "Control"]
    assert result.n_control_unmatched == nn.loc["Unmatched", "Control"]
    assert result.n_treated_matched == nn.loc["Matched", "Treated"]
    ess = effective_sample_size(result.weights[~t])
    assert ess == pytest.approx(nn.loc["Matched (ESS)", "Control"], rel=1e-12)


# --- golden lalonde: with replacement ------------------------------------------------------


def test_replace_matches_golden_stacked(lal):
    result = match(lal, MatchSpec(distance="score", replace=True), "distance", treatment="treat")
    stacked = _golden("nearest_replace_stacked.csv")
    t = stacked[stacked.treat == 1].set_index("subclass")["id"]
    c = stacked[stacked.treat == 0]
    expected = set(zip(t.loc[c["subclass"]].to_numpy(), c["id"].to_numpy(), strict=True))
    assert _pairs(result, lal.index.to_numpy()) == expected
    assert result.n_control_matched == 80
    assert round(effective_sample_size(result.weights[~result.treated]), 2) == 43.49
    units = _golden("nearest_replace_units.csv")
    np.testing.assert_allclose(result.weights, units["weights"], rtol=1e-12)
    # the stacked table itself, ordered as get_matches orders it
    ours = result.get_matches(lal.index.to_numpy())
    assert ours["weight"].tolist() == stacked["weights"].tolist()
    assert ours["treated"].tolist() == stacked["treat"].tolist()


# --- direct comparison with R MatchIt ----------------------------------------------------------


def _has_matchit() -> bool:
    if shutil.which("Rscript") is None:
        return False
    ok = subprocess.run(["Rscript", "-e", "library(MatchIt)"], capture_output=True, check=False)
    return ok.returncode == 0


skip_without_r = pytest.mark.skipif(not _has_matchit(), reason="Rscript with MatchIt is missing")


def _synthetic(seed: int, *, distinct: bool) -> pd.DataFrame:
    """Integer distances (exact in CSV) with many ties unless ``distinct``; rows in
    decreasing distance so that MatchIt's m.order = "data" is "largest first"."""
    rng = np.random.default_rng(seed)
    n1, n0 = 40, 160
    treat = np.r_[np.ones(n1, int), np.zeros(n0, int)]
    if distinct:
        d = rng.choice(1_000_000, n1 + n0, replace=False) + 300_000 * treat
    else:
        d = rng.integers(0, 120, n1 + n0) + 20 * treat
    df = pd.DataFrame({"id": [f"u{i}" for i in range(treat.size)], "treat": treat, "distance": d})
    df["stratum"] = rng.integers(0, 3, treat.size)
    return df.sort_values("distance", ascending=False, kind="stable").reset_index(drop=True)


def _matchit_sets(df: pd.DataFrame, tmp: Path, replace, ratio, caliper, exact) -> pd.DataFrame:
    data, out = tmp / "data.csv", tmp / "out.csv"
    df.to_csv(data, index=False)
    args = [
        str(replace).upper(),
        str(ratio),
        "NA" if caliper is None else str(caliper),
        str(exact).upper(),
    ]
    subprocess.run(
        ["Rscript", str(SETS_R / "match_sets.R"), str(data), str(out), *args],
        check=True,
        capture_output=True,
    )
    return pd.read_csv(out, dtype=str)


R_SPECS = [
    # replace, ratio, caliper (raw), exact, distinct distances
    (False, 1, None, False, False),
    (False, 1, 8, True, False),
    (False, 3, 15, True, False),
    (False, 2, None, False, True),
    (True, 1, 6, True, False),
    (True, 1, None, False, False),
    (True, 3, 40_000, True, True),
]


@pytest.mark.needs_r
@skip_without_r
@pytest.mark.parametrize(("replace", "ratio", "caliper", "exact", "distinct"), R_SPECS)
@pytest.mark.parametrize("seed", [1, 2])
def test_same_sets_as_matchit(tmp_path, seed, replace, ratio, caliper, exact, distinct):
    df = _synthetic(seed, distinct=distinct)
    theirs = _matchit_sets(df, tmp_path, replace, ratio, caliper, exact)
    for order in ("data", "largest"):
        spec = MatchSpec(
            distance="logit", order=order, replace=replace, ratio=ratio,
            caliper=caliper, caliper_units="raw", exact=("stratum",) if exact else (),
        )  # fmt: skip
        ours = match(df, spec, "distance", treatment="treat").get_matches(df["id"].to_numpy())
        t = ours[ours.treated == 1].set_index("subclass")["unit"]
        c = ours[ours.treated == 0]
        got = pd.DataFrame(
            {"treated": t.loc[c["subclass"]].to_numpy(), "control": c["unit"].to_numpy()}
        )
        if replace:
            assert set(map(tuple, got.to_numpy())) == set(
                map(tuple, theirs[["treated", "control"]].to_numpy())
            )
        else:  # also the round in which each control was taken
            got["slot"] = got.groupby("treated").cumcount() + 1
            want = (
                theirs.astype({"slot": int}).sort_values(["treated", "slot"]).reset_index(drop=True)
            )
            got = got.sort_values(["treated", "slot"]).reset_index(drop=True)
            pd.testing.assert_frame_equal(got, want[["treated", "control", "slot"]])


@pytest.mark.needs_r
@skip_without_r
@pytest.mark.parametrize(
    ("ratio", "max_controls", "n1"), [(2.5, 4, 20), (2.0, 3, 37), (1.5, 5, 11)]
)
def test_variable_ratio_allocation_as_matchit(tmp_path, ratio, max_controls, n1):
    rng = np.random.default_rng(n1)
    treat = np.r_[np.ones(n1, int), np.zeros(12 * n1, int)]
    d = rng.uniform(0.05, 0.6, treat.size) + 0.3 * treat
    df = pd.DataFrame({"id": [f"u{i}" for i in range(treat.size)], "treat": treat, "distance": d})
    df.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    out = tmp_path / "o.csv"
    script = SETS_R / "variable_ratio.R"
    subprocess.run(
        ["Rscript", str(script), str(tmp_path / "d.csv"), str(out), str(ratio), str(max_controls)],
        check=True,
        capture_output=True,
    )
    theirs = pd.read_csv(out).set_index("treated")["n"]
    ours = variable_ratios(d[treat == 1], d[treat == 0].mean(), ratio, 1, max_controls)
    np.testing.assert_array_equal(ours, theirs.loc[df["id"][treat == 1]].to_numpy())
