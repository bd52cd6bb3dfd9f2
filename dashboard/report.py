"""A self-contained HTML diagnosis to take to a meeting: opens offline, needs no kernel.

Composition only: the figures are the specs of :mod:`dashboard.figures`, the same functions
the dashboard's figure widgets draw (so the report shows exactly what the dashboard shows),
and every number comes from the Results model. plotly.js (the plotly package's own bundled
file) is embedded once; the figures follow ``prefers-color-scheme`` and print on A4 (no figure
split across pages, no modebar, light colours on paper).
"""

from __future__ import annotations

import html
import json
import os
import shutil
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from dashboard.errors import DashboardError
from dashboard.figures.diagnostics import (
    calibration_spec,
    mismatch_advice,
    mismatch_drivers_or_none,
    mismatch_note,
    mismatch_spec,
    p_text,
    resolution_text,
    roc_spec,
)
from dashboard.figures.explorer import apply_marks, confusion_spec, curves_marks, curves_spec
from dashboard.figures.format import pct, pp
from dashboard.figures.spec import json_safe
from dashboard.figures.tally import tally_spec
from dashboard.figures.theme import FONT, THEME_JS
from dashboard.figures.waterfall import waterfall_spec
from dashboard.metrics.slices import slice_test_note
from dashboard.results import Results
from dashboard.runs import Runs

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")

_CSS = f"""
body {{ font-family: {FONT}; max-width: 1100px; margin: 24px auto; padding: 0 16px;
       color: #111827; background: #fff; }}
h1 {{ font-size: 26px; margin-bottom: 2px; }}
h2 {{ font-size: 19px; margin-top: 32px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }}
.facts {{ color: #6b7280; font-size: 14px; }}
.headline {{ font-size: 24px; font-weight: 600; color: #b45309; margin: 16px 0 6px 0; }}
.answer {{ font-size: 17px; font-weight: 600; margin: 10px 0 6px 0; }}
table {{ border-collapse: collapse; font-size: 14px; margin: 8px 0; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #e5e7eb; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.note {{ color: #374151; font-size: 14px; }}
.warn {{ color: #b91c1c; font-weight: 600; }}
.figure {{ break-inside: avoid; page-break-inside: avoid; margin: 8px 0; }}
.pair {{ display: flex; gap: 16px; break-inside: avoid; page-break-inside: avoid; }}
.pair > div {{ flex: 1 1 0; min-width: 0; }}
.pair h3 {{ font-size: 16px; margin: 8px 0 0 0; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #111111; color: #e5e7eb; }}
  th, td, h2 {{ border-color: #374151; }}
  .note, .facts {{ color: #d1d5db; }}
  .headline {{ color: #fbbf24; }}
  .warn {{ color: #f87171; }}
}}
@page {{ size: A4; margin: 15mm; }}
@media print {{
  body {{ max-width: none; margin: 0; padding: 0; background: #fff; color: #111827; }}
  .facts, .note {{ color: #374151; }}
  .headline {{ color: #b45309; }}
  .modebar-container, .modebar {{ display: none !important; }}
  h2 {{ break-after: avoid; page-break-after: avoid; }}
  table {{ break-inside: avoid; page-break-inside: avoid; }}
  /* a heading and its first figure share a page: never a figure alone without its title */
  .keep {{ break-inside: avoid; page-break-inside: avoid; }}
}}
"""

#: draws every figure of the page; redraws on a colour-scheme change and, light and at the
#: A4 text width (180 mm), for printing
_DRAW_JS = """
(function () {
  var specs = JSON.parse(document.getElementById("mldash-figures").textContent);
  var scheme = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function draw(printing) {
    var dark = !printing && !!(scheme && scheme.matches);
    Object.keys(specs).forEach(function (id) {
      var fig = mldashThemed(specs[id], dark);
      var layout = Object.assign({}, fig.layout);
      if (printing) {
        layout.width = 680; layout.autosize = false;
        // at A4 width plotly would turn crowded category labels on their side: keep them
        // level, a size smaller (they wrap on their own <br>)
        layout.xaxis = Object.assign({}, layout.xaxis, {tickangle: 0,
          tickfont: Object.assign({}, (layout.xaxis || {}).tickfont, {size: 11})});
      }
      Plotly.react(id, fig.data, layout, {responsive: !printing, displaylogo: false,
                                          displayModeBar: printing ? false : "hover"});
    });
  }
  draw(false);
  if (scheme && scheme.addEventListener) {
    scheme.addEventListener("change", function () { draw(false); });
  }
  window.addEventListener("beforeprint", function () { draw(true); });
  window.addEventListener("afterprint", function () { draw(false); });
})();
"""


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figures(results: Results) -> dict[str, dict[str, Any]]:
    """The report's figure specs at the model's current state (``dashboard.figures``)."""
    r = results
    out: dict[str, dict[str, Any]] = {"waterfall": waterfall_spec(r)}
    if "dev" in r.splits and r.tally("dev").attrs["reviewed"]:
        out["tally"] = tally_spec(r, "dev")
    if r.has_scores and "dev" in r.splits:
        point = r.operating_point("dev")
        best = r.best_threshold("dev", "f1")
        out["explorer"] = apply_marks(curves_spec(r, "dev"), curves_marks(point, best))
        out["confusion"] = confusion_spec(
            point, r.confusion_classes(), title=f"dev, threshold {r.threshold:.3g}")
    out.update(_diagnostic_figures(r))
    return out


