"""The served app's composition, driven from plain pytest (no kernel, no browser)."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import ipywidgets
import pytest

from dashboard.app import (
    DashboardApp,
    DeferredApp,
    PreheatedApp,
    app_from_environment,
    report_filename,
)
from dashboard.serve import ENV_DATASET_NAME, ENV_FILE, ENV_HUMAN_LEVEL, ENV_STORE

DEMO = Path(__file__).resolve().parents[1] / "dashboard" / "data" / "demo"


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    """Environment naming a copy of the demo data and a store in the temporary folder."""
    data = tmp_path / "data"
    shutil.copytree(DEMO, data)
    return {ENV_FILE: str(data / "cat_results.parquet"),
            ENV_STORE: str(tmp_path / "annotations.sqlite"),
            ENV_DATASET_NAME: "Cat <demo>"}


@pytest.fixture
def app(demo_env: dict[str, str]) -> DashboardApp:
    widget = app_from_environment(demo_env)
    assert isinstance(widget, DashboardApp)
    return widget


def test_app_composes_the_dashboard_with_the_sidecar_facts(app: DashboardApp,
                                                           demo_env: dict[str, str]) -> None:
    r = app.results
    assert app.dashboard.results is r
    assert r.human_level.names == ("team of cat experts", "cat expert", "typical person")
    assert r.metadata["A"]["running_time_ms"] == 80
    assert "Cat &lt;demo&gt;" in app.dashboard.header.value
    assert "Focus on data mismatch" in app.dashboard.header.value
    assert Path(demo_env[ENV_STORE]).exists()
    assert not (Path(demo_env[ENV_FILE]).parent / "annotations.sqlite").exists()


def test_human_level_from_the_environment_wins(demo_env: dict[str, str]) -> None:
    widget = app_from_environment({**demo_env, ENV_HUMAN_LEVEL: '{"me": 0.02}'})
    assert isinstance(widget, DashboardApp)
    assert widget.results.human_level.names == ("me",)


def test_report_link_is_a_data_uri_of_the_current_state(app: DashboardApp) -> None:
    app.report_button.click()
    link = app.report_link.value
    found = re.search(r"href='data:text/html;charset=utf-8;base64,([A-Za-z0-9+/=]+)'", link)
    assert found, link[:200]
    text = base64.b64decode(found.group(1)).decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert app.results.gaps().headline in text
    assert "download='cat-demo-diagnosis.html'" in link
    assert app.report_bytes == len(text.encode("utf-8"))
    assert "model A, threshold 0.5" in app.report_status.value
    # one click: the same bytes were sent to the page to be saved at once
    assert app.downloader.sent == [("cat-demo-diagnosis.html", app.report_bytes)]
    assert not app.report_button.disabled
    # the link describes the state it was built in: a threshold move drops it
    app.results.threshold = 0.3
    assert app.report_link.value == ""
    assert "download the report again" in app.report_status.value


def test_report_failure_shows_in_the_status_line(app: DashboardApp,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import dashboard.report

    def boom(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("no <disk>")

    monkeypatch.setattr(dashboard.report, "build_report", boom)
    assert app.build_report() == ""
    assert "no &lt;disk&gt;" in app.report_status.value
    assert app.report_link.value == ""
    assert not app.report_button.disabled


@pytest.mark.parametrize(("title", "name"), [
    ("Cat detector (demo)", "cat-detector-demo-diagnosis.html"),
    ("<script>", "script-diagnosis.html"),
    ("???", "results-diagnosis.html"),
])
def test_report_filename(title: str, name: str) -> None:
    assert report_filename(title) == name


def test_live_voila_page_defers_the_load_until_the_page_shows_it(
        demo_env: dict[str, str]) -> None:
    widget = app_from_environment({**demo_env, "VOILA_PREHEAT": "False"})
    assert isinstance(widget, DeferredApp)
    assert "Loading cat_results.parquet" in widget.loading.value
    assert widget.content is None and widget._view_count == 0
    widget._view_count = 1  # what the frontend reports once it drew the loading line
    assert isinstance(widget.content, DashboardApp)
    assert widget.children == (widget.content,)
    assert widget._view_count is None
    assert widget.load() is widget.content  # built once


def test_preheated_kernel_and_notebooks_build_at_once(demo_env: dict[str, str]) -> None:
    preheated = app_from_environment({**demo_env, "VOILA_PREHEAT": "True"})
    assert isinstance(preheated, PreheatedApp)
    assert isinstance(preheated.content, DashboardApp)  # built before any page asks
    assert preheated.children == (preheated.content,)
    assert isinstance(app_from_environment(demo_env, defer=False), DashboardApp)


def test_preheated_page_shows_reviews_saved_after_the_kernel_started(
        demo_env: dict[str, str]) -> None:
    """A preheated kernel waits for its page: edits saved meanwhile must reach that page."""
    preheated = app_from_environment({**demo_env, "VOILA_PREHEAT": "True"})
    assert isinstance(preheated, PreheatedApp)
    r = preheated.content.results
    # another page (another kernel) saves a comment and a tick after this kernel started
    other = app_from_environment(demo_env, defer=False)
    key = other.results.review_rows("dev").iloc[0]["key"]
    other.dashboard.tally_grid.session.set_comment(key, "seen later")
    category = other.results.categories[0]
    was = other.results.tags.get(category, {}).get(key) if key in other.results.tags.index \
        else None
    other.dashboard.tally_grid.session.set_tag(key, category, not bool(was))
    assert r.comments.get(key) != "seen later"  # this kernel still holds its start state
    preheated._view_count = 1  # the page draws it
    assert r.comments.get(key) == "seen later"
    assert bool(r.tags.loc[key, category]) is (not bool(was))
    assert not preheated.rebuilt
    assert preheated._view_count is None  # once


def test_preheated_page_is_rebuilt_when_the_file_changed(demo_env: dict[str, str]) -> None:
    import pandas as pd

    preheated = app_from_environment({**demo_env, "VOILA_PREHEAT": "True"})
    assert isinstance(preheated, PreheatedApp)
    first = preheated.content
    file = Path(demo_env[ENV_FILE])
    df = pd.read_parquet(file)
    df = df[df["split"] != "test"]  # a re-export without the test split
    df.to_parquet(file)
    preheated._view_count = 1
    assert preheated.rebuilt and preheated.content is not first
    assert preheated.children == (preheated.content,)
    assert "test" not in preheated.content.results.splits


def test_deferred_failure_becomes_a_message(demo_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label,score,split\na,1,0.9,dev\nb,0,,dev\n")
    widget = app_from_environment({ENV_FILE: str(bad)}, defer=True)
    assert isinstance(widget, DeferredApp)
    message = widget.load()
    assert isinstance(message, ipywidgets.HTML)
    assert "mldash-message" in message._dom_classes
    assert "&#x27;score&#x27;" in message.value and "row 2" in message.value


def test_store_in_a_missing_folder_is_named(demo_env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "nowhere" / "annotations.sqlite"
    widget = app_from_environment({**demo_env, ENV_STORE: str(store)})
    assert isinstance(widget, ipywidgets.HTML)
    assert "mldash-message" in widget._dom_classes
    assert str(store) in widget.value


def test_bad_human_level_is_a_message(demo_env: dict[str, str]) -> None:
    widget = app_from_environment({**demo_env, ENV_HUMAN_LEVEL: "[1, 2]"})
    assert isinstance(widget, ipywidgets.HTML)
    assert ENV_HUMAN_LEVEL in widget.value


