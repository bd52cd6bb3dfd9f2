"""Shared fixtures: the golden cases of DOMAIN.md, kept as the project's own test data."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "data" / "course_examples.json"
DEMO_DIR = ROOT / "dashboard" / "data" / "demo"


@pytest.fixture(scope="session", autouse=True)
def private_user_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private ``$XDG_DATA_HOME`` for the session (inherited by servers and kernels), so
    the default annotation stores of the tests never land in the user's real data folder."""
    before = os.environ.get("XDG_DATA_HOME")
    folder = tmp_path_factory.mktemp("xdg-data")
    os.environ["XDG_DATA_HOME"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = before


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
