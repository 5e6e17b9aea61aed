"""The experiment page in Chromium on the real demo project: opened from a run page's table row,
the epoch observatory played, paused and rewound, a copied URL restoring the position, a test
plug-in's card, a bad id as one line, and a running experiment stopped from the page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.integration.browser import VIEWPORT, column, open_page
from tests.integration.processes import launch_batch, make_demo, served_dashboard, wait_for
from tests.plugin_install import install_views
from workbench_plugin.index import ProjectIndex
from workbench_plugin.memory import decode_view
from workbench_plugin.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]

NOW_JS = "() => Bokeh.documents[0].get_model_by_name('obs-now')?.text ?? null"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path, ProjectIndex]:
    return make_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo_url(demo: tuple[Store, Path, ProjectIndex], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``hypertuner serve`` (with its gateway) with a test package's view installed."""
    store, folder, _ = demo
    site = tmp_path_factory.mktemp("site")
    install_views(site, {"final_metrics": "tests.example_view:FinalMetrics"})
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    with served_dashboard(store, folder, tmp_path_factory.mktemp("serve") / "serve.log", gateway=True,
                          extra_env={"PYTHONPATH": f"{Path(__file__).resolve().parents[2]}{os.pathsep}{path}",
                                     "HYPERTUNER_FLUSH_SECONDS": "0.3"}) as url:
        yield url


def open_experiment(browser: Any, url: str) -> Page:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    wait_observatory(page)
    return page


def wait_observatory(page: Page) -> None:
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                           "Bokeh.documents[0].get_model_by_name('obs-now') != null", timeout=60_000)


def last_drawn(page: Page) -> float:
    xs = column(page, "obs-shown:val_loss", "x") or []
    return max(xs) if xs else 0.0


def url_view(page: Page) -> dict[str, Any]:
    token = parse_qs(urlparse(page.url).query).get("view", [""])[0]
    return decode_view(token) if token else {}


def button(page: Page, name: str) -> Any:
    return page.locator(f".ht-player button.{name}")


def test_open_from_a_row_play_pause_rewind_and_reload(browser: Any, demo_url: str,
                                                       demo: tuple[Store, Path, ProjectIndex]) -> None:
    _, _, index = demo
    run_id = min(index.runs)
    table = index.frames(run_id).experiments
    picked = str(table.loc[table["num_epochs"] == 12, "experiment_id"].iloc[0])
    runs = open_page(browser, f"{demo_url}?run={run_id}", rows=8)
    try:
        runs.locator(f"a.ht-open-experiment:text-is('{picked}')").click()
        runs.wait_for_url(f"**/?experiment={picked}")
        wait_observatory(runs)
        page = runs
        expect(page.locator(".ht-exp-header")).to_contain_text(picked)
        expect(page.locator(".ht-exp-state")).to_have_text("succeeded")
        assert last_drawn(page) == 12.0  # opens at the end
        assert page.evaluate(NOW_JS).startswith("epoch 12 of 12: ")
        button(page, "first").click()
        wait_for(lambda: last_drawn(page) == 1.0, timeout=10, what="rewound to epoch 1")
        assert page.evaluate(NOW_JS).startswith("epoch 1 of 12: ")
        button(page, "play").click()
        wait_for(lambda: last_drawn(page) >= 3.0, timeout=15, what="the curves extending while playing")
        button(page, "pause").click()
        paused = last_drawn(page)
        page.wait_for_timeout(1200)
        assert last_drawn(page) == paused and paused < 12.0
        now = page.evaluate(NOW_JS)
        assert now.startswith(f"epoch {paused:.0f} of 12: ") and "val_loss " in now
        button(page, "first").click()
        wait_for(lambda: last_drawn(page) == 1.0, timeout=10, what="rewound to epoch 1")
        button(page, "next").click()
        button(page, "next").click()
        wait_for(lambda: last_drawn(page) == 3.0, timeout=10, what="two steps forward")
        # written at the page's next tick (1.5 s), after its store refresh: slow on a loaded CI machine
        wait_for(lambda: url_view(page).get("play") == 3, timeout=30, what="the position in the URL")
        copied = page.url
        # the test plug-in's card is there; the three sibling views are cards or one line each
        expect(page.locator(".ht-view-final_metrics .final-metrics")).to_contain_text("val_acc")
    finally:
        runs.close()
    again = open_experiment(browser, copied)
    try:
        assert last_drawn(again) == 3.0
        assert again.evaluate(NOW_JS).startswith("epoch 3 of 12: ")
    finally:
        again.close()


