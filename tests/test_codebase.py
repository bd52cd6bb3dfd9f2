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


def test_the_results_model_is_split_by_concern() -> None:
    """No module of the results model is over ~800 lines (it was one file of 2,300)."""
    sizes = {p.name: len(p.read_text().splitlines())
             for p in (ROOT / "dashboard" / "results").glob("*.py")}
    assert {"model.py", "constructors.py", "review.py", "analysis.py", "comparing.py"} <= \
        set(sizes)
    assert max(sizes.values()) <= 800, sizes


def test_every_engine_offers_the_results_model_the_same_aggregates() -> None:
    """The in-memory engine and an out-of-core engine's aggregates answer the same questions
    with the same signatures, and the results model never asks which one it holds: every
    number has one path."""
    import inspect

    from dashboard.aggregate_source import AggregateSource
    from dashboard.memory_engine import MemorySource

    # what the in-memory engine offers beyond the aggregates: rows for the per-row views
    rows_only = {"positions", "key_arrow", "keys_at", "code", "score_array", "predicted_codes",
                 "correct_at", "correct", "weights", "slice_columns", "class_proba"}

    def api(cls: type) -> dict[str, object]:
        return {name: (inspect.signature(member) if callable(member) else "property")
                for name, member in vars(cls).items()
                if not name.startswith("_") and name not in rows_only
                and (callable(member) or isinstance(member, property))}

    memory, engine = api(MemorySource), api(AggregateSource)
    assert set(memory) == set(engine), set(memory) ^ set(engine)
    for name, sig in memory.items():
        if sig != "property":
            assert list(sig.parameters) == list(engine[name].parameters), name  # type: ignore[union-attr]
    for path in (ROOT / "dashboard" / "results").glob("*.py"):
        text = path.read_text()
        for needle in ("DatasetResults", "isinstance(self._source", "self._source.agg",
                       "_agg."):
            assert needle not in text, f"{path.name}: {needle}"
