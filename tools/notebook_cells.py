"""Render a stage's parameters cell from its pydantic model (used when editing notebooks).

    python tools/notebook_cells.py ingest   # prints the parameters cell for 01_ingest

The notebooks' parameter cells are plain code so papermill and JupyterLab can read them; this
prints them from the one place defaults live, and tests/test_notebooks.py checks they agree.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from helpers.params import STAGES


def parameters_cell(stage: str) -> str:
    model = STAGES[stage]
    lines = []
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, dt.date):
            default = default.isoformat()
        kind = _kind(field.annotation, default)
        lines.append(f"{name}: {kind} = {_literal(default)}  # {field.description}")
    return "\n".join(lines)


def _literal(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def _kind(annotation, default) -> str:
    text = str(annotation)
    if "date" in text:
        return "str"
    if default is None:  # papermill cannot parse `X | None`; None stays a valid value
        return "str" if "str" in text or "Literal" in text else "float"
    return type(default).__name__


if __name__ == "__main__":
    print(parameters_cell(sys.argv[1]))