def test_a_nonsense_id_is_one_line_on_the_latest_run(browser: Any, demo_url: str) -> None:
    page = open_page(browser, f"{demo_url}?experiment=nonsense", rows=2)
    try:
        expect(page.locator(".ht-error")).to_have_text(
            "experiment: 'nonsense' is not an experiment id (they read <run id>-<number>)")
        assert page.locator(".ht-exp-header").count() == 0
    finally:
        page.close()


def test_stop_a_running_experiment_from_the_page(browser: Any, demo_url: str,
                                                 demo: tuple[Store, Path, ProjectIndex]) -> None:
    store, folder, _ = demo
    index, exps = launch_batch(store, folder, {"num_epochs": "40", "epoch_delay": "0.4", "alpha": "0.5"})
    eid = exps[0].experiment_id
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{demo_url}?experiment={eid}")
        expect(page.locator(".ht-exp-state")).to_have_text("running", timeout=60_000)
        wait_observatory_or_reload(page)
        first = last_drawn(page)
        wait_for(lambda: last_drawn(page) > first, timeout=30, what="new epochs drawn while it runs")
        page.locator(".ht-stop button").click()
        confirm = page.locator(".ht-stop-confirm button")
        expect(confirm).to_have_text(f"Really stop experiment {eid}?")
        confirm.click()
        expect(page.locator(".ht-exp-state")).to_have_text("killed", timeout=30_000)
        expect(page.locator(".ht-exp-reason")).to_contain_text("stop asked by the experiment page")
        expect(page.locator(".ht-stop button")).to_be_hidden()
    finally:
        page.close()
    index.refresh()
    assert index.experiment(eid)[2].state == "killed"


def wait_observatory_or_reload(page: Page) -> None:
    """The observatory appears once the first epoch is logged (the card said so until then)."""
    wait_observatory(page)


def test_a_position_past_epoch_100_is_drawn_where_it_is(browser: Any, tmp_path: Path) -> None:
    """Panel's player clamps the first value it draws to 100 (the range input's default max): a
    link to epoch 150 of 200 must still show the slider, the epoch line and the curves at 150."""
    from bench.experiment_page import build
    from panel_app.server import make_page, serve_app
    from workbench_plugin.memory import encode_view

    bp = build(str(tmp_path / "store"), epochs=200, classes=3, examples=2, base_epochs=5, base_classes=3,
               base_examples=1)
    served = serve_app(make_page(ProjectIndex(bp.store, bp.project), refresh_ms=60_000))
    try:
        page = open_experiment(browser, f"{served.url}?experiment={bp.experiments[0].experiment_id}"
                                        f"&view={encode_view({'play': 150})}")
        page.wait_for_function(f"() => (({NOW_JS})() || '').startsWith('epoch 150 of 200')", timeout=30_000)
        slider = page.evaluate("""() => { const out = []; const walk = (r) => r.querySelectorAll('*').forEach(
            (e) => { if (e.tagName === 'INPUT' && e.type === 'range') out.push([e.max, e.value]);
                     if (e.shadowRoot) walk(e.shadowRoot); }); walk(document); return out; }""")
        assert slider == [["200", "150"]]
        assert last_drawn(page) == 150
        page.close()
    finally:
        served.stop()
