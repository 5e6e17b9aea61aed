"""The newcomer's path, with real processes: ``hypertuner demo`` runs the digits demo's first batch on
the local engine, ``hypertuner serve`` serves it, and Chromium selects experiments on the run page.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.integration.browser import (
    READY_JS,
    SELECTED_IDS,
    VIEWPORT,
    VISIBLE_JS,
    column,
    drag,
    frame,
    open_page,
)
from tests.integration.processes import (
    HYPERTUNER,
    cli,
    launch_batch,
    make_demo,
    served_dashboard,
    stop_process,
    wait_for,
)
from workbench_plugin.demo import DEMO_NAME
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path, ProjectIndex]:
    """The demo's two runs, made by the real CLI into a fresh store."""
    return make_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo_url(demo: tuple[Store, Path, ProjectIndex],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``hypertuner serve`` over the demo's store, for the tests of this module."""
    store, folder, _ = demo
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with served_dashboard(store, folder, log) as url:
        yield url


@pytest.fixture(scope="module")
def demo_page(browser: Any, demo_url: str, demo: tuple[Store, Path, ProjectIndex]) -> Iterator[Page]:
    page = open_page(browser, f"{demo_url}?run={first_run(demo[2])}", rows=8)
    try:
        yield page
    finally:
        page.close()


def first_run(index: ProjectIndex) -> str:
    """The demo's first batch (of its two runs)."""
    return min(index.runs)


def test_demo_runs_eight_experiments_with_curves_and_a_confusion_matrix(
        demo: tuple[Store, Path, ProjectIndex]) -> None:
    store, folder, index = demo
    run_id, second = sorted(index.runs)
    frames = index.frames(run_id)
    table = frames.experiments
    assert len(table) == 8 and set(table["state"]) == {"succeeded"}
    assert sorted(frames.hparams) == ["alpha", "batch_size", "num_epochs"]
    assert sorted(set(zip(table["batch_size"], table["num_epochs"], table["alpha"], strict=True))) == [
        (b, e, a) for b in (32, 64) for e in (6, 12) for a in (0.0001, 1.0)]
    assert {"train_loss", "val_loss", "train_acc", "val_acc"} <= set(frames.metrics)
    # one validation-accuracy point per epoch, per experiment
    per_exp = frames.curves[frames.curves["name"] == "val_acc"].groupby("experiment_id")["epoch"].count()
    assert per_exp.to_dict() == dict(zip(table["experiment_id"], table["num_epochs"], strict=True))
    # twelve epochs learn more than six; a strong regulariser costs accuracy
    by = table.groupby("num_epochs")["val_acc"].mean()
    assert by[12] > by[6]
    by = table.groupby("alpha")["val_acc"].mean()
    assert by[0.0001] > by[1.0]
    first = table["experiment_id"].iloc[0]
    assert "confusion_matrix.json" in store.artifacts(DEMO_NAME, run_id, first)
    # the second batch ran after NOTES.md changed the project: alpha=0.0001 is similar to the first run's
    assert (folder / "NOTES.md").is_file()
    assert index.entry(second).run.snapshot_id != index.entry(run_id).run.snapshot_id
    assert sorted(index.frames(second).experiments["alpha"]) == [0.0001, 0.01]
    # the demo again reuses the project and runs nothing twice
    again = cli(store, "demo", "--no-serve", "--folder", str(folder))
    assert again.returncode == 0 and "the demo's 2 runs are there already; nothing to run" in again.stdout, \
        again.stdout
    fresh = ProjectIndex(store, DEMO_NAME)
    fresh.refresh()
    assert sorted(fresh.runs) == [run_id, second]


def test_box_select_on_the_real_demo_run(demo_page: Page, demo: tuple[Store, Path, ProjectIndex]) -> None:
    """Drag a box over num_epochs = 6 in one scatter: the same experiments light up in a scatter
    of another hyperparameter, in the bar chart and as selected table rows."""
    _, _, index = demo
    page = demo_page
    table = index.frames(first_run(index)).experiments
    expected = sorted(table.loc[table["num_epochs"] == 6, "experiment_id"])
    assert len(expected) == 4

    f = frame(page, "scatter:num_epochs:val_acc", xs=[-0.45, 0.45])  # categorical position 0
    top, bottom = f["top"] + 2, f["top"] + f["height"] - 2
    x0, x1 = f["sx"]
    drag(page, [(x0, top), ((x0 + x1) / 2, (top + bottom) / 2), (x1, bottom)])

    wait_for(lambda: sorted(column(page, "highlight:alpha:val_loss", "experiment_id")) == expected,
             timeout=10, what="the same experiments highlighted in the alpha x val_loss scatter")
    assert sorted(column(page, "highlight:bars", "experiment_id")) == expected
    selected = page.locator(SELECTED_IDS)
    expect(selected).to_have_count(4)
    assert sorted(selected.all_inner_texts()) == expected
    expect(page.locator(".ht-selected")).to_have_text("4 selected")


def test_a_link_to_an_experiment_opens_its_page(
        browser: Any, demo_url: str, demo: tuple[Store, Path, ProjectIndex]) -> None:
    """``?experiment=<id>``: that experiment's page (its id in the header, its curves replayed);
    a bad id is one escaped line over the latest run's page."""
    _, _, index = demo
    table = index.frames(first_run(index)).experiments
    picked = str(table["experiment_id"].iloc[3])
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{demo_url}?experiment={quote(picked)}")
        expect(page.locator(".ht-exp-header code").first).to_have_text(picked, timeout=60_000)
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                               "Bokeh.documents[0].get_model_by_name('obs-now') != null", timeout=60_000)
    finally:
        page.close()
    page = open_page(browser, f"{demo_url}?experiment={quote('<i>nope</i>-1')}", rows=2)  # the latest run
    try:
        expect(page.locator(".ht-selected")).to_have_text("0 selected")
        expect(page.get_by_text("the project has no run")).to_have_count(1)  # one line, the id escaped
        assert page.locator("i").count() == 0  # the id was not taken for markup
    finally:
        page.close()


