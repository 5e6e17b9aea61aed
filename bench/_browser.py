"""Headless Chromium for the browser benches: Debian's ``/usr/bin/chromium`` driven by Playwright.

:func:`chromium_page` is the one place the benches launch it (``dashboard.py``, ``table.py``,
``experiment_page.py``); :func:`launch_chromium` for a bench that opens several contexts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

__all__ = ["CHROMIUM", "VIEWPORT", "chromium_page", "launch_chromium"]

CHROMIUM = "/usr/bin/chromium"
VIEWPORT: dict[str, Any] = {"width": 1400, "height": 900}


def launch_chromium(p: Playwright) -> Browser:
    """Headless Chromium (no sandbox: the benches run as root in containers too)."""
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


@contextmanager
def chromium_page(*, viewport: dict[str, Any] | None = None) -> Iterator[tuple[Browser, Page, list[str]]]:
    """A browser, one page of ``viewport`` (default :data:`VIEWPORT`) and the page's uncaught
    errors as they come (a list the caller reads); the browser is closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport=viewport or VIEWPORT)  # type: ignore[arg-type]
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield browser, page, errors
        finally:
            browser.close()
