"""Linked Bokeh views over one shared ColumnDataSource, highlighted in the browser.

Every highlight on the page is drawn from one ``mask`` source (a byte per experiment):

* a box, lasso or click in a scatter plot, or a click on a bar, sets the mask in the browser
  (``SELECT_JS`` of :mod:`~panel_app.linked.hit_box_lasso`, ``TAP_JS`` and ``BAR_TAP_JS`` of
  :mod:`~panel_app.linked.hit_tap`, with ``sync: false``) and the server receives only the
  geometry or the click point, from which it computes the same experiments with numpy for the
  table and sliders;
* a selection made on the server (table rows, sliders, a note, a link) sends the mask;
* a change of the mask runs ``RENDER_JS`` of :mod:`~panel_app.linked.selection` (glyph mode:
  the highlight sources get the selected rows, drawn on the ``overlay`` level so the base
  glyphs are not repainted) and ``HIGHLIGHT_JS`` of :mod:`~panel_app.linked.density` (dense
  mode: each plot's highlight image is binned from the shared typed arrays).

Glyph mode draws a point or bar per experiment (hover, per-experiment colour); above the
model's ``points_max`` experiments (dense mode, ``model.dense``) the plots are density images
computed on the server once, with the highlight image above them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import numpy as np
from bokeh.core.properties import field
from bokeh.events import DoubleTap, Event, SelectionGeometry, Tap
from bokeh.layouts import gridplot
from bokeh.models import (
    BoxSelectTool,
    CDSView,
    ColumnDataSource,
    CustomJS,
    DataRange1d,
    FactorRange,
    HoverTool,
    LassoSelectTool,
    LayoutDOM,
    LinearScale,
    LogScale,
    PanTool,
    Range1d,
    ResetTool,
    Scatter,
    WheelZoomTool,
)
from bokeh.models.annotations.geometry import AreaVisuals, BoxInteractionHandles
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from panel_app.linked.axes import AxisInfo
from panel_app.linked.density import (
    DENSITY_BASE,
    DENSITY_HIGHLIGHT,
    HIGHLIGHT_JS,
    IMAGE_H,
    IMAGE_W,
    DensityLayer,
    add_density_layers,
    bin_points,
    counts_to_rgba,
    image_data,
)
from panel_app.linked.figures import (
    axis_range,
    bar_labels,
    categorical_ticks,
    fit_ticks,
    follow_range,
    style_chart,
    style_scatter_axes,
    tick_holders,
    tooltips,
)
from panel_app.linked.hit_box_lasso import SELECT_JS
from panel_app.linked.hit_tap import BAR_HALF_WIDTH, BAR_TAP_JS, CELL_JS, TAP_JS, TAP_RADIUS
from panel_app.linked.selection import HIGHLIGHT_LINE, RENDER_JS, rows_of

__all__ = ["BarTapHandler", "GeometryHandler", "LinkedPlots", "PlotModel", "TapHandler"]

GeometryHandler = Callable[[str, str, Mapping[str, Any]], None]
TapHandler = Callable[[str, str, float, float], None]
#: A click on the bar chart of a metric at x (bar ``i`` at ``i + 0.5``; a rank when dense).
BarTapHandler = Callable[[str, float], None]


class PlotModel(Protocol):
    """What the plots read of a page's model (a run page's ``RunPageModel``)."""

    order: list[str]
    data: dict[str, Any]
    axes: dict[str, AxisInfo]
    matrix_hparams: list[str]
    matrix_metrics: list[str]
    bar_metric: str | None

    @property
    def dense(self) -> bool: ...

    def highlight_data(self) -> dict[str, Any]: ...

    def lines_data(self, metric: str | None) -> dict[str, Any]: ...

    def selection_mask(self) -> np.ndarray: ...

    def curve_arrays(self, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def _no_lines() -> dict[str, list[Any]]:
    return {k: [] for k in ("xs", "ys", "experiment_id", "label", "color", "state")}


def _share_tickers(rows: list[list[Any]]) -> None:
    """One x ticker per column and one y ticker per row of a scatter matrix (its cells show the
    same axes), where the cells' own are alike: fewer models, the same ticks."""
    def alike(a: Any, b: Any) -> bool:
        return type(a) is type(b) and a.properties_with_values(include_defaults=False) == \
            b.properties_with_values(include_defaults=False)

    columns = [list(col) for col in zip(*rows, strict=True)]
    for lines, dim in ((columns, 0), (rows, 1)):
        for line in lines:
            first = next((h.ticker for h in tick_holders(line[0], dim) if h.ticker is not None), None)
            for fig in line[1:]:
                for h in tick_holders(fig, dim):
                    if h.ticker is not first and h.ticker is not None and alike(h.ticker, first):
                        h.ticker = first


