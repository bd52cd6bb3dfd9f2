"""Entry point of the served notebook: build the dashboard widget from the environment.

The launcher (:mod:`dashboard.serve`) sets the ``DASHBOARD_*`` variables; the
notebook's only cell is ``app_from_environment()``.

The body is a placeholder (title, one bar, one slider) that exercises the
serving and browser-test harness; it will be replaced by the real dashboard
built from the results file. The function name and the environment contract
stay.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping
from pathlib import Path

import ipywidgets as widgets

from dashboard.serve import ENV_DATASET_NAME, ENV_FILE, ENV_HUMAN_LEVEL, ENV_STORE


def message_widget(title: str, detail: str) -> widgets.HTML:
    """A plain, escaped message box shown instead of a traceback.

    Parameters
    ----------
    title : str
        One-line summary.
    detail : str
        What went wrong and what to do.

    Returns
    -------
    ipywidgets.HTML
        Widget with the CSS class ``mldash-message``.
    """
    box = widgets.HTML(
        f"<div role='alert' style='padding:12px 16px;border-left:4px solid #c62828;"
        f"background:#fdecea'><b>{html.escape(title)}</b><br>{html.escape(detail)}</div>"
    )
    box.add_class("mldash-message")
    return box


def _parse_human_level(raw: str | None) -> dict[str, float]:
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object {name: error rate}")
    return {str(k): float(v) for k, v in value.items()}


def _count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def _placeholder(path: Path, name: str, human_level: dict[str, float]) -> widgets.Widget:
    import plotly.graph_objects as go

    rows = _count_rows(path)
    title = widgets.HTML(
        f"<h2 class='mldash-title'>{html.escape(name)}</h2>"
        f"<p class='mldash-subtitle'>{html.escape(str(path))}: {rows} rows</p>"
    )
    slider = widgets.IntSlider(value=3, min=0, max=10, description="Value")
    fig = go.FigureWidget(
        data=[go.Bar(x=["value"], y=[slider.value], text=[str(slider.value)],
                     textposition="outside", cliponaxis=False)],
        layout=go.Layout(height=320, width=480, margin=dict(l=40, r=20, t=30, b=30),
                         yaxis=dict(range=[0, 11]), title=dict(text="Placeholder")),
    )

    def on_change(change: dict) -> None:
        with fig.batch_update():
            fig.data[0].y = [change["new"]]
            fig.data[0].text = [str(change["new"])]

    slider.observe(on_change, names="value")
    children: list[widgets.Widget] = [title, slider, fig]
    if human_level:
        refs = ", ".join(f"{k}: {v:.3g}" for k, v in human_level.items())
        children.insert(1, widgets.HTML(f"<p>Human level: {html.escape(refs)}</p>"))
    box = widgets.VBox(children)
    box.add_class("mldash-app")
    return box


def app_from_environment(environ: Mapping[str, str] | None = None) -> widgets.Widget:
    """Build the dashboard for the file named by ``DASHBOARD_FILE``.

    Parameters
    ----------
    environ : Mapping[str, str], optional
        Variables to read; ``os.environ`` by default.

    Returns
    -------
    ipywidgets.Widget
        The dashboard, or a message widget when the input cannot be used.
    """
    env = os.environ if environ is None else environ
    raw_file = env.get(ENV_FILE, "")
    if not raw_file:
        return message_widget(
            "No results file given.",
            f"Start the dashboard with the ml-dashboard command, which sets {ENV_FILE}.",
        )
    path = Path(raw_file)
    name = env.get(ENV_DATASET_NAME) or path.name
    try:
        human_level = _parse_human_level(env.get(ENV_HUMAN_LEVEL))
    except (ValueError, TypeError) as exc:
        return message_widget(f"Bad {ENV_HUMAN_LEVEL} value.", str(exc))
    _store = env.get(ENV_STORE)  # used by the real dashboard (annotations)
    try:
        return _placeholder(path, name, human_level)
    except OSError as exc:
        return message_widget(
            f"Cannot open the results file {path}.", exc.strerror or str(exc)
        )
