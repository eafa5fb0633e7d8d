"""The layout of a run's folder and deterministic writers for its artefacts.

``outputs/<run>/`` holds one sub-folder per stage (``ingest/``, ``match/``, ``estimate/``),
``figures/``, the executed ``notebooks/``, the ``report/`` and ``restricted/``. Only
``restricted/`` may hold personal data (names, dates of birth, PNC ids, submitted rows); the
report is built from everything else. Writers fix formats so the same results give the same
bytes.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.plots import save_figure

STAGES = ("ingest", "match", "estimate")


@dataclass(frozen=True)
class RunFolder:
    """Paths inside one run's folder."""

    root: Path

    def stage(self, name: str) -> Path:
        return self._dir(self.root / name)

    @property
    def restricted(self) -> Path:
        return self._dir(self.root / "restricted")

    @property
    def figures(self) -> Path:
        return self._dir(self.root / "figures")

    @staticmethod
    def _dir(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
    return path


def write_json(data: Any, path: Path) -> Path:
    path.write_text(json.dumps(jsonable(data), indent=2, sort_keys=False) + "\n",
                    encoding="utf-8")  # fmt: skip
    return path


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_figure(fig, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    save_figure(fig, path)
    return path


def jsonable(value: Any) -> Any:
    """Plain JSON types: NaN/inf become null, numpy scalars become Python numbers, dates ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value
