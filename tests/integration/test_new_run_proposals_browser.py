"""The proposals card of the new-run page (issue 12) in real Chromium, on the demo project served by the
dashboard's page factory: the fit source on alpha, a trend line drawn with real mouse moves changes
the proposals (and the URL carries it), a family picked, and "Use these proposals" lists exactly
those rows with their reasons. Screenshot: /tmp/proposals_card.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from panel_app.server import ServedPage, make_page, serve_app
from tests.integration.browser import VIEWPORT, wait_for
from tests.integration.processes import make_demo
from workbench_plugin.config import load_config
from workbench_plugin.demo import DEMO_NAME
from workbench_plugin.index import ProjectIndex
from workbench_plugin.project import find_project

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServedPage, str]]:
    """The demo's two runs (made by the real CLI), served in this process: (server, second run id)."""
    store, folder, index = make_demo(tmp_path)
    config = load_config().with_(store_url=store.url)
    with serve_app(make_page(ProjectIndex(store, DEMO_NAME), refresh_ms=1000, config=config,
                             settings=find_project(folder))) as server:
        yield server, max(index.runs)


def proposals_text(page: Page) -> str:
    """The proposals, or the line saying why there are none."""
    return "\n".join(page.locator(".ht-proposals, .ht-proposal-error").all_inner_texts())


def test_draw_a_trend_line_pick_a_family_and_use_the_proposals(browser: Any,
                                                             served: tuple[ServedPage, str]) -> None:
    server, run_id = served
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    # Leaving the listing can race a table widget measuring its element as it is detached
    # ("Cannot read properties of null (reading 'offsetWidth')"; 2 of 5 runs under load, after the
    # test's last step): nothing a user sees, so that one message is not counted; any other is.
    page.on("pageerror", lambda exc: None if "reading 'offsetWidth'" in str(exc)
            else errors.append(f"{exc}\n{getattr(exc, 'stack', '')}"))
    try:
        page.goto(f"{server.url}?new={run_id}&n=4")
        card = page.locator(".ht-proposals-card")
        expect(card).to_contain_text("Propose values", timeout=60_000)
        page.locator(".ht-field-alpha input").fill("1e-4..1 log 5")  # a range to propose in, on a log scale
        card.locator(".ht-propose-source select").select_option("fit")
        table = page.locator(".ht-proposals")
        expect(table).to_be_visible(timeout=60_000)
        card.locator(".ht-propose-hparam select").select_option("alpha")
        expect(table.locator("tr")).to_have_count(5, timeout=60_000)  # a header and 4 rows
        expect(table.locator("th").nth(1)).to_be_visible()
        before = proposals_text(page)
        assert "alpha" in before and page.locator(".ht-proposal-basis").inner_text().startswith("basis: ")

        # a trend line over the scatter, with the freehand tool (the active drag tool): real mouse moves
        plot = card.locator(".bk-Figure").first
        box = plot.bounding_box()
        assert box is not None
        left, top, width, height = box["x"], box["y"], box["width"], box["height"]
        page.mouse.move(left + 0.15 * width, top + 0.75 * height)
        page.mouse.down()
        for i in range(1, 21):  # a hump: up to the middle, down again
            t = i / 20
            page.mouse.move(left + (0.15 + 0.55 * t) * width, top + (0.75 - 0.9 * t * (1 - t) * 2) * height,
                            steps=2)
        page.mouse.up()
        # (page.url is only refreshed while Playwright runs a call: ask the page itself)
        page.wait_for_function("() => window.location.search.includes('line=')", timeout=30_000)
        wait_for(lambda: proposals_text(page) != before, timeout=30, what="the proposals to change")
        drawn = proposals_text(page)
        card.screenshot(path="/tmp/proposals_card.png")

        # pick a family: the proposals follow it, still weighted toward the line
        card.get_by_role("button", name="gp", exact=True).click()
        page.wait_for_function("() => window.location.search.includes('family=gp')", timeout=30_000)
        expect(table.locator("tr")).to_have_count(5, timeout=30_000)
        expect(table).to_contain_text("Gaussian-process fit")
        assert proposals_text(page) != drawn
        reasons = [r.inner_text() for r in table.locator("tr td:last-child").all()]
        values = [r.inner_text() for r in table.locator("tr td:nth-child(2)").all()]

        # to the listing: exactly those rows, with their reasons
        card.get_by_role("button", name="Use these proposals").click()
        cells = page.locator(".tabulator-cell[tabulator-field='proposal']")
        expect(cells).to_have_text(reasons, timeout=30_000)
        expect(page.locator(".ht-new-run-summary")).to_contain_text("proposed by fit: 4 experiments")
        assert len(values) == 4 and page.locator(".tabulator-cell[tabulator-field='alpha']").count() == 4
        card.get_by_role("button", name="Back to the grid").click()
        expect(cells).to_have_count(0, timeout=30_000)
        assert not errors, errors
    finally:
        page.close()
