"""The run parameters: one validated model per stage, read from one flat YAML file.

The same YAML feeds ``jdl run`` and papermill (``papermill ... -f params/x.yaml``), so keys are
flat (papermill injects each as a notebook variable). Each notebook validates the keys it uses
with its stage model (:class:`IngestParams`, :class:`MatchParams`, :class:`EstimateParams`);
``jdl check`` validates the whole file with :class:`RunParams`. Defaults live here and only here
(a test checks the notebooks' parameter cells agree).

Every problem becomes one line that names the key (and its line in the YAML) and the fix, all
collected into one :class:`~helpers.errors.ParamsError`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from helpers.errors import ParamsError
from helpers.records import REGIONS

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: A DuckDB memory size (https://duckdb.org/docs/configuration/overview: memory_limit).
_MEMORY = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)

#: Covariates of the propensity model by default (reference §3), as of the index date.
#: Counts enter on the log(1 + x) scale as well (they are right-skewed) and age also as MoJ age
#: groups, so the model is flexible enough for selection that is not linear in the raw values.
#: (Years since first sanction is left out: it equals age minus age at first sanction, and
#: enters through the Copas rate.)
DEFAULT_COVARIATES = [
    "age", "age_group", "sex", "ethnicity", "uk_national", "region", "index_offence",
    "index_disposal", "custodial_days", "log_custodial_days", "prev_offences",
    "log_prev_offences", "prev_custody", "log_prev_custody", "log_prev_court_orders",
    "log_prev_violence", "log_prev_theft", "log_prev_burglary", "log_prev_drugs",
    "age_first_sanction", "copas_rate", "index_year",
]  # fmt: skip


class _Stage(BaseModel):
    """Keys every notebook needs: where the run's files live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_name: str = Field("example", description="name of the run folder under output_dir")
    output_dir: str = Field("outputs", description="folder that receives runs")
    run_dir: str = Field("", description="folder of this run (empty: <output_dir>/<run_name>)")

    @field_validator("run_name")
    @classmethod
    def _run_name(cls, value: str) -> str:
        if not RUN_NAME.match(value):
            raise ValueError(
                f"must be letters, digits, '-', '_' or '.', starting with a letter or digit "
                f"(got {value!r}): use a name such as 'acme_2024'"
            )
        return value

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """Validate the notebook variables named like this model's fields (its parameters)."""
        return validate(cls, {k: namespace[k] for k in cls.model_fields if k in namespace})

    def folder(self) -> Path:
        """The run's folder, resolved against the project root when relative."""
        return resolve(self.run_dir or str(Path(self.output_dir) / self.run_name))


