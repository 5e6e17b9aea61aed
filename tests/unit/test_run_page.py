"""The run page without a browser: geometry -> ids, table -> highlight, live refresh."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param
import pytest
from bokeh.document import Document

from panel_app.linked.axes import axis_info
from panel_app.linked.density import DENSITY_HIGHLIGHT, bin_points, counts_to_rgba
from panel_app.linked.hit_box_lasso import mask_in_geometry, points_in_polygon
from panel_app.run_page.guard import Guard
from panel_app.run_page.model import RunPageModel
from panel_app.run_page.session import new_run_page
from panel_app.run_page.table import filter_mask, format_cell, sort_order
from panel_app.run_page.view import RunPage
from tests.fakes import FakeRunSource
from workbench_plugin.frames import RunFrames

WHOLE_Y = {"y0": -1e9, "y1": 1e9}


def ids_where(source: FakeRunSource, **params: Any) -> list[str]:
    return [i for i in source.ids
            if all(source.params_of(i)[k] == v for k, v in params.items())]


def rect(x0: float, x1: float, y0: float = -1e9, y1: float = 1e9) -> dict[str, Any]:
    return {"type": "rect", "x0": x0, "x1": x1, "y0": y0, "y1": y1}


# ---- axes and geometry ---------------------------------------------------------------------
def test_axis_kinds_ticks_and_deterministic_jitter() -> None:
    model = RunPageModel(FakeRunSource().frames())
    epochs = model.axes["num_epochs"]
    assert epochs.kind == "categorical"
    assert epochs.ticks == (0.0, 1.0) and epochs.tick_labels == ("6", "12")
    assert (epochs.start, epochs.end) == (-0.5, 1.5)
    assert np.all(np.abs(epochs.values - np.round(epochs.values)) <= 0.25)
    assert len(np.unique(epochs.values)) == 8  # jittered apart
    assert model.axes["alpha"].kind == "log"
    assert model.axes["val_acc"].kind == "linear"
    again = RunPageModel(FakeRunSource().frames())
    np.testing.assert_array_equal(again.axes["num_epochs"].values, epochs.values)


def test_string_and_many_valued_columns() -> None:
    ids = [f"e{i}" for i in range(20)]
    opt = axis_info("opt", "x:opt", pd.Series(["sgd", "adam"] * 10), ids)
    assert opt.kind == "categorical" and opt.tick_labels == ("adam", "sgd")
    lr = axis_info("lr", "x:lr", pd.Series(np.linspace(0.1, 2.0, 20)), ids)
    assert lr.kind == "linear"
    np.testing.assert_array_equal(lr.values, np.linspace(0.1, 2.0, 20))  # no jitter
    many_ints = axis_info("n", "x:n", pd.Series(range(20)), ids)
    assert many_ints.kind == "linear"


def test_rect_selects_a_categorical_column() -> None:
    source = FakeRunSource()
    model = RunPageModel(source.frames())
    hits = model.ids_in_geometry(rect(-0.45, 0.45), "num_epochs", "val_acc")
    assert hits == ids_where(source, num_epochs=6)
    assert len(hits) == 4


def test_rect_in_data_units_on_a_log_axis() -> None:
    source = FakeRunSource()
    model = RunPageModel(source.frames())
    hits = model.ids_in_geometry(rect(10**-2.6, 10**-1.4), "alpha", "val_loss")
    assert hits == ids_where(source, alpha=1e-2)


def test_rect_bounds_in_either_order_and_y_limits() -> None:
    source = FakeRunSource()
    model = RunPageModel(source.frames())
    acc = model.axes["val_acc"].values
    cut = float(np.median(acc))
    hits = model.ids_in_geometry({"type": "rect", "x0": 5, "x1": -5, "y0": 2.0, "y1": cut},
                                 "batch_size", "val_acc")
    assert hits == [i for i, a in zip(model.order, acc, strict=True) if a >= cut]


def test_poly_is_tested_in_log_space_on_log_axes() -> None:
    # Triangle (1e-4, 0) (1, 0) (1e-4, 1): in log10 space its slanted edge passes (1e-2, 0.5).
    poly = {"type": "poly", "x": [1e-4, 1.0, 1e-4], "y": [0.0, 0.0, 1.0]}
    x = np.array([1e-2, 1e-2, 1e-3])
    y = np.array([0.4, 0.7, np.nan])
    assert mask_in_geometry(poly, x, y, x_log=True).tolist() == [True, False, False]
    assert mask_in_geometry(poly, x, y, x_log=False).tolist() == [True, True, False]


def test_poly_selection_through_the_model() -> None:
    source = FakeRunSource()
    model = RunPageModel(source.frames())
    # a lasso around the alpha = 1e-2 group, drawn as a pentagon
    poly = {"type": "poly", "x": [10**-2.7, 10**-1.3, 10**-1.3, 10**-2.0, 10**-2.7],
            "y": [0.0, 0.0, 2.0, 2.5, 2.0]}
    assert model.ids_in_geometry(poly, "alpha", "val_loss") == ids_where(source, alpha=1e-2)


def test_points_in_polygon_square_and_degenerate() -> None:
    px, py = np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0, 1.0])
    inside = points_in_polygon(np.array([0.5, 1.5, 0.2, np.nan]),
                               np.array([0.5, 0.5, 0.9, 0.5]), px, py)
    assert inside.tolist() == [True, False, True, False]
    assert not points_in_polygon(np.array([0.5]), np.array([0.5]), px[:2], py[:2]).any()


def test_nan_metrics_are_never_selected() -> None:
    source = FakeRunSource(finished=3)  # five experiments without metrics
    model = RunPageModel(source.frames())
    hits = model.ids_in_geometry(rect(-10, 10), "num_epochs", "val_acc")
    assert hits == source.ids[:3]


def test_unknown_axis_names_the_known_ones() -> None:
    model = RunPageModel(FakeRunSource().frames())
    with pytest.raises(KeyError, match="'nope': not a hyperparameter or metric.*val_acc"):
        model.ids_in_geometry(rect(0, 1), "nope", "val_acc")


def test_selection_modes() -> None:
    source = FakeRunSource()
    model = RunPageModel(source.frames())
    six = ids_where(source, num_epochs=6)
    small = ids_where(source, batch_size=32)
    model.select_ids(six)
    model.select_ids(small, "append")
    assert model.selection == [i for i in source.ids if i in set(six) | set(small)]
    model.select_ids(small, "subtract")
    assert model.selection == [i for i in six if i not in small]
    with pytest.raises(ValueError, match="selection mode 'xor'"):
        model.select_ids(small, "xor")  # type: ignore[arg-type]


# ---- the page ------------------------------------------------------------------------------
def mask_of(page: RunPage) -> list[int]:
    return [int(v) for v in page.plots.mask.data["mask"]]


def test_table_selection_sends_the_mask_and_moves_the_sliders() -> None:
    source = FakeRunSource()
    page = RunPage(source)
    page.table.selection = [3, 1]
    assert page.model.selection == [source.ids[1], source.ids[3]]
    assert mask_of(page) == [0, 1, 0, 1, 0, 0, 0, 0]
    picked = [source.params_of(source.ids[r]) for r in (1, 3)]
    lo, hi = page.sliders["num_epochs"].value
    labels = page.model.sliders["num_epochs"].labels
    assert {labels[round(lo)], labels[round(hi)]} == {str(p["num_epochs"]) for p in picked}
    assert "2 selected" in page.header.object
    page.clear_button.clicks += 1
    assert page.model.selection == [] and list(page.table.selection) == []
    assert mask_of(page) == [0] * 8
    info = page.model.sliders["val_acc"]
    assert page.sliders["val_acc"].value == (info.start, info.end)


def test_a_click_on_a_bar_selects_its_experiment_and_every_view_follows() -> None:
    source = FakeRunSource()
    page = RunPage(source)
    plots = page.plots
    assert plots.on_bar_tap is not None and plots._bar_tap_js is not None
    assert plots._bar_tap_js.args["ycol"] == "m:val_acc"
    plots.on_bar_tap("val_acc", 3.5)  # bar 3 (the fourth) is centred at 3.5
    assert page.model.selection == [source.ids[3]]
    assert "1 selected" in page.header.object
    assert page.table_panel.rows is not None and page.table_panel.rows.tolist() == [3]
    assert list(page.table.selection) == [3]
    assert page.model.view_state()["selection"] == {"ids": page.model.labels_of([source.ids[3]])}
    epochs = page.model.sliders["num_epochs"]
    lo, hi = page.sliders["num_epochs"].value
    assert epochs.labels[round(lo)] == epochs.labels[round(hi)] == \
        str(source.params_of(source.ids[3])["num_epochs"])
    plots.on_bar_tap("val_acc", 4.0)  # between two bars: nothing
    assert page.model.selection == []
    page.model.bar_metric = "val_loss"  # the browser's test follows the metric shown
    assert plots._bar_tap_js.args["ycol"] == "m:val_loss"


def test_a_click_on_a_dense_bar_chart_selects_its_pixel_column() -> None:
    source = FakeRunSource()
    page = RunPage(source, points_max=4)
    ranks = page.model.data["r:val_acc"]
    best = page.model.order[int(np.argmax(ranks))]
    page.plots.on_bar_tap("val_acc", float(np.max(ranks)))
    assert page.model.selection == [best]
    assert page.plots._bar_tap_js.args["xcol"] == "r:val_acc"
    assert page.model.ids_at_bar("val_acc", 3.0, x_span=(-0.5, 7.5), frame_w=2) == \
        sorted([page.model.order[r] for r in np.flatnonzero(np.abs(ranks - 3.0) <= 2)],
               key=page.model.order.index)


def test_slider_selects_what_lies_inside_and_the_table_follows() -> None:
    source = FakeRunSource()
    page = RunPage(source)
    info = page.model.sliders["num_epochs"]
    six = info.labels.index("6")
    slider = page.sliders["num_epochs"]
    with param.edit_constant(slider):  # what a release of the handles does
        slider.param.update(value=(six, six), value_throttled=(six, six))
    want = ids_where(source, num_epochs=6)
    assert page.model.selection == want
    assert list(page.table.selection) == [source.ids.index(i) for i in want]
    assert page.model.view_state()["selection"] == {"ranges": {"num_epochs": [six, six]}}


def test_geometry_selects_table_rows_and_sends_no_rows() -> None:
    source = FakeRunSource()
    page = RunPage(source)
    doc = Document()
    doc.add_root(page.__panel__().get_root(doc))
    mask = page.plots.mask
    sent: list[Any] = []
    doc.on_change(lambda event: sent.append(event))
    page._on_geometry("num_epochs", "val_acc", rect(-0.45, 0.45))
    six = ids_where(source, num_epochs=6)
    assert page.model.selection == six
    assert list(page.table.selection) == [source.ids.index(i) for i in six]
    # the browser drew these rows itself: the server sent no mask
    assert mask_of(page) == [0] * 8
    assert not [e for e in sent if getattr(e, "model", None) is mask]
    # Clearing must reach the browser although the server-side mask is already empty.
    page.model.clear_selection()
    changes = [e for e in sent if getattr(e, "model", None) is mask]
    assert [e.attr for e in changes] == ["data"]
    assert mask_of(page) == [0] * 8


def test_refresh_appends_rows_and_keeps_the_selection() -> None:
    source = FakeRunSource(finished=4, running=2)
    page = RunPage(source)
    before = list(page.plots.source.data["experiment_id"])
    page.table.selection = [1, 5]
    selected = [before[1], before[5]]
    acc_before = page.plots.source.data["m:val_acc"][5]
    source.advance()
    new_id = source.add_experiment({"batch_size": 128, "num_epochs": 6, "alpha": 1e-3},
                                   state="running", epoch=1)
    assert page.refresh() is True
    data = page.plots.source.data
    assert list(data["experiment_id"]) == [*before, new_id]
    assert data["m:val_acc"][5] > acc_before  # a running experiment logged an epoch
    assert page.model.selection == selected
    assert list(page.table.selection) == [1, 5]
    assert mask_of(page) == [0, 1, 0, 0, 0, 1, 0, 0, 0]
    table = page.table.value
    assert len(table) == 9 and list(table.index) == list(range(9))
    assert table["val_acc"].iloc[5] == page.model.table["val_acc"].iloc[5]
    assert list(table["experiment"]) == [*before, new_id]
    assert list(page.plots.bars.x_range.factors)[-1] == "#8"
    # batch_size gained a category: its axis has three ticks now
    assert page.model.axes["batch_size"].tick_labels == ("32", "64", "128")
    fig = page.plots.scatters[("batch_size", "val_acc")]
    assert list(fig.xgrid[0].ticker.ticks) == [0.0, 1.0, 2.0]
    bottom = page.plots.scatters[("batch_size", page.model.matrix_metrics[-1])]
    assert bottom.xaxis[0].ticker is bottom.xgrid[0].ticker
    assert bottom.xaxis[0].major_label_overrides == {0.0: "32", 1.0: "64", 2.0: "128"}
    assert "9 experiments" in page.header.object
    assert page.refresh() is False  # nothing new


def test_sort_order_is_stable_and_puts_missing_values_last_both_ways() -> None:
    values = np.array([0.5, np.nan, 0.25, 0.5, 1.0])
    assert sort_order(values).tolist() == [2, 0, 3, 4, 1]
    assert sort_order(values, descending=True).tolist() == [4, 0, 3, 2, 1]
    words = np.array(["sgd", None, "adam", "sgd"], dtype=object)
    assert sort_order(words).tolist() == [2, 0, 3, 1]
    assert sort_order(np.array([10, 9, None], dtype=object)).tolist() == [1, 0, 2]  # as numbers


def test_header_filters_compare_numbers_and_match_text() -> None:
    acc = np.array([0.5, np.nan, 0.25, 0.9123])
    assert filter_mask(acc, "> 0.3").tolist() == [True, False, False, True]
    assert filter_mask(acc, "0.9123").tolist() == [False, False, False, True]
    assert filter_mask(acc, "").tolist() == [True] * 4
    words = np.array(["Adam", "sgd", None], dtype=object)
    assert filter_mask(words, "AD").tolist() == [True, False, False]
    assert filter_mask(words, "<img src=x>" * 100).tolist() == [False] * 3
    assert [format_cell(v) for v in (3.0, 0.25, np.nan, None, np.int64(4), "a")] == \
        ["3", "0.25", "", "", "4", "a"]


def test_the_table_sends_one_window_and_marks_the_selection_it_narrows_to() -> None:
    source = FakeRunSource()
    page = RunPage(source)
    panel = page.table_panel
    assert page.table.window["total"] == 8 and len(page.table.window["rows"]) == 8
    sent = page.table.window
    page.table.viewport = [0, 2]  # the browser says where it is: rows it holds already
    assert page.table.window is sent  # are not sent again
    page.table_panel.update()  # live rows: the window the browser shows, rows 0 and 1
    assert (page.table.window["start"], len(page.table.window["rows"])) == (0, 2)
    page.table.viewport = [2, 3]  # the browser scrolled to rows it does not hold
    window = page.table.window
    assert (window["start"], len(window["rows"]), window["scroll"]) == (2, 3, None)
    assert window["rows"][0][0] == page.model.table["#"].iloc[2]
    page._on_geometry("num_epochs", "val_acc", rect(-0.45, 0.45))  # a brush: the rows, at the top
    six = [source.ids.index(i) for i in ids_where(source, num_epochs=6)]
    window = page.table.window
    assert (window["total"], window["start"], window["scroll"]) == (len(six), 0, 0)
    assert window["marks"] == [1] * len(six) and panel.view.tolist() == six
    page.table.sort = {"field": "val_acc", "descending": True}  # a click on the header, twice
    accs = page.model.table["val_acc"].to_numpy()
    assert panel.view.tolist() == sorted(six, key=lambda r: -accs[r])
    page.model.clear_selection()
    assert page.table.window["total"] == 8 and page.table.window["marks"] == [0] * 8
    assert panel.view[0] == int(np.nanargmax(accs))  # still sorted, over every row
    page.table.filters = {"num_epochs": "6"}
    assert panel.view.tolist() == sorted(six, key=lambda r: -accs[r])


def test_live_rows_and_cells_reach_the_window_the_browser_shows_without_moving_it() -> None:
    source = FakeRunSource(finished=4, running=2)
    page = RunPage(source)
    page.table.sort = {"field": "#", "descending": True}  # labels sort in launch order
    assert page.table_panel.view.tolist() == list(range(7, -1, -1))
    page.table.viewport = [1, 4]  # the browser scrolled down a row
    before = page.table.window
    source.advance()
    new_id = source.add_experiment({"batch_size": 64, "num_epochs": 6, "alpha": 1e-3},
                                   state="running", epoch=1)
    assert page.refresh() is True
    window = page.table.window
    assert (window["start"], window["scroll"], window["total"]) == (1, None, 9)
    assert window["version"] != before["version"]  # the browser drops the rows it cached
    assert page.table_panel.view[0] == 8 and page.table.value["experiment"].iloc[8] == new_id
    states = dict(zip(page.model.table["#"], page.model.table["state"], strict=True))
    assert [row[1] for row in window["rows"]] == [states[row[0]] for row in window["rows"]]


def test_a_click_on_a_row_selects_it_and_ctrl_or_shift_extend() -> None:
    source = FakeRunSource()
    page = RunPage(source)
    page.table_panel._on_click({"pos": 2, "ctrl": False, "shift": False})
    assert page.model.selection == [source.ids[2]] and page.table.window["marks"][2] == 1
    page.table_panel._on_click({"pos": 5, "ctrl": True, "shift": False})
    assert page.model.selection == [source.ids[2], source.ids[5]]
    page.table_panel._on_click({"pos": 7, "ctrl": False, "shift": True})
    assert page.model.selection == [source.ids[r] for r in (5, 6, 7)]
    page.table_panel._on_click({"pos": 99, "ctrl": "x"})  # out of range: ignored
    page.table_panel._on_click("nonsense")
    assert page.model.selection == [source.ids[r] for r in (5, 6, 7)]


def test_known_rows_keep_their_place_when_the_source_reorders() -> None:
    source = FakeRunSource()
    frames = source.frames()
    model = RunPageModel(frames)
    model.select_ids([source.ids[2]])
    shuffled = frames.experiments.iloc[::-1].reset_index(drop=True)
    model.update(RunFrames(frames.run_id, shuffled, frames.curves, frames.hparams,
                           frames.metrics, frames.scales, frames.version + 1))
    assert model.order == source.ids
    assert list(model.table["experiment"]) == source.ids
    assert model.selected_rows() == [2]


def test_metric_switch_changes_the_field_not_the_page() -> None:
    page = RunPage(FakeRunSource())
    bars = page.plots.bars
    matrix = page._matrix_holder.objects[0]
    page.metric_select.value = "val_loss"
    assert page.model.bar_metric == "val_loss"
    assert page.plots.bars is bars and page._matrix_holder.objects[0] is matrix
    tops = [r.glyph.top for r in page.plots._bar_renderers]
    assert tops == ["m:val_loss", "m:val_loss"]
    assert bars.yaxis[0].axis_label == "val_loss"


def test_new_metric_rebuilds_the_matrix_once() -> None:
    source = FakeRunSource(metrics=("val_acc",))
    page = RunPage(source)
    assert page.model.matrix_metrics == ["val_acc"]
    source.set_metrics(["val_acc", "val_loss"])
    page.refresh()
    assert page.model.matrix_metrics == ["val_acc", "val_loss"]
    assert ("alpha", "val_loss") in page.plots.scatters
    assert page.metric_select.options == ["val_acc", "val_loss"]


@pytest.mark.parametrize(
    ("grid", "metrics", "finished"),
    [
        ({"x": []}, ("val_acc",), 0),  # empty run
        (None, (), 0),  # no metrics yet
        (None, ("val_acc", "val_loss"), 0),  # metrics all NaN
    ],
    ids=["empty-run", "no-metrics", "nan-metrics"],
)
def test_degenerate_runs_render(grid: dict[str, list[Any]] | None, metrics: tuple[str, ...],
                                finished: int) -> None:
    source = FakeRunSource(grid, metrics=metrics, finished=finished)
    page = RunPage(source)
    root = page.__panel__().get_root()
    assert root is not None
    page.table.selection = []
    page._on_geometry  # noqa: B018 - the handler exists even when no plot uses it
    if page.model.matrix_metrics and page.model.matrix_hparams:
        assert page.model.ids_in_geometry(rect(-10, 10), page.model.matrix_hparams[0],
                                          page.model.matrix_metrics[0]) == []
    source.advance()
    page.refresh()
    page.__panel__().get_root()


def test_first_metric_appears_in_a_run_without_metrics() -> None:
    source = FakeRunSource(metrics=(), finished=0, running=2)
    page = RunPage(source)
    assert page.plots.bars is None and page.metric_select.disabled
    source.set_metrics(["val_acc"])
    source.advance()
    assert page.refresh()
    assert page.plots.bars is not None and not page.metric_select.disabled
    assert page.metric_select.value == "val_acc"
    assert ("num_epochs", "val_acc") in page.plots.scatters


def test_first_experiments_of_an_empty_run_build_the_plots() -> None:
    source = FakeRunSource({"x": []})
    page = RunPage(source)
    assert page.plots.scatters == {} and page.plots.bars is None
    new = source.add_experiment({"x": 3}, state="running", epoch=2)
    assert page.refresh()
    assert ("x", "val_acc") in page.plots.scatters
    assert page.plots.bars is not None
    assert list(page.plots.source.data["experiment_id"]) == [new]


class BrokenSource(FakeRunSource):
    broken = False

    def refresh(self) -> bool:
        if self.broken:
            raise OSError("store unreachable: hdfs://nn:9870")
        return super().refresh()


def run_tick(page: RunPage) -> None:
    """Run the periodic callback once, on a thread of its own (a browser test in the same
    process may leave Playwright's event loop running on this one)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, page._tick()).result()


def test_a_failing_refresh_is_shown_and_the_page_recovers(
        caplog: pytest.LogCaptureFixture) -> None:
    source = BrokenSource(finished=2, running=2)
    page = RunPage(source)
    source.broken = True
    run_tick(page)
    assert "refresh failed: store unreachable" in page.header.object
    assert "run page refresh failed" in caplog.text
    source.broken = False
    source.advance()
    run_tick(page)
    assert "refresh failed" not in page.header.object
    assert page.model.run_frames.version == 1


def test_progress_counts() -> None:
    source = FakeRunSource(finished=3, running=2)
    source.fail(source.ids[7])
    source.refresh()
    counts = RunPageModel(source.frames()).counts()
    assert counts == {"total": 8, "succeeded": 3, "running": 2, "queued": 2, "failed": 1}


def test_dense_mode_draws_images_and_fills_highlight_layers_from_the_mask() -> None:
    source = FakeRunSource()
    page = RunPage(source, points_max=4)  # 8 experiments: "too many" for glyphs
    plots = page.plots
    assert page.model.dense
    assert len(plots.layers) == 3 * 3 + 1  # every scatter cell and the sorted bars
    assert not [r for fig in plots.scatters.values() for r in fig.renderers
                if getattr(r, "data_source", None) is plots.source]  # no glyph per experiment
    for key in plots.layers:
        assert np.count_nonzero(plots._base_images[key].data["image"][0]) > 0, key
    page.table.selection = [0, 2]
    mask = page.model.selection_mask()
    for key, layer in plots.layers.items():
        hl, xcol, ycol, x0, x1, y0, y1, w, h, xlog, ylog = layer[:11]
        want = counts_to_rgba(bin_points(np.asarray(page.model.data[xcol]),
                                         np.asarray(page.model.data[ycol]), mask.astype(bool),
                                         x_range=(x0, x1), y_range=(y0, y1), width=w, height=h,
                                         x_log=xlog, y_log=ylog), DENSITY_HIGHLIGHT)
        assert np.array_equal(hl.data["image"][0], want), key
    assert {k: v for k, v in plots._dense_js.args.items() if k != "layers"} == {
        "mask_src": plots.mask, "points": plots.source}
    page.model.chart = "lines"  # the browser has no curves: the server bins the selected ones
    assert np.count_nonzero(plots.epochs_highlight.data["image"][0]) > 0
    page.model.clear_selection()
    assert all(layer[0].data["image"][0].shape == (1, 1) for layer in plots.layers.values())
    assert plots.epochs_highlight.data["image"][0].shape == (1, 1)


def test_the_model_imports_no_panel_and_no_bokeh() -> None:
    code = ("import sys, panel_app.run_page.model as m; m.RunPageModel; "
            "print(sorted({n.split('.')[0] for n in sys.modules} & {'panel', 'bokeh', 'holoviews'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_guard_nests_and_is_released_on_errors() -> None:
    guard = Guard("setting widgets")
    assert not guard
    with guard:
        with guard:
            assert guard
        assert guard
    assert not guard
    with pytest.raises(RuntimeError), guard:
        raise RuntimeError("boom")
    assert not guard


def test_a_link_to_experiments_selects_them_and_says_what_was_wrong_escaped() -> None:
    source = FakeRunSource()
    picked = [source.ids[5], source.ids[2]]
    page = new_run_page(source, select=picked, problems=["compare: '<b>x</b>' is not an experiment id"])
    assert page.model.selection == [source.ids[2], source.ids[5]]
    assert page.model.view_state()["selection"] == {"ids": page.model.labels_of(page.model.selection)}
    assert "2 selected" in page.header.object
    assert "compare: &#x27;&lt;b&gt;x&lt;/b&gt;&#x27; is not" in page.header.object
    assert "<b>x</b>" not in page.header.object
    page.show_error("")  # what a refresh does: the link's problem stays until the page closes
    assert "compare: &#x27;&lt;b&gt;x&lt;/b&gt;&#x27; is not" in page.header.object
    # a view with a selection of its own wins over the link's experiments
    page = new_run_page(source, select=picked, view={"selection": {"ids": ["#1"]}})
    assert page.model.selection == page.model.ids_of_labels(["#1"])
