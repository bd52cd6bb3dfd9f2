"""The bundled demo data: reproducible, on target, and in sync with its script."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.demo import (
    CATEGORIES,
    CATEGORY_COUNTS,
    DEFAULT_DIR,
    SPLIT_SIZES,
    TARGET_ERROR,
    make_demo,
    png_bytes,
    write_demo,
)

SHIPPED = DEFAULT_DIR / "cat_results.parquet"
COLUMNS = [
    "id",
    "split",
    "label",
    "score",
    "model",
    "weight",
    "preview",
    "tag:dog",
    "tag:great cat",
    "tag:blurry",
    "tag:instagram",
    "tag:incorrectly labelled",
    "device",
    "lighting",
    "brightness",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return make_demo(0)


def _by_category(frame: pd.DataFrame) -> pd.DataFrame:
    """The demo table with its declared review-tag columns (tag:dog...) named by category."""
    assert all(f"tag:{c}" in frame.columns for c in CATEGORIES)
    return frame.rename(columns={f"tag:{c}": c for c in CATEGORIES})


def _errors(frame: pd.DataFrame) -> np.ndarray:
    pred = (frame["score"].to_numpy() >= 0.5).astype(np.int64)
    return pred != frame["label"].to_numpy()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    length, tag = struct.unpack(">I4s", data[8:16])
    assert tag == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[16 + length : 20 + length])[0]
    assert crc == zlib.crc32(data[12 : 16 + length]) & 0xFFFFFFFF
    return width, height


def test_deterministic_and_seed_dependent(demo: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(make_demo(0), demo)
    other = make_demo(1)
    assert not other.equals(demo)
    assert not np.array_equal(other["score"].to_numpy(), demo["score"].to_numpy())


def test_shipped_file_matches_script(demo: pd.DataFrame) -> None:
    assert SHIPPED.is_file(), "run `python -m dashboard.demo` to regenerate the demo"
    pd.testing.assert_frame_equal(pd.read_parquet(SHIPPED), demo)


def test_write_demo_is_byte_identical(tmp_path: Path) -> None:
    first = write_demo(tmp_path / "one")
    second = write_demo(tmp_path / "two")
    assert first.name == "cat_results.parquet"
    for name in ("cat_results.parquet", "cat_results_sample.csv", "demo.json"):
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(first), make_demo(0))


def test_columns_and_dtypes(demo: pd.DataFrame) -> None:
    assert list(demo.columns) == COLUMNS
    demo = _by_category(demo)
    for col in ("id", "split", "model", "preview"):
        assert pd.api.types.is_string_dtype(demo[col]), col
    assert demo["label"].dtype == np.int64
    assert demo["score"].dtype == np.float64
    assert demo["weight"].dtype == np.float64
    for col in CATEGORIES:
        assert demo[col].dtype == "boolean", col
    assert set(demo["label"].unique()) == {0, 1}
    assert set(demo["model"].unique()) == {"A", "B"}
    score = demo["score"].to_numpy()
    assert score.min() >= 0.0 and score.max() <= 1.0
    np.testing.assert_array_equal(np.round(score, 3), score)
    assert 0.40 <= demo["label"].mean() <= 0.50


def test_ids_splits_and_weights(demo: pd.DataFrame) -> None:
    demo = _by_category(demo)
    counts = demo.groupby(["id", "model"]).size()
    assert (counts == 1).all()
    per_model = demo.groupby("model")["id"].apply(lambda s: frozenset(s))
    assert per_model["A"] == per_model["B"]
    for model, rows in demo.groupby("model"):
        assert rows.groupby("split").size().to_dict() == SPLIT_SIZES, model
    # an example keeps its split, label, weight, preview and tags across models
    example_cols = ["id", "split", "label", "weight", "preview", *CATEGORIES]
    a = demo[demo["model"] == "A"][example_cols].set_index("id").sort_index()
    b = demo[demo["model"] == "B"][example_cols].set_index("id").sort_index()
    pd.testing.assert_frame_equal(a, b)
    assert set(np.unique(a["weight"])) == {1.0, 10.0}
    heavy = a["weight"] == 10.0
    assert (a.loc[heavy, "label"] == 0).all()
    assert 0.015 <= heavy.sum() / (a["label"] == 0).sum() <= 0.025


@pytest.mark.parametrize("model", ["A", "B"])
@pytest.mark.parametrize("split", list(SPLIT_SIZES))
def test_error_rates_on_target(demo: pd.DataFrame, model: str, split: str) -> None:
    rows = demo[(demo["model"] == model) & (demo["split"] == split)]
    rate = _errors(rows).mean()
    assert abs(rate - TARGET_ERROR[model][split]) <= 0.005, (model, split, rate)


def test_models_disagree_on_dev(demo: pd.DataFrame) -> None:
    dev = demo[demo["split"] == "dev"]
    a = dev[dev["model"] == "A"].set_index("id").sort_index()
    b = dev[dev["model"] == "B"].set_index("id").sort_index()
    wrong_a, wrong_b = _errors(a), _errors(b)
    assert (wrong_a & ~wrong_b).sum() >= 50
    assert (~wrong_a & wrong_b).sum() >= 50


def test_reviewed_sample(demo: pd.DataFrame) -> None:
    demo = _by_category(demo)
    tagged = demo[demo["dog"].notna()]
    for col in CATEGORIES:  # tags are all filled or all missing, row by row
        assert (demo[col].notna() == demo["dog"].notna()).all()
    assert tagged.groupby("model")["id"].nunique().to_dict() == {"A": 100, "B": 100}
    rev = tagged[tagged["model"] == "A"]
    assert (rev["split"] == "dev").all()
    assert _errors(rev).all()
    counts = {col: int(rev[col].sum()) for col in CATEGORIES}
    assert counts == CATEGORY_COUNTS
    # plausible tags
    pred = rev["score"] >= 0.5
    for col in ("dog", "great cat"):
        hit = rev[col].astype(bool)
        assert ((rev.loc[hit, "label"] == 0) & pred[hit]).all(), col
    assert not (rev["dog"] & rev["great cat"]).any()
    wrong_label = rev["incorrectly labelled"].astype(bool)
    assert (np.abs(rev.loc[wrong_label, "score"] - 0.5) >= 0.3).all()


def test_previews_are_pngs(demo: pd.DataFrame) -> None:
    has_preview = demo["preview"].notna()
    assert (has_preview == demo["split"].isin(["dev", "test"])).all()
    names = set(demo.loc[has_preview, "preview"])
    files = sorted((DEFAULT_DIR / "images").glob("*.png"))
    assert 20 <= len(files) <= 30
    assert names <= {f"images/{f.name}" for f in files}
    for f in files:
        data = f.read_bytes()
        assert _png_size(data) == (64, 64), f.name
        assert len(data) < 4096, f.name


def test_png_writer_roundtrip() -> None:
    rgb = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    data = png_bytes(rgb)
    assert _png_size(data) == (7, 5)
    # decode IDAT with the five PNG filters and compare
    pos, idat = 8, b""
    while pos < len(data):
        length, tag = struct.unpack(">I4s", data[pos : pos + 8])
        if tag == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride, bpp = 7 * 3, 3
    prev = bytearray(stride)
    out = []
    for r in range(5):
        kind, line = (
            raw[r * (stride + 1)],
            bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) % 256
            elif kind == 2:
                line[i] = (line[i] + b) % 256
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) % 256
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) % 256
        out.append(bytes(line))
        prev = line
    assert b"".join(out) == rgb.tobytes()


def test_demo_json_references_existing_files() -> None:
    meta = json.loads((DEFAULT_DIR / "demo.json").read_text(encoding="utf-8"))
    assert meta["title"] == "Cat detector (demo)"
    assert (DEFAULT_DIR / meta["results"]).is_file()
    assert meta["positive_label"] == 1
    assert min(meta["human_level"].values()) == 0.005
    assert set(meta["models"]) == {"A", "B"}
    for info in meta["models"].values():
        assert {"running_time_ms", "size_mb"} <= set(info)
    assert meta["description"]


def test_sample_csv_matches_results(demo: pd.DataFrame) -> None:
    sample = pd.read_csv(DEFAULT_DIR / "cat_results_sample.csv")
    assert list(sample.columns) == COLUMNS
    assert 100 <= len(sample) <= 300
    assert set(sample["split"]) == {"dev"} and set(sample["model"]) == {"A"}
    expected = demo[(demo["model"] == "A") & (demo["split"] == "dev")].head(len(sample))
    assert sample["id"].tolist() == expected["id"].tolist()
    np.testing.assert_array_equal(sample["score"].to_numpy(), expected["score"].to_numpy())


def test_demo_metadata_suggests_the_night_slice() -> None:
    from dashboard import Results

    r = Results.from_file(SHIPPED)
    assert r.metadata_columns == ("device", "lighting", "brightness")
    top = r.suggest_slices("dev").iloc[0]
    assert top["slice"] == "lighting = night" and top["significant"]


def test_multitask_and_learning_curve_demos_are_shipped_in_sync() -> None:
    from dashboard import Results
    from dashboard.demo import (
        CURVE_NAME,
        MULTITASK_NAME,
        make_learning_curve_demo,
        make_multitask_demo,
    )

    for name, make in ((MULTITASK_NAME, make_multitask_demo),
                       (CURVE_NAME, make_learning_curve_demo)):
        shipped = pd.read_parquet(DEFAULT_DIR / name)
        pd.testing.assert_frame_equal(shipped, make(0), check_dtype=False)
    drive = Results.from_file(DEFAULT_DIR / MULTITASK_NAME, human_level=0.01)
    assert drive.tasks == ("pedestrian", "car", "stop_sign", "traffic_light")
    overview = drive.task_overview()
    assert overview.index[0] == "traffic_light"  # the hardest, least labelled task first
    assert overview.loc["car", "labelled_share"] > 0.9
    curve = Results.from_file(DEFAULT_DIR / CURVE_NAME).learning_curve()
    assert "likely to help" in curve.attrs["verdict"]
