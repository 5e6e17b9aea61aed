"""The compare page (issue 13, FIG 28) in real Chromium on the demo project, served by the
dashboard's own page factory over the store the real CLI filled: select three experiments on
the run page, press Compare, see three columns, the differing hyperparameters first, the best
per metric marked, the curves drawn, the confusion matrices side by side (hovering a cell of one
shows the same cell and its own examples in each); unfold, reload the copied URL and get the same view; a
comparison of one experiment is one line over the run page. Screenshot: /tmp/compare-page.png;
with HYPERTUNER_UPDATE_DOCS=1 also docs/compare-page.png."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from panel_app.experiment_page.views.confusion import HEATMAP_NAME, HIGHLIGHT_NAME
from panel_app.experiment_page.views.confusion_cells import EXAMPLES_PER_CELL
from panel_app.server import ServedPage, make_page, serve_app
from tests.integration.browser import VIEWPORT, hover_cell, open_page, row_label, wait_for
from tests.integration.processes import make_demo
from workbench_plugin.experiment_info import cell_examples, confusion_info
from workbench_plugin.index import ProjectIndex
from workbench_plugin.tracking import CONFUSION_MATRIX_FILE

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Read at import: tests/conftest.py removes every HYPERTUNER_* variable before each test.
UPDATE_DOCS = os.environ.get("HYPERTUNER_UPDATE_DOCS") == "1"

#: The figures of the compare page and how many curve lines each draws, once all are idle.
CURVES_JS = """() => {
  if (!window.Bokeh || Bokeh.documents.length === 0) { return null; }
  const views = [...Bokeh.index.all_views()].filter((v) => (v.model.name || "").startsWith("compare:"));
  if (views.length === 0 || !views.every((v) => v.is_idle)) { return null; }
  const out = {};
  for (const v of views) {
    out[v.model.name] = v.model.renderers.filter((r) => (r.name || "").startsWith("curve:")).length;
  }
  return out;
}"""

#: The (predicted, true) cell each highlight glyph shows, once every heat map is drawn.
HIGHLIGHTS_JS = f"""() => {{
  const models = [...Bokeh.documents[0].all_models];
  const maps = models.filter((m) => m.name === "{HEATMAP_NAME}");
  if (maps.length === 0 || !maps.every((m) => Bokeh.index.get_one(m))) {{ return null; }}
  const cell = (d) => ["x", "y"].map((k) => Array.from(d instanceof Map ? d.get(k) : d[k]).join());
  return models.filter((m) => m.name === "{HIGHLIGHT_NAME}").map((r) => cell(r.data_source.data))
    .map(([x, y]) => (x || y ? x + "|" + y : ""));
}}"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedPage, list[str], ProjectIndex]]:
    """The demo's two runs, made by the real CLI; the dashboard served over them."""
    _, _, index = make_demo(tmp_path_factory.mktemp("compare"))
    with serve_app(make_page(index, refresh_ms=60_000)) as server:
        yield server, sorted(index.runs), index


def curves(page: Page) -> dict[str, int]:
    found: dict[str, int] = {}

    def drawn() -> bool:
        found.update(page.evaluate(CURVES_JS) or {})
        return bool(found)

    wait_for(drawn, timeout=60, what="compare figures drawn")
    return found


