"""The run manifest: what produced a run, so anyone can tell whether two runs are comparable.

Written to ``outputs/<run>/manifest.json``: the resolved parameters, SHA-256 hashes of every
input file, package versions, the git commit, seeds and timings. ``results.json`` holds only
results (no timings or paths), so the same params and data give byte-identical results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from helpers.artefacts import jsonable
from helpers.params import RunParams, project_root

PACKAGES = ("open-jdl", "numpy", "pandas", "duckdb", "splink", "statsmodels", "linearmodels",
            "lifelines", "scipy", "matplotlib", "papermill", "pydantic", "pyarrow")  # fmt: skip


def file_hash(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def input_hashes(params: RunParams) -> dict[str, str]:
    """SHA-256 of the participant file and of every file of the records extract."""
    records = params.records_path()
    files = {"submission": params.submission_path()}
    files |= {f"national_records/{p.name}": p for p in sorted(records.glob("*.parquet"))}
    files |= {"national_records/manifest.json": records / "manifest.json"}
    return {name: file_hash(path) for name, path in files.items() if path.is_file()}


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    return found


def git_commit() -> str:
    """The commit of the analysis code, with '+changes' when the work tree is not clean."""
    root = project_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "notebooks"],
                               cwd=root, capture_output=True, text=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("+changes" if dirty else "")


def build_manifest(params: RunParams, params_path, timings: dict[str, float],
                   started: dt.datetime, renderer: str) -> dict:  # fmt: skip
    return jsonable({
        "run_name": params.run_name,
        "params_file": str(params_path),
        "params": params.model_dump(),
        "inputs": input_hashes(params),
        "seed": params.seed,
        "code": {"git_commit": git_commit(), "versions": versions()},
        "renderer": renderer,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "timings_seconds": {k: round(v, 2) for k, v in timings.items()},
    })  # fmt: skip


def write_manifest(folder: Path, manifest: dict) -> Path:
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def changes_since(previous: Path, params: RunParams) -> list[str]:
    """What differs from the last run in this folder: parameters and input files."""
    path = previous / "manifest.json"
    if not path.is_file():
        return []
    old = json.loads(path.read_text(encoding="utf-8"))
    new_params = jsonable(params.model_dump())
    changes = [
        f"`{key}`: {old['params'].get(key)!r} → {value!r}"
        for key, value in new_params.items()
        if old["params"].get(key) != value and key != "run_dir"
    ]
    new_inputs = input_hashes(params)
    changes += [f"{name} has changed" for name, digest in new_inputs.items()
                if old.get("inputs", {}).get(name) not in (None, digest)]  # fmt: skip
    return changes
