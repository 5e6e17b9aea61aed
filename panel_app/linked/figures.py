"""Bokeh figure helpers shared by the linked plots: axes, ranges, ticks, tooltips, styling.

Stateless: each takes a figure (or range) and the :class:`~panel_app.linked.axes.AxisInfo` it
shows, and sets Bokeh properties only where they change.
"""

from __future__ import annotations

import math
from typing import Any

from bokeh.models import CustomJSTicker, CustomJSTickFormatter, FixedTicker, Range1d

from panel_app.linked.axes import NUMBER_JS, AxisInfo
from panel_app.linked.ticks import LOG_TICKS_JS, category_stride, linear_tick_count

__all__ = [
    "axis_range",
    "bar_labels",
    "categorical_ticks",
    "fit_ticks",
    "follow_range",
    "style_chart",
    "style_scatter_axes",
    "tick_holders",
    "tooltips",
]


#: Shown instead of a value whose column cannot be named in a hover template.
NO_FIELD = "(see the table)"


def _field(column: str, fmt: str = "") -> str:
    """A hover template showing ``column``'s value, or :data:`NO_FIELD`.

    Bokeh shows labels and values as text, but the template around the ``@{column}``
    placeholders is HTML, and the placeholder ends at the first ``}``: a name with a brace
    (``a}<img src=x onerror=...>``) would put its rest into the page as HTML.
    """
    if "{" in column or "}" in column:
        return NO_FIELD
    return f"@{{{column}}}{fmt}"


def tooltips(h: str | None, m: str) -> list[tuple[str, str]]:
    """Hover lines: the experiment, its state, the hyperparameter ``h`` (if any) and metric ``m``."""
    tips = [("experiment", "@label  @experiment_id"), ("state", "@state")]
    if h is not None:
        tips.append((h, _field(f"h:{h}")))
    tips.append((m, _field(f"m:{m}", "{0.[0000]}")))
    return tips


def style_chart(fig: Any) -> None:
    """The grid and axis labels every chart shares."""
    fig.grid.grid_line_color = "#e6e6e6"
    fig.axis.axis_label_text_font_style = "normal"
    fig.axis.major_label_text_font_size = "10px"


def style_scatter_axes(fig: Any, ax: AxisInfo, ay: AxisInfo, *, left: bool, bottom: bool) -> None:
    """A scatter-matrix cell: axis names on the outer cells only, category ticks, grid.

    An inner cell has no axis in its layout (see :func:`scatter_figure`): its grid lines take
    their ticks from the grid's own ``ticker``, the one the outer cell's axis shows.
    """
    fig.grid.grid_line_color = "#e6e6e6"
    fig.axis.axis_label_text_font_style = "normal"
    fig.axis.axis_label_text_font_size = "12px"
    fig.axis.major_label_text_font_size = "10px"
    categorical_ticks(fig, ax)
    fit_ticks(fig, ax, ay)
    if bottom:
        fig.xaxis.axis_label = ax.name
    if left:
        fig.yaxis.axis_label = ay.name
    fig.xgrid.visible = ax.kind != "categorical"


def tick_holders(fig: Any, dim: int) -> list[Any]:
    """The axes (in the layout) and grids of dimension ``dim`` (0: x), which all show one ticker."""
    axes = list(fig.xaxis if dim == 0 else fig.yaxis)
    return [*axes, *(g for g in fig.grid if g.dimension == dim)]


def _ticker_of(holders: list[Any]) -> Any:
    return next((h.ticker for h in holders if h.ticker is not None), None)


def _set_ticker(holders: list[Any], ticker: Any, formatter: Any = None) -> None:
    for h in holders:
        if h.ticker is not ticker:
            h.ticker = ticker
        if formatter is not None and hasattr(h, "formatter") and h.formatter is not formatter:
            h.formatter = formatter


