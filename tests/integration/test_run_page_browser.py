"""The run page in real Chromium against a real Panel server on 127.0.0.1.

Selections are made with the mouse (Playwright drags and clicks); pixel positions come from
Bokeh's own views (frame bbox and scales), never hard-coded.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from panel_app.linked.density import DENSITY_HIGHLIGHT, bin_points, counts_to_rgba
from panel_app.server import ServedPage, serve_run_page
from tests.fakes import FakeRunSource
from tests.integration.browser import (
    SELECTED_IDS,
    column,
    dark_pixels,
    drag,
    frame,
    open_page,
    row_label,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]


def ids_where(source: FakeRunSource, **params: Any) -> list[str]:
    return [i for i in source.ids
            if all(source.params_of(i)[k] == v for k, v in params.items())]


# ---- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def source() -> FakeRunSource:
    return FakeRunSource()  # 8 experiments, all finished: batch_size x num_epochs x alpha


@pytest.fixture(scope="module")
def served(source: FakeRunSource) -> Iterator[ServedPage]:
    with serve_run_page(source, refresh_ms=1000) as server:
        yield server


@pytest.fixture(scope="module")
def page(browser: Any, served: ServedPage) -> Iterator[Page]:
    page = open_page(browser, served.url, rows=8)
    yield page
    page.close()


@pytest.fixture()
def cleared(page: Page, served: ServedPage) -> Page:
    page.get_by_role("button", name="Clear selection").click()
    expect(page.locator(".ht-row-selected")).to_have_count(0)
    wait_for(lambda: column(page, "runpage-highlight", "experiment_id") == [], what="clear")
    return page


# ---- tests ---------------------------------------------------------------------------------
def test_server_starts_on_a_free_port_and_stops_cleanly() -> None:
    served = serve_run_page(FakeRunSource(), port=0)
    try:
        assert served.address == "127.0.0.1" and served.port > 0
        url = f"{served.url}static/js/bokeh.min.js"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    finally:
        served.stop()
    assert not served.thread.is_alive()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", served.port), timeout=2):
        pass


def test_box_select_highlights_other_plots_and_table(
        cleared: Page, served: ServedPage, source: FakeRunSource) -> None:
    page = cleared
    expected = ids_where(source, num_epochs=6)
    assert len(expected) == 4
    other = "scatter:alpha:val_loss"
    dark_before = dark_pixels(page, other)

    # drag a box over the whole num_epochs = 6 column (categorical position 0, jitter < 0.25)
    f = frame(page, "scatter:num_epochs:val_acc", xs=[-0.45, 0.45])
    top, bottom = f["top"] + 2, f["top"] + f["height"] - 2
    (x0, x1) = f["sx"]
    drag(page, [(x0, top), ((x0 + x1) / 2, (top + bottom) / 2), (x1, bottom)])

    # (1) another plot's highlight renderer draws exactly those experiments ...
    wait_for(lambda: sorted(column(page, f"highlight:{other.split(':', 1)[1]}",
                                   "experiment_id")) == expected, what="highlight in " + other)
    assert sorted(column(page, "highlight:bars", "experiment_id")) == expected
    # ... and the rings are on screen
    wait_for(lambda: dark_pixels(page, other) > dark_before + 150, what="rings painted")

    # (2) exactly those rows are selected in the table
    selected = page.locator(SELECTED_IDS)
    expect(selected).to_have_count(4)
    assert sorted(selected.all_inner_texts()) == expected
    expect(page.locator(".ht-selected")).to_have_text("4 selected")

    # the tools select nothing themselves: the shared source's selection stays empty
    assert page.evaluate("() => Bokeh.documents[0].get_model_by_name('runpage-source')"
                         ".selected.indices.length") == 0
    # the server computed the same ids from the geometry alone; no rows were sent to it
    run_page = served.live_pages()[-1]
    assert run_page.model.selection == expected
    assert len(run_page.plots.highlight.data["experiment_id"]) == 0


def test_lasso_on_a_log_axis(cleared: Page, served: ServedPage, source: FakeRunSource) -> None:
    page = cleared
    expected = ids_where(source, alpha=1e-2)
    page.locator("[title='Lasso Select']").first.click()
    try:
        f = frame(page, "scatter:alpha:val_loss", xs=[10**-2.7, 10**-1.3])
        left, right = f["sx"]
        top, bottom = f["top"] + 3, f["top"] + f["height"] - 3
        drag(page, [(left, top), (right, top), (right, bottom), (left, bottom), (left, top + 4)])
        wait_for(lambda: sorted(column(page, "highlight:batch_size:train_acc",
                                       "experiment_id")) == expected, what="lasso highlight")
        selected = page.locator(SELECTED_IDS)
        expect(selected).to_have_count(4)
        assert sorted(selected.all_inner_texts()) == expected
        assert served.live_pages()[-1].model.selection == expected
    finally:
        page.locator("[title='Box Select']").first.click()


def test_table_rows_select_points_and_clear_empties(
        cleared: Page, served: ServedPage, source: FakeRunSource) -> None:
    page = cleared
    row_label(page, "#2").click()
    row_label(page, "#5").click(modifiers=["Control"])
    expected = [source.ids[2], source.ids[5]]
    wait_for(lambda: column(page, "runpage-highlight", "experiment_id") == expected,
             what="highlight from table rows")
    assert column(page, "highlight:num_epochs:val_acc", "experiment_id") == expected
    assert served.live_pages()[-1].model.selection == expected
    expect(page.locator(".ht-row-selected")).to_have_count(2)

    page.get_by_role("button", name="Clear selection").click()
    wait_for(lambda: column(page, "runpage-highlight", "experiment_id") == [], what="clear")
    expect(page.locator(".ht-row-selected")).to_have_count(0)
    assert served.live_pages()[-1].model.selection == []


def test_each_session_has_its_own_selection(
        browser: Any, cleared: Page, served: ServedPage, source: FakeRunSource) -> None:
    other = open_page(browser, served.url, rows=8)
    try:
        row_label(cleared, "#3").click()
        wait_for(lambda: column(cleared, "runpage-highlight", "experiment_id") == [source.ids[3]],
                 what="selection in the first tab")
        time.sleep(0.5)
        assert column(other, "runpage-highlight", "experiment_id") == []
        expect(other.locator(".ht-row-selected")).to_have_count(0)
        pages = served.live_pages()
        assert len({id(p) for p in pages}) == len(pages) >= 2
        assert [p.model.selection for p in pages[-2:]] == [[source.ids[3]], []]
    finally:
        other.close()


def test_metric_switch_keeps_the_page(cleared: Page) -> None:
    page = cleared
    page.evaluate("() => { window.__same_page = true; }")
    select = page.locator("select").first
    select.select_option("val_loss")
    wait_for(lambda: page.evaluate(
        "() => Bokeh.documents[0].get_model_by_name('base:bars').glyph.top.field")
        == "m:val_loss", what="bar metric")
    assert page.evaluate("() => window.__same_page === true")
    select.select_option("val_acc")


def test_running_experiments_appear_without_reload(browser: Any) -> None:
    source = FakeRunSource(finished=4, running=2)
    with serve_run_page(source, refresh_ms=300, check_unused_sessions_milliseconds=200,
                        unused_session_lifetime_milliseconds=200) as served:
        page = open_page(browser, served.url, rows=8)
        try:
            page.evaluate("() => { window.__same_page = true; }")
            row_label(page, "#1").click()
            running = source.ids[4]
            acc_before = column(page, "runpage-source", "m:val_acc")[4]

            source.advance()
            new_id = source.add_experiment({"batch_size": 64, "num_epochs": 6, "alpha": 1e-3},
                                           state="running", epoch=1)
            wait_for(lambda: column(page, "runpage-source", "experiment_id")[-1:] == [new_id],
                     timeout=5, what="new experiment in the browser")
            expect(page.locator(".ht-row")).to_have_count(9, timeout=5_000)
            expect(row_label(page, "#8")).to_have_count(1)
            expect(page.locator(".ht-run-header")).to_contain_text("9 experiments")
            assert column(page, "runpage-source", "m:val_acc")[4] > acc_before, running
            assert page.evaluate("() => window.__same_page === true")  # no reload
            # the selection survived the refresh
            expect(page.locator(SELECTED_IDS)).to_have_text([source.ids[1]])
            assert column(page, "runpage-highlight", "experiment_id") == [source.ids[1]]
        finally:
            page.close()
        # the session's periodic callback stops with the session
        wait_for(lambda: not served.live_pages() or served.live_pages()[-1]._callback is None,
                 timeout=10, what="session destroyed")
        calls = source.refresh_calls
        time.sleep(1.0)
        assert source.refresh_calls == calls


IMAGE_JS = """(name) => {
  const m = Bokeh.documents[0].get_model_by_name(name);
  const d = m.data;
  const img = (d instanceof Map ? d.get("image") : d.image)[0];
  return {shape: Array.from(img.shape ?? []), pixels: Array.from(img)};
}"""


def test_dense_mode_bins_the_highlight_in_the_browser(browser: Any) -> None:
    """Above ``points_max`` experiments the plots are density images: a box select makes the
    browser bin the selected experiments into every plot's highlight image (the same pixels
    as numpy bins them), and the server only follows with the table."""
    source = FakeRunSource()
    with serve_run_page(source, refresh_ms=1000, page_options={"points_max": 4}) as served:
        page = open_page(browser, served.url, rows=8)
        try:
            f = frame(page, "scatter:num_epochs:val_acc", xs=[-0.45, 0.45])
            top, bottom = f["top"] + 2, f["top"] + f["height"] - 2
            x0, x1 = f["sx"]
            drag(page, [(x0, top), ((x0 + x1) / 2, (top + bottom) / 2), (x1, bottom)])
            expected = ids_where(source, num_epochs=6)
            selected = page.locator(SELECTED_IDS)
            expect(selected).to_have_count(4)
            assert sorted(selected.all_inner_texts()) == expected
            run_page = served.live_pages()[-1]
            mask = run_page.model.selection_mask().astype(bool)
            assert [run_page.model.order[i] for i in np.flatnonzero(mask)] == expected
            for key, layer in run_page.plots.layers.items():
                hl, xcol, ycol, a, b, c, d, w, h, xlog, ylog = layer[:11]
                want = counts_to_rgba(bin_points(
                    np.asarray(run_page.model.data[xcol]), np.asarray(run_page.model.data[ycol]),
                    mask, x_range=(a, b), y_range=(c, d), width=w, height=h, x_log=xlog,
                    y_log=ylog), DENSITY_HIGHLIGHT)
                shown = page.evaluate(IMAGE_JS, hl.name)
                assert shown["shape"] == [h, w], key
                assert shown["pixels"] == want.ravel().tolist(), key
                assert hl.data["image"][0].shape == (1, 1)  # binned in the browser, not sent
        finally:
            page.close()


def test_click_picks_the_point_under_the_mouse(
        cleared: Page, served: ServedPage, source: FakeRunSource) -> None:
    page = cleared
    target = source.ids[5]
    xs = column(page, "runpage-source", "x:alpha")
    ys = column(page, "runpage-source", "m:val_loss")
    row = column(page, "runpage-source", "experiment_id").index(target)
    f = frame(page, "scatter:alpha:val_loss", xs=[xs[row]], ys=[ys[row]])
    page.mouse.click(f["sx"][0] + 2, f["sy"][0] - 1)  # a couple of pixels off the centre
    wait_for(lambda: column(page, "highlight:alpha:val_acc", "experiment_id") == [target],
             what="the clicked experiment highlighted in another plot")
    expect(page.locator(SELECTED_IDS)).to_have_text([target])
    expect(page.locator(".ht-selected")).to_have_text("1 selected")  # the server followed
    # a click on empty space (the frame spot farthest from every point) selects nothing
    pts = frame(page, "scatter:alpha:val_loss", xs=xs, ys=ys)
    spots = [(f["left"] + f["width"] * i / 8, f["top"] + f["height"] * j / 8)
             for i in range(1, 8) for j in range(1, 8)]
    empty = max(spots, key=lambda p: min((p[0] - x) ** 2 + (p[1] - y) ** 2
                                         for x, y in zip(pts["sx"], pts["sy"], strict=True)))
    page.mouse.click(*empty)
    try:
        wait_for(lambda: column(page, "runpage-highlight", "experiment_id") == [], timeout=10,
                 what="cleared by a miss")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {column(page, 'runpage-highlight', 'experiment_id')} "
                             f"{empty} {f} {pts}") from exc
    expect(page.locator(".ht-selected")).to_have_text("0 selected")


def test_slider_release_selects_and_other_sliders_follow(
        cleared: Page, served: ServedPage, source: FakeRunSource) -> None:
    page = cleared
    handle = page.locator(".ht-slider-num_epochs .noUi-handle-upper")
    box = handle.bounding_box()
    track = page.locator(".ht-slider-num_epochs .noUi-base").bounding_box()
    assert box is not None and track is not None
    drag(page, [(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2),
                (track["x"] + 2, box["y"] + box["height"] / 2)])  # upper handle down to 6
    expected = ids_where(source, num_epochs=6)
    wait_for(lambda: sorted(column(page, "runpage-highlight", "experiment_id")) == expected,
             what="experiments with num_epochs = 6 highlighted")
    expect(page.locator(".ht-selected")).to_have_text("4 selected")
    # the batch_size slider shows the selection's span (both values occur among the four)
    assert page.locator(".ht-slider-batch_size .bk-slider-title").inner_text().endswith("32 .. 64")
    [run_page] = [p for p in served.live_pages() if p.model.selection == expected]
    assert run_page.model.view_state()["selection"]["ranges"]["num_epochs"][1] < 0.5


BAR_JS = """([i]) => {
  const fig = Bokeh.documents[0].get_model_by_name("bars");
  const view = Bokeh.index.get_one(fig);
  const c = view.canvas_view.el.getBoundingClientRect();
  const f = view.frame;
  return {x: c.left + f.x_scale.compute(i + 0.5),
          y: c.top + f.bbox.top + f.bbox.height - 3};
}"""


def test_click_on_a_bar_selects_its_experiment(
        cleared: Page, served: ServedPage, source: FakeRunSource) -> None:
    page = cleared
    other = "scatter:alpha:val_loss"
    dark_before = dark_pixels(page, other)
    target = source.ids[2]
    row = column(page, "runpage-source", "experiment_id").index(target)
    spot = page.evaluate(BAR_JS, [row])
    page.mouse.click(spot["x"], spot["y"])  # at the foot of the bar (any height in its column)
    wait_for(lambda: column(page, "highlight:alpha:val_loss", "experiment_id") == [target],
             what="the clicked bar's experiment highlighted in a scatter plot")
    wait_for(lambda: dark_pixels(page, other) > dark_before + 20, what="ring painted")
    expect(page.locator(SELECTED_IDS)).to_have_text([target])
    expect(page.locator(".ht-row")).to_have_count(1)  # the table shows the selection
    expect(page.locator(".ht-selected")).to_have_text("1 selected")
    assert column(page, "highlight:bars", "experiment_id") == [target]
    assert [p for p in served.live_pages() if p.model.selection == [target]]  # the server's
    # the sliders follow: num_epochs shows the one value of the experiment
    epochs = source.params_of(target)["num_epochs"]
    title = page.locator(".ht-slider-num_epochs .bk-slider-title").inner_text()
    assert title.rstrip(". ").endswith(str(epochs)), title


def test_click_on_a_dense_bar_chart_selects_the_experiment_drawn_there(browser: Any) -> None:
    """Dense mode: the bars are a density image of the experiments sorted by the metric; a
    click selects the experiment(s) of that pixel column, binned into every highlight image."""
    source = FakeRunSource()
    with serve_run_page(source, refresh_ms=1000, page_options={"points_max": 4}) as served:
        page = open_page(browser, served.url, rows=8)
        try:
            run_page = served.live_pages()[-1]
            ranks = np.asarray(run_page.model.data["r:val_acc"])
            target = run_page.model.order[int(np.flatnonzero(ranks == 2)[0])]
            f = frame(page, "bars", xs=[2.0])  # the chart runs past the viewport's right edge
            page.mouse.click(f["sx"][0], f["top"] + f["height"] - 4)
            expect(page.locator(SELECTED_IDS)).to_have_text([target])
            expect(page.locator(".ht-selected")).to_have_text("1 selected")
            assert run_page.model.selection == [target]
            hl = run_page.plots.layers[("alpha", "val_loss")].source.name
            wait_for(lambda: any(page.evaluate(IMAGE_JS, hl)["pixels"]),
                     what="the scatter plots' highlight images show it")
        finally:
            page.close()
