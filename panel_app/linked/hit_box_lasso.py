"""Box and lasso hit tests: the numpy function and its browser twin, side by side.

Rules, the same on both sides (``tests/unit/test_hit_tests.py`` runs both on the same input):

* a ``rect`` geometry has ``x0, x1, y0, y1`` in data units, in either order, bounds included;
  it is tested on the plotted values as they are (on log axes too: Bokeh sends data units);
* a ``poly`` (lasso) has ``x`` and ``y`` vertex lists, tested by even-odd ray casting in the
  space the screen shows (log10 on log axes); vertices that are not finite there are dropped,
  and fewer than three vertices select nothing;
* NaN never matches; any other geometry type selects nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from panel_app.linked.axes import to_space

__all__ = ["SELECT_JS", "mask_in_geometry", "points_in_polygon"]


def points_in_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd ray casting: which points (x, y) lie inside the polygon (px, py)."""
    inside = np.zeros(len(x), dtype=bool)
    n = len(px)
    if n < 3:
        return inside
    j = n - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(n):
            xi, yi, xj, yj = px[i], py[i], px[j], py[j]
            crosses = (yi > y) != (yj > y)
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
            inside ^= crosses & (x < x_at)
            j = i
    return inside


def mask_in_geometry(geometry: Mapping[str, Any], x: np.ndarray, y: np.ndarray,
                     *, x_log: bool = False, y_log: bool = False) -> np.ndarray:
    """Rows whose plotted (x, y) fall in a Bokeh ``SelectionGeometry`` (data coordinates).

    A ``rect`` has ``x0, x1, y0, y1`` (either order; bounds included); a ``poly`` has ``x`` and
    ``y`` vertex lists, tested in log10 space on log axes as the screen shows them. NaN never
    matches. Other geometry types select nothing.
    """
    kind = geometry.get("type")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if kind == "rect":
            x0, x1 = sorted((float(geometry["x0"]), float(geometry["x1"])))
            y0, y1 = sorted((float(geometry["y0"]), float(geometry["y1"])))
            return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        if kind == "poly":
            px = to_space(np.asarray(geometry["x"], dtype=np.float64), x_log)
            py = to_space(np.asarray(geometry["y"], dtype=np.float64), y_log)
            ok = np.isfinite(px) & np.isfinite(py)
            return points_in_polygon(to_space(x, x_log), to_space(y, y_log), px[ok], py[ok])
    return np.zeros(len(x), dtype=bool)


#: CustomJS on a plot's ``selectiongeometry`` event, with args ``{src, mask, xcol, ycol, xlog,
#: ylog}``: the browser's twin of :func:`mask_in_geometry` (same rules, same rows). Sets the
#: mask source without syncing it (``RENDER_JS`` draws it; the server gets only the geometry).
SELECT_JS = """
if (!cb_obj.final) { return; }
const g = cb_obj.geometry;
const d = src.data;
const isMap = d instanceof Map;
const get = (k) => isMap ? d.get(k) : d[k];
const xs = get(xcol), ys = get(ycol);
if (xs == null || ys == null) { return; }
const n = xs.length;
const lg = (v) => (v > 0 ? Math.log10(v) : NaN);
const out = new Uint8Array(n);
if (g.type === "rect") {
  const x0 = Math.min(g.x0, g.x1), x1 = Math.max(g.x0, g.x1);
  const y0 = Math.min(g.y0, g.y1), y1 = Math.max(g.y0, g.y1);
  for (let i = 0; i < n; i++) {
    const x = xs[i], y = ys[i];
    if (x >= x0 && x <= x1 && y >= y0 && y <= y1) { out[i] = 1; }
  }
} else if (g.type === "poly") {
  const px = [], py = [];
  for (let k = 0; k < g.x.length; k++) {
    const a = xlog ? lg(g.x[k]) : g.x[k], b = ylog ? lg(g.y[k]) : g.y[k];
    if (Number.isFinite(a) && Number.isFinite(b)) { px.push(a); py.push(b); }
  }
  const m = px.length;
  if (m >= 3) {
    for (let i = 0; i < n; i++) {
      const x = xlog ? lg(xs[i]) : xs[i], y = ylog ? lg(ys[i]) : ys[i];
      let inside = false;
      for (let a = 0, b = m - 1; a < m; b = a++) {
        if (((py[a] > y) !== (py[b] > y)) &&
            x < (px[b] - px[a]) * (y - py[a]) / (py[b] - py[a]) + px[a]) { inside = !inside; }
      }
      if (inside) { out[i] = 1; }
    }
  }
} else {
  return;
}
mask.setv({data: {mask: out}}, {sync: false});
"""