def categorical_ticks(fig: Any, ax: AxisInfo) -> None:
    """Category names at the positions of a categorical x axis (every so many of them when
    they would collide: :func:`~panel_app.linked.axes.category_stride`)."""
    if ax.kind != "categorical":
        return
    stride = category_stride(ax.tick_labels, float(fig.frame_width or 0))
    labels = dict(zip(ax.ticks[::stride], ax.tick_labels[::stride], strict=True))
    holders = tick_holders(fig, 0)
    ticker = _ticker_of(holders)
    if not (isinstance(ticker, FixedTicker) and list(ticker.ticks) == list(labels)):
        ticker = FixedTicker(ticks=list(labels))
    _set_ticker(holders, ticker)
    for axis in fig.xaxis:
        if axis.major_label_overrides != labels:
            axis.major_label_overrides = labels


#: The ticks of a log axis, computed in the browser for the range shown (zoomed too).
_LOG_TICKER = NUMBER_JS + LOG_TICKS_JS + "return logTicks(cb_data.start, cb_data.end, pixels, vertical);"
_NUMBER_LABEL = NUMBER_JS + "return fmt(tick);"


def fit_ticks(fig: Any, ax: AxisInfo, ay: AxisInfo) -> None:
    """Ticks whose labels do not collide in a small cell: on a log axis decades (or a few round
    values), chosen in the browser for the range shown by
    :data:`~panel_app.linked.ticks.LOG_TICKS_JS` (the twin of
    :func:`~panel_app.linked.ticks.log_ticks`) and labelled with significant digits; on a
    linear axis as many as its labels leave room for
    (:func:`~panel_app.linked.ticks.linear_tick_count`)."""
    for dim, info, pixels, vertical in ((0, ax, fig.frame_width, False),
                                         (1, ay, fig.frame_height, True)):
        if info.kind == "categorical" or info.start is None or info.end is None or not pixels:
            continue
        holders = tick_holders(fig, dim)
        ticker = _ticker_of(holders)
        if info.kind == "log":
            if not isinstance(ticker, CustomJSTicker):
                ticker = CustomJSTicker(args={"pixels": float(pixels), "vertical": vertical},
                                        major_code=_LOG_TICKER, minor_code="return [];")
                _set_ticker(holders, ticker, CustomJSTickFormatter(code=_NUMBER_LABEL))
        else:
            count = linear_tick_count(info.start, info.end, float(pixels), vertical=vertical)
            _set_ticker(holders, ticker)
            if ticker is not None and getattr(ticker, "desired_num_ticks", count) != count:
                ticker.desired_num_ticks = count


def bar_labels(fig: Any, n: int, highlight: Any = None) -> None:
    """Readable labels for a few bars; none (and thin outlines of ``highlight``) for many."""
    fig.xaxis.major_label_orientation = 0.0 if n <= 16 else math.pi / 2
    fig.xaxis.major_label_text_font_size = "10px" if n <= 60 else "0px"
    fig.xaxis.major_tick_line_color = "black" if n <= 60 else None
    if highlight is not None:
        width = 2.5 if n <= 40 else 1.0
        if highlight.glyph.line_width != width:
            highlight.glyph.line_width = width


def axis_range(info: AxisInfo) -> Range1d:
    """The range of an axis, its reset at the data bounds."""
    start = 0.0 if info.start is None else info.start
    end = 1.0 if info.end is None else info.end
    return Range1d(start=start, end=end, reset_start=start, reset_end=end,
                   name=f"range:{info.name}")


def follow_range(rng: Range1d, info: AxisInfo) -> None:
    """New data bounds; a range the user zoomed stays unless data leave it."""
    start, end = info.start, info.end
    if start is None or end is None:
        return
    zoomed = (rng.start, rng.end) != (rng.reset_start, rng.reset_end)
    lo, hi = sorted((float(rng.start), float(rng.end)))  # type: ignore[arg-type]
    if not zoomed or start < lo or end > hi:
        rng.update(start=start, end=end)
    rng.update(reset_start=start, reset_end=end)
