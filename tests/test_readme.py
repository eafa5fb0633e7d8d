"""The README stays current: its two commands exist and every parameter is documented."""

from __future__ import annotations

from pathlib import Path

from helpers.params import RunParams

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands():
    head = README[:1500]
    assert "./jdl example" in head and "./jdl test" in head
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./jdl test" in ci  # CI runs the README's test command


def test_every_parameter_is_in_the_params_reference():
    missing = [k for k in RunParams.model_fields if f"`{k}`" not in README]
    assert not missing, f"document in README.md: {missing}"


def test_no_placeholder_is_left_in_the_readme():
    assert not [w for w in ("VALIDATION_TABLE", "BENCHMARK_TABLES", "CALIBRATION_TABLE")
                if w in README]  # fmt: skip
