"""The conda environment and the pip dependencies describe the same software."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
CONDA_NAMES = {"duckdb": "python-duckdb"}  # pip name -> conda-forge name where they differ


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def test_environment_yml_has_every_dependency_and_quarto():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"]) | _names(project["optional-dependencies"]["dev"])
    wanted |= {"jupyterlab"}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {re.split(r"[<>=]", d)[0] for d in env["dependencies"] if isinstance(d, str)}
    pip = {re.split(r"[<>=]", p)[0] for d in env["dependencies"] if isinstance(d, dict)
           for p in d["pip"]}  # fmt: skip
    missing = {w for w in wanted if CONDA_NAMES.get(w, w) not in conda | pip}
    assert not missing, f"add to environment.yml: {sorted(missing)}"
    assert "quarto" in conda and "conda-forge" in env["channels"]


def test_lock_pins_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = (ROOT / "requirements.lock").read_text().lower()
    pinned = {line.split("==")[0] for line in lock.splitlines() if "==" in line}
    missing = _names(project["dependencies"]) - pinned
    assert not missing, f"regenerate requirements.lock (./jdl lock): {sorted(missing)}"
