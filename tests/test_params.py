"""Run parameters: defaults, and one clear line per mistake naming the key and the fix."""

from __future__ import annotations

import pytest

from helpers.errors import ParamsError
from helpers.params import IngestParams, MatchParams, RunParams, load_params, validate


def _problems(tmp_path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    return str(info.value)


def test_example_params_are_valid():
    params = load_params("params/example.yaml")
    assert params.setting == "custody"
    assert params.run_name == "example"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("calipr: 0.3\n", "`calipr` (line 1) is not a parameter: did you mean `caliper`?"),
        ("ratio: two\n", "`ratio` (line 1) must be a whole number (got 'two'): use a value such as 5"),
        ("caliper: -0.2\n", "`caliper` (line 1) should be greater than 0 (got -0.2): use a value such as 0.2"),
        ("window_start: 2019-02-30\n", "`window_start` (line 1) must be a real date written YYYY-MM-DD (got '2019-02-30')"),
        ("setting: prison\n", "`setting` (line 1) must be 'custody' or 'community' (got 'prison')"),
        ("use_pnc: maybe\n", "`use_pnc` (line 1) must be true or false (got 'maybe')"),
        ("region: Mars\n", "`region` (line 1) must be one of North East"),
        ("run_name: 'my run/2024'\n", "`run_name` (line 1) must be letters, digits"),
        ("window_start: 2022-01-01\nwindow_end: 2021-01-01\n", "window_end (2021-01-01) is before window_start (2022-01-01)"),
        ("duckdb_memory_limit: lots\n", "`duckdb_memory_limit` (line 1) must be a size such as 4GB"),
        ("duckdb_threads: -1\n", "`duckdb_threads` (line 1) should be greater than or equal to 0"),
        ("ratio: 1\nratio: 2\n", "`ratio` appears twice (lines 1 and 2)"),
        ("setting: [custody\nratio: 1\n", "is not valid YAML at line 2"),
        ("", "is empty"),
    ],
)  # fmt: skip
def test_each_mistake_gets_one_line_naming_the_key_and_the_fix(tmp_path, yaml_text, expected):
    assert expected in _problems(tmp_path, yaml_text)


def test_all_problems_are_reported_together_in_file_order(tmp_path):
    message = _problems(tmp_path, "ratio: two\nsetting: prison\ncalipr: 1\n")
    assert message.startswith("3 problems with the run parameters:")
    assert message.index("`ratio`") < message.index("`setting`") < message.index("`calipr`")


def test_missing_params_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="does not exist"):
        load_params(tmp_path / "nope.yaml")


def test_stage_models_accept_only_their_keys():
    assert "caliper" in MatchParams.fields() and "caliper" not in IngestParams.fields()
    with pytest.raises(ParamsError, match="`caliper` is not a parameter"):
        validate(IngestParams, {"caliper": 0.2})
    # a notebook picks its own keys out of everything papermill injected
    assert IngestParams.from_namespace({"caliper": 0.2, "setting": "community"}).setting == (
        "community"
    )


def test_notebook_namespace_is_validated_with_blank_meaning_none():
    namespace = {"region": "", "sex": "", "extract_date": "", "unrelated": object()}
    params = IngestParams.from_namespace(namespace)
    assert params.region is None and params.sex is None and params.extract_date is None


def test_run_model_holds_every_stage():
    stage_keys = set().union(*(m.model_fields for m in (IngestParams, MatchParams)))
    assert stage_keys <= set(RunParams.model_fields)
