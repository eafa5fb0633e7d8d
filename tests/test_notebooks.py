"""The notebooks as files: committed without outputs, parameters that agree with the params
model (defaults live in one place), parameter cells papermill can read, report labels valid."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from helpers.params import STAGES
from helpers.report import cell_options
from notebook_cells import parameters_cell

ROOT = Path(__file__).parents[1]
NOTEBOOKS = {"ingest": "01_ingest", "match": "02_match", "estimate": "03_estimate"}
ALL = [*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "report").glob("*.ipynb")]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} has outputs: clear them before committing"
            assert cell.get("execution_count") is None


def _parameters(path: Path) -> dict[str, object]:
    cell = next(c for c in _cells(path) if "parameters" in c["metadata"].get("tags", []))
    values = {}
    for node in ast.parse("".join(cell["source"])).body:
        assert isinstance(node, ast.AnnAssign), "parameter cells hold only `name: type = value`"
        values[node.target.id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("stage", NOTEBOOKS)
def test_notebook_parameters_are_exactly_the_stage_model_with_its_defaults(stage):
    path = ROOT / "notebooks" / f"{NOTEBOOKS[stage]}.ipynb"
    in_notebook = _parameters(path)
    model = STAGES[stage]
    assert list(in_notebook) == list(model.model_fields)
    validated = model.from_namespace(in_notebook)
    assert validated == model(), (
        f"{path.name}: defaults differ from helpers.params.{model.__name__}; regenerate the "
        f"cell with `python tools/notebook_cells.py {stage}`"
    )
    assert parameters_cell(stage)  # the generator still renders this stage


@pytest.mark.parametrize("name", NOTEBOOKS.values())
def test_papermill_can_read_every_parameter(name):
    done = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(ROOT / "notebooks" / f"{name}.ipynb")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Unable to parse" not in done.stdout + done.stderr
    assert "run_dir" in done.stdout


def test_report_template_labels_figures_and_tables_for_cross_reference():
    cells = _cells(ROOT / "report" / "summary.ipynb")
    options = [cell_options("".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    labels = [o["label"] for o in options if "label" in o]
    assert len(labels) == len(set(labels)), "labels must be unique"
    for o in options:
        if o.get("label", "").startswith("fig-"):
            assert o.get("fig-cap") and o.get("fig-alt"), (
                f"{o['label']} needs a caption and alt text"
            )
        if o.get("label", "").startswith("tbl-"):
            assert o.get("tbl-cap"), f"{o['label']} needs a caption"
    text = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    for ref in re.findall(r"@((?:fig|tbl)-[\w-]+)", text):
        assert ref in labels, f"@{ref} refers to no label"
    assert {"fig-attrition", "tbl-measurements", "tbl-impacts", "fig-love", "fig-survival"} <= set(
        labels
    )


def test_stage_notebooks_hold_no_function_definitions():
    for name in NOTEBOOKS.values():
        for cell in _cells(ROOT / "notebooks" / f"{name}.ipynb"):
            source = "".join(cell["source"])
            assert not re.search(r"^\s*(def|class) ", source, re.M), (
                f"{name}: logic belongs in helpers"
            )