def test_select_three_compare_reload(browser: Any, demo: tuple[ServedPage, list[str], ProjectIndex]) -> None:
    server, (first, _), index = demo
    entry = index.runs[first]
    page = open_page(browser, f"{server.url}?run={first}", rows=len(entry.experiments))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        expect(page.locator(".ht-compare-off")).to_have_count(1)  # nothing selected: greyed out
        row_label(page, "#1").click()
        expect(page.locator(".ht-compare-why")).to_contain_text("compare: 1 experiment selected")
        row_label(page, "#2").click(modifiers=["Control"])
        row_label(page, "#3").click(modifiers=["Control"])
        link = page.locator("a.ht-compare")
        expect(link).to_have_text("Compare 3", timeout=20_000)
        ids = [e.experiment_id for e in entry.experiments]
        chosen = [ids[0], ids[1], ids[2]]
        params = [entry.by_id[e].params for e in chosen]
        flags = list(entry.run.spec)
        differ = [h for h in flags if len({repr(p.get(h)) for p in params}) > 1]
        same = [h for h in flags if h not in differ]
        assert differ and same, params  # the demo's first three differ in some flags, not all
        link.click()
        page.wait_for_url(f"**?compare={','.join(chosen)}", timeout=30_000)

        heads = page.locator(".ht-hparams .ht-compare-col")
        expect(heads).to_have_count(3, timeout=60_000)
        expect(heads.locator("a")).to_have_text(["#1", "#2", "#3"])
        assert page.locator(".ht-hparams .ht-compare-col a").first.get_attribute("href") == \
            f"?experiment={chosen[0]}"
        rows = page.locator(".ht-hparams tbody tr")
        expect(page.locator(".ht-hparams tr.ht-differ th")).to_have_text(differ)
        assert "ht-differ" in (rows.first.get_attribute("class") or "")  # differing ones first
        expect(page.locator(".ht-hparams .ht-equal-count")).to_contain_text(f"{len(same)} equal hyperparameter")
        expect(page.locator(".ht-hparams tr.ht-equal")).to_have_count(0)  # folded
        # the best per metric row: bold and marked
        metric_rows = page.locator(".ht-metrics tbody tr")
        assert metric_rows.count() >= 2
        for i in range(metric_rows.count()):
            if metric_rows.nth(i).locator("td").count() == 3:
                assert metric_rows.nth(i).locator("td.ht-best").count() >= 1
        assert page.locator(".ht-metrics td.ht-best").first.evaluate(
            "(el) => getComputedStyle(el).fontWeight") in ("bold", "700")
        drawn = curves(page)
        assert set(drawn) >= {"compare:loss", "compare:score"}, drawn
        assert all(n >= 3 for n in drawn.values()), drawn  # a line per experiment at least
        expect(page.locator(".ht-artifacts")).to_contain_text("confusion_matrix.json")

        # unfold: the view is in the URL; the copied URL opens the same view
        page.locator(".ht-fold button").click()
        expect(page.locator(".ht-hparams tr.ht-equal th")).to_have_text(same, timeout=20_000)
        # (page.url is only refreshed while Playwright runs a call: ask the page itself)
        wait_for(lambda: "view=" in page.evaluate("() => window.location.search"), what="view in the URL")
        equal = page.locator(".ht-hparams tr.ht-equal").count()

        # the confusion matrices side by side: hovering the first one's worst cell shows it in all three
        infos = [confusion_info(index.store.read_artifact(index.project, first, e, CONFUSION_MATRIX_FILE))
                 for e in chosen]
        worst = infos[0].largest_off_diagonal()
        assert worst is not None
        wait_for(lambda: page.evaluate(HIGHLIGHTS_JS) == ["", "", ""], 60, "three matrices drawn, none lit")
        hover_cell(page, HEATMAP_NAME, worst.true, worst.pred, 0)
        wait_for(lambda: page.evaluate(HIGHLIGHTS_JS) == [f"{worst.pred}|{worst.true}"] * 3, 10,
                 f"every matrix highlights true {worst.true} -> predicted {worst.pred}")
        panels = page.locator(".ht-cm-examples")
        expect(panels).to_have_count(3)
        for k, info in enumerate(infos):
            t, p = info.labels.index(worst.true), info.labels.index(worst.pred)
            cell = cell_examples(info, t, p, EXAMPLES_PER_CELL)
            expect(panels.nth(k).locator(".ht-cm-head")).to_have_text(
                f"true {worst.true} → predicted {worst.pred}")
            expect(panels.nth(k).locator(".ht-cm-count")).to_have_text(cell.text if cell.samples else "no samples")
            expect(panels.nth(k).locator("img.ht-cm-example")).to_have_count(cell.kept)
        # a click keeps that cell shown in all three once the mouse leaves (and its tooltip goes)
        page.mouse.down()
        page.mouse.up()
        page.mouse.move(5, 5)
        page.evaluate("() => { let e = document.activeElement; while (e && e.shadowRoot && e.shadowRoot.activeElement)"
                      " { e = e.shadowRoot.activeElement; } if (e && e.blur) { e.blur(); } }")  # no focus ring
        page.wait_for_timeout(300)
        assert page.evaluate(HIGHLIGHTS_JS) == [f"{worst.pred}|{worst.true}"] * 3
        expect(panels.first.locator(".ht-cm-head")).to_have_text(f"true {worst.true} → predicted {worst.pred}")
        page.screenshot(path="/tmp/compare-page.png", full_page=True)
        copied = page.evaluate("() => window.location.href")
        again = browser.new_page(viewport=VIEWPORT)
        try:
            again.goto(copied)
            expect(again.locator(".ht-hparams .ht-compare-col")).to_have_count(3, timeout=60_000)
            expect(again.locator(".ht-hparams tr.ht-equal")).to_have_count(equal)
            expect(again.locator(".ht-fold button")).to_contain_text("Hide")
            assert set(curves(again)) == set(drawn)
        finally:
            again.close()
        assert not errors, errors
    finally:
        page.close()
    if UPDATE_DOCS:
        shutil.copyfile("/tmp/compare-page.png", DOCS / "compare-page.png")


def test_compare_of_one_is_one_line_over_the_run_page(
        browser: Any, demo: tuple[ServedPage, list[str], ProjectIndex]) -> None:
    server, (first, _), index = demo
    one = index.runs[first].experiments[2].experiment_id
    page = open_page(browser, f"{server.url}?compare={one}", rows=1)  # the table shows the selection
    try:
        error = page.locator(".ht-run-header .ht-error")
        expect(error).to_have_text("compare: 1 experiment selected; the comparison shows 2 to 10 — "
                                   "select at least two (ctrl-click table rows or brush more points)")
        expect(page.locator(".ht-selected")).to_have_text("1 selected")
    finally:
        page.close()
