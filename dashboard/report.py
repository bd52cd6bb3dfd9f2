"""A self-contained HTML diagnosis to take to a meeting: opens offline, needs no kernel.

Composition only: the figures are the components' own figures (so the report shows exactly
what the dashboard shows) and every number comes from the Results model.
"""

from __future__ import annotations

import html
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from dashboard.metrics.gaps import GAP_LABELS
from dashboard.results import Results
from dashboard.widgets.explorer import ThresholdExplorer
from dashboard.widgets.format import pct, pp
from dashboard.widgets.theme import FONT
from dashboard.widgets.waterfall import GapWaterfall

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")

_CSS = f"""
body {{ font-family: {FONT}; max-width: 1100px; margin: 24px auto; padding: 0 16px;
       color: #111827; background: #fff; }}
h1 {{ font-size: 26px; margin-bottom: 2px; }}
h2 {{ font-size: 19px; margin-top: 32px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }}
.facts {{ color: #6b7280; font-size: 14px; }}
.headline {{ font-size: 24px; font-weight: 600; color: #b45309; margin: 16px 0 6px 0; }}
table {{ border-collapse: collapse; font-size: 14px; margin: 8px 0; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #e5e7eb; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.note {{ color: #374151; font-size: 14px; }}
.warn {{ color: #b91c1c; font-weight: 600; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #111827; color: #e5e7eb; }}
  th, td, h2 {{ border-color: #374151; }}
  .note {{ color: #d1d5db; }}
}}
"""


def _figure(widget_figure: Any) -> go.Figure:
    """A plain plotly Figure with the widget figure's current data and layout."""
    return go.Figure(widget_figure.to_dict())


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figures(results: Results) -> dict[str, go.Figure]:
    """The report's figures, taken from the components at the model's current state."""
    out = {"waterfall": _figure(GapWaterfall(results).figure)}
    if results.has_scores:
        out["explorer"] = _figure(ThresholdExplorer(results).figure)
    return out


def build_report(results: Results, *, title: str | None = None,
                 figs: dict[str, go.Figure] | None = None) -> str:
    """The report as one HTML string, plotly.js inlined once (about 5 MB)."""
    r = results
    figs = figs if figs is not None else figures(r)
    report = r.gaps()
    errors = r.error_rates()
    title = title or r.name
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p class="facts">Model {html.escape(str(r.model))}'
             + (f" · threshold {r.threshold:.3g}" if r.has_scores else "")
             + f" · human level: {html.escape(r.human_reference)} ({pct(r.human_error)})"
             + (" · weighted error" if r.weighted else "") + f" · generated {when}</p>",
             f'<p class="headline">{html.escape(report.headline)}</p>']
    for gap in report.focus:
        parts.append(f"<p class='note'><b>Try for {html.escape(GAP_LABELS[gap])}:</b> "
                     + " ".join(html.escape(t) for t in report.tactics[gap]) + "</p>")
    parts.extend(f"<p class='note'>{html.escape(n)}</p>" for n in report.notes)

    parts.append("<h2>Where the error comes from</h2>")
    parts.append(pio.to_html(figs["waterfall"], include_plotlyjs=True, full_html=False,
                             div_id="waterfall", config={"displaylogo": False}))
    rows = [[html.escape(s), f"{int(row.n):,}", pct(row.error),
             f"{pct(row.ci_low)} – {pct(row.ci_high)}"] for s, row in errors.iterrows()]
    parts.append(_table(rows, ["split", "examples", "error", "95% interval"]))
    gap_rows = []
    for gap, value in report.gaps().items():
        if value is None:
            continue
        sig = report.significant.get(gap)
        gap_rows.append([html.escape(GAP_LABELS[gap]), pp(value),
                         "yes" if sig else ("no" if sig is not None else "—")])
    parts.append(_table(gap_rows, ["gap", "size", "significant (95%)"]))

    parts.append("<h2>Error analysis</h2>")
    if "dev" in r.splits:
        tally = r.tally("dev")
        reviewed = tally.attrs["reviewed"]
        if reviewed:
            rows = [[html.escape(str(cat)), str(int(t["count"])), pct(t["share"], 0),
                     pct(t["ceiling_error"])] for cat, t in tally.iterrows()]
            parts.append(f"<p class='note'>{reviewed} misclassified dev examples reviewed; "
                         f"dev error {pct(tally.attrs['split_error'])}. The ceiling is the "
                         "dev error if that category were fixed completely.</p>")
            parts.append(_table(rows, ["category", "count", "% of total", "ceiling"]))
            parts.append(f"<p class='note'>{html.escape(tally.attrs['label_noise'].verdict)}"
                         "</p>")
            warning = r.label_noise_warning("dev")
            if warning:
                parts.append(f"<p class='warn'>{html.escape(warning)}</p>")
        else:
            parts.append("<p class='note'>No misclassified dev example has been reviewed "
                         "yet.</p>")

    if r.has_scores:
        parts.append("<h2>Operating point</h2>")
        pt = r.operating_point("dev")
        parts.append(_table(
            [["actual positive", f"{pt.tp:,.0f}", f"{pt.fn:,.0f}"],
             ["actual negative", f"{pt.fp:,.0f}", f"{pt.tn:,.0f}"]],
            ["dev, threshold " + f"{r.threshold:.3g}", "predicted positive",
             "predicted negative"]))
        parts.append(f"<p class='note'>precision {pct(pt.precision)} · recall "
                     f"{pct(pt.recall)} · F1 {pct(pt.f1)} · share flagged "
                     f"{pct(pt.queue_rate)}</p>")
        if "explorer" in figs:
            parts.append(pio.to_html(figs["explorer"], include_plotlyjs=False, full_html=False,
                                     div_id="explorer", config={"displaylogo": False}))
        if len(r.models) > 1:
            table = r.compare_models("dev", "f1")
            rows = [[html.escape(str(m)), f"{row.get('threshold', float('nan')):.3g}",
                     pct(row.get("f1")), pct(row.get("precision")), pct(row.get("recall"))]
                    for m, row in table.iterrows()]
            parts.append(_table(rows, ["model", "best-F1 threshold", "F1", "precision",
                                       "recall"]))
            if "mcnemar" in table.attrs:
                a, b, test = table.attrs["mcnemar"]
                verdict = "significant" if test.significant() else "not significant"
                parts.append(f"<p class='note'>{html.escape(a)} vs {html.escape(b)} on the "
                             f"same dev examples: McNemar p = {test.p_value:.3g} ({verdict}); "
                             f"this dev set resolves differences of about "
                             f"{pct(table.attrs['resolution'])}.</p>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)} — diagnosis</title><style>{_CSS}</style></head>"
            f"<body>{body}</body></html>")


def write_report(results: Results, path: str | Path, *, title: str | None = None,
                 png_dir: str | Path | None = None) -> Path:
    """Write the HTML report (and, when asked and Chromium exists, one PNG per figure)."""
    out = Path(path)
    figs = figures(results)
    out.write_text(build_report(results, title=title, figs=figs), encoding="utf-8")
    if png_dir is not None:
        write_pngs(figs, Path(png_dir))
    return out


def write_pngs(figs: dict[str, go.Figure], directory: Path) -> list[Path]:
    """PNG export of each figure through kaleido; needs a Chromium (``$DASHBOARD_CHROMIUM``)."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        raise RuntimeError(f"PNG export needs Chromium; none at {CHROMIUM}")
    os.environ.setdefault("BROWSER_PATH", CHROMIUM)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figs.items():
        target = directory / f"{name}.png"
        fig.write_image(target, width=1400, height=760, scale=1)
        paths.append(target)
    return paths
