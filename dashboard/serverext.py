"""A Jupyter server extension that serves the figures' plotly.js at a cacheable URL.

Under JupyterLab (or Notebook 7) the figure widget (:mod:`dashboard.widgets.figure`) loads
``<base_url>mldash/static/plotly.min.js?v=<plotly version>``, the plotly package's own bundled
file, once per page from the browser's cache. Enable it once per environment::

    jupyter server extension enable dashboard.serverext

Without it the first figure of a page asks the kernel for the file (one binary message per
page). Under Voilà the template's static files serve it instead (``dashboard.serve``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["PAGE_CONFIG_KEY", "STATIC_PATH"]

#: the URL path, under the server's base URL
STATIC_PATH = "mldash/static"
#: the page config entry (``jupyter-config-data``) that says the extension is enabled
PAGE_CONFIG_KEY = "mldashPlotlyStatic"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The extension's entry point, as ``jupyter server extension enable`` looks it up."""
    return [{"module": "dashboard.serverext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add a static file handler for the plotly package's ``package_data`` folder."""
    import plotly
    from jupyter_server.utils import url_path_join
    from tornado.web import StaticFileHandler

    folder = Path(plotly.__file__).resolve().parent / "package_data"
    web_app = serverapp.web_app
    pattern = url_path_join(web_app.settings["base_url"], STATIC_PATH, r"(plotly\.min\.js)")
    web_app.add_handlers(".*$", [(pattern, StaticFileHandler, {"path": str(folder)})])
    # the page config tells the figures the file is here (they probe nothing, so a page
    # without the extension logs no 404)
    web_app.settings.setdefault("page_config_data", {})[PAGE_CONFIG_KEY] = STATIC_PATH
    serverapp.log.info("dashboard: plotly.js served at %s", pattern)
