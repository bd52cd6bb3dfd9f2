"""``PlotlyFigure``: one small anywidget whose synced state is a plain plotly figure spec.

Every view draws the current ``spec`` (with ``marks`` merged in) with ``Plotly.react`` when it
is created and whenever either trait changes, so a view that connects late, is moved into
another container (tabs, the presentation stage) or is a second display draws what the
kernel holds now. A threshold move assigns ``marks`` (a few numbers), not curves.

plotly.js is not part of the widget's state: the view loads the plotly package's own bundled
``plotly.min.js`` once per page, from the Voilà template's static files
(``/voila/templates/mldash/static/plotly.min.js?v=<version>``, cacheable; see
``dashboard.serve.plotly_static_root``); under JupyterLab from
``<base_url>mldash/static/plotly.min.js`` when the ``dashboard.serverext`` server extension is
enabled. Where no such URL exists the first view asks the kernel for the file once per page
(a binary buffer), and every other figure of the page reuses it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import anywidget
import plotly
import traitlets as t

from dashboard.figures.explorer import apply_marks
from dashboard.figures.spec import alt_text, json_safe
from dashboard.figures.theme import THEME_JS, presentation
from dashboard.widgets.kernel_state import KernelOwnedState

__all__ = ["PLOTLY_VERSION", "PlotlyFigure", "plotly_js_bytes", "plotly_js_path"]

PLOTLY_VERSION = plotly.__version__

_ESM = """
const PLOTLY_VERSION = __VERSION__;
__THEME_JS__
function loadScript(src) {
  return new Promise((resolve, reject) => {
    // plotly.min.js is UMD: with an AMD loader on the page it would not set window.Plotly
    const amd = window.define;
    window.define = undefined;
    const s = document.createElement("script");
    s.src = src;
    s.async = true;
    s.onload = () => { window.define = amd; resolve(); };
    s.onerror = () => { window.define = amd; reject(new Error("could not load " + src)); };
    document.head.appendChild(s);
  });
}
function fromKernel(model) {
  return new Promise((resolve, reject) => {
    const onMsg = (msg, buffers) => {
      if (!msg || msg.event !== "plotly-js") return;
      model.off("msg:custom", onMsg);
      const blob = new Blob([buffers[0]], { type: "text/javascript" });
      loadScript(URL.createObjectURL(blob)).then(resolve, reject);
    };
    model.on("msg:custom", onMsg);
    model.send({ event: "need-plotly-js" });
  });
}
function plotly(model) {
  if (window.Plotly && window.Plotly.react) return Promise.resolve(window.Plotly);
  if (window.__mldashPlotly) {  // started by the page (the Voila template) or a first figure
    return window.__mldashPlotly.then((P) => P || plotly(model));
  }
  if (!window.__mldashPlotly) {
    const body = document.body;
    let load;
    if (body && body.dataset.voila === "voila") {
      const base = body.dataset.baseUrl || "/voila/";
      const url = base + "templates/mldash/static/plotly.min.js?v=" + PLOTLY_VERSION;
      load = loadScript(url).catch(() => fromKernel(model));
    } else {
      // JupyterLab / Notebook 7: the dashboard.serverext server extension, when enabled,
      // says so in the page config (no probe, so no 404 in the console without it)
      let base = "/";
      let served = false;
      const config = document.getElementById("jupyter-config-data");
      try {
        const data = JSON.parse(config.textContent);
        base = data.baseUrl || "/";
        served = !!data.mldashPlotlyStatic;
      } catch (e) { /* default */ }
      const url = base + "mldash/static/plotly.min.js?v=" + PLOTLY_VERSION;
      load = served ? loadScript(url).catch(() => fromKernel(model)) : fromKernel(model);
    }
    window.__mldashPlotly = load.then(() => window.Plotly);
    window.__mldashPlotly.catch(() => { window.__mldashPlotly = null; });
  }
  return window.__mldashPlotly;
}
function isDark(el) {
  const light = document.body && document.body.dataset.jpThemeLight;
  if (light === "false") return true;
  if (light === "true") return false;
  return !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
}
function withMarks(spec, marks) {
  const data = (spec.data || []).slice();
  const traces = (marks && marks.traces) || {};
  for (const k in traces) {
    const i = Number(k);
    if (i >= 0 && i < data.length) data[i] = Object.assign({}, data[i], traces[k]);
  }
  return { data: data, layout: spec.layout || {}, config: spec.config || {} };
}
function render({ model, el }) {
  const div = document.createElement("div");
  div.className = "mldash-plot";
  div.style.width = "100%";
  // the figure in words for screen readers (WCAG 1.1.1): dashboard.figures.spec.alt_text
  div.setAttribute("role", "figure");
  const describe = () => div.setAttribute("aria-label", model.get("alt") || "figure");
  describe();
  model.on("change:alt", describe);
  el.appendChild(div);
  let revision = 0;
  let queued = false;
  let busy = Promise.resolve();
  let alive = true;
  const drawNow = (Plotly) => {
    const spec = model.get("spec") || {};
    // no spec yet (a view drawn when its tab is first shown): no empty axes, no revision
    if (!spec.data) return Promise.resolve();
    const fig = mldashThemed(withMarks(spec, model.get("marks")), isDark(el));
    const layout = Object.assign({}, fig.layout, { datarevision: ++revision });
    const config = Object.assign({ responsive: true, displaylogo: false }, fig.config);
    return Plotly.react(div, fig.data, layout, config).then(() => {
      div.dataset.revision = String(revision);
      div.dataset.drawnAt = String(performance.now());
      div.dispatchEvent(new CustomEvent("mldash:drawn", { bubbles: true }));
    });
  };
  // coalesce: many changes while a draw runs give one more draw, of the latest state
  const draw = () => {
    if (queued) return busy;
    queued = true;
    busy = busy.then(() => plotly(model)).then((Plotly) => {
      queued = false;
      if (alive) return drawNow(Plotly);
    }).catch((err) => {
      queued = false;
      div.textContent = "This figure could not be drawn: " + (err && err.message);
      div.setAttribute("role", "alert");
    });
    return busy;
  };
  model.on("change:spec", draw);
  model.on("change:marks", draw);
  const themeWatch = new MutationObserver(draw);
  if (document.body) {
    themeWatch.observe(document.body,
                       { attributes: true, attributeFilter: ["data-jp-theme-light"] });
  }
  let width = 0;
  const sizeWatch = new ResizeObserver(() => {
    const w = div.clientWidth;
    if (w > 0 && w !== width && div._fullLayout && window.Plotly) {
      width = w;
      window.Plotly.Plots.resize(div);
    }
  });
  sizeWatch.observe(div);
  draw();
  return () => {
    alive = false;
    model.off("change:spec", draw);
    model.off("change:marks", draw);
    model.off("change:alt", describe);
    themeWatch.disconnect();
    sizeWatch.disconnect();
    if (window.Plotly) window.Plotly.purge(div);
  };
}
export default { render };
"""


@cache
def plotly_js_path() -> Any:
    """The plotly Python package's own bundled ``plotly.min.js`` (no CDN)."""
    return resources.files("plotly") / "package_data" / "plotly.min.js"


