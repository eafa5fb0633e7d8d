"""End to end: the run command, the report it renders, privacy, determinism, failures."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from helpers.errors import SubmissionError
from helpers.report import quarto_config
from helpers.run import run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[1]


def _params(tmp: Path, example_root: Path, name: str = "example", **extra) -> Path:
    values = {
        "run_name": "acme",
        "organisation": "Acme Mentoring",
        "national_records": str(example_root / "data" / "national"),
        "submission": str(example_root / "data" / name / "submission.csv"),
        "output_dir": str(tmp / "outputs"),
        "setting": "custody",
        "renderer": "nbconvert",
        **extra,
    }
    path = tmp / f"{values['run_name']}.yaml"
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in values.items()) + "\n")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, example_root):
    tmp = tmp_path_factory.mktemp("run")
    return run(_params(tmp, example_root), quiet=True), tmp


def test_a_run_leaves_every_artefact_in_its_folder(finished):
    result, _ = finished
    folder = result.folder
    assert result.renderer == "nbconvert" and result.report == folder / "report" / "report.html"
    for path in ["notebooks/01_ingest.ipynb", "notebooks/02_match.ipynb",
                 "notebooks/03_estimate.ipynb", "ingest/cohort.parquet", "ingest/attrition.csv",
                 "match/matched.parquet", "match/pairs.parquet", "match/balance.csv",
                 "estimate/results.json", "report/report.ipynb", "report/_quarto.yml",
                 "restricted/identities.parquet", "restricted/validation.csv", "manifest.json"]:  # fmt: skip
        assert (folder / path).is_file(), path
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["timings_seconds"]) == {"01_ingest", "02_match", "03_estimate", "report"}
    assert {"submission", "national_records/people.parquet"} <= set(manifest["inputs"])
    assert manifest["params"]["organisation"] == "Acme Mentoring"
    assert not list(folder.parent.glob("acme.partial")) and not list(folder.parent.glob("*.failed"))


def _soup(finished) -> BeautifulSoup:
    result, _ = finished
    return BeautifulSoup(result.report.read_text(encoding="utf-8"), "html.parser")


def test_fallback_report_has_its_sections_figures_and_captions(finished):
    soup = _soup(finished)
    headings = [h.get_text(" ", strip=True) for h in soup.find_all("h1")]
    for expected in ("Summary", "Further analyses", "Methodology", "Appendix A", "Appendix B",
                     "Appendix C"):  # fmt: skip
        assert any(h.startswith(expected) for h in headings), (expected, headings)
    figures = soup.find_all("figure")
    assert {f["id"] for f in figures} >= {"fig-attrition", "fig-measures", "fig-love",
                                          "fig-overlap", "fig-survival", "fig-forest"}  # fmt: skip
    for fig in figures:
        img = fig.find("img")
        assert img["src"].startswith("data:image/png;base64,") and img["alt"]
        assert fig.find("figcaption").get_text().startswith("Figure ")
    captions = [p.get_text() for p in soup.select("p.caption")]
    assert any(c.startswith("Table 1.") for c in captions)
    assert "Quarto was not found" in soup.get_text()
    assert not soup.find_all("script", src=True)  # self-contained: nothing fetched


def test_report_numbers_are_the_numbers_in_results_json(finished):
    result, _ = finished
    results = json.loads((result.folder / "estimate" / "results.json").read_text())
    text = _soup(finished).get_text(" ")
    rate = next(r for r in results["published"] if r["measure"] == "rate")
    row = re.search(r"One-year proven reoffending rate\s+(\S+)\s+(\S+)", text)
    assert row and row.groups() == (rate["treatment_value"], rate["comparison_value"])
    assert f"{results['sizes']['treatment_group']:,} participants" in text
    assert results["sentences"]["rate"][:120] in text
    assert "no effect" not in text.lower().replace("no effect'", "")


def _published_files(folder: Path):
    for path in folder.rglob("*"):
        if path.is_file() and "restricted" not in path.relative_to(folder).parts:
            yield path


def test_nothing_personal_appears_outside_the_restricted_folder(finished, example_root):
    result, _ = finished
    sent = pd.read_csv(
        example_root / "data/example/submission.csv", dtype=str, keep_default_na=False
    )
    people = pd.read_parquet(example_root / "data/national/people.parquet")
    truth = pd.read_csv(example_root / "data/example/truth/rows.csv")
    records = people[people["person_id"].isin(truth["person_id"].dropna())]
    needles = set(sent["PNC Number"].replace("", pd.NA).dropna())
    needles |= set(records["person_id"])
    needles |= {
        f"{f} {s}" for f, s in zip(sent["Forename"], sent["Surname"], strict=True) if f and s
    }
    needles |= {
        f"{s}, {f}" for f, s in zip(sent["Forename"], sent["Surname"], strict=True) if f and s
    }
    for dob in records["date_of_birth"]:
        needles |= {dob.strftime("%d/%m/%Y"), dob.isoformat()}
    needles |= {d for d in sent["Date of Birth"] if len(d) >= 8}
    long_surnames = {s for s in records["surname"] if len(s) >= 7}
    checked = 0
    for path in _published_files(result.folder):
        if path.suffix == ".parquet":
            text = pd.read_parquet(path).to_csv()
        elif path.suffix in (".png", ".pdf"):
            continue
        else:
            text = path.read_text(encoding="utf-8", errors="ignore")
        found = [n for n in needles if n in text]
        found += [s for s in long_surnames if re.search(rf"\b{re.escape(s)}\b", text)]
        assert not found, f"{path.relative_to(result.folder)} contains {found[:3]}"
        checked += 1
    assert checked >= 15


def test_the_same_params_and_data_give_byte_identical_results(finished, example_root, tmp_path):
    first, _ = finished
    again = run(_params(tmp_path, example_root), quiet=True)
    digest = [hashlib.sha256((f / "estimate" / "results.json").read_bytes()).hexdigest()
              for f in (first.folder, again.folder)]  # fmt: skip
    assert digest[0] == digest[1]


def test_a_failed_run_keeps_the_previous_good_run_and_explains(finished, example_root, tmp_path):
    result, tmp = finished
    before = (result.folder / "manifest.json").read_bytes()
    bad = tmp / "empty.csv"
    bad.write_text("Surname,Forename,DOB,Sex,Programme start\n")
    params = _params(tmp, example_root)
    params.write_text(params.read_text().replace(
        str(example_root / "data/example/submission.csv"), str(bad)))  # fmt: skip
    with pytest.raises(SubmissionError, match="has a header but no participants") as info:
        run(params, quiet=True)
    assert "last good run" in str(info.value) and "acme.failed" in str(info.value)
    assert (result.folder / "manifest.json").read_bytes() == before
    failed = result.folder.with_name("acme.failed")
    assert (failed / "run.log").is_file() and (failed / "notebooks/01_ingest.ipynb").is_file()


def test_quarto_project_is_valid_by_construction(finished):
    result, _ = finished
    import yaml

    config = yaml.safe_load((result.folder / "report" / "_quarto.yml").read_text())
    assert config == quarto_config(type("P", (), {"report_formats": ["html"]})())
    assert config["project"]["render"] == ["report.ipynb"]
    assert config["execute"]["enabled"] is False and config["format"]["html"]["embed-resources"]
    notebook = json.loads((result.folder / "report" / "report.ipynb").read_text())
    front = notebook["cells"][0]
    assert front["cell_type"] == "raw"
    assert yaml.safe_load("".join(front["source"]).strip("-\n"))["title"].startswith("Does Acme")


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers.cli", *args], cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip


def test_cli_errors_are_messages_not_tracebacks(tmp_path, example_root):
    params = _params(tmp_path, example_root, ratio="two", calipr=0.3)
    done = _cli("check", str(params))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "`ratio`" in done.stderr and "did you mean `caliper`?" in done.stderr
    ok = _cli("check", str(_params(tmp_path, example_root)))
    assert ok.returncode == 0, ok.stderr
    assert "OK: ready to run" in ok.stdout
