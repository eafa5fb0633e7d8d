"""Shared fixtures: the bundled example data, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.synth.cli import ensure_example


@pytest.fixture(scope="session")
def example_root(tmp_path_factory) -> Path:
    """A folder holding ``data/`` exactly as ``jdl synth example`` makes it (200k people)."""
    root = tmp_path_factory.mktemp("example")
    ensure_example(root=root)
    return root


@pytest.fixture(scope="session")
def example_records(example_root) -> Path:
    return example_root / "data" / "national"
