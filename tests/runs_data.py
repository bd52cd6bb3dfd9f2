"""Three seeded runs of a project, as a folder of results files or an MLflow file store
(shared by the runs tests and the browser tests): run1, a re-run of the same model (run2),
and a run that fixed the blurry images (run3). Every split holds the same example ids in
every run."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SIZES = {"train": 1000, "train_dev": 500, "dev": 1000, "test": 500}
#: the dev examples that are blurry (the first 150): the category run3 fixed
BLURRY = 150
RATES = {"train": 0.03, "train_dev": 0.05, "dev": 0.06, "test": 0.06}
#: (seed, dev and test error of the blurry examples) per run
RUNS = {"run1": (11, 0.45), "run2": (12, 0.45), "run3": (13, 0.06)}


def run_frame(seed: int, blurry_error: float) -> pd.DataFrame:
    """One run's results: ids per split, labels alternating, scores on the right side except
    on the examples the run gets wrong (drawn at each split's rate; blurry dev and test
    examples at ``blurry_error``)."""
    rng = np.random.default_rng(seed)
    parts = []
    for split, n in SIZES.items():
        rate = np.full(n, RATES[split])
        if split in ("dev", "test"):
            rate[:BLURRY * n // SIZES["dev"]] = blurry_error
        label = np.arange(n) % 2
        wrong = rng.random(n) < rate
        score = np.where(label == 1, rng.uniform(0.55, 1.0, n), rng.uniform(0.0, 0.45, n))
        parts.append(pd.DataFrame({"id": [f"{split}-{i:04d}" for i in range(n)],
                                   "split": split, "label": label,
                                   "score": np.where(wrong, 1.0 - score, score)}))
    return pd.concat(parts, ignore_index=True)


def write_runs(folder: Path, *, order: bool = True) -> dict[str, Path]:
    """The three runs as ``<name>.parquet`` (with a ``run_order`` sidecar when ``order``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i, (name, (seed, blurry)) in enumerate(RUNS.items(), start=1):
        path = folder / f"{name}.parquet"
        run_frame(seed, blurry).to_parquet(path)
        if order:
            (folder / f"{name}.json").write_text(json.dumps({"run_order": i}))
        paths[name] = path
    return paths


def is_blurry(key: str) -> bool:
    """Whether a dev example's key names a blurry image."""
    return key.startswith("dev-") and int(key.split("-")[1]) < BLURRY


MLFLOW_REASON = ("MLflow is the optional [mlflow] extra (mlflow-skinny): "
                 "pip install -e '.[mlflow]' or '.[test]'")


def mlflow_store(tmp_path: Path, runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                 *, artifact: str = "results.parquet") -> str:
    """An MLflow file store (experiment ``cats``) holding one finished run per results file,
    made with MLflow's own client; returns its tracking URI."""
    pytest.importorskip("mlflow", reason=MLFLOW_REASON)
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for it
    uri = (tmp_path / "mlruns").as_uri()
    client = MlflowClient(uri)
    exp = client.create_experiment("cats")
    for name, path in runs.items():
        run = client.create_run(exp, run_name=name)
        staged = tmp_path / "staging" / name / artifact
        staged.parent.mkdir(parents=True)
        shutil.copy(path, staged)
        client.log_artifact(run.info.run_id, str(staged))
        client.set_terminated(run.info.run_id)
        time.sleep(0.01)  # start times in order
    return uri
