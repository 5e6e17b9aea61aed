"""The confusion-matrix and elbow views in Chromium: hovering a cell shows its examples at once, a
click is kept in the view state, linked matrices highlight the same cell, the elbow is marked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import pytest
from playwright.sync_api import Page, expect
from sklearn.datasets import load_digits

from panel_app.experiment_page.plugins import ExperimentData, ViewState
from panel_app.experiment_page.views.confusion import (
    HEATMAP_NAME,
    ConfusionMatrixView,
    confusion_figure,
    link_confusion_figures,
)
from panel_app.experiment_page.views.elbow import ElbowView
from panel_app.server import ServedPage, serve_app
from tests.integration.browser import CELL_JS, VIEWPORT, hover_cell, wait_for
from workbench_plugin.experiment_info import cell_examples, confusion_info
from workbench_plugin.tracking import confusion_matrix_data, curve_data

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]


def digits_matrix(seed: int, max_examples: int = 500) -> bytes:
    digits = load_digits()
    rng = np.random.default_rng(seed)
    y = digits.target[:360]
    wrong = rng.random(360) < 0.15
    pred = np.where(wrong, (y + rng.integers(1, 10, 360)) % 10, y)
    pred[:12] = np.where(y[:12] == 3, 8, pred[:12])  # a few 3 -> 8
    return json.dumps(confusion_matrix_data(y, pred, labels=list(range(10)), examples=digits.images[:360].astype(int),
                                            max_examples=max_examples)).encode()


def experiment(files: dict[str, bytes], ident: str = "e-1") -> ExperimentData:
    return ExperimentData(ident, "r-1", ident, "succeeded", {}, pd.DataFrame(), {}, tuple(files),
                          reader=files.__getitem__)


RAW = digits_matrix(0)
KS = list(range(1, 11))
CURVE = json.dumps(curve_data("k", KS, {"inertia": [1000 - 300 * (k - 1) if k <= 4 else 100 - 5 * (k - 4)
                                                   for k in KS]})).encode()
STATES: list[ViewState] = []


def app() -> Any:
    page = pn.state.location.query_params.get("page", "view") if pn.state.location else "view"
    if page == "compare":
        figs = [confusion_figure(confusion_info(digits_matrix(seed, 40)), title=f"e-{seed}") for seed in range(3)]
        link_confusion_figures(figs)
        return pn.Row(*[pn.Column(pn.pane.Bokeh(f.figure), pn.pane.Bokeh(f.examples)) for f in figs])
    state = ViewState({"cell": ["5", "6"]} if page == "restore" else {})
    STATES.append(state)
    return pn.Column(ConfusionMatrixView().render(experiment({"confusion_matrix.json": RAW}), state),
                     ElbowView().render(experiment({"curve_k.json": CURVE}), ViewState()))


@pytest.fixture(scope="module")
def served() -> Iterator[ServedPage]:
    server = serve_app(app)
    try:
        yield server
    finally:
        server.stop()


#: Watches the examples panel: each change records the milliseconds since the last pointer move.
WATCH_JS = """() => {
  window.htLatency = [];
  let moved = 0;
  document.addEventListener('pointermove', (e) => { moved = e.timeStamp; }, true);
  const panels = [];
  const walk = (root) => root.querySelectorAll('*').forEach((e) => {
    if (e.classList.contains('ht-cm-examples')) panels.push(e);
    if (e.shadowRoot) walk(e.shadowRoot); });
  walk(document);
  const obs = new MutationObserver(() => window.htLatency.push(performance.now() - moved));
  panels.forEach((p) => obs.observe(p.shadowRoot || p, {subtree: true, childList: true, characterData: true}));
}"""


def open_view(browser: Any, url: str) -> Page:
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function(f"""() => window.Bokeh && Bokeh.documents.length &&
        [...Bokeh.documents[0].all_models].some((m) => m.name === "{HEATMAP_NAME}" && Bokeh.index.get_one(m))""",
                           timeout=60_000)
    assert not errors, errors
    return page


def hover(page: Page, t: str, p: str, index: int = 0) -> None:
    hover_cell(page, HEATMAP_NAME, t, p, index)


def test_hovering_cells_shows_their_examples_instantly(browser: Any, served: ServedPage) -> None:
    info = confusion_info(RAW)
    worst = info.largest_off_diagonal()
    assert worst is not None
    page = open_view(browser, served.url)
    panel = page.locator(".ht-cm-examples")
    hover(page, worst.true, worst.pred)
    expect(panel.locator(".ht-cm-count")).to_have_text(f"{worst.samples} examples")
    expect(panel.locator("img.ht-cm-example")).to_have_count(worst.samples)
    hover(page, "4", "4")
    expect(panel.locator(".ht-cm-count")).to_have_text(f"{info.counts[4, 4]} correct predictions")
    expect(panel.locator("img.ht-cm-example")).to_have_count(0)
    # the elbow chart beside it names its elbow
    expect(page.get_by_text("elbow at k = 4", exact=True)).to_be_visible()
    # moving across cells: the panel follows with no visible lag (measured in the browser)
    page.evaluate(WATCH_JS)
    cells = [("3", "8"), ("1", "7"), (worst.true, worst.pred), ("9", "4"), ("0", "0")]
    for t, p in cells:
        hover(page, t, p)
        page.wait_for_timeout(100)
    latencies = page.evaluate("window.htLatency")
    print("hover latency (ms):", [round(v, 1) for v in latencies])
    assert len(latencies) >= len(cells) and max(latencies) < 100  # a frame or two, no server round trip
    page.close()


def test_a_click_is_kept_in_the_state_and_restored(browser: Any, served: ServedPage) -> None:
    page = open_view(browser, served.url)
    x, y = page.evaluate(CELL_JS, [HEATMAP_NAME, 0, "3", "8"])
    page.mouse.click(x, y)
    wait_for(lambda: STATES[-1].get("cell") == ["3", "8"], 10, "the click reaches the view state")
    page.close()
    page = open_view(browser, served.url + "?page=restore")
    expect(page.locator(".ht-cm-examples .ht-cm-head")).to_contain_text("true 5 → predicted 6")
    cell = cell_examples(confusion_info(RAW), 5, 6)
    expect(page.locator(".ht-cm-examples img.ht-cm-example")).to_have_count(cell.kept)
    page.close()


def test_linked_matrices_highlight_the_same_cell_in_all(browser: Any, served: ServedPage) -> None:
    page = open_view(browser, served.url + "?page=compare")
    hover(page, "3", "8", index=1)
    wait_for(lambda: page.evaluate("""() => [...Bokeh.documents[0].all_models]
        .filter((m) => m.name === "ht-cm-highlight").map((r) => r.data_source.data)
        .map((d) => Array.from(d instanceof Map ? d.get('x') : d.x).join())
        .join('|')""") == "8|8|8", 10, "every matrix highlights predicted 8")
    counts = page.locator(".ht-cm-examples .ht-cm-count")
    expect(counts).to_have_count(3)
    for seed in range(3):
        cell = cell_examples(confusion_info(digits_matrix(seed, 40)), 3, 8)
        expect(counts.nth(seed)).to_have_text(cell.text)
    page.close()