def _diagnostic_figures(r: Results) -> dict[str, dict[str, Any]]:
    """The mismatch drivers, ROC and reliability figures, when the results have them."""
    out: dict[str, dict[str, Any]] = {}
    builders = [("mismatch", lambda: mismatch_spec(r))]
    if r.has_scores and "dev" in r.splits:
        builders.append(("roc", lambda: roc_spec(r, "dev")))
        if r.scale(r.model) == "probability":
            builders.append(("calibration", lambda: calibration_spec(r, "dev")))
    for name, build in builders:
        try:
            spec = build()
        except DashboardError:  # an engine or a one-class split: the section says nothing
            continue
        if spec is not None:
            out[name] = spec
    return out


def _mismatch_section(r: Results, figs: dict[str, dict[str, Any]]) -> list[str]:
    """How train differs from dev: the top driver (when the mismatch gap is significant), the
    figure and the table of columns."""
    table = mismatch_drivers_or_none(r)
    if table is None:
        return []
    report = r.gaps()
    advice = mismatch_advice(r, significant=bool(report.significant.get("data_mismatch")),
                             gap=report.data_mismatch)
    parts = ["<h3>Mismatch drivers: how train differs from dev</h3>"]
    if advice:
        parts.append(f"<p class='answer'>{html.escape(advice)}</p>")
    if "mismatch" in figs:
        parts.append(_div("mismatch"))
    rows = [[html.escape(str(t["column"])), f"{pct(t['shift'])} ({pct(t['shift_low'])}–"
             f"{pct(t['shift_high'])})", p_text(t["p_value"]).lstrip("= "),
             "driver" if t["driver"] else "yes" if t["significant"] else "no",
             html.escape(str(t["moved"])), html.escape(str(t["cost"]))]
            for _, t in table.iterrows()]
    parts.append(_table(rows, ["column", "shift (95%)", "p (Holm)", "beyond noise",
                               "level that moved most", "what it costs"]))
    parts.append(f"<p class='note'>{html.escape(mismatch_note(r))}</p>")
    return parts


def _curve_diagnostics(r: Results, figs: dict[str, dict[str, Any]]) -> list[str]:
    """The ROC curve and the reliability diagram of dev, with AUC, ECE and Brier in words."""
    parts: list[str] = []
    if "roc" in figs:
        parts.append(_div("roc"))
    if "calibration" in figs:
        cal = r.calibration("dev")
        parts.append(_div("calibration"))
        parts.append(f"<p class='note'>AUC {r.roc('dev').attrs['auc']:.3f} · expected "
                     f"calibration error {cal.attrs['ece']:.3f} (10 equal-width bins) · Brier "
                     f"score {cal.attrs['brier']:.3f}.</p>")
    return parts


