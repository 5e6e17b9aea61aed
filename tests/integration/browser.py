"""Driving the run page in Chromium: where Bokeh draws things, what its sources hold, mouse drags.

Pixel positions always come from Bokeh's own views (frame bbox and scales), never hard-coded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests.integration.processes import wait_for

__all__ = ["CELL_JS", "READY_JS", "SELECTED_IDS", "VISIBLE_JS", "column", "dark_pixels", "drag", "frame",
           "hover_cell", "open_page", "row_label", "wait_for"]

VIEWPORT = {"width": 1400, "height": 900}

#: The screen position of cell (t, p) of the ``index``-th figure named ``name`` (a categorical heat map),
#: scrolled into view first.
CELL_JS = """([name, index, t, p]) => {
  const figs = Bokeh.documents[0].all_models;
  const fig = [...figs].filter((m) => m.name === name)[index];
  const view = Bokeh.index.get_one(fig);
  view.el.scrollIntoView({block: "center"});
  const c = view.canvas_view.el.getBoundingClientRect();
  const f = view.frame;
  return [c.left + f.x_scale.compute(fig.x_range.synthetic(p)), c.top + f.y_scale.compute(fig.y_range.synthetic(t))];
}"""

READY_JS = """() => {
  if (!window.Bokeh || Bokeh.documents.length === 0) { return false; }
  const views = [...Bokeh.index.all_views()];
  const plots = views.filter((v) => v.model.name === "bars" ||
                                    (v.model.name || "").startsWith("scatter:"));
  return plots.length > 1 && plots.every((v) => v.is_idle);
}"""

FRAME_JS = """([name, xs, ys]) => {
  const fig = Bokeh.documents[0].get_model_by_name(name);
  const view = Bokeh.index.get_one(fig);
  const c = view.canvas_view.el.getBoundingClientRect();
  const f = view.frame;
  return {
    left: c.left + f.bbox.left, top: c.top + f.bbox.top,
    width: f.bbox.width, height: f.bbox.height,
    sx: xs.map((x) => c.left + f.x_scale.compute(x)),
    sy: ys.map((y) => c.top + f.y_scale.compute(y)),
  };
}"""

COLUMN_JS = """([name, column]) => {
  if (!window.Bokeh || Bokeh.documents.length === 0) { return null; }
  const model = Bokeh.documents[0].get_model_by_name(name);
  if (model == null) { return null; }  // not drawn (yet)
  const source = model.data_source ?? model;
  const d = source.data;
  const col = d instanceof Map ? d.get(column) : d[column];
  return col == null ? null : Array.from(col);
}"""

#: Whether the plot named (a figure's ``name``) is on screen (not hidden by the chart switch).
VISIBLE_JS = """(name) => {
  const fig = Bokeh.documents[0].get_model_by_name(name);
  const view = fig == null ? null : Bokeh.index.get_one(fig);
  if (view == null) { return false; }
  const r = view.el.getBoundingClientRect();
  return r.width > 0 && r.height > 0;
}"""

SELECTED_IDS = ".ht-row.ht-row-selected .ht-cell[data-field='experiment']"


def open_page(browser: Any, url: str, rows: int, *, plots: bool = True) -> Page:
    """Open the run page and wait for its table (and, with ``plots``, for every plot drawn; a
    batch that has reported no metrics yet has no plots to wait for)."""
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    if plots:
        page.wait_for_function(READY_JS, timeout=60_000)
    expect(page.locator(".ht-row")).to_have_count(rows, timeout=60_000)
    assert not errors, errors
    return page


def row_label(page: Page, label: str) -> Any:
    """The table cell of an experiment's label ("#3"), to click."""
    return page.locator(".ht-cell[data-field='#']").get_by_text(label, exact=True)


def column(page: Page, model_name: str, name: str) -> list[Any]:
    return page.evaluate(COLUMN_JS, [model_name, name])


def frame(page: Page, plot: str, xs: Sequence[float] = (),
          ys: Sequence[float] = ()) -> dict[str, Any]:
    return page.evaluate(FRAME_JS, [plot, list(xs), list(ys)])


def dark_pixels(page: Page, plot: str) -> int:
    """Pixels inside the plot frame as dark as the highlight rings (#111)."""
    f = frame(page, plot)
    png = page.screenshot(clip={"x": f["left"], "y": f["top"], "width": f["width"],
                                "height": f["height"]})
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return int(np.count_nonzero(rgb.max(axis=2) < 70))


def drag(page: Page, points: list[tuple[float, float]]) -> None:
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def hover_cell(page: Page, name: str, t: str, p: str, index: int = 0) -> None:
    """Move the mouse over cell (``t``, ``p``) of the ``index``-th heat map named ``name``."""
    x, y = page.evaluate(CELL_JS, [name, index, t, p])
    page.mouse.move(x, y)
