"""The click hit test: the numpy function and its browser twin, side by side.

Rules, the same on both sides (``tests/unit/test_hit_tests.py`` runs both on the same input):
a click at data point ``(px, py)`` picks the one point nearest to it in screen pixels, measured
in the space the screen shows (log10 on log axes) and scaled by the frame's size in pixels over
the visible span; the first such point on ties; nothing when that point is farther than
``radius`` pixels. Points with a NaN coordinate (or non-positive on a log axis) are never picked;
an empty span (or a NaN one) counts as 1.
"""

from __future__ import annotations

import numpy as np

from panel_app.linked.axes import to_space

__all__ = ["TAP_JS", "TAP_RADIUS", "nearest_point"]

#: How far (pixels) from a point a click still picks it.
TAP_RADIUS = 8.0


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
