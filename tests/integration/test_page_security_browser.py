"""The page's security in real Chromium: user-given strings are shown as text, never run.

A real store holds a run whose flag names, categorical values, metric names, note text, note
author and lock author are HTML/JS payloads; the dashboard's own page factory
(:func:`panel_app.server.make_page`) serves it on 127.0.0.1, and every ``alert()`` the page
would run is counted by a dialog listener.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from panel_app.server import ServedPage, make_page, serve_app
from tests.integration.browser import READY_JS, VIEWPORT, VISIBLE_JS, wait_for
from workbench_plugin.index import ProjectIndex, RunView
from workbench_plugin.store import Experiment, Run, Store

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
SVG = "\"'><svg onload=alert(3)>"
PAYLOADS = (IMG, SCRIPT, SVG)
#: The flags: two payload-named categorical ones (payload values) and a numeric one.
FLAG = IMG
#: Metrics: payloads, a name with a space, one equal to a flag, a path-like and unicode one.
#: BRACE would end a hover template's ``@{...}`` placeholder early (the rest is HTML there).
BRACE = "a}<img src=x onerror=alert(4)>"
#: TEX would be rendered by MathJax into a slider title as HTML (a javascript: link here).
TEX = r"$$\href{javascript:alert(6)}{tex}$$"
METRICS = (SVG, "val loss", "lr", "a/b", "<b>x</b>", "名前", "m" * 300, BRACE, TEX)


def write_run(store: Store) -> Run:
    """Four experiments of FLAG x SVG x lr, every metric logged, a note and a lock by payload users."""
    store.create_project("p", "/somewhere")
    run_id = store.new_run_id()
    # sorted, the first value is a slider's handle label: IMG (SVG sorts before "<")
    values = [IMG, SCRIPT, "plain", IMG]
    others = [SVG, "x", SVG, "x"]
    run = Run(run_id=run_id, project="p", created=1.0, author=SVG, script="train.py",
              interpreter="", flag_style="space",
              spec={FLAG: ",".join(values), SVG: ",".join(others), "lr": "0.1,0.2"}, scales={},
              snapshot_id="s1", data_id="d1", engine="local", n_experiments=4)
    exps = [Experiment(f"{run_id}-{i}", run_id, i,
                       {FLAG: values[i], SVG: others[i], "lr": 0.1 * (1 + i % 2)}, [])
            for i in range(4)]
    store.write_run(run, exps)
    columns = ("experiment_id", "kind", "epoch", "step", "time", "name", "value", "source")
    rows: dict[str, list[Any]] = {c: [] for c in columns}
    for i in range(4):
        for k, name in enumerate(METRICS):
            for epoch in (1, 2):
                point = (f"{run_id}-{i}", "epoch", epoch, None, float(epoch), name,
                         0.1 * (i + 1) + k + 0.01 * epoch, "sdk")
                for column, v in zip(columns, point, strict=True):
                    rows[column].append(v)
    store.write_metrics_part("p", run_id, f"{run_id}-0", 0, rows)
    return run


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedPage, Run]]:
    store = Store(str(Path(tmp_path_factory.mktemp("xss")) / "store"))
    run = write_run(store)
    index = ProjectIndex(store, "p")
    index.refresh()
    memory = RunView(index, run.run_id).memory
    memory.add_note(run.run_id, f"note {SCRIPT} {IMG}", {"chart": "bars"}, author=SVG)
    memory.lock(FLAG, run_id=run.run_id, values=[SCRIPT, IMG], author=IMG)
    # a slow refresh: a link's error line shows until the next refresh
    with serve_app(make_page(ProjectIndex(store, "p"), refresh_ms=120_000)) as server:
        yield server, run


def open_counting(browser: Any, url: str) -> tuple[Page, list[str]]:
    """The page at ``url`` once its plots are drawn, and the dialogs it opened (so far)."""
    page = browser.new_page(viewport=VIEWPORT)
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function(READY_JS, timeout=60_000)
    expect(page.locator(".ht-row")).to_have_count(4, timeout=60_000)
    page.wait_for_timeout(500)  # let late renders (tooltips, lock labels) run
    assert not errors, errors
    return page, dialogs


#: The bar chart's y axis label (the metric it shows).
BARS_LABEL_JS = "() => Bokeh.documents[0].get_model_by_name('bars').left[0].axis_label"

LINKS = {
    "plain": "",
    "run": "?run=" + quote(IMG),
    "experiment": "?experiment=" + quote(SCRIPT),
    "compare": "?compare=" + quote(f"{IMG},{SVG}"),
    "view": "?view=" + quote(SVG),
}


@pytest.mark.parametrize("link", list(LINKS))
def test_payloads_are_shown_as_text_and_never_run(
        browser: Any, served: tuple[ServedPage, Run], link: str) -> None:
    server, run = served
    page, dialogs = open_counting(browser, server.url + LINKS[link])
    try:
        # every view of the run page renders: bars, then epoch lines, then the matrix cells
        page.get_by_role("button", name="Epoch lines").click()
        wait_for(lambda: page.evaluate(VISIBLE_JS, "epochs"), timeout=10, what="epoch lines shown")
        header = page.locator(".ht-col-title").all_inner_texts()
        assert FLAG in header and f"{SVG}" in header and "val loss" in header, header
        assert f"{SVG} (metric)" in header and "lr (metric)" in header and "<b>x</b>" in header and "名前" in header
        titles = " ".join(page.locator(".bk-slider-title").all_inner_texts()).replace("\u200b", "")
        assert "lr (metric)" in titles
        # the payload flags have string values: category pickers, titled and labelled as text
        pickers = " ".join(page.locator(".ht-picker-title").all_inner_texts())
        assert FLAG in pickers and SVG in pickers, pickers
        buttons = " ".join(page.locator(".ht-picker .bk-btn, .ht-picker label").all_inner_texts())
        assert SCRIPT in buttons and IMG in buttons and "plain" in buttons, buttons
        assert TEX in titles and page.locator("a[href^=javascript]").count() == 0
        cells = " ".join(page.locator(".ht-cell").all_inner_texts())
        assert SCRIPT in cells and SVG in cells, cells
        expect(page.locator(".ht-lock", has_text="kept at")).to_contain_text(f"by {IMG}")
        expect(page.locator(".ht-note button")).to_contain_text(f"note {SCRIPT} {IMG}")
        expect(page.locator(".ht-note button")).to_contain_text(SVG)
        expect(page.locator(".ht-nav")).to_contain_text(run.run_id)
        if link in ("experiment", "compare", "view"):
            shown = {"experiment": SCRIPT, "compare": IMG, "view": "<svg onload=alert(3)>"}[link]
            expect(page.locator(".ht-error")).to_contain_text(shown)
        # the bars of the metric with a brace in its name (its hover template: unit-tested)
        page.get_by_role("button", name="Bars").click()
        page.locator("select").first.select_option(label=BRACE)
        wait_for(lambda: page.evaluate(VISIBLE_JS, "bars"), timeout=10, what="bars shown")
        wait_for(lambda: BRACE in page.evaluate(BARS_LABEL_JS), timeout=10, what="bars of " + BRACE)
        page.wait_for_timeout(300)
        assert dialogs == [], f"{link}: the page ran {dialogs}"
        assert page.locator("script:text('alert')").count() == 0
    finally:
        page.close()
