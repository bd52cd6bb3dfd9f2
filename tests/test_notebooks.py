"""The notebooks run from top to bottom in a fresh python3 kernel (nbclient), without errors.

* ``notebooks/tour.ipynb`` trains a model, prints the gaps and shows ``Dashboard(r)``;
* ``notebooks/dashboard.ipynb`` (Voilà's entry point) builds the dashboard for the file named
  by ``DASHBOARD_FILE``: here a copy of the demo data; without it, the bundled demo and a
  one-line hint.

Run as they are, in their folder of a fresh clone and with no ``DASHBOARD_`` variable, both
leave the clone as it was (``git status`` shows nothing, ignored files included): default
annotation stores go to the user's data folder (``$XDG_DATA_HOME``, private to the tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from dashboard.app import DEMO_HINT, NO_VIEW_TEXT
from dashboard.serve import ENV_DATASET_NAME, ENV_FILE, ENV_STORE

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
DEMO = REPO / "dashboard" / "data" / "demo"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TOUR_BUDGET_S = 120.0


def run_notebook(path: Path, cwd: Path, env: dict[str, str] | None = None,
                 timeout: int = 120) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``path`` in a python3 kernel started in ``cwd``; return it and the seconds taken.

    The kernel gets this checkout first on ``PYTHONPATH``, so it imports the same package.
    """
    nb = nbformat.read(path, as_version=4)
    kernel_env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHBOARD_",
                                                                          "VOILA_"))}
    kernel_env.update(env or {})
    kernel_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), kernel_env.get("PYTHONPATH", "")) if p)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout,
                            resources={"metadata": {"path": str(cwd)}})
    started = time.monotonic()
    client.execute(env=kernel_env)
    return nb, time.monotonic() - started


def outputs(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """Every output of every code cell."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def text_of(output: dict[str, Any]) -> str:
    """The text an output shows: stream text or its text/plain representation."""
    if output["output_type"] == "stream":
        return output["text"]
    return str(output.get("data", {}).get("text/plain", ""))


def widget_states(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The widget models nbclient saved in the notebook's metadata."""
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh clone of this checkout's committed tree; the kernels import the checkout."""
    dest = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO}", str(dest)],
                   check=True, capture_output=True)
    yield dest


def git_status(repo: Path) -> str:
    """Everything git sees changed or added in ``repo``, ignored files included."""
    return subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=repo, text=True,
                          check=True, capture_output=True).stdout


def test_tour_runs_and_prints_the_gaps(clone: Path, private_user_data: Path) -> None:
    nb, seconds = run_notebook(clone / "notebooks" / "tour.ipynb", clone / "notebooks")
    assert seconds < TOUR_BUDGET_S
    outs = outputs(nb)
    assert not [o for o in outs if o["output_type"] == "error"]
    assert not [o for o in outs if o.get("name") == "stderr" and "Error" in o["text"]]
    printed = "\n".join(text_of(o) for o in outs if o["output_type"] == "stream")
    # print(r.gaps()): the headline and one line per gap
    assert "Focus on data mismatch" in printed
    for gap in ("avoidable bias", "variance", "data mismatch", "dev overfitting"):
        assert gap in printed
    views = [o for o in outs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1
    assert text_of(views[0]).startswith("Dashboard(")
    model_id = views[0]["data"][WIDGET_VIEW]["model_id"]
    assert model_id in widget_states(nb)
    # the notebook is thin: no function or class is defined in it
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "def " not in code and "class " not in code
    # the store of the Dashboard(r) cell went to the user's data folder, not the clone
    assert (private_user_data / "ml-diagnosis-dashboard" / "annotations.sqlite").exists()
    assert git_status(clone) == ""


def test_dashboard_notebook_falls_back_to_the_demo(clone: Path) -> None:
    """Run as it is (no launcher, no DASHBOARD_FILE): the demo, and one line saying how to
    point it at a file, instead of a dead end."""
    nb, _seconds = run_notebook(clone / "notebooks" / "dashboard.ipynb", clone / "notebooks")
    outs = outputs(nb)
    assert not [o for o in outs if o["output_type"] == "error"]
    views = [o for o in outs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1 and text_of(views[0]) == NO_VIEW_TEXT  # a sentence, never a repr
    html_values = json.dumps([s["state"].get("value", "") for s in widget_states(nb).values()
                              if s.get("model_name") == "HTMLModel"])
    assert "Focus on data mismatch" in html_values and "Cat detector (demo)" in html_values
    assert json.dumps(DEMO_HINT)[1:-1] in html_values
    assert "No results file given" not in html_values
    assert git_status(clone) == ""


def test_dashboard_notebook_builds_the_demo(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DEMO, data)
    store = tmp_path / "store" / "annotations.sqlite"
    store.parent.mkdir()
    nb, _seconds = run_notebook(NOTEBOOKS / "dashboard.ipynb", tmp_path, env={
        ENV_FILE: str(data / "cat_results.parquet"),
        ENV_STORE: str(store),
        ENV_DATASET_NAME: "Cat detector <demo>",
    })
    outs = outputs(nb)
    assert not [o for o in outs if o["output_type"] == "error"]
    views = [o for o in outs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1
    # built at once outside Voilà: the page itself, not a message or a loading line
    model_id = views[0]["data"][WIDGET_VIEW]["model_id"]
    assert model_id in widget_states(nb)
    assert "mldash-app" in widget_states(nb)[model_id]["state"]["_dom_classes"]
    # where the widget cannot be drawn, a sentence, not a Python repr (issue 21)
    assert text_of(views[0]) == NO_VIEW_TEXT
    html_values = json.dumps([s["state"].get("value", "") for s in widget_states(nb).values()
                              if s.get("model_name") == "HTMLModel"])
    assert "Focus on data mismatch" in html_values
    assert "Cat detector &lt;demo&gt;" in html_values
    assert "mldash-message" not in html_values
    assert store.exists()
    assert not (data / "annotations.sqlite").exists()


def test_dashboard_notebook_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label,score,split\na,1,0.9,dev\nb,0,,dev\n")
    nb, _seconds = run_notebook(NOTEBOOKS / "dashboard.ipynb", tmp_path,
                                env={ENV_FILE: str(bad)})
    outs = outputs(nb)
    assert not [o for o in outs if o["output_type"] == "error"]
    views = [o for o in outs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1
    state = widget_states(nb)[views[0]["data"][WIDGET_VIEW]["model_id"]]["state"]
    assert "mldash-message" in state["_dom_classes"]
    assert "score" in state["value"] and "bad.csv" in state["value"]


@pytest.mark.parametrize("name", ["tour.ipynb", "dashboard.ipynb"])
def test_notebooks_are_stored_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert nb.metadata["kernelspec"]["name"] == "python3"
