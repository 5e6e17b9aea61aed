"""Real-browser fixtures: Debian's Chromium driven by Playwright, started once per session.

A missing or broken Chromium fails the tests that need it (never a skip), saying how to fix it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = ("install it with `apt-get install chromium` (Debian's package; Playwright drives "
                "it through executable_path, no `playwright install` needed)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium shared by the session; closed at the end."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium not found at {CHROMIUM}: {INSTALL_HINT}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed ({exc}): pip install 'playwright>=1.40'",
                    pytrace=False)
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.fail(f"Chromium at {CHROMIUM} could not start: {exc}\n{INSTALL_HINT}",
                        pytrace=False)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Exceptions in server callbacks only get logged (by tornado, bokeh, panel): fail on them.
    A browser test module asks for it with ``pytest.mark.usefixtures("no_server_errors")``."""
    caplog.set_level(logging.ERROR)
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, "server logged errors:\n" + "\n".join(
        f"{r.name}: {r.getMessage()}" for r in errors)
