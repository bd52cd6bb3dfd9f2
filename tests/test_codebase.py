"""The codebase's own rules, run as tests so the README's one test command checks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_layers_contract_is_kept() -> None:
    """metrics <- io <- results <- annotations <- widgets <- app/cli (import-linter)."""
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    result = run(exe)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_ruff_clean() -> None:
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_reads_outside_the_repository() -> None:
    """A clone stands alone: no test, script or notebook names the folder beside it or a machine
    folder."""
    offenders = []
    for folder in ("tests", "dashboard", "benchmarks", "notebooks", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in {".py", ".ipynb", ".json", ".toml", ""} or not path.is_file():
                continue
            text = path.read_text(errors="replace")
            # built from parts, so this file does not name them itself
            for needle in ("../" + "shared", '"shared"' + " /", "/" + "work/"):
                if needle in text:
                    offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not offenders, offenders