class IngestParams(_Stage):
    """01_ingest: the request, the data, and who is eligible (reference §1–§2)."""

    organisation: str = Field("Example organisation", description="who sent the request")
    programme: str = Field("", description="one-paragraph description of the programme")
    national_records: str = Field("data/national", description="folder of the records extract")
    submission: str = Field("data/example/submission.csv", description="participant file")
    submission_sheet: str = Field("", description="Excel sheet name (empty: the first sheet)")
    submission_encoding: str = Field("utf-8", description="text encoding of a CSV file")
    extract_date: dt.date | None = Field(
        None, description="override the date stated by the extract"
    )
    setting: Literal["custody", "community"] = Field("custody", description="programme setting")
    window_start: dt.date = Field(dt.date(2019, 1, 1), description="first eligible index date")
    window_end: dt.date = Field(dt.date(2022, 12, 31), description="last eligible index date")
    follow_up_months: int = Field(12, ge=1, le=60, description="follow-up after the index date")
    proving_months: int = Field(6, ge=0, le=24, description="further months to prove offences")
    release_within_days: int = Field(
        365, ge=1, le=3650, description="custody: release within this many days of the start"
    )
    order_within_days: int = Field(
        90, ge=0, le=730, description="community: order start within ± this many days"
    )
    region: str | None = Field(None, description="restrict to one region (None: all regions)")
    sex: Literal["M", "F"] | None = Field(None, description="restrict to one sex (None: both)")
    min_cohort: int = Field(60, ge=1, description="fewest people the analysis may run with")
    link_threshold: float = Field(0.95, gt=0, lt=1, description="splink match probability")
    use_pnc: bool = Field(True, description="link exactly on PNC ids where supplied")
    duckdb_memory_limit: str = Field(
        "", description="DuckDB memory cap, e.g. 4GB (empty: 80% of RAM)"
    )
    duckdb_threads: int = Field(0, ge=0, description="DuckDB threads (0: one per core)")
    seed: int = Field(20261124, description="seed for every random choice in the run")

    @field_validator("region", "sex", "extract_date", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and value not in REGIONS:
            raise ValueError(f"must be one of {', '.join(REGIONS)} (got {value!r})")
        return value

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_limit(cls, value: str) -> str:
        value = value.strip()
        if value and not _MEMORY.fullmatch(value):
            raise ValueError(
                f"must be a size such as 4GB, 1500MB or 2GiB, or empty for DuckDB's default "
                f"(got {value!r})"
            )
        return value

    @model_validator(mode="after")
    def _window(self) -> IngestParams:
        if self.window_end < self.window_start:
            raise ValueError(
                f"window_end ({self.window_end}) is before window_start ({self.window_start}): "
                "swap them or correct the dates"
            )
        return self

    def submission_path(self) -> Path:
        return resolve(self.submission)

    def records_path(self) -> Path:
        return resolve(self.national_records)

    def duckdb_settings(self) -> dict[str, Any]:
        """Keyword arguments for :func:`helpers.records.connect` (empty ones left to DuckDB)."""
        return {
            "threads": self.duckdb_threads or None,
            "memory_limit": self.duckdb_memory_limit or None,
        }


class MatchParams(_Stage):
    """02_match: the propensity model and the matching design (reference §3)."""

    covariates: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COVARIATES), description="propensity covariates"
    )
    ps_formula: str = Field("", description="patsy formula for the score (overrides covariates)")
    method: Literal["nearest", "radius"] = Field("nearest", description="matching method")
    distance: Literal["logit", "score"] = Field("logit", description="match on the logit or score")
    ratio: int = Field(5, ge=1, le=100, description="controls per treated person (nearest)")
    max_controls: int = Field(0, ge=0, le=100, description=">0: variable ratio, up to this many")
    replace: bool = Field(True, description="a control may serve several treated people")
    caliper: float | None = Field(0.2, gt=0, description="caliper width (None: no caliper)")
    caliper_units: Literal["sd", "raw"] = Field("sd", description="caliper in SDs or raw units")
    order: Literal["largest", "smallest", "closest", "random", "data"] = Field(
        "largest", description="order in which treated people pick controls"
    )
    exact: list[str] = Field(default_factory=list, description="match exactly on these")
    common_support: Literal["none", "treated", "control", "both"] = Field(
        "none", description="discard units outside the score range of the other group"
    )
    rare_levels: Literal["merge", "error"] = Field(
        "merge", description="categories too rare to model: merge them, or stop"
    )
    smd_good: float = Field(0.05, gt=0, description="|SMD| below this is good balance")
    smd_acceptable: float = Field(0.10, gt=0, description="|SMD| below this is acceptable")
    seed: int = Field(20261124, description="seed for every random choice in the run")

    @model_validator(mode="after")
    def _thresholds(self) -> MatchParams:
        if self.smd_acceptable < self.smd_good:
            raise ValueError("smd_acceptable must be at least smd_good (e.g. 0.05 and 0.10)")
        if self.method == "radius" and self.caliper is None:
            raise ValueError("radius matching needs a caliper: set `caliper`, e.g. 0.2")
        return self

    def spec(self):
        """The matching design as :class:`helpers.matching.MatchSpec`."""
        from helpers.matching import MatchSpec

        return MatchSpec(
            method=self.method, distance=self.distance, ratio=self.ratio,
            min_controls=1 if self.max_controls else None,
            max_controls=self.max_controls or None, replace=self.replace or self.method == "radius",
            caliper=self.caliper, caliper_units=self.caliper_units, order=self.order,
            exact=tuple(self.exact), discard=self.common_support, seed=self.seed,
        )  # fmt: skip


class EstimateParams(_Stage):
    """03_estimate: measures, tests, gates and disclosure (reference §4–§5)."""

    organisation: str = Field("Example organisation", description="who sent the request")
    programme: str = Field("", description="one-paragraph description of the programme")
    headline: str = Field("rate", description="the pre-declared headline measure")
    conf_level: float = Field(0.95, gt=0.5, lt=1, description="confidence level of intervals")
    multiple_testing: Literal["holm", "fdr_bh"] = Field("holm", description="p-value adjustment")
    subgroups: list[str] = Field(default_factory=lambda: ["sex", "age_band"],
                                 description="subgroup analyses")  # fmt: skip
    min_cohort: int = Field(60, ge=1, description="fewest people the analysis may run with")
    min_reoffenders_time: int = Field(30, ge=1, description="treatment reoffenders for days")
    min_expected_count: int = Field(10, ge=0, description="n·p needed to show a row")
    min_cell: int = Field(10, ge=0, description="smallest count that may be published")
    smd_good: float = Field(0.05, gt=0, description="|SMD| below this is good balance")
    smd_acceptable: float = Field(0.10, gt=0, description="|SMD| below this is acceptable")
    seed: int = Field(20261124, description="seed for every random choice in the run")

    @field_validator("headline")
    @classmethod
    def _headline(cls, value: str) -> str:
        from helpers.measures import MEASURES

        keys = list(MEASURES)
        if value not in keys:
            raise ValueError(f"must be one of {', '.join(keys)} (got {value!r})")
        return value

    @field_validator("subgroups")
    @classmethod
    def _subgroups(cls, value: list[str]) -> list[str]:
        from helpers.subgroups import SUBGROUPS

        unknown = [v for v in value if v not in SUBGROUPS]
        if unknown:
            raise ValueError(f"names {', '.join(map(repr, unknown))}: use any of "
                             f"{', '.join(SUBGROUPS)}")  # fmt: skip
        return value

    def thresholds(self):
        """The publication thresholds as :class:`helpers.measures.Thresholds`."""
        from helpers.measures import Thresholds

        return Thresholds(
            min_group_size=self.min_cohort, min_reoffenders_time=self.min_reoffenders_time,
            min_expected_count=self.min_expected_count, smd_good=self.smd_good,
            smd_acceptable=self.smd_acceptable, alpha=round(1 - self.conf_level, 10),
        )  # fmt: skip