def finite(values: list[Any] | None) -> list[float]:
    return [v for v in values or [] if v is not None and v == v]


def test_served_page_follows_a_running_batch_without_reload(
        browser: Any, store: Store, project_dir: Path, tmp_path: Path) -> None:
    """A page open on a queued batch shows its experiments start and finish, and their metrics
    grow, with no reload, while ``hypertuner gateway`` runs the batch beside ``serve``."""
    index, exps = launch_batch(store, project_dir, {"x": "1,2,3", "epochs": 8, "sleep": 0.4})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "HYPERTUNER_SLOTS": "2", "HYPERTUNER_FLUSH_SECONDS": "0.3"}
    with served_dashboard(store, project_dir, tmp_path / "serve.log") as url:
        page = open_page(browser, url, rows=3, plots=False)  # nothing has reported metrics yet
        console: list[str] = []  # shown if the page stops following
        page.on("console", lambda m: console.append(f"{m.type}: {m.text[:400]}") if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(f"pageerror: {str(e)[:600]}"))
        page.evaluate("() => { window.__same_page = true; }")
        header = page.locator(".ht-run-header")
        expect(header).to_contain_text("3 queued")
        with open(tmp_path / "gateway.log", "wb") as log:  # the page is open: start the batch
            gateway = subprocess.Popen([*HYPERTUNER, "--store", store.url, "gateway", "--until-idle"],
                                       cwd=project_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            expect(header).to_contain_text("2 running", timeout=30_000)
            try:
                wait_for(lambda: finite(column(page, "runpage-source", "m:loss")), timeout=30,
                         what="per-epoch metrics of running experiments in the browser")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; header {header.inner_text()!r}; browser console {console}") from exc
            try:
                expect(header).to_contain_text("3 succeeded", timeout=60_000)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; browser console {console}") from exc
            wait_for(lambda: sorted(column(page, "runpage-source", "m:score") or []) == [10.0, 20.0, 30.0],
                     timeout=10, what="final scores in the browser")
            assert page.evaluate("() => window.__same_page === true")
            assert gateway.wait(60) == 0, (tmp_path / "gateway.log").read_text()
        finally:
            stop_process(gateway)
    index.refresh()
    assert {s.state for _, _, s in index.iter_experiments()} == {"succeeded"}
    assert len(exps) == 3


# ---- the client's walkthrough on the demo's first run -------------------------------------
SCATTERS = [f"highlight:{h}:{m}" for h in ("alpha", "batch_size", "num_epochs")
            for m in ("val_acc", "val_loss", "train_acc", "train_loss")]


def slider_text(page: Page, name: str) -> str:
    return page.locator(f".ht-slider-{name} .bk-slider-title").inner_text()


def slider_numbers(page: Page, name: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", slider_text(page, name).split(":", 1)[1])]


def brush_num_epochs_6(page: Page) -> None:
    f = frame(page, "scatter:num_epochs:val_acc", xs=[-0.45, 0.45])  # categorical position 0
    top, bottom = f["top"] + 2, f["top"] + f["height"] - 2
    x0, x1 = f["sx"]
    drag(page, [(x0, top), ((x0 + x1) / 2, (top + bottom) / 2), (x1, bottom)])


def assert_selected(page: Page, expected: list[str], chart: str = "bars") -> None:
    wait_for(lambda: sorted(column(page, "highlight:bars", "experiment_id") or []) == expected,
             timeout=10, what=f"{len(expected)} experiments highlighted in the bar chart")
    for name in SCATTERS:
        assert sorted(column(page, name, "experiment_id")) == expected, name
    epochs = column(page, "highlight:epochs", "experiment_id")  # sent once "Epoch lines" is shown
    assert epochs is None or sorted(epochs) == expected
    selected = page.locator(SELECTED_IDS)
    expect(selected).to_have_count(len(expected))
    assert sorted(selected.all_inner_texts()) == expected
    expect(page.locator(".ht-selected")).to_have_text(f"{len(expected)} selected")


def test_client_walkthrough(browser: Any, demo: tuple[Store, Path, ProjectIndex],
                            tmp_path: Path) -> None:
    """Brush num_epochs = 6, see it everywhere (table, bars, every scatter, sliders); clear;
    lock batch_size and find the lock after a reload; save a note, change the view, click the
    note; open the page's URL in a new tab and get the same view."""
    store, folder, index = demo
    run_id = first_run(index)
    table = index.frames(run_id).experiments
    six = table[table["num_epochs"] == 6]
    expected = sorted(six["experiment_id"])
    with served_dashboard(store, folder, tmp_path / "serve.log") as url:
        page = open_page(browser, f"{url}?run={run_id}", rows=8)
        brush_num_epochs_6(page)
        assert_selected(page, expected)
        expect(page.locator(".ht-row")).to_have_count(4)  # the table shows the selection
        expect(page.locator(".ht-table-caption")).to_contain_text("The 4 selected of 8")
        assert slider_text(page, "num_epochs").endswith("6 .. 6")
        assert slider_numbers(page, "batch_size") == [32, 64]
        lo, hi = slider_numbers(page, "val_acc")
        assert lo == pytest.approx(six["val_acc"].min(), abs=0.006)
        assert hi == pytest.approx(six["val_acc"].max(), abs=0.006)
        assert hi - lo < table["val_acc"].max() - table["val_acc"].min() + 0.006

        page.get_by_role("button", name="Clear selection").click()
        assert_selected(page, [])
        expect(page.locator(".ht-row")).to_have_count(8)
        assert slider_text(page, "num_epochs").endswith("6 .. 12")

        # lock batch_size: a store event, shown after a reload
        page.locator(".ht-lock-toggle-batch_size button").click()
        expect(page.locator(".ht-lock-batch_size")).to_contain_text("32..64")
        page.reload()
        page.wait_for_function(READY_JS, timeout=60_000)
        expect(page.locator(".ht-lock-batch_size")).to_contain_text("32..64")
        expect(page.locator(".ht-lock-toggle-batch_size button")).to_have_text("locked")
        [lock] = [e for e in store.events(DEMO_NAME, "lock") if e["hparam"] == "batch_size"]
        assert (lock["low"], lock["high"], lock["run_id"]) == (32, 64, run_id)

        # a note keeps the view: selection, metric, chart
        brush_num_epochs_6(page)
        assert_selected(page, expected)
        page.get_by_role("button", name="Epoch lines").click()
        wait_for(lambda: page.evaluate(VISIBLE_JS, "epochs"), timeout=10, what="epoch lines shown")
        page.get_by_placeholder("A note on this view...").fill("six epochs underfit")
        page.get_by_role("button", name="Save note").click()
        note = page.locator(".ht-note button")
        expect(note).to_contain_text("six epochs underfit")
        [saved] = store.events(DEMO_NAME, "note")
        assert saved["view"]["chart"] == "lines" and saved["run_id"] == run_id

        page.get_by_role("button", name="Clear selection").click()
        page.get_by_role("button", name="Bars").click()
        assert_selected(page, [])
        wait_for(lambda: not page.evaluate(VISIBLE_JS, "epochs"), timeout=10, what="bars shown")
        note.click()
        assert_selected(page, expected)
        wait_for(lambda: page.evaluate(VISIBLE_JS, "epochs"), timeout=10, what="lines restored")

        # the URL carries the view: a copied link opens it
        wait_for(lambda: "view=" in page.url, timeout=10, what="the view in the page URL")
        other = open_page(browser, page.url, rows=4)  # the table shows the selection
        try:
            assert_selected(other, expected)
            assert other.evaluate(VISIBLE_JS, "epochs")
        finally:
            other.close()
            page.close()
