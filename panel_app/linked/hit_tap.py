"""The click hit tests, points and bars: the numpy functions and their browser twins, side by side.

Rules, the same on both sides (``tests/unit/test_hit_tests.py`` runs both on the same input).

Points (:func:`nearest_point`, :data:`TAP_JS`): a click at data point ``(px, py)`` picks the
one point nearest to it in screen pixels, measured in the space the screen shows (log10 on log
axes) and scaled by the frame's size in pixels over the visible span; the first such point on
ties; nothing when that point is farther than ``radius`` pixels. Points with a NaN coordinate
(or non-positive on a log axis) are never picked; an empty span (or a NaN one) counts as 1.

Bars (:func:`bars_at`, :data:`BAR_TAP_JS`): a click picks every bar whose column holds it: the
bars whose centre is at most ``half`` from the click's x (bar ``i`` is centred at ``i + 0.5``
on a categorical axis, at its ``xs`` value otherwise), whatever the click's height (a short bar
is as easy to hit as a tall one). When the axis shows ``x_span`` over ``frame_w`` pixels, the
half-width is at least half a pixel column (a dense chart's column stands for every experiment
drawn in it). Bars without a value (NaN) are never picked; a click between bars picks none.
"""

from __future__ import annotations

import numpy as np

from panel_app.linked.axes import to_space

__all__ = ["BAR_HALF_WIDTH", "BAR_TAP_JS", "CELL_JS", "TAP_JS", "TAP_RADIUS", "bars_at", "nearest_point"]

#: How far (pixels) from a point a click still picks it.
TAP_RADIUS = 8.0
#: Half a bar's width on a categorical axis (the bars are 0.8 wide).
BAR_HALF_WIDTH = 0.4


def _span(span: tuple[float, float], log: bool) -> float:
    a, b = to_space(np.asarray(span, dtype=np.float64), log)
    width = abs(float(b - a))
    return width if width > 0 else 1.0  # as JavaScript's `width || 1`


def nearest_point(xs: np.ndarray, ys: np.ndarray, px: float, py: float, *,
                  x_span: tuple[float, float], y_span: tuple[float, float],
                  frame: tuple[int, int], x_log: bool = False, y_log: bool = False,
                  radius: float = TAP_RADIUS) -> int | None:
    """The row nearest to a click at data point (px, py), within ``radius`` pixels of a frame
    of ``frame`` pixels showing ``x_span`` x ``y_span``; None when nothing is that close."""
    dx = to_space(np.asarray(xs, dtype=np.float64), x_log)
    dy = to_space(np.asarray(ys, dtype=np.float64), y_log)
    cx = to_space(np.asarray([px], dtype=np.float64), x_log)[0]
    cy = to_space(np.asarray([py], dtype=np.float64), y_log)[0]
    wx, wy = _span(x_span, x_log), _span(y_span, y_log)
    with np.errstate(invalid="ignore"):
        d2 = ((dx - cx) / wx * frame[0]) ** 2 + ((dy - cy) / wy * frame[1]) ** 2
    d2 = np.where(np.isfinite(d2), d2, np.inf)
    if not len(d2):
        return None
    best = int(np.argmin(d2))
    return best if d2[best] <= radius * radius else None


