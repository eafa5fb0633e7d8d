"""One organisation's run: the three notebooks under papermill, then the report.

A run is written to a staging folder beside its destination and moved to
``outputs/<run_name>/`` only when every stage and the report have succeeded, so a failed run
never replaces a good earlier one. A failed run is kept as ``outputs/<run_name>.failed/`` with
the executed notebooks up to the failure and ``run.log``, and the error is reported in the
analyst's words: mistakes in inputs keep their own message (from ``helpers.errors``), anything
else is reported as a bug with the notebook cell to look at.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import papermill as pm

from helpers import errors
from helpers.artefacts import jsonable
from helpers.manifest import build_manifest, write_manifest
from helpers.params import STAGES, RunParams, load_params, project_root

log = logging.getLogger(__name__)
logging.getLogger("papermill").setLevel(logging.WARNING)  # our own progress lines suffice

NOTEBOOKS = (("ingest", "01_ingest"), ("match", "02_match"), ("estimate", "03_estimate"))
_USER_ERRORS = {name for name in errors.__all__ if name.endswith("Error")}


@dataclass(frozen=True)
class RunResult:
    """Where a finished run is and how long each stage took (seconds)."""

    folder: Path
    report: Path | None
    renderer: str
    timings: dict[str, float] = field(default_factory=dict)


def stage_parameters(params: RunParams, stage: str, run_dir: Path) -> dict:
    """The notebook's own keys, as JSON-safe values, pointing it at the staging folder."""
    keys = STAGES[stage].model_fields
    values = {k: v for k, v in params.model_dump().items() if k in keys}
    values["run_dir"] = str(run_dir)
    return jsonable(values)


def run(params_path: str | Path, *, renderer: str | None = None, quiet: bool = False) -> RunResult:
    """Execute one organisation's run from its params YAML; see the module docstring."""
    params: RunParams = load_params(params_path)
    check_inputs(params)
    _check_project()
    final = params.folder()
    staging = _fresh(final.with_name(final.name + ".partial"))
    say = (lambda *_: None) if quiet else _progress
    timings: dict[str, float] = {}
    started = dt.datetime.now(dt.UTC)
    try:
        for number, (stage, notebook) in enumerate(NOTEBOOKS, start=1):
            say(f"[{number}/{len(NOTEBOOKS) + 1}] {notebook} ...")
            timings[notebook] = _execute(notebook, stage_parameters(params, stage, staging),
                                         staging)  # fmt: skip
            say(f"      done in {timings[notebook]:.1f}s")
        say(f"[{len(NOTEBOOKS) + 1}/{len(NOTEBOOKS) + 1}] report ...")
        from helpers.report import render_report

        tic = time.perf_counter()
        rendered = render_report(staging, params, renderer=renderer or params.renderer)
        timings["report"] = time.perf_counter() - tic
        say(f"      {rendered.renderer}: done in {timings['report']:.1f}s")
        write_manifest(staging, build_manifest(params, params_path, timings, started,
                                               rendered.renderer))  # fmt: skip
    except BaseException as exc:
        failed = _keep_failed(staging, final, exc)
        if isinstance(exc, errors.JDLError):
            raise type(exc).from_text(f"{exc}\n{_failed_note(failed)}") from None
        raise
    _promote(staging, final)
    report = rendered.path and final / rendered.path.relative_to(staging)
    return RunResult(folder=final, report=report, renderer=rendered.renderer, timings=timings)


def check_inputs(params: RunParams) -> None:
    """The files a run reads must exist (one line per missing file, naming its key)."""
    problems = []
    if not params.submission_path().is_file():
        problems.append(f"`submission`: {params.submission_path()} does not exist")
    if not (params.records_path() / "people.parquet").is_file():
        problems.append(f"`national_records`: {params.records_path()} holds no people.parquet "
                        "(for the example data run `jdl synth example`)")  # fmt: skip
    if problems:
        raise errors.ParamsError(problems, fix="Correct the paths in the params YAML.")


def _check_project() -> None:
    missing = [f"{folder}/{name}.ipynb" for folder, name in
               [("notebooks", n) for _, n in NOTEBOOKS] + [("report", "summary")]
               if not (project_root() / folder / f"{name}.ipynb").is_file()]  # fmt: skip
    if missing:
        raise errors.RunError(f"{', '.join(missing)} not found under {project_root()}: run "
                              "`jdl` from the project folder (or a copy of it).")  # fmt: skip


def _execute(notebook: str, parameters: dict, staging: Path) -> float:
    source = project_root() / "notebooks" / f"{notebook}.ipynb"
    target = staging / "notebooks" / f"{notebook}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    try:
        pm.execute_notebook(
            str(source), str(target), parameters=parameters, cwd=str(project_root()),
            progress_bar=False, log_output=False, kernel_name="python3",
        )  # fmt: skip
    except pm.PapermillExecutionError as exc:
        raise _translate(exc, notebook, target) from None
    return time.perf_counter() - tic


def _translate(exc: pm.PapermillExecutionError, notebook: str, target: Path) -> Exception:
    """A notebook's exception as the analyst should see it."""
    if exc.ename in _USER_ERRORS:
        return getattr(errors, exc.ename).from_text(exc.evalue)
    return errors.RunError(
        f"{notebook} stopped at cell {exc.exec_count} with {exc.ename}: {exc.evalue}. This is "
        f"a fault in the analysis code, not in your inputs: please report it with "
        f"{target} attached."
    )


def _progress(message: str) -> None:
    print(message, flush=True)


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _keep_failed(staging: Path, final: Path, exc: BaseException) -> Path:
    failed = final.with_name(final.name + ".failed")
    shutil.rmtree(failed, ignore_errors=True)
    if staging.exists():
        (staging / "run.log").write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
        staging.rename(failed)
    return failed


def _failed_note(failed: Path) -> str:
    return (f"The partial run is in {failed} (see run.log); the last good run, if any, is "
            "untouched.")  # fmt: skip


def _promote(staging: Path, final: Path) -> None:
    """Swap the finished run into place, keeping the old one until the swap has happened."""
    old = final.with_name(final.name + ".previous")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(final.with_name(final.name + ".failed"), ignore_errors=True)


def read_results(folder: Path) -> dict:
    return json.loads((folder / "estimate" / "results.json").read_text(encoding="utf-8"))


__all__ = ["RunResult", "check_inputs", "read_results", "run", "stage_parameters"]
