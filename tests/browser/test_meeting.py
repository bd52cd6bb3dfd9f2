"""The served page as a team sees it in a meeting: its theme, a quiet console, a light first
page, and no accessibility violation (issue 26).

One ``python -m dashboard serve --theme auto`` on a copy of the demo serves every test here;
each page load starts its own kernel, so the tests do not interfere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, expect
from test_app import (
    TALLY,
    CliServer,
    copy_demo,
    open_app,
    start_cli,
    stop_cli,
)

if TYPE_CHECKING:
    from collections.abc import Callable

BACKGROUND_LUMINANCE = """() => {
    // the colour the reader sees behind the dashboard: the first opaque background up from
    // the rendered cells (the page's own when none is set)
    let el = document.querySelector('#rendered_cells') || document.body;
    let colour = 'rgba(0, 0, 0, 0)';
    for (; el; el = el.parentElement) {
        const c = getComputedStyle(el).backgroundColor;
        if (c && !/rgba\\(.*,\\s*0\\)$/.test(c) && c !== 'transparent') { colour = c; break; }
    }
    if (colour === 'rgba(0, 0, 0, 0)') colour = 'rgb(255, 255, 255)';
    const [r, g, b] = colour.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => {
        const s = v / 255;
        return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


@pytest.fixture(scope="module")
def auto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """``serve --theme auto`` on a copy of the demo data."""
    base = tmp_path_factory.mktemp("meeting")
    file = copy_demo(base / "data")
    server = start_cli(file, base / "annotations.sqlite", "--theme", "auto")
    try:
        yield server
    finally:
        stop_cli(server)
        print(f"--- serve output ---\n{server.output()[-4000:]}")


def _page(browser: Browser, scheme: str) -> Page:
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 1000})
    return context.new_page()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_theme_auto_follows_the_browsers_colour_scheme(auto_server: CliServer, browser: Browser,
                                                       scheme: str,
                                                       screenshot: Callable[..., Path]) -> None:
    page = _page(browser, scheme)
    try:
        open_app(page, auto_server.url)
        luminance = page.evaluate(BACKGROUND_LUMINANCE)
        light = page.evaluate("() => document.body.dataset.jpThemeLight")
        if scheme == "dark":
            assert luminance < 0.05 and light == "false", (luminance, light)
        else:
            assert luminance > 0.9 and light == "true", (luminance, light)
        screenshot(page, f"waterfall-{scheme}", full_page=False)
        page.locator(".lm-TabBar-tab", has_text="Error analysis").click()
        expect(page.locator(f"{TALLY} .mldash-tally-chart .js-plotly-plot").first) \
            .to_be_visible(timeout=60_000)
        screenshot(page, f"error-analysis-{scheme}", full_page=False)
    finally:
        page.context.close()
