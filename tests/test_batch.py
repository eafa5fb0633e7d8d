"""Batches: every organisation runs, failures are reported, the summary uses published numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from helpers.batch import Outcome, run_batch, summary_table, write_summary


def _fake_run(folder: Path, organisation: str, difference: float, published: bool = True) -> Path:
    (folder / "estimate").mkdir(parents=True)
    results = {
        "run": {"organisation": organisation, "setting": "custody"},
        "sizes": {"treatment_group": 250, "comparison_group": 900},
        "matching": {"balance": {"rating": "good"}},
        "estimates": {"estimates": [{"measure": "rate", "difference": difference,
                                     "ci_low": difference - 0.05, "ci_high": difference + 0.05}]},
        "published": [{"measure": "rate", "published": published, "treatment_value": "40%",
                       "comparison_value": "45%", "p_value": "0.04", "significant": "Yes"}],
    }  # fmt: skip
    (folder / "estimate" / "results.json").write_text(json.dumps(results))
    return folder


def test_summary_table_and_forest_plot_from_finished_runs(tmp_path):
    outcomes = [
        Outcome(Path("a.yaml"), True, "ok", _fake_run(tmp_path / "a", "Alpha", -0.05)),
        Outcome(Path("b.yaml"), False, "Problem with the participant file: empty"),
        Outcome(Path("c.yaml"), True, "ok", _fake_run(tmp_path / "c", "Gamma", 0.0, False)),
    ]
    table = write_summary(outcomes, tmp_path / "_batch")
    assert table["organisation"].tolist() == ["Alpha", "Gamma"]
    assert table.loc[0, "difference_pp"] == -5.0
    assert pd.isna(table.loc[1, "difference_pp"])  # not published: not plotted, not printed
    assert (tmp_path / "_batch" / "forest_by_size.png").stat().st_size > 5000
    runs = pd.read_csv(tmp_path / "_batch" / "runs.csv")
    assert runs["ok"].tolist() == [True, False, True]
    assert summary_table([outcomes[1]]).empty


def test_one_failure_never_stops_the_others(tmp_path, example_records):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    paths = []
    for name, submission in (("first", empty), ("second", tmp_path / "missing.csv")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"run_name: {name}\nsubmission: {submission}\n"
                        f"national_records: {example_records}\n"
                        f"output_dir: {tmp_path / 'out'}\n")  # fmt: skip
        paths.append(path)
    seen = []
    outcomes = run_batch(paths, workers=2, on_done=seen.append)
    assert [o.ok for o in outcomes] == [False, False] and len(seen) == 2
    assert "is empty" in outcomes[0].message
    assert "`submission`" in outcomes[1].message and "does not exist" in outcomes[1].message
