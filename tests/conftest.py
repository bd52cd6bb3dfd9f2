"""Shared fixtures: the golden cases of DOMAIN.md, kept as the project's own test data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "data" / "course_examples.json"
DEMO_DIR = ROOT / "dashboard" / "data" / "demo"


@pytest.fixture(scope="session")
def course() -> dict:
    """The golden cases (a copy of DOMAIN.md's scenarios file); a missing file is a failure."""
    assert SCENARIOS.exists(), f"golden cases not found at {SCENARIOS}"
    return json.loads(SCENARIOS.read_text())


@pytest.fixture(scope="session")
def demo_meta() -> dict:
    return json.loads((DEMO_DIR / "demo.json").read_text())


@pytest.fixture(scope="session")
def demo_path() -> Path:
    return DEMO_DIR / "cat_results.parquet"