def _plotly_js() -> str:
    """The plotly package's own bundled plotly.js, to embed once."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text("utf-8")


def _div(name: str) -> str:
    return f'<div class="figure" id="{name}"></div>'


def _keep(*parts: str) -> str:
    """A heading and what follows it up to its first figure, kept on one printed page."""
    return '<div class="keep">' + "".join(parts) + "</div>"


def _discovery(r: Results) -> list[str]:
    """Suggested metadata slices and suspected label errors: what to look at next."""
    parts: list[str] = []
    if r.metadata_columns:
        try:
            table = r.suggest_slices("dev")
        except DashboardError as exc:  # an engine refuses a split with too many groups
            parts.append(f"<p class='note'>{html.escape(str(exc))}</p>")
            table = None
        top = table[table["significant"]].head(5) if table is not None else ()
        if len(top):
            rows = [[html.escape(str(t["slice"])), f"{int(t['rows']):,}", pct(t["error"]),
                     pct(t["rest_error"]), pct(t["share"], 0), pct(t["ceiling_error"]),
                     f"{t['p_value']:.2g}"] for _, t in top.iterrows()]
            parts.append(f"<h3>Suggested categories from the metadata</h3><p class='note'>"
                         f"Slices where the dev errors concentrate significantly. "
                         f"{html.escape(slice_test_note(table))}"
                         + (f" {html.escape(table.attrs['note'])}" if table.attrs.get("note")
                            else "") + "</p>")
            parts.append(_table(rows, ["slice", "rows", "error", "elsewhere", "share of errors",
                                       "error if fixed", "p (adjusted)"]))
    try:
        suspects = r.label_suspects("dev")
    except DashboardError:
        return parts
    if len(suspects):
        ids = ", ".join(html.escape(str(i)) for i in suspects["id"].head(10))
        parts.append(f"<p class='note'>{len(suspects):,} dev examples have a label the model "
                     f"confidently contradicts (confident learning); review them first: "
                     f"{ids}{' …' if len(suspects) > 10 else '.'}</p>")
    return parts


def _tasks_and_curves(r: Results) -> list[str]:
    """The overview across tasks and the learning curve, when the results have them."""
    parts: list[str] = []
    if r.tasks:
        table = r.task_overview()
        splits = [s for s in ("train", "train_dev", "dev", "test") if s in table.columns]
        rows = [[html.escape(str(task)), pct(row["labelled_share"], 0),
                 *[pct(row[s]) for s in splits], html.escape(str(row["focus"]))]
                for task, row in table.iterrows()]
        mean = table.attrs["mean"]
        rows.append(["<i>mean over tasks</i>", "", *[pct(mean[s]) for s in splits], ""])
        parts.append("<h2>Tasks</h2><p class='note'>One row per task, where the work is "
                     "first; rows per split: " + "; ".join(
                         f"{html.escape(str(t))} {int(row.get('dev_n', 0)):,} dev"
                         for t, row in table.iterrows()) + ".</p>")
        parts.append(_table(rows, ["task", "labelled", *splits, "focus"]))
    if r.train_sizes:
        curve = r.learning_curve()
        splits = [s for s in ("train", "train_dev", "dev", "test") if s in curve.columns]
        rows = [[f"{size:,.0f}", *[f"{pct(row[s])} ({pct(row[s + '_low'])}–"
                                   f"{pct(row[s + '_high'])})" for s in splits]]
                for size, row in curve.iterrows()]
        parts.append("<h2>Learning curve</h2>")
        parts.append(f"<p class='answer'>{html.escape(curve.attrs['verdict'])}</p>")
        parts.append(_table(rows, ["training examples", *splits]))
    return parts


def build_report(results: Results, *, title: str | None = None,
                 figs: dict[str, dict[str, Any]] | None = None) -> str:
    """The report as one HTML string, plotly.js inlined once (about 5 MB)."""
    r = results
    figs = figs if figs is not None else figures(r)
    report = r.gaps()
    errors = r.error_rates()
    title = title or r.name
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<h1>{html.escape(title)}</h1>",
             '<p class="facts">' + " · ".join(
                 ([f"Model {html.escape(r.model_shown)}"] if r.model_shown else [])
                 + ([f"task {html.escape(r.task)}"] if r.tasks else [])
                 + ([f"threshold {r.threshold:.3g}"] if r.has_scores else [])
                 + [f"human level: {html.escape(r.human_level_text)}"]
                 + (["weighted error"] if r.weighted else []) + [f"generated {when}"]) + "</p>",
             f'<p class="headline">{html.escape(report.headline)}</p>']
    for gap in report.focus:
        parts.append(f"<p class='note'><b>Try for {html.escape(report.label(gap))}:</b> "
                     + " ".join(html.escape(t) for t in report.tactics[gap]) + "</p>")
    parts.extend(f"<p class='note'>{html.escape(n)}</p>" for n in report.notes)
    parts.extend(f"<p class='note'>{html.escape(n)}</p>" for n in r.engine_notes)

    parts.append(_keep("<h2>Where the error comes from</h2>", _div("waterfall")))
    rows = [[html.escape(s), f"{int(row.n):,}", pct(row.error),
             f"{pct(row.ci_low)} – {pct(row.ci_high)}"] for s, row in errors.iterrows()]
    parts.append(_table(rows, ["split", "examples", "error", "95% interval"]))
    gap_rows = []
    for gap, value in report.gaps().items():
        if value is None:
            continue
        sig = report.significant.get(gap)
        gap_rows.append([html.escape(report.label(gap)), pp(value),
                         "yes" if sig else ("no" if sig is not None else "—")])
    parts.append(_table(gap_rows, ["gap", "size", "significant (Holm, 5% over the gaps)"]))
    parts.extend(_mismatch_section(r, figs))

    heading = "<h2>Error analysis</h2>"
    if "dev" not in r.splits:
        parts.append(heading)
    else:
        tally = r.tally("dev")
        reviewed = tally.attrs["reviewed"]
        answer = f"<p class='answer'>{html.escape(tally.attrs['fix_first'].sentence)}</p>"
        if not reviewed:
            parts.append(_keep(heading, answer))
        else:
            rows = [[html.escape(str(cat)), str(int(t["count"])),
                     f"{pct(t['share'], 0)} ({pct(t['share_low'], 0)}–{pct(t['share_high'], 0)})",
                     f"{pct(t['ceiling_error'])} ({pct(t['ceiling_low'])}–"
                     f"{pct(t['ceiling_high'])})"] for cat, t in tally.iterrows()]
            parts.append(_keep(
                heading, answer,
                f"<p class='note'>{reviewed} misclassified dev examples reviewed; "
                f"dev error {pct(tally.attrs['split_error'])}. The ceiling is the "
                "dev error if that category were fixed completely.</p>",
                _div("tally") if "tally" in figs else ""))
            parts.append(_table(rows, ["category", "count", "% of total (95%)",
                                       "ceiling (95%)"]))
            parts.append(f"<p class='note'>{html.escape(tally.attrs['label_noise'].verdict)}"
                         "</p>")
            warning = r.label_noise_warning("dev")
            if warning:
                parts.append(f"<p class='warn'>{html.escape(warning)}</p>")
        parts.extend(_discovery(r))

    parts.extend(_tasks_and_curves(r))
    if r.has_scores:
        pt = r.operating_point("dev")
        # the confusion matrix, once, on the heading's page
        parts.append(_keep("<h2>Operating point</h2>",
                           _div("confusion") if "confusion" in figs else ""))
        parts.append(f"<p class='note'>precision {pct(pt.precision)} · recall "
                     f"{pct(pt.recall)} · F1 {pct(pt.f1)} · share flagged "
                     f"{pct(pt.queue_rate)}</p>")
        if "explorer" in figs:
            parts.append(_div("explorer"))
        parts.extend(_curve_diagnostics(r, figs))
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
                thresholds = (float(table.loc[a, "threshold"]),
                              float(table.loc[b, "threshold"]))
                sentence = resolution_text(r, "dev", models=(a, b), thresholds=thresholds,
                                           difference=0.005)
                if sentence:
                    parts.append(f"<p class='note'>{html.escape(sentence)}</p>")
    return _page(parts, figs, f"{title} — diagnosis")


def _page(parts: list[str], figs: dict[str, Any], title: str) -> str:
    """One self-contained HTML page: the sections, plotly.js and the figures' specs."""
    body = "\n".join(parts)
    data = json.dumps(json_safe(figs), allow_nan=False).replace("</", "<\\/")
    scripts = (f"<script>{_plotly_js()}</script>\n"
               f'<script type="application/json" id="mldash-figures">{data}</script>\n'
               f"<script>{THEME_JS}\n{_DRAW_JS}</script>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<meta name='color-scheme' content='light dark'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
            f"<body>{body}\n{scripts}</body></html>")