@cache
def plotly_js_bytes() -> bytes:
    """The bytes of :func:`plotly_js_path`, read once per kernel."""
    return plotly_js_path().read_bytes()


def _strict(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` if it is strict JSON already (checked in C), else its JSON-safe copy."""
    try:
        json.dumps(spec, allow_nan=False)
    except (TypeError, ValueError):
        return json_safe(spec)
    return spec


class PlotlyFigure(KernelOwnedState, anywidget.AnyWidget):
    """Draws a plain plotly spec (``dashboard.figures``) in every view, always the current one.

    Parameters
    ----------
    spec : dict, optional
        A JSON-safe figure spec: ``{"data": [...], "layout": {...}}``.
    """

    _esm = _ESM.replace("__VERSION__", json.dumps(PLOTLY_VERSION)).replace("__THEME_JS__",
                                                                             THEME_JS)
    spec = t.Dict(help="the figure: plain data and layout").tag(sync=True)
    marks = t.Dict(help="{'traces': {index: props}} merged into spec's traces").tag(sync=True)
    alt = t.Unicode(help="the figure in words (title, labelled marks, lines), read by screen "
                         "readers").tag(sync=True)
    presenting = t.Bool(False, help="lay the figure out for a meeting room (larger type)")

    def __init__(self, spec: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._base: dict[str, Any] = {}
        super().__init__(**kwargs)
        self.on_msg(self._on_custom_msg)
        if spec is not None:
            self.show(spec)

    # -- public --------------------------------------------------------------------------------
    @property
    def base_spec(self) -> dict[str, Any]:
        """The spec as given to :meth:`show` (without the presentation layout)."""
        return self._base

    @property
    def figure(self) -> dict[str, Any]:
        """What the views draw: the shown spec with the current marks merged in."""
        return apply_marks(self._base, self.marks)

    def show(self, spec: dict[str, Any], marks: dict[str, Any] | None = None) -> None:
        """Draw ``spec`` (and ``marks``) in every view; an unchanged value sends nothing."""
        spec = _strict(spec)
        with self.hold_sync():
            if spec != self._base:
                self._base = spec
                described = alt_text(spec)
                if described != self.alt:
                    self.alt = described
                shown = presentation(spec) if self.presenting else spec
                if shown != self.spec:
                    self.spec = shown
            if marks is not None:
                self.mark(marks)

    def mark(self, marks: dict[str, Any]) -> None:
        """Replace the marks (the per-move part: a threshold line, a few markers)."""
        marks = _strict(marks)
        if marks != self.marks:
            self.marks = marks

    def trace(self, name: str) -> dict[str, Any]:
        """The drawn trace called ``name`` (marks merged in)."""
        for trace in self.figure.get("data", []):
            if trace.get("name") == name:
                return trace
        raise KeyError(name)

    # -- observers -----------------------------------------------------------------------------
    @t.observe("presenting")
    def _on_presenting_change(self, change: dict) -> None:
        if self._base:
            self.spec = presentation(self._base) if change["new"] else self._base

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "need-plotly-js":
            self.send({"event": "plotly-js", "version": PLOTLY_VERSION},
                      buffers=[plotly_js_bytes()])
