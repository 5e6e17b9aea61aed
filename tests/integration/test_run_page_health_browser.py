"""The run page's health badges and filter in real Chromium against a real Panel server."""

from __future__ import annotations

import math
from typing import Any

import pytest
from playwright.sync_api import expect

from panel_app.server import serve_run_page
from tests.fakes import FakeRunSource
from tests.integration.browser import SELECTED_IDS, open_page, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]


def test_a_diverged_experiment_shows_its_badge_and_the_filter_narrows_the_table_to_it(browser: Any) -> None:
    source = FakeRunSource()
    bad = source.ids[2]
    source.set_curve(bad, "val_loss", [0.6, 0.5] + [math.nan] * 10)
    source.refresh()
    with serve_run_page(source, refresh_ms=1000) as served:
        page = open_page(browser, served.url, rows=8)
        try:
            badge = page.locator(".ht-cell[data-field='health'] .ht-health-diverged")
            expect(badge).to_have_count(1)
            expect(badge).to_have_text("diverged")
            expect(badge).to_have_attribute("title", "val_loss became NaN at epoch 3")
            expect(page.locator(".ht-health")).to_have_count(1)  # the others are healthy

            page.locator(".ht-health-filter select").select_option("diverged")
            expect(page.locator(".ht-row")).to_have_count(1)
            expect(page.locator(SELECTED_IDS)).to_have_text([bad])
            expect(page.locator(".ht-selected")).to_have_text("1 selected")
            assert "view=" in page.evaluate("() => window.location.search")  # the link keeps it

            run_page = served.live_pages()[-1]
            assert run_page.model.selection == [bad]
            assert run_page.model.view_state()["selection"] == {"ranges": {}, "health": "diverged"}

            page.locator(".ht-health-filter select").select_option("any")
            expect(page.locator(".ht-row")).to_have_count(8)
            wait_for(lambda: "view=" not in page.evaluate("() => window.location.search")
                     or run_page.model.selection == [], what="the filter let go on the server")
            page.wait_for_timeout(500)  # the last patches reach the browser before it closes
        finally:
            page.close()
