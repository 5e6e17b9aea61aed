"""The new-run page (issue 11) in real Chromium, served by the dashboard's page factory with an
in-process gateway (as ``hypertuner serve`` runs it), over a real store and a real script."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from panel_app.server import ServedPage, make_page, serve_app
from tests.integration.browser import VIEWPORT
from tests.integration.processes import cli
from workbench_plugin.batch import open_store
from workbench_plugin.config import load_config
from workbench_plugin.index import ProjectIndex
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.next_batch import lineage_of
from workbench_plugin.plugins import load_engine, load_gateway
from workbench_plugin.project import find_project
from workbench_plugin.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]

SHOTS = Path("/tmp")


@pytest.fixture
def dashboard(project_dir: Path, tmp_path: Path) -> Iterator[tuple[ServedPage, Store, str]]:
    """A project with one finished run (x=1,2 epochs=1 sleep=0; ``fail`` not varied), x locked to 1,
    served with a gateway thread: (server, store, first run id)."""
    store = Store(str(tmp_path / "store"))
    store.create_project("tiny", str(project_dir))
    done = cli(store, "run", "--project", str(project_dir), "x=1,2", "epochs=1", "sleep=0")
    assert done.returncode == 0, done.stdout + done.stderr
    first = store.runs("tiny")[0]
    ProjectMemory(StoreMemory(store, "tiny")).lock("x", run_id=first, low=1.0, high=1.0)
    config = load_config().with_(store_url=store.url)
    store = open_store(config)
    stop = threading.Event()
    gateway = load_gateway(store, load_engine(config, store))
    thread = threading.Thread(target=gateway.serve, args=(stop,), name="gateway", daemon=True)
    thread.start()
    try:
        with serve_app(make_page(ProjectIndex(store, "tiny"), refresh_ms=500, config=config,
                                 settings=find_project(project_dir))) as server:
            yield server, store, first
    finally:
        stop.set()
        thread.join(timeout=10)


def test_new_run_from_locks_add_validate_skip_launch(browser: Any, dashboard: tuple[ServedPage, Store, str]) -> None:
    server, store, first = dashboard
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server.url}?run={first}")
        page.get_by_role("button", name="New run").click(timeout=60_000)
        page.wait_for_url(f"**?new={first}", timeout=30_000)
        expect(page.locator(".ht-new-run-title")).to_contain_text(f"run {first}", timeout=60_000)
        expect(page.locator(".ht-field-x")).to_contain_text("locked")
        expect(page.locator(".ht-field-x input")).to_have_value("1")
        expect(page.locator(".ht-addable")).to_contain_text("--fail (int, default 0)")

        # add the flag the first run did not vary; a bad value: the CLI's message, no launch
        page.get_by_label("Add hyperparameter").select_option("fail")
        page.get_by_role("button", name="Add", exact=True).click()
        box = page.locator(".ht-field-fail input")
        expect(box).to_have_value("0")
        box.fill("abc")
        expect(page.locator(".ht-error-fail")).to_contain_text("fail: ", timeout=10_000)
        expect(page.get_by_role("button", name="Launch")).to_be_disabled()
        page.screenshot(path=str(SHOTS / "newrun-1-bad-value.png"), full_page=True)
        box.fill("0")
        expect(page.locator(".ht-error-fail")).to_have_text("")
        expect(page.locator(".tabulator-cell[tabulator-field='fail']")).to_have_text(["0"])
        # --fail 0 is the default the first run left out (waits: the advice columns may redraw the table)
        expect(page.locator(".tabulator-cell[tabulator-field='status']")).to_have_text(["redundant"])

        # without it, and with epochs 1,2: x=1 epochs=1 sleep=0 ran already
        page.get_by_role("button", name="Remove").click()
        expect(page.locator(".ht-field-fail")).to_have_count(0)
        page.locator(".ht-field-epochs input").fill("1,2")
        expect(page.locator(".tabulator-cell[tabulator-field='status']")).to_have_text(["redundant", "new"])
        previous = page.locator(".tabulator-cell[tabulator-field='previous']").first
        expect(previous).to_contain_text("same setting found in 1 previous run")
        expect(previous).to_contain_text("succeeded")
        expect(previous).to_contain_text("score=10")
        assert previous.locator("a").get_attribute("href") == f"?experiment={first}-000"
        # skip all redundant: on by default
        expect(page.locator(".tabulator-cell[tabulator-field='skip']")).to_have_text(["skipped ↺", "skip"])

        # bring it back with the toggle, then skip it by hand
        page.locator(".ht-skip-redundant input[type=checkbox]").click()
        expect(page.locator(".tabulator-cell[tabulator-field='skip']")).to_have_text(["skip", "skip"])
        page.locator(".tabulator-cell[tabulator-field='skip']").first.click()
        expect(page.locator(".tabulator-cell[tabulator-field='skip']")).to_have_text(["skipped ↺", "skip"])
        expect(page.locator(".ht-new-run-summary")).to_contain_text("1 skipped, 1 to queue")
        page.screenshot(path=str(SHOTS / "newrun-2-listing.png"), full_page=True)

        launch = page.get_by_role("button", name="Launch")
        expect(launch).to_be_enabled()
        launch.click()
        page.wait_for_url("**?run=*", timeout=30_000)
        # Launch leaves the page (window.location.search): the new-run page's widgets may throw while
        # the browser tears them down (Tabulator measuring a detached table, Bokeh patches for models
        # already gone; a user never sees them). What counts is the run page, from its first load on.
        page.wait_for_load_state("load")
        errors.clear()
        (new_id,) = set(store.runs("tiny")) - {first}  # ids of one second do not sort by time
        assert page.url.endswith(f"?run={new_id}")
        experiments = store.read_experiments("tiny", new_id)
        assert [e.params for e in experiments] == [{"x": 1, "epochs": 2, "sleep": 0}]
        lineage = lineage_of(store.read_run("tiny", new_id))
        assert lineage is not None and lineage.from_run == first and lineage.locks == {"x": "1"}
        assert [s["row"] for s in lineage.skipped] == [1]
        # the run page of the new run, updated live as the gateway runs it
        expect(page.locator(".ht-run-header")).to_contain_text(new_id, timeout=60_000)
        expect(page.locator(".ht-row .ht-cell[data-field='state']")).to_have_text(["succeeded"],
                                                                                     timeout=60_000)
        page.screenshot(path=str(SHOTS / "newrun-3-launched.png"), full_page=True)
        assert not errors, f"errors in the page: {errors[:3]}"
    finally:
        page.close()