class LinkedPlots:
    """One session's Bokeh models: the scatter matrix, the bar chart and the epoch lines.

    All highlight layers are drawn in the browser from one ``mask`` source (a byte per
    experiment) by :data:`RENDER_JS`; the server changes the mask only when the selection
    came from somewhere the browser did not compute it.
    """

    def __init__(self, model: PlotModel, on_geometry: GeometryHandler, on_tap: TapHandler, *,
                 matrix_size: tuple[int, int] = (820, 600),
                 bars_size: tuple[int, int] = (540, 260),
                 on_bar_tap: BarTapHandler | None = None) -> None:
        self.model = model
        self.on_geometry = on_geometry
        self.on_tap = on_tap
        self.on_bar_tap = on_bar_tap
        #: The bar chart's click test in the browser (its columns follow the metric shown).
        self._bar_tap_js: CustomJS | None = None
        self.matrix_size = matrix_size
        self.bars_size = bars_size
        self.source = ColumnDataSource(data=self._plot_data(), name="runpage-source")
        self.highlight = ColumnDataSource(data=model.highlight_data(), name="runpage-highlight")
        #: Per-experiment epoch lines: filled when the lines chart is first built (most pages
        #: never show it, and a row of lines per experiment is most of a small page's bytes).
        self.lines = ColumnDataSource(data=_no_lines(), name="runpage-lines")
        self.lines_highlight = ColumnDataSource(data={k: [] for k in self.lines.data},
                                                name="runpage-lines-highlight")
        self.mask = ColumnDataSource(data={"mask": model.selection_mask()}, name="runpage-mask")
        #: The scatter renderers' views of ``source`` and ``highlight`` (shared, all rows).
        self._views = (CDSView(), CDSView())
        self.mask.js_on_change("data", CustomJS(
            args={"mask": self.mask,
                  "pairs": [[self.source, self.highlight], [self.lines, self.lines_highlight]]},
            code=RENDER_JS))
        #: Dense mode: per plot, the highlight layer the browser bins (see ``density.py``).
        self.layers: dict[Any, DensityLayer] = {}
        self._base_images: dict[Any, Any] = {}
        self.epochs_highlight = ColumnDataSource(data={"image": [], "x": [], "y": [], "dw": [],
                                                       "dh": []}, name="runpage-epochs-highlight")
        self._epochs_place: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._dense_js = CustomJS(args={"mask_src": self.mask, "points": self.source,
                                        "layers": []}, code=HIGHLIGHT_JS)
        self.mask.js_on_change("data", self._dense_js)
        self.x_ranges: dict[str, Range1d] = {}
        self.y_ranges: dict[str, Range1d] = {}
        self.scatters: dict[tuple[str, str], Any] = {}
        self.bars: Any = None
        self.epochs: Any = None
        self._bar_renderers: list[GlyphRenderer] = []
        self._line_metric: str | None = model.bar_metric
        #: The scatter matrix's cells by figure id: x and y columns, log or not (``CELL_JS``).
        self._cells: dict[str, list[Any]] = {}
        self._select_js = CustomJS()
        self._tap_js = CustomJS()
        self._box_handles: BoxInteractionHandles | AreaVisuals | None = None
        self._scales: dict[bool, LinearScale | LogScale] = {False: LinearScale(), True: LogScale()}

    def _plot_data(self) -> dict[str, Any]:
        """What the browser gets of the model's ``data``: all of it for glyphs; only the
        numeric columns (typed arrays, no strings) for density images and highlight layers."""
        data = self.model.data
        if not self.model.dense:
            return dict(data)
        return {k: v for k, v in data.items() if isinstance(v, np.ndarray)}

    # ---- scatter matrix --------------------------------------------------------------------
    def build_matrix(self) -> LayoutDOM | None:
        """The hyperparameter x metric grid, or None when there is nothing to plot yet."""
        model = self.model
        hparams, metrics = model.matrix_hparams, model.matrix_metrics
        self.scatters = {}
        self.x_ranges, self.y_ranges = {}, {}
        for key in [k for k in self.layers if isinstance(k, tuple)]:
            del self.layers[key], self._base_images[key]
        if not hparams or not metrics or not model.order:
            return None
        width, height = self.matrix_size
        self._cells = {}
        self._select_js = CustomJS(code=CELL_JS + SELECT_JS)
        self._tap_js = CustomJS(code=CELL_JS + TAP_JS)
        self._box_handles = None
        self._scales = {False: LinearScale(), True: LogScale()}
        fw = max(110, min(260, int((width - 90) / len(hparams)) - 12))
        fh = max(90, min(215, int((height - 70) / len(metrics)) - 12))
        for h in hparams:
            self.x_ranges[h] = axis_range(model.axes[h])
        for m in metrics:
            self.y_ranges[m] = axis_range(model.axes[m])
        rows = []
        for r, m in enumerate(metrics):
            row = []
            for c, h in enumerate(hparams):
                row.append(self._scatter(h, m, fw, fh, left=c == 0, bottom=r == len(metrics) - 1))
            rows.append(row)
        _share_tickers(rows)
        cells = dict(self._cells)
        self._select_js.args = {"src": self.source, "mask": self.mask, "cells": cells}
        self._tap_js.args = {"src": self.source, "mask": self.mask, "cells": cells,
                             "radius": TAP_RADIUS}
        self._sync_layers()
        return gridplot(rows, toolbar_location="right", merge_tools=True)

    def _scatter(self, h: str, m: str, fw: int, fh: int, *, left: bool, bottom: bool) -> Any:
        ax, ay = self.model.axes[h], self.model.axes[m]
        box = BoxSelectTool(renderers=[], persistent=False)
        overlay: Any = box.overlay
        if self._box_handles is None:  # the same look in every cell: one model
            self._box_handles = overlay.handles
        overlay.handles = self._box_handles
        lasso = LassoSelectTool(renderers=[], persistent=False)
        # an inner cell has no axes in its layout (nor a title): axes hidden there would still
        # be models the browser builds views for and measures the labels of; its grids hold
        # their ticker themselves (:func:`~panel_app.linked.figures.style_scatter_axes`)
        fig = figure(
            name=f"scatter:{h}:{m}",
            frame_width=fw, frame_height=fh,
            x_range=self.x_ranges[h], y_range=self.y_ranges[m],
            x_axis_type="log" if ax.kind == "log" else "linear",
            y_axis_type="log" if ay.kind == "log" else "linear",
            x_axis_location="below" if bottom else None,
            y_axis_location="left" if left else None,
            title=None,
            tools=[],
            toolbar_location=None,
            min_border_left=8, min_border_right=8, min_border_top=8, min_border_bottom=8,
        )
        for grid in fig.grid:
            assert grid.axis is not None  # figure() makes each grid from its axis
            grid.update(ticker=grid.axis.ticker, axis=None)
        # one scale model per kind for all cells (the browser derives each frame's own)
        fig.x_scale = self._scales[ax.kind == "log"]
        fig.y_scale = self._scales[ay.kind == "log"]
        # added after: ``figure(tools=...)`` compares every pair of tools' properties
        fig.add_tools(box, lasso, PanTool(), WheelZoomTool(), ResetTool())
        fig.toolbar.active_drag = box
        fig.toolbar.logo = None
        if self.model.dense:
            self._density(fig, (h, m), ax.column, ay.column, self.x_ranges[h], self.y_ranges[m],
                          ax.kind == "log", ay.kind == "log")
        else:
            # one glyph model per renderer (the browser derives the selection, nonselection
            # and muted glyphs itself) and one view per source: a third of the models
            # ``fig.scatter`` makes, for the same picture
            base = fig.add_glyph(self.source, Scatter(
                x=field(ax.column), y=field(ay.column), size=8, fill_color=field("color"),
                line_color="white", line_width=0.6, fill_alpha=0.9),
                view=self._views[0], name=f"base:{h}:{m}")
            fig.add_glyph(self.highlight, Scatter(
                x=field(ax.column), y=field(ay.column), size=12, fill_color=field("color"),
                line_color=HIGHLIGHT_LINE, line_width=2),
                view=self._views[1], level="overlay", name=f"highlight:{h}:{m}")
            fig.add_tools(HoverTool(renderers=[base], tooltips=tooltips(h, m)))
        style_scatter_axes(fig, ax, ay, left=left, bottom=bottom)
        # one hit test and one click test for all cells (see ``CELL_JS``)
        self._cells[fig.id] = [ax.column, ay.column, ax.kind == "log", ay.kind == "log"]
        fig.js_on_event("selectiongeometry", self._select_js)
        # a second click soon after the first (elsewhere) arrives as a double tap
        fig.js_on_event("tap", self._tap_js)
        fig.js_on_event("doubletap", self._tap_js)

        def on_geometry(event: Event) -> None:
            if isinstance(event, SelectionGeometry) and event.final:
                self.on_geometry(h, m, event.geometry or {})

        def on_tap(event: Event) -> None:
            if isinstance(event, Tap | DoubleTap) and event.x is not None and event.y is not None:
                self.on_tap(h, m, float(event.x), float(event.y))

        fig.on_event(SelectionGeometry, on_geometry)
        fig.on_event(Tap, on_tap)
        fig.on_event(DoubleTap, on_tap)
        self.scatters[(h, m)] = fig
        return fig

    # ---- density images (dense mode) ------------------------------------------------------
    def _density(self, fig: Any, key: Any, xcol: str, ycol: str, xr: Any, yr: Any,
                 xlog: bool, ylog: bool) -> None:
        """Base image of every experiment and a highlight layer binned in the browser."""
        place = ((float(xr.start), float(xr.end)), (float(yr.start), float(yr.end)))
        layer = DensityLayer(None, xcol, ycol, *place[0], *place[1], IMAGE_W, IMAGE_H, xlog, ylog)
        hl = add_density_layers(fig, x_range=place[0], y_range=place[1],
                                base_rgba=counts_to_rgba(layer.counts(self.model.data, None),
                                                         DENSITY_BASE),
                                x_log=xlog, y_log=ylog)
        hl.name = f"density-highlight:{key if isinstance(key, str) else ':'.join(key)}"
        self._base_images[key] = cast(GlyphRenderer, fig.renderers[-2]).data_source
        self.layers[key] = layer._replace(source=hl)

    def _epochs_counts(self, rows_mask: np.ndarray | None) -> np.ndarray:
        """Every curve point of the shown metric (or of the masked experiments), binned."""
        assert self._epochs_place is not None and self._line_metric is not None
        (x0, x1), (y0, y1) = self._epochs_place
        rows, xs, ys = self.model.curve_arrays(self._line_metric)
        keep = None if rows_mask is None else rows_mask[rows]
        return bin_points(xs, ys, keep, x_range=(x0, x1), y_range=(y0, y1), width=IMAGE_W,
                          height=IMAGE_H)

    def _rebin_base(self, key: Any) -> None:
        counts = self.layers[key].counts(self.model.data, None)
        self._base_images[key].data["image"] = [counts_to_rgba(counts, DENSITY_BASE)]

    def _sync_layers(self) -> None:
        self._dense_js.args = {"mask_src": self.mask, "points": self.source,
                               "layers": [layer.to_js() for layer in self.layers.values()]}

    def _fill_layers(self, mask: np.ndarray) -> None:
        """The highlight images computed here (what ``HIGHLIGHT_JS`` computes in the browser)."""
        sel = np.asarray(mask, dtype=bool)
        for layer in self.layers.values():
            image = counts_to_rgba(layer.counts(self.model.data, sel), layer.color) \
                if sel.any() else None
            layer.source.data = layer.image_data(image)

    def set_epochs_highlight(self, mask: np.ndarray) -> None:
        """Dense mode: the selected experiments' curves, binned here (the browser has no curves)."""
        if self._epochs_place is None or self._line_metric is None:
            return
        sel = np.asarray(mask, dtype=bool)
        image = counts_to_rgba(self._epochs_counts(sel), DENSITY_HIGHLIGHT) if sel.any() else None
        (x0, x1), (y0, y1) = self._epochs_place
        self.epochs_highlight.data = image_data(image, x0, x1, y0, y1)

    def tap_context(self, h: str, m: str) -> dict[str, Any]:
        """What the server needs to repeat a click's hit test: the spans and frame shown."""
        fig = self.scatters[(h, m)]
        xr, yr = self.x_ranges[h], self.y_ranges[m]
        return {"x_span": (float(xr.start), float(xr.end)),  # type: ignore[arg-type]
                "y_span": (float(yr.start), float(yr.end)),  # type: ignore[arg-type]
                "frame": (int(fig.frame_width), int(fig.frame_height))}

    # ---- metric charts ---------------------------------------------------------------------
    def build_bars(self) -> Any:
        """One bar per experiment (x by label) of the model's ``bar_metric``."""
        metric = self.model.bar_metric
        if metric is None or not self.model.order:
            self.bars = None
            return None
        width, height = self.bars_size
        if self.model.dense:
            return self._build_dense_bars(metric)
        labels = list(self.model.data["label"])
        fig = figure(
            name="bars", width=width, height=height,
            x_range=FactorRange(factors=labels, range_padding=0.02),
            y_range=DataRange1d(range_padding=0.06),
            tools="xpan,xwheel_zoom,reset", toolbar_location="right",
            min_border_left=8, min_border_top=8,
        )
        fig.toolbar.logo = None
        col = self.model.axes[metric].column
        base = fig.vbar(x="label", top=col, width=0.8, source=self.source, fill_color="color",
                        line_color=None, fill_alpha=0.9, name="base:bars")
        high = fig.vbar(x="label", top=col, width=0.8, source=self.highlight, fill_alpha=0,
                        line_color=HIGHLIGHT_LINE, line_width=2.5, level="overlay",
                        name="highlight:bars")
        fig.add_tools(HoverTool(renderers=[base], tooltips=tooltips(None, metric)))
        self._bar_renderers = [base, high]
        fig.xgrid.visible = False
        fig.yaxis.axis_label = metric
        style_chart(fig)
        bar_labels(fig, len(labels), self._bar_highlight())
        self._bar_taps(fig, {"xcol": None, "ycol": col, "half": BAR_HALF_WIDTH, "xr": None,
                             "fw": None})
        self.bars = fig
        return fig

    def _bar_taps(self, fig: Any, args: dict[str, Any]) -> None:
        """A click on a bar selects its experiment(s): ``BAR_TAP_JS`` in the browser, the same
        test on the server from the click's x (:meth:`bar_tap_context`)."""
        self._bar_tap_js = CustomJS(args={"src": self.source, "mask": self.mask, **args},
                                    code=BAR_TAP_JS)
        fig.js_on_event("tap", self._bar_tap_js)
        fig.js_on_event("doubletap", self._bar_tap_js)

        def on_tap(event: Event) -> None:
            metric = self.model.bar_metric
            if self.on_bar_tap is not None and metric is not None and \
                    isinstance(event, Tap | DoubleTap) and event.x is not None:
                self.on_bar_tap(metric, float(event.x))

        fig.on_event(Tap, on_tap)
        fig.on_event(DoubleTap, on_tap)

    def bar_tap_context(self) -> dict[str, Any]:
        """What the server needs to repeat a bar click's test: a dense chart's span and width."""
        if self.bars is None or "bars" not in self.layers:
            return {}
        xr = self.bars.x_range
        return {"x_span": (float(xr.start), float(xr.end)), "frame_w": int(self.bars_size[0])}

    def _build_dense_bars(self, metric: str) -> Any:
        """Dense mode: experiments sorted by the metric, one pixel column per ~n/w of them."""
        width, height = self.bars_size
        n = len(self.model.order)
        info = self.model.axes[metric]
        y0 = 0.0 if info.start is None else info.start
        y1 = 1.0 if info.end is None else info.end
        fig = figure(name="bars", width=width, height=height, x_range=Range1d(start=-0.5, end=n - 0.5),
                     y_range=Range1d(start=y0, end=y1), tools="xpan,xwheel_zoom,reset",
                     toolbar_location="right", min_border_left=8, min_border_top=8,
                     x_axis_label=f"experiments, sorted by {metric}", y_axis_label=metric)
        fig.toolbar.logo = None
        self._density(fig, "bars", f"r:{metric}", info.column, fig.x_range, fig.y_range,
                      False, False)
        style_chart(fig)
        self._bar_renderers = []
        self._sync_layers()
        self._bar_taps(fig, {"xcol": f"r:{metric}", "ycol": info.column, "half": 0.5,
                             "xr": fig.x_range, "fw": width})
        self.bars = fig
        return fig

    def _build_dense_epochs(self, metric: str) -> Any:
        width, height = self.bars_size
        _, xs, ys = self.model.curve_arrays(metric)
        finite = np.isfinite(xs) & np.isfinite(ys)
        if finite.any():
            x0, x1 = float(xs[finite].min()), float(xs[finite].max())
            lo, hi = float(ys[finite].min()), float(ys[finite].max())
        else:
            x0, x1, lo, hi = 0.0, 1.0, 0.0, 1.0
        x1 = x1 if x1 > x0 else x0 + 1.0
        pad = (hi - lo) * 0.05 or 0.5
        self._epochs_place = ((x0, x1), (lo - pad, hi + pad))
        (a, b), (c, d) = self._epochs_place
        fig = figure(name="epochs", width=width, height=height, x_range=Range1d(start=a, end=b),
                     y_range=Range1d(start=c, end=d), tools="pan,wheel_zoom,reset",
                     toolbar_location="right", min_border_left=8, min_border_top=8,
                     x_axis_label="epoch", y_axis_label=metric)
        fig.toolbar.logo = None
        self._line_metric = metric
        fig.image_rgba(image=[counts_to_rgba(self._epochs_counts(None), DENSITY_BASE)], x=a, y=c,
                       dw=b - a, dh=d - c, level="image")
        self._base_images["epochs"] = cast(GlyphRenderer, fig.renderers[-1]).data_source
        fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh",
                       source=self.epochs_highlight, level="overlay")
        style_chart(fig)
        self.epochs = fig
        self._line_metric = metric
        return fig

    def build_epochs(self) -> Any:
        """Per-epoch lines of every experiment for the chart's metric (one metric, one axis)."""
        metric = self.model.bar_metric
        if metric is None or not self.model.order:
            self.epochs = None
            return None
        width, height = self.bars_size
        if self.model.dense:
            return self._build_dense_epochs(metric)
        fig = figure(
            name="epochs", width=width, height=height,
            tools="pan,wheel_zoom,reset", toolbar_location="right",
            min_border_left=8, min_border_top=8,
            x_axis_label="epoch", y_axis_label=metric,
        )
        fig.toolbar.logo = None
        self._line_metric = metric
        self.epochs = fig
        self.update_lines()
        rows = np.flatnonzero(self.model.selection_mask())
        self.lines_highlight.data = rows_of(self.lines.data, rows)
        base = fig.multi_line("xs", "ys", source=self.lines, line_color="color", line_alpha=0.55,
                              line_width=1.2, name="base:epochs")
        fig.multi_line("xs", "ys", source=self.lines_highlight, line_color="color", line_width=3,
                       line_alpha=1.0, level="overlay", name="highlight:epochs")
        fig.add_tools(HoverTool(renderers=[base], tooltips=[
            ("experiment", "@label  @experiment_id"), ("state", "@state"),
            ("epoch", "$data_x{0}"), (metric, "$data_y{0.[0000]}")]))
        style_chart(fig)
        self.epochs = fig
        self._line_metric = metric
        return fig

    def _bar_highlight(self) -> GlyphRenderer | None:
        """The bars' highlight outlines (glyph mode only)."""
        return self._bar_renderers[1] if len(self._bar_renderers) == 2 else None

    def set_bar_metric(self, metric: str) -> None:
        """Show another metric: the bars' ``top`` field and the lines' data; nothing is rebuilt."""
        if self.bars is not None and "bars" in self.layers:
            info = self.model.axes[metric]
            layer = self.layers["bars"]._replace(
                xcol=f"r:{metric}", ycol=info.column,
                y0=0.0 if info.start is None else info.start,
                y1=1.0 if info.end is None else info.end)
            self.layers["bars"] = layer
            self.bars.y_range.update(start=layer.y0, end=layer.y1)
            self.bars.xaxis.axis_label = f"experiments, sorted by {metric}"
            self.bars.yaxis.axis_label = metric
            self._rebin_base("bars")
            self._sync_layers()
        elif self.bars is not None:
            col = self.model.axes[metric].column
            for r in self._bar_renderers:
                r.glyph.top = col
            self.bars.yaxis.axis_label = metric
            hover = self.bars.select_one(HoverTool)
            if hover is not None:
                hover.tooltips = tooltips(None, metric)
        if self.epochs is not None:
            self.epochs.yaxis.axis_label = metric
            hover = self.epochs.select_one(HoverTool)
            if hover is not None:
                tips = list(hover.tooltips)
                hover.tooltips = [*tips[:-1], (metric, "$data_y{0.[0000]}")]
        if self._bar_tap_js is not None:
            args = dict(self._bar_tap_js.args)
            args["ycol"] = self.model.axes[metric].column
            if args.get("xcol") is not None:
                args["xcol"] = f"r:{metric}"
            self._bar_tap_js.args = args
        self._line_metric = metric
        self.update_lines()

    def update_lines(self) -> None:
        if self.model.dense:
            if self.epochs is not None and self._line_metric is not None:
                counts = self._epochs_counts(None)
                self._base_images["epochs"].data["image"] = [counts_to_rgba(counts, DENSITY_BASE)]
            return
        if self.epochs is None:  # not built yet: filled when it is
            return
        data = self.model.lines_data(self._line_metric)
        # plain lists: an array per experiment would go to the browser as a binary buffer
        # each (two websocket frames per experiment and per column)
        data["xs"] = [np.asarray(v, dtype=float).tolist() for v in data["xs"]]
        data["ys"] = [np.asarray(v, dtype=float).tolist() for v in data["ys"]]
        self.lines.data = data

    # ---- updates ---------------------------------------------------------------------------
    def set_mask(self, mask: Any) -> None:
        """Send a selection mask to the browser (its highlight layers follow).

        The highlight sources are filled here too: ``RENDER_JS`` runs on changes only, not
        when a page opens with a selection already made (a link or a restored view).
        """
        if self.model.dense:
            self._fill_layers(mask)
        else:
            rows = np.flatnonzero(np.asarray(mask, dtype=bool))
            self.highlight.data = rows_of(self.source.data, rows)
            self.lines_highlight.data = rows_of(self.lines.data, rows)
        self.mask.data = {"mask": mask}

    def update_data(self) -> None:
        """After a refresh: new data, ranges, categories and bar factors (the matrix is kept)."""
        self.source.data = self._plot_data()
        self.update_lines()
        for key in self.layers:
            self._rebin_base(key)
        for m, rng in self.y_ranges.items():
            follow_range(rng, self.model.axes[m])
        for (h, m), fig in self.scatters.items():
            fit_ticks(fig, self.model.axes[h], self.model.axes[m])
        for h, rng in self.x_ranges.items():
            info = self.model.axes[h]
            follow_range(rng, info)
            if info.kind == "categorical":
                for (hh, _), fig in self.scatters.items():
                    if hh == h:
                        categorical_ticks(fig, info)
        if self.bars is not None and "bars" not in self.layers:
            labels = list(self.model.data["label"])
            if list(self.bars.x_range.factors) != labels:
                self.bars.x_range.factors = labels
                bar_labels(self.bars, len(labels), self._bar_highlight())
