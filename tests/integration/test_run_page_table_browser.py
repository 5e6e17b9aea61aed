"""The run page's table at 20,000 experiments in real Chromium: one scrolling list (the last
experiment is a scroll away, not pages away), sorted on the server by a header click, scrolled
to and marking the rows a brush in a plot selected; hostile names and labels shown as text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from panel_app.server import ServedPage, serve_run_page
from tests.integration.browser import READY_JS, VIEWPORT, drag, frame, wait_for
from workbench_plugin.frames import RunFrames

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]

N = 20_000
IMG = "<img src=x onerror=alert(1)>"
LAST = "<img src=y onerror=alert(2)>"  # the last experiment's label
BATCHES = (32, 64, 128, 256)


class StaticSource:
    """A finished run of ``N`` experiments (no curves): the frames never change."""

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        labels = [f"#{i + 1}" for i in range(N)]
        labels[-1] = LAST
        experiments = pd.DataFrame({
            "experiment_id": [f"run-big-{i:05d}" for i in range(N)],
            "label": labels,
            "state": ["succeeded"] * N,
            "batch_size": np.array(BATCHES)[np.arange(N) % 4],
            "lr": rng.uniform(1e-4, 1e-1, N).round(6),
            "val_acc": rng.uniform(0.5, 0.99, N).round(6),
            IMG: rng.uniform(0.0, 1.0, N).round(6),
        })
        curves = pd.DataFrame({"experiment_id": [], "epoch": [], "step": [], "name": [], "value": []})
        self._frames = RunFrames("run-big", experiments, curves, ("batch_size", "lr"),
                                 ("val_acc", IMG), {"batch_size": "linear", "lr": "log"})

    def frames(self) -> RunFrames:
        return self._frames

    def refresh(self) -> bool:
        return False


@pytest.fixture(scope="module")
def source() -> StaticSource:
    return StaticSource()


@pytest.fixture(scope="module")
def served(source: StaticSource) -> Iterator[ServedPage]:
    with serve_run_page(source, refresh_ms=60_000) as server:
        yield server


def rows_shown(page: Page) -> list[str]:
    """The labels of the rows drawn, top to bottom."""
    return page.locator(".ht-row .ht-cell[data-field='#']").all_inner_texts()


def test_one_list_sorted_on_the_server_and_scrolled_to_a_brushed_selection(
        browser: Any, served: ServedPage, source: StaticSource) -> None:
    exps = source.frames().experiments
    page = browser.new_page(viewport=VIEWPORT)
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(served.url)
        page.wait_for_function(READY_JS, timeout=120_000)
        expect(page.locator(".ht-table-caption")).to_have_text(f"All {N:,} experiments")
        shown = rows_shown(page)
        assert shown[0] == "#1" and len(shown) < 40  # only the rows on screen are drawn
        # hostile names are titles as text; the page holds no element they could have made
        titles = page.locator(".ht-col-title").all_inner_texts()
        assert IMG in titles and "val_acc" in titles, titles

        # (1) one scrolling list: the last experiment is at the bottom
        table = page.locator(".ht-table")
        table.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
        last = page.locator(".ht-row .ht-cell[data-field='#']").get_by_text(LAST, exact=True)
        expect(last).to_be_visible()
        expect(page.locator(".ht-row .ht-cell[data-field='experiment']").get_by_text(
            f"run-big-{N - 1:05d}", exact=True)).to_be_visible()

        # (2) sorted by a metric over all rows, on the server: the best first, back at the top
        title = page.locator(".ht-col[data-field='val_acc']")
        title.click()
        wait_for(lambda: rows_shown(page)[:1] == [exps["label"].iloc[int(exps["val_acc"].argmin())]],
                 what="worst val_acc first")
        title.click()
        best = exps.sort_values("val_acc", ascending=False, kind="stable")["label"].tolist()
        wait_for(lambda: rows_shown(page)[:5] == best[:5], what="best val_acc first")
        assert table.evaluate("(el) => el.scrollTop") == 0
        expect(title).to_have_class("ht-col ht-sorted-desc")

        # (3) a brush over one batch size: the table shows those rows, marked, from the top
        table.evaluate("(el) => { el.scrollTop = el.scrollHeight / 2; }")
        f = frame(page, "scatter:batch_size:val_acc", xs=[0.55, 1.45])  # the second column
        top, bottom = f["top"] + 2, f["top"] + f["height"] - 2
        x0, x1 = f["sx"]
        drag(page, [(x0, top), ((x0 + x1) / 2, (top + bottom) / 2), (x1, bottom)])
        picked = exps[exps["batch_size"] == BATCHES[1]]
        expect(page.locator(".ht-table-caption")).to_contain_text(
            f"The {len(picked):,} selected of {N:,}", timeout=30_000)
        want = picked.sort_values("val_acc", ascending=False, kind="stable")["label"].tolist()
        wait_for(lambda: rows_shown(page)[:5] == want[:5], what="the selected rows, best first")
        assert table.evaluate("(el) => el.scrollTop") == 0
        drawn = page.locator(".ht-row").count()
        expect(page.locator(".ht-row.ht-row-selected")).to_have_count(drawn)  # all marked
        run_page = served.live_pages()[-1]
        assert len(run_page.model.selection) == len(picked)
        # the server sent a window, not the selection: the browser holds a few rows
        held = page.locator(".ht-table").evaluate("(el) => el.scrollHeight")
        assert held >= len(picked) * 24

        # (4) a row click selects that experiment alone
        page.locator(".ht-row .ht-cell[data-field='#']").get_by_text(want[2], exact=True).click()
        wait_for(lambda: run_page.model.selection == [str(picked.loc[picked["label"] == want[2],
                                                                     "experiment_id"].iloc[0])],
                 what="one experiment selected by a row click")
        expect(page.locator(".ht-row.ht-row-selected")).to_have_count(1)

        # (5) a header filter narrows all rows on the server (here to the hostile label)
        page.get_by_role("button", name="Clear selection").click()
        expect(page.locator(".ht-table-caption")).to_have_text(f"All {N:,} experiments")
        page.locator(".ht-col-filter[data-field='#']").fill("onerror=alert(2")
        wait_for(lambda: rows_shown(page) == [LAST], what="the filtered row")
        assert page.locator("img").count() == 0 and not dialogs and not errors, (dialogs, errors)
    finally:
        page.close()
