"""What a new user met on the run page (issue 10, "first contact"), in real Chromium against the
dashboard's own page factory (:func:`panel_app.server.make_page`) over a real store.

The odd runs of :mod:`tests.integration.odd_runs` (no metrics, names with spaces, dots, slashes
and hyphens, flags named as the frame's own columns, only strings, one experiment, an all-NaN
metric, a constant flag) each render: header, table rows, plots or "No metrics yet".
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from panel_app.linked.ticks import log_ticks
from panel_app.server import ServedPage, make_page, serve_app
from tests.integration.browser import READY_JS, VIEWPORT, column, wait_for
from tests.integration.odd_runs import ODD_RUNS, write_odd_run, write_run
from tests.integration.processes import HYPERTUNER, _env, free_port, stop_process
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]

#: Every plot that is drawn is idle (and there is at least one), or there is none to wait for.
PLOTS_IDLE_JS = """() => {
  if (!window.Bokeh || Bokeh.documents.length === 0) { return false; }
  const plots = [...Bokeh.index.all_views()].filter((v) => v.model.name === "bars" ||
      (v.model.name || "").startsWith("scatter:"));
  return plots.every((v) => v.is_idle) ? plots.length : false;
}"""


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedPage, dict[str, str]]]:
    store = Store(str(Path(tmp_path_factory.mktemp("odd")) / "store"))
    runs = {name: write_odd_run(store, "p", name) for name in ODD_RUNS}
    with serve_app(make_page(ProjectIndex(store, "p"), refresh_ms=60_000)) as server:
        yield server, runs


def open_run(browser: Any, url: str) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    return page, errors


@pytest.mark.parametrize("name", list(ODD_RUNS))
def test_odd_runs_render(browser: Any, odd: tuple[ServedPage, dict[str, str]], name: str) -> None:
    server, runs = odd
    params, metrics = ODD_RUNS[name]
    page, errors = open_run(browser, f"{server.url}?run={runs[name]}")
    try:
        expect(page.locator(".ht-run-header")).to_contain_text(
            f"{len(params)} experiments", timeout=60_000)
        expect(page.locator(".ht-table-caption")).to_have_text(f"All {len(params)} experiments",
                                                               timeout=60_000)
        expect(page.locator(".ht-row").first).to_be_visible(timeout=60_000)
        if metrics:
            page.wait_for_function(PLOTS_IDLE_JS, timeout=60_000)
            scatters = page.evaluate("() => [...Bokeh.index.all_views()].filter((v) => "
                                     "(v.model.name || '').startsWith('scatter:')).length")
            assert scatters >= 1
            expect(page.locator(".ht-col-title")).to_contain_text(
                [*(f"{m}" for m in list(metrics)[:1])])
        else:
            expect(page.get_by_text("No metrics yet.")).to_be_visible()
            expect(page.get_by_text("No metric to chart yet.")).to_be_visible()
        titles = page.locator(".ht-col-title").all_inner_texts()
        for flag in params[0]:
            assert flag in titles or f"{flag} (flag)" in titles, (flag, titles)
        # the frame's own columns keep their meaning: states and labels
        expect(page.locator(".ht-cell[data-field='state']").first).to_have_text(
            "succeeded")
        expect(page.locator(".ht-cell[data-field='#']").first).to_have_text("#1")
        if name == "many-categories":  # a scrolling list of check boxes, not a row of buttons
            box = page.locator(".ht-picker-model").bounding_box()
            assert box is not None and box["width"] <= 260, box
            expect(page.locator(".ht-picker-model input[type=checkbox]")).to_have_count(14)
        if name == "constant":  # a slider over one value names it at both ends
            title = page.locator(".ht-slider-seed .bk-slider-title").inner_text()
            assert title.endswith("7 .. 7"), title  # was "7 .."
        # one scrolling list: the last experiment is a scroll away (rows are drawn as seen)
        page.locator(".ht-table").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
        expect(page.locator(".ht-cell[data-field='#']").get_by_text(f"#{len(params)}", exact=True)
               ).to_be_visible()
        assert not errors, errors
    finally:
        page.close()


# ---- a server that goes away -------------------------------------------------------------
def start_serve(store: Store, project: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``hypertuner serve`` on ``port``, once it answers (a static file: no session)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*HYPERTUNER, "--store", store.url, "serve", "--project", str(project), "--port",
             str(port), "--no-gateway"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env())

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"hypertuner serve exited with {proc.returncode}:\n"
                                 f"{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/js/bokeh.min.js",
                                        timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        wait_for(up, timeout=60, what=f"hypertuner serve on port {port}")
    except BaseException:
        stop_process(proc)
        raise
    return proc


def test_a_page_says_it_lost_its_server_and_comes_back(
        browser: Any, tmp_path: Path, project_dir: Path) -> None:
    store = Store(str(tmp_path / "store"))
    params, metrics = ODD_RUNS["constant"]
    write_run(store, "tiny", params, metrics)
    port, log = free_port(), tmp_path / "serve.log"
    procs = [start_serve(store, project_dir, port, log)]
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function(READY_JS, timeout=60_000)
        expect(page.locator(".ht-row")).to_have_count(3, timeout=30_000)
        page.evaluate("() => { window.__before_kill = true; }")
        banner = page.locator(".ht-disconnected")
        expect(banner).to_have_count(0)

        os.kill(procs[0].pid, signal.SIGKILL)  # our own child, by its PID
        procs[0].wait(10)
        expect(banner).to_be_visible(timeout=5_000)
        expect(banner).to_contain_text("Disconnected")
        expect(banner).to_contain_text("retrying")
        page.wait_for_timeout(1500)  # it keeps retrying while the server is down
        expect(banner).to_be_visible()

        procs.append(start_serve(store, project_dir, port, log))
        expect(banner).to_have_count(0, timeout=20_000)  # reloaded: a fresh session
        page.wait_for_function(READY_JS, timeout=60_000)
        expect(page.locator(".ht-row")).to_have_count(3, timeout=30_000)
        expect(page.locator(".ht-run-header")).to_contain_text("3 experiments")
        assert page.evaluate("() => window.__before_kill === undefined")  # a new page
    finally:
        page.close()
        for proc in procs:
            stop_process(proc)
    served_log = log.read_text(errors="replace")
    assert "Traceback" not in served_log and "ERROR" not in served_log, served_log


def test_a_string_hyperparameter_is_picked_by_category(
        browser: Any, odd: tuple[ServedPage, dict[str, str]]) -> None:
    server, runs = odd
    page, errors = open_run(browser, f"{server.url}?run={runs['strings-only']}")
    try:
        page.wait_for_function(READY_JS, timeout=60_000)
        expect(page.locator(".ht-row")).to_have_count(6, timeout=30_000)
        picker = page.locator(".ht-picker-optimizer")
        expect(picker).to_be_visible()
        assert page.locator(".ht-slider-optimizer").count() == 0  # no numeric range slider
        buttons = picker.locator(".bk-btn")
        expect(buttons).to_have_text(["adam", "rmsprop", "sgd"])
        buttons.get_by_text("adam", exact=True).click()
        buttons.get_by_text("rmsprop", exact=True).click()  # only sgd left
        expect(page.locator(".ht-selected")).to_have_text("2 selected")
        expect(page.locator(".ht-row")).to_have_count(2)
        cells = page.locator(".ht-cell[data-field='optimizer']").all_inner_texts()
        assert cells == ["sgd", "sgd"], cells
        wait_for(lambda: len(column(page, "runpage-highlight", "experiment_id") or []) == 2,
                 what="the two sgd experiments highlighted")
        # it follows a selection made elsewhere: Clear selection ticks every category again
        page.get_by_role("button", name="Clear selection").click()
        expect(page.locator(".ht-selected")).to_have_text("0 selected")
        expect(picker.locator(".bk-btn.bk-active")).to_have_count(3)
        assert not errors, errors
    finally:
        page.close()


#: The ticks a scatter cell's x axis drew (data units), its range and its frame's width.
X_TICKS_JS = """(name) => {
  const fig = Bokeh.documents[0].get_model_by_name(name);
  const view = Bokeh.index.get_one(fig);
  const axis = [...Bokeh.index.all_views()].find((v) => v.model === fig.below[0]);
  return {ticks: Array.from(axis.tick_coords.major[0]), start: fig.x_range.start,
          end: fig.x_range.end, frame: view.frame.bbox.width};
}"""


def test_log_axes_have_few_ticks_whose_labels_do_not_collide(
        browser: Any, odd: tuple[ServedPage, dict[str, str]]) -> None:
    server, runs = odd
    page, errors = open_run(browser, f"{server.url}?run={runs['log-scales']}")
    try:
        page.wait_for_function(READY_JS, timeout=60_000)
        for flag in ("wd", "width", "lr"):
            shown = page.evaluate(X_TICKS_JS, f"scatter:{flag}:loss")
            want = log_ticks(shown["start"], shown["end"], shown["frame"])
            assert 2 <= len(want.ticks) <= 5 and shown["ticks"] == list(want.ticks), (flag, shown)
        # zoomed in (as the wheel does), the axis still has a few ticks, chosen in the browser
        page.evaluate("() => { const r = Bokeh.documents[0].get_model_by_name('range:lr'); "
                      "r.start = 0.002; r.end = 0.005; }")
        wait_for(lambda: page.evaluate(X_TICKS_JS, "scatter:lr:loss")["start"] == 0.002,
                 what="the zoomed range drawn")
        zoomed = page.evaluate(X_TICKS_JS, "scatter:lr:loss")
        assert zoomed["ticks"] == list(log_ticks(0.002, 0.005, zoomed["frame"]).ticks)
        assert len(zoomed["ticks"]) >= 2, zoomed
        title = page.locator(".ht-slider-lr .bk-slider-title").inner_text()
        assert title.endswith("1e-05 .. 0.1"), title  # was 0.00001 .. 0.1 (and 0 .. 0.01)
        assert not errors, errors
    finally:
        page.close()