class ReportParams(_Stage):
    """The report: renderer and formats."""

    renderer: Literal["auto", "quarto", "nbconvert"] = Field("auto", description="who renders")
    report_formats: list[Literal["html", "pdf"]] = Field(
        default_factory=lambda: ["html"], description="html, and pdf with Quarto"
    )


class RunParams(IngestParams, MatchParams, EstimateParams, ReportParams):
    """Every key a params YAML may hold (``jdl check`` and ``jdl run`` validate with this)."""


STAGES: dict[str, type[_Stage]] = {
    "ingest": IngestParams,
    "match": MatchParams,
    "estimate": EstimateParams,
    "report": ReportParams,
}


# --- loading and error messages ------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML without implicit dates, so that impossible dates reach our own messages."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(path: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The YAML's top-level mapping and the line of each key; errors as ParamsError."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"file {path} does not exist: check the path (e.g. params/example.yaml)")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParamsError(
            f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}. "
            "Write one `key: value` per line."
        ) from exc
    if node is None:
        raise ParamsError(f"{path} is empty: start from params/example.yaml")
    if not isinstance(node, yaml.MappingNode):
        raise ParamsError(f"{path} must be a list of `key: value` lines, not a single value")
    lines, problems = {}, []
    for key_node, _ in node.value:
        key = key_node.value
        if key in lines:
            problems.append(f"`{key}` appears twice (lines {lines[key]} and "
                            f"{key_node.start_mark.line + 1}): keep one")  # fmt: skip
        lines[key] = key_node.start_mark.line + 1
    if problems:
        raise ParamsError(problems)
    return yaml.load(text, Loader=_Loader), lines


def load_params(path: str | Path, model: type[_Stage] = RunParams):
    """Read and validate a params YAML (all problems reported together)."""
    values, lines = load_yaml(path)
    return validate(model, values, lines, source=str(path))


def validate(model: type[_Stage], values: Mapping[str, Any], lines: Mapping[str, int] | None = None,
             source: str = "the parameters"):  # fmt: skip
    """Build ``model`` from ``values`` or raise one ParamsError listing every problem."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        lines = lines or {}
        errors = sorted(exc.errors(), key=lambda e: lines.get(str(e["loc"][0]) if e["loc"]
                                                             else "", 10**6))  # fmt: skip
        problems = [_explain(err, model, values, lines) for err in errors]
        raise ParamsError(
            problems, fix=f"Fix {source} and run again (`jdl check` re-checks)."
        ) from None


def _explain(err: dict, model, values, lines) -> str:
    key = str(err["loc"][0]) if err["loc"] else ""
    if not key:
        return err["msg"].removeprefix("Value error, ")
    where = f"`{key}`" + (f" (line {lines[key]})" if key in lines else "")
    got = values.get(key, err.get("input"))
    kind = err["type"]
    if kind == "extra_forbidden":
        guess = difflib.get_close_matches(key, list(model.model_fields), n=1)
        hint = f"did you mean `{guess[0]}`?" if guess else "remove it or check its spelling"
        return f"{where} is not a parameter: {hint}"
    if kind == "missing":
        return f"{where} is required: add a line `{key}: ...`"
    field = model.model_fields.get(key)
    default = field.get_default(call_default_factory=True) if field else None
    example = f": use a value such as {default!r}" if default not in (None, "", []) else ""
    if kind in ("int_parsing", "int_from_float"):
        return f"{where} must be a whole number (got {got!r}){example}"
    if kind == "float_parsing":
        return f"{where} must be a number (got {got!r}){example}"
    if kind == "bool_parsing":
        return f"{where} must be true or false (got {got!r})"
    if kind.startswith("date"):
        return f"{where} must be a real date written YYYY-MM-DD (got {got!r})"
    if kind == "literal_error":
        return f"{where} must be {err.get('ctx', {}).get('expected', '')} (got {got!r})"
    if kind == "list_type":
        return f"{where} must be a list such as {default!r} (got {got!r})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{where} {err['msg'].lower().removeprefix('input ')} (got {got!r}){example}"
    if kind == "value_error":
        return f"{where} {err['msg'].removeprefix('Value error, ')}"
    return f"{where}: {err['msg']} (got {got!r})"


def project_root(start: Path | None = None) -> Path:
    """The folder holding ``pyproject.toml`` and ``notebooks/`` (so that relative paths in
    params work from the repository root, from ``notebooks/`` in JupyterLab, or anywhere)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return here


def resolve(path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path