def comparison_figures(runs: Runs, before: str, after: str) -> dict[str, dict[str, Any]]:
    """The two runs' waterfalls, on one error scale so their bars compare by eye, and the
    history of every run."""
    from dashboard.figures.history import history_spec

    figs = {"waterfall_before": waterfall_spec(runs[before]),
            "waterfall_after": waterfall_spec(runs[after])}
    tops = [f["layout"].get("yaxis", {}).get("range", [0, None])[1] for f in figs.values()]
    if all(t is not None for t in tops):
        for fig in figs.values():
            fig["layout"]["yaxis"]["range"] = [0.0, max(tops)]
    figs["history"] = history_spec(runs)
    return figs


def build_comparison_report(runs: Runs, before: str, after: str, *,
                            title: str | None = None,
                            figs: dict[str, dict[str, Any]] | None = None) -> str:
    """What changed from run ``before`` to run ``after``, as one HTML page: the sentence,
    the review categories' shares, the two waterfalls side by side, each split's and gap's
    test, and the history of every run."""
    figs = figs if figs is not None else comparison_figures(runs, before, after)
    change = runs.compare(before, after)
    shares = runs.category_shares(before, after)
    title = title or f"{Path(runs.origin).name or runs.origin}: {before} → {after}"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rb, ra = runs[before], runs[after]
    parts = [f"<h1>{html.escape(title)}</h1>",
             '<p class="facts">' + " · ".join(
                 [f"{len(runs)} runs from {html.escape(runs.origin)}",
                  f"{html.escape(before)}: {html.escape(runs.where(before))}",
                  f"{html.escape(after)}: {html.escape(runs.where(after))}",
                  f"generated {when}"]) + "</p>",
             f'<p class="headline">{html.escape(change.sentence)}</p>',
             f"<p class='answer'>{html.escape(shares.attrs['sentence'])}</p>"]
    parts.extend(f"<p class='note'>{html.escape(n)}</p>" for n in change.notes)
    if len(shares):
        rows = [[html.escape(str(r.category)),
                 f"{pct(r.before, 0)} ({r.count_before} of {r.reviewed_before})",
                 f"{pct(r.after, 0)} ({r.count_after} of {r.reviewed_after})",
                 f"{r.p_value:.2g}", "yes" if r.significant else "no"]
                for r in shares.itertuples()]
        parts.append(_table(rows, ["category", f"share of reviewed errors at {before}",
                                   f"at {after}", "p (Fisher, Holm)", "changed"]))
    heads = []
    for name, r in ((before, rb), (after, ra)):
        facts = ([f"model {r.model_shown}"] if r.model_shown else []) + (
            [f"threshold {r.threshold:.3g}"] if r.has_scores else [])
        heads.append(f"<div><h3>{html.escape(name)}</h3><p class='note'>"
                     f"{html.escape(r.gaps().headline)}</p><p class='facts'>"
                     f"{html.escape(' · '.join(facts))}</p>"
                     f"{_div('waterfall_before' if name == before else 'waterfall_after')}"
                     "</div>")
    parts.append(_keep("<h2>Where the error comes from, in each run</h2>",
                       f"<div class='pair'>{''.join(heads)}</div>"))
    rows = []
    for c in change.changes:
        show = pct if c.kind == "level" else pp
        rows.append([html.escape(c.label), show(c.before), show(c.after), pp(c.delta),
                     f"{c.p_value:.2g}", html.escape(c.test),
                     "yes" if c.significant else "no"])
    parts.append(_table(rows, ["", before, after, "change", "p (Holm)", "test", "changed"]))
    parts.append(_keep("<h2>Every run</h2>", _div("history")))
    return _page(parts, figs, f"{title} — what changed")