#: CustomJS on a plot's ``tap`` and ``doubletap`` events, with args ``{src, mask, xcol, ycol,
#: xlog, ylog, xr, yr, fw, fh, radius}``: the browser's twin of :func:`nearest_point`. Sets the
#: mask source without syncing it (the server repeats the test from the click point).
TAP_JS = """
const d = src.data;
const isMap = d instanceof Map;
const xs = isMap ? d.get(xcol) : d[xcol], ys = isMap ? d.get(ycol) : d[ycol];
if (xs == null || ys == null) { return; }
const sp = (v, lg) => lg ? (v > 0 ? Math.log10(v) : NaN) : v;
const cx = sp(cb_obj.x, xlog), cy = sp(cb_obj.y, ylog);
const wx = Math.abs(sp(xr.end, xlog) - sp(xr.start, xlog)) || 1;
const wy = Math.abs(sp(yr.end, ylog) - sp(yr.start, ylog)) || 1;
let best = -1, bestD = Infinity;
for (let i = 0; i < xs.length; i++) {
  const dx = (sp(xs[i], xlog) - cx) / wx * fw, dy = (sp(ys[i], ylog) - cy) / wy * fh;
  const d2 = dx * dx + dy * dy;
  if (d2 < bestD) { bestD = d2; best = i; }
}
const out = new Uint8Array(xs.length);
if (best >= 0 && bestD <= radius * radius) { out[best] = 1; }
mask.setv({data: {mask: out}}, {sync: false});
"""


def bars_at(tops: np.ndarray, px: float, *, xs: np.ndarray | None = None,
            half: float = BAR_HALF_WIDTH, x_span: tuple[float, float] | None = None,
            frame_w: int | None = None) -> np.ndarray:
    """The rows of the bars whose column holds a click at x ``px``: centred at ``xs`` (at
    ``i + 0.5`` when None, as a categorical axis places bar ``i``), at most ``half`` away (or
    half a pixel column of a frame ``frame_w`` pixels wide showing ``x_span``, if more)."""
    tops = np.asarray(tops, dtype=np.float64)
    centres = np.arange(len(tops)) + 0.5 if xs is None else np.asarray(xs, dtype=np.float64)
    if x_span is not None and frame_w:
        column = abs(float(x_span[1]) - float(x_span[0])) / frame_w / 2
        half = max(half, column) if np.isfinite(column) else half
    with np.errstate(invalid="ignore"):
        hit = (np.abs(centres - float(px)) <= half) & np.isfinite(tops) & np.isfinite(centres)
    return np.flatnonzero(hit)


#: CustomJS on the bar chart's ``tap`` and ``doubletap`` events, with args ``{src, mask, xcol,
#: ycol, half, xr, fw}`` (``xcol`` null: bar ``i`` at ``i + 0.5``; ``xr`` null: no pixel
#: column): the browser's twin of :func:`bars_at`. Sets the mask source without syncing it.
BAR_TAP_JS = """
const d = src.data;
const isMap = d instanceof Map;
const tops = isMap ? d.get(ycol) : d[ycol];
if (tops == null) { return; }
const xs = xcol == null ? null : (isMap ? d.get(xcol) : d[xcol]);
let h = half;
if (xr != null && fw) {
  const column = Math.abs(xr.end - xr.start) / fw / 2;
  if (Number.isFinite(column)) { h = Math.max(h, column); }
}
const px = Number(cb_obj.x);
const out = new Uint8Array(tops.length);
for (let i = 0; i < tops.length; i++) {
  const c = xs == null ? i + 0.5 : xs[i];
  if (Math.abs(c - px) <= h && Number.isFinite(tops[i]) && Number.isFinite(c)) { out[i] = 1; }
}
mask.setv({data: {mask: out}}, {sync: false});
"""


#: Prefix of ``SELECT_JS`` and ``TAP_JS`` shared by every cell of a scatter matrix (one
#: ``CustomJS`` each instead of one per cell): with args ``{cells}`` (figure id -> ``[xcol,
#: ycol, xlog, ylog]``), it defines those four and the clicked figure's ``xr, yr, fw, fh``
#: from the event's origin, the figure it happened in.
CELL_JS = """
const fig = cb_obj.origin;
if (fig == null) { return; }
const cell = cells instanceof Map ? cells.get(fig.id) : cells[fig.id];
if (cell == null) { return; }
const [xcol, ycol, xlog, ylog] = cell;
const xr = fig.x_range, yr = fig.y_range, fw = fig.frame_width, fh = fig.frame_height;
"""
