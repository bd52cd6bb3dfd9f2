"""``Download``: a hidden anywidget that saves a file in the browser as soon as the kernel sends
it, so a button that builds a file also downloads it (one click, not build-then-save)."""

from __future__ import annotations

from typing import Any

import anywidget

__all__ = ["Download"]

_ESM = """
function render({ model, el }) {
  el.style.display = "none";
  const onMsg = (msg, buffers) => {
    if (!msg || msg.event !== "download" || !buffers || !buffers.length) return;
    const blob = new Blob([buffers[0]], { type: msg.mime || "application/octet-stream" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = msg.name || "download";
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  };
  model.on("msg:custom", onMsg);
  return () => model.off("msg:custom", onMsg);
}
export default { render };
"""


class Download(anywidget.AnyWidget):
    """Saves the bytes given to :meth:`save` as a file in every view's browser."""

    _esm = _ESM

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[tuple[str, int]] = []

    def save(self, data: bytes, name: str, mime: str = "application/octet-stream") -> None:
        """Send ``data`` to the page to be saved as ``name`` (one binary message)."""
        self.send({"event": "download", "name": name, "mime": mime}, buffers=[data])
        self.sent.append((name, len(data)))