def write_comparison_report(runs: Runs, before: str, after: str, path: str | Path, *,
                            title: str | None = None, png_dir: str | Path | None = None
                            ) -> Path:
    """Write :func:`build_comparison_report` (and, when asked, one PNG per figure)."""
    out = Path(path)
    figs = comparison_figures(runs, before, after)
    out.write_text(build_comparison_report(runs, before, after, title=title, figs=figs),
                   encoding="utf-8")
    if png_dir is not None:
        write_pngs(figs, Path(png_dir))
    return out


def write_report(results: Results, path: str | Path, *, title: str | None = None,
                 png_dir: str | Path | None = None) -> Path:
    """Write the HTML report (and, when asked and Chromium exists, one PNG per figure)."""
    out = Path(path)
    figs = figures(results)
    out.write_text(build_report(results, title=title, figs=figs), encoding="utf-8")
    if png_dir is not None:
        write_pngs(figs, Path(png_dir))
    return out


def write_pngs(figs: dict[str, dict[str, Any]], directory: Path) -> list[Path]:
    """PNG export of each figure through kaleido; needs a Chromium (``$DASHBOARD_CHROMIUM``)."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        raise RuntimeError(f"PNG export needs Chromium; none at {CHROMIUM}")
    import plotly.io as pio  # kaleido's entry point; only for this optional export

    os.environ.setdefault("BROWSER_PATH", CHROMIUM)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figs.items():
        target = directory / f"{name}.png"
        pio.write_image(fig, target, width=1400, height=760, scale=1)
        paths.append(target)
    return paths
