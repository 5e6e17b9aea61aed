"""The next batch on the demo (issue 11, FIG 25D-25E), in real Chromium over ``hypertuner serve``:
lock on the second run's page, open New run, add hidden_units, meet the redundant rows and their
earlier results, watch the totals change on a skip, price on a configured resource option,
apply a recommendation and launch; the launched run holds exactly the rows left and records the
resource in its lineage. Screenshots: /tmp/advice-*.png; with HYPERTUNER_UPDATE_DOCS=1 also the
README's two under docs/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.integration.browser import open_page
from tests.integration.processes import make_demo, served_dashboard
from workbench_plugin.demo import DEMO_NAME
from workbench_plugin.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONFIG = """
[resources.local]
kind = "local"
description = "this machine"

[resources.cloud]
kind = "priced"
slots = 4
price_per_hour = 36.0
description = "cloud cluster, 4 VMs"
"""


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Store, Path, list[str]]:
    """The demo's two runs, made by the real CLI into a fresh store: (store, folder, run ids)."""
    store, folder, index = make_demo(tmp_path)
    return store, folder, sorted(index.runs)


@pytest.fixture
def served(demo: tuple[Store, Path, list[str]], tmp_path: Path) -> Iterator[str]:
    store, folder, _ = demo
    config = tmp_path / "resources.toml"
    config.write_text(CONFIG)
    log = tmp_path / "serve.log"
    with served_dashboard(store, folder, log, extra_env={"HYPERTUNER_CONFIG": str(config)}) as url:
        yield url
    assert "Traceback" not in log.read_text(), log.read_text()


def cells(page: Page, field: str) -> Any:
    return page.locator(f".tabulator-cell[tabulator-field='{field}']")


def totals(page: Page, option: str) -> list[str]:
    """experiments, compute, wall, cost of ``option``'s totals row."""
    return page.locator(f".ht-total-{option} td").all_inner_texts()[1:5]


def test_next_batch_priced_recommended_and_launched(browser: Any, demo: tuple[Store, Path, list[str]],
                                                   served: str) -> None:
    store, _, (first, second) = demo
    page = open_page(browser, f"{served}?run={second}", rows=2)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for name in ("batch_size", "num_epochs"):
            page.locator(f".ht-lock-toggle-{name} button").click()
            expect(page.locator(f".ht-lock-toggle-{name} button")).to_have_text("locked")
        page.get_by_role("button", name="New run").click(timeout=60_000)
        page.wait_for_url(f"**?new={second}", timeout=30_000)
        expect(page.locator(".ht-field-batch_size")).to_contain_text("locked", timeout=60_000)
        expect(page.locator(".ht-field-num_epochs input")).to_have_value("12")

        page.get_by_label("Add hyperparameter").select_option("hidden_units")
        page.get_by_role("button", name="Add", exact=True).click()
        page.locator(".ht-field-hidden_units input").fill("32,64")
        expect(cells(page, "status")).to_have_text(["new", "redundant", "new", "redundant"], timeout=20_000)
        previous = cells(page, "previous").nth(1)
        expect(previous).to_contain_text("same setting found in 2 previous runs")
        assert previous.locator("a").first.get_attribute("href") == f"?experiment={second}-000"
        expect(cells(page, "skip")).to_have_text(["skip", "skipped ↺", "skip", "skipped ↺"])
        # the advice: duration with a range, score with its reason, the mark
        expect(cells(page, "duration").first).to_contain_text(")", timeout=30_000)
        expect(cells(page, "duration").first).to_have_text(re.compile(r"^\d+s \(\d+s-\d+s\)$"))
        assert "hidden_units=32" in cells(page, "reason").first.inner_text()
        expect(cells(page, "recommendation").first).to_have_text("recommended")
        expect(page.locator(".ht-duration-basis")).to_contain_text("duration: ")
        expect(page.locator(".ht-score-basis")).to_contain_text("scores 0-10 for val_acc (max)")
        expect(page.locator(".ht-total-local td").nth(1)).to_have_text("2")
        before = totals(page, "cloud")

        # bring one redundant row back, skip a new one: the totals follow each change
        cells(page, "skip").nth(1).click()
        expect(cells(page, "skip")).to_have_text(["skip", "skip", "skip", "skipped ↺"])
        expect(page.locator(".ht-total-local td").nth(1)).to_have_text("3")
        middle = totals(page, "cloud")
        assert middle != before and middle[0] == "3"
        cells(page, "skip").nth(2).click()
        expect(cells(page, "skip")).to_have_text(["skip", "skip", "skipped ↺", "skipped ↺"])
        expect(page.locator(".ht-total-local td").nth(1)).to_have_text("2")

        # a bad deadline: the CLI's message; then the priced option
        page.locator(".ht-constraint-deadline input").fill("soon")
        expect(page.locator(".ht-constraint-error-deadline")).to_contain_text(
            "deadline: 'soon' is not a duration; give one like 30m, 2h or 1h30m")
        expect(page.get_by_role("button", name="Launch")).to_be_disabled()
        page.locator(".ht-constraint-deadline input").fill("")
        expect(page.locator(".ht-constraint-error-deadline")).to_have_text("")
        page.get_by_label("Resource").select_option(label="cloud: cloud cluster, 4 VMs")
        expect(page.locator(".ht-total-cloud")).to_contain_text("cloud (chosen)", timeout=30_000)
        expect(cells(page, "cost").first).to_contain_text("USD", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path="/tmp/advice-1-listing.png", full_page=True)

        # at most 1 experiment: the recommendation keeps row 1; apply it
        page.locator(".ht-constraint-max_experiments input").fill("1")
        expect(page.locator(".ht-recommended")).to_contain_text("recommended (at most 1): 1 row,", timeout=30_000)
        expect(cells(page, "recommendation").nth(1)).to_have_text("skip: already ran")
        page.get_by_role("button", name="Apply recommendation").click()
        expect(cells(page, "skip")).to_have_text(["skip", "skipped ↺", "skipped ↺", "skipped ↺"])
        expect(cells(page, "recommendation").nth(1)).to_contain_text("(applied)")
        expect(page.locator(".ht-total-cloud td").nth(1)).to_have_text("1", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path="/tmp/advice-2-recommended.png", full_page=True)

        launch = page.get_by_role("button", name="Launch")
        expect(launch).to_be_enabled()
        launch.click()
        page.wait_for_url("**?run=*", timeout=30_000)
        (new_id,) = set(store.runs(DEMO_NAME)) - {first, second}  # ids of one second do not sort by time
        params = [e.params for e in store.read_experiments(DEMO_NAME, new_id)]
        assert params == [{"alpha": 0.0001, "batch_size": 32, "num_epochs": 12, "hidden_units": 32}]
        lineage = store.read_run(DEMO_NAME, new_id).extra["lineage"]
        assert lineage["resource"] == "cloud" and lineage["from_run"] == second
        assert lineage["locks"] == {"batch_size": "32", "num_epochs": "12"}
        assert lineage["recommendation"]["max_experiments"] == 1
        assert [s["row"] for s in lineage["skipped"]] == [2, 3, 4]
        assert not errors, errors
    finally:
        page.close()
    if os.environ.get("HYPERTUNER_UPDATE_DOCS") == "1":  # refresh the README's screenshots
        for shot, doc in (("advice-1-listing", "new-run-listing"), ("advice-2-recommended", "new-run-recommended")):
            shutil.copyfile(f"/tmp/{shot}.png", DOCS / f"{doc}.png")
