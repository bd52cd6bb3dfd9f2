"""How many widget models the served dashboard opens, and how much state they send.

    python benchmarks/bench_widget_state.py [FILE]

(from the repository root; the bundled demo by default). Builds the ``Dashboard`` the page
builds, in this process, and prints the number of widget models and the bytes of their
JSON state (plus binary buffers), in total and for the error-analysis tab alone: what the
kernel sends over the websocket on a page load before the first figure can be drawn.
Printed, never asserted.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ipywidgets.widgets.widget import _instances, _remove_buffers

from dashboard import Dashboard, Results
from dashboard.io import read_sidecar

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "dashboard" / "data" / "demo" / "cat_results.parquet"


def _reachable(root: object) -> list[object]:
    """The widgets a view of ``root`` needs: children, layouts, styles, linked models."""
    from ipywidgets import Widget

    seen: dict[int, object] = {}
    stack = [root]
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen[id(w)] = w
        for name in w.keys:
            value = getattr(w, name, None)
            values = value if isinstance(value, (list, tuple)) else [value]
            stack.extend(v for v in values if isinstance(v, Widget))
    return list(seen.values())


def state_bytes(widgets: list[object]) -> tuple[int, int]:
    """JSON bytes and buffer bytes of the widgets' full state."""
    text = binary = 0
    for w in widgets:
        state, _paths, buffers = _remove_buffers(w.get_state())
        text += len(json.dumps(state, separators=(",", ":")).encode())
        binary += sum(len(memoryview(b).cast("B")) for b in buffers)
    return text, binary


def main() -> None:
    """Print the model count and state size of the dashboard and of its error-analysis tab."""
    file = Path(sys.argv[1]) if len(sys.argv) > 1 else DEMO
    meta = read_sidecar(file)
    before = len(_instances)
    with tempfile.TemporaryDirectory() as tmp:
        results = Results.from_file(file, human_level=meta.get("human_level"),
                                    metadata=meta.get("models"))
        dash = Dashboard(results, store=Path(tmp) / "annotations.sqlite")
        total = len(_instances) - before
        every = _reachable(dash)
        grid = _reachable(dash.tally_grid)
        for name, found in (("dashboard", every), ("error-analysis tab", grid)):
            text, binary = state_bytes(found)
            print(f"{name:<20} {len(found):>6,} widget models  {text / 1000:>9,.1f} KB JSON "
                  f"+ {binary / 1000:>7,.1f} KB buffers")
        print(f"{'opened in all':<20} {total:>6,} widget models")
        dash.close()


if __name__ == "__main__":
    main()
