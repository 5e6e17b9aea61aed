"""Density images with an in-browser highlight layer, for scatter plots of many experiments.

Each plot shows a density image of all points, computed once on the server with
:func:`bin_points` and :func:`counts_to_rgba`, and above it a highlight image that the browser
fills itself: :data:`HIGHLIGHT_JS` bins the selected rows with :data:`BIN_JS` and colours them
with :data:`RGBA_JS`, which compute exactly what the numpy functions compute, so nothing about
the selected rows goes to the server.

Binning rules, the same on both sides (the tests compare them on random data):

* a point counts when its mask entry is true (when a mask is given) and ``lo <= v <= hi`` on
  both axes, in data units; NaN fails that test, and on a log axis the range must be positive,
  so non-positive values are dropped too;
* the bin index is ``floor((t - t0) / (t1 - t0) * n)`` with ``t = log10(v)`` on a log axis and
  ``t = v`` otherwise, clamped to ``0 .. n - 1`` (so ``v == hi`` falls in the last bin);
* images are ``(height, width)``, row 0 at the bottom, as Bokeh's image glyphs draw them.

Colouring: an empty bin is fully transparent; a bin with ``c`` points is the layer's colour with
alpha ``min_alpha + (255 - min_alpha) * log1p(c) / log1p(cmax)`` rounded half up, where ``cmax`` is
the image's largest count (each image is scaled on its own, so a small selection stays visible).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from bokeh.models import ColumnDataSource

__all__ = [
    "BIN_JS",
    "DENSITY_BASE",
    "DENSITY_HIGHLIGHT",
    "HIGHLIGHT_JS",
    "IMAGE_H",
    "IMAGE_W",
    "RGBA_JS",
    "DensityLayer",
    "add_density_layers",
    "bin_points",
    "counts_to_rgba",
    "image_data",
]

#: Bins per plot, across and up.
IMAGE_W, IMAGE_H = 160, 120
#: Colour of the density images of all experiments, and of the selected ones above them.
DENSITY_BASE = (70, 120, 180)
DENSITY_HIGHLIGHT = (230, 85, 13)

#: Added before rounding half up, so that a last-bit difference between numpy's and the
#: browser's ``log1p`` cannot move an alpha that is exactly ``k + 0.5`` to a different integer.
_ROUND_EPS = 1e-6


def _check_range(name: str, rng: tuple[float, float], log: bool) -> tuple[float, float]:
    lo, hi = float(rng[0]), float(rng[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name}: range must be two finite numbers with lo < hi, but got {rng!r}")
    if log and lo <= 0:
        raise ValueError(f"{name}: a log axis needs a positive range, but got {rng!r}; "
                         "drop the non-positive values or use a linear axis")
    return lo, hi


def _bin_index(v: np.ndarray, lo: float, hi: float, n: int, log: bool) -> np.ndarray:
    """Bin numbers of values already known to lie in ``[lo, hi]`` (see the module docstring)."""
    if log:
        t0, t1 = np.log10(np.array([lo, hi]))
        t = np.log10(v)
    else:
        t0, t1 = lo, hi
        t = v
    idx = np.floor((t - t0) / (t1 - t0) * n)
    return np.clip(idx, 0, n - 1).astype(np.int64)


def bin_points(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None, *,
               x_range: tuple[float, float], y_range: tuple[float, float],
               width: int, height: int, x_log: bool = False, y_log: bool = False) -> np.ndarray:
    """Counts of the points (x, y) (only where mask is true, when given) in a height x width grid
    over the ranges; on a log axis the bins are equal in log10 space (range given in data units).
    NaN / out-of-range / non-positive-on-log points are dropped. Returns float32 (height, width),
    row 0 = bottom (Bokeh image orientation)."""
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length, but got {xs.size} and {ys.size}")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be at least 1, but got width={width}, height={height}")
    x0, x1 = _check_range("x_range", x_range, x_log)
    y0, y1 = _check_range("y_range", y_range, y_log)
    if mask is not None:
        m = np.asarray(mask).ravel()
        if m.shape != xs.shape:
            raise ValueError(f"mask must have one entry per point ({xs.size}), but got {m.size}")
        keep = m.astype(bool)
        xs, ys = xs[keep], ys[keep]
    inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)  # NaN compares false: dropped
    ix = _bin_index(xs[inside], x0, x1, width, x_log)
    iy = _bin_index(ys[inside], y0, y1, height, y_log)
    counts = np.bincount(iy * width + ix, minlength=width * height)
    return counts.astype(np.float32).reshape(height, width)


def counts_to_rgba(counts: np.ndarray, color: tuple[int, int, int], *, min_alpha: int = 60) -> np.ndarray:
    """uint32 RGBA image (Bokeh image_rgba, little-endian packing r | g<<8 | b<<16 | a<<24) where
    empty bins are fully transparent and non-empty bins are `color` with alpha rising with log1p(count)
    from min_alpha to 255."""
    r, g, b = (int(c) for c in color)
    if not all(0 <= c <= 255 for c in (r, g, b)):
        raise ValueError(f"color must be three integers in 0..255, but got {color!r}")
    if not 0 <= min_alpha <= 255:
        raise ValueError(f"min_alpha must be in 0..255, but got {min_alpha}")
    c = np.asarray(counts, dtype=np.float64)
    out = np.zeros(c.shape, dtype=np.uint32)
    if c.size == 0:
        return out
    cmax = float(c.max())
    if not cmax > 0:
        return out
    nz = c > 0
    ratio = np.log1p(c[nz]) / np.log1p(cmax)
    alpha = np.floor(min_alpha + (255 - min_alpha) * ratio + 0.5 + _ROUND_EPS)
    a = np.clip(alpha, 0, 255).astype(np.uint32)
    out[nz] = np.uint32(r | (g << 8) | (b << 16)) | (a << np.uint32(24))
    return out


#: ``ht_bin(xs, ys, mask, x0, x1, y0, y1, w, h, xlog, ylog) -> Float32Array(w * h)``, the same
#: counts as :func:`bin_points`; ``mask`` is a Uint8Array (or any array) or null for all rows.
BIN_JS = """
function ht_bin(xs, ys, mask, x0, x1, y0, y1, w, h, xlog, ylog) {
  const out = new Float32Array(w * h);
  const tx0 = xlog ? Math.log10(x0) : x0, tx1 = xlog ? Math.log10(x1) : x1;
  const ty0 = ylog ? Math.log10(y0) : y0, ty1 = ylog ? Math.log10(y1) : y1;
  const sx = tx1 - tx0, sy = ty1 - ty0;
  if (!(sx > 0) || !(sy > 0) || (xlog && !(x0 > 0)) || (ylog && !(y0 > 0))) { return out; }
  const n = Math.min(xs.length, ys.length);
  for (let i = 0; i < n; i++) {
    if (mask != null && !mask[i]) { continue; }
    const x = xs[i], y = ys[i];
    if (x === null || y === null || !(x >= x0 && x <= x1 && y >= y0 && y <= y1)) { continue; }
    let ix = Math.floor(((xlog ? Math.log10(x) : x) - tx0) / sx * w);
    let iy = Math.floor(((ylog ? Math.log10(y) : y) - ty0) / sy * h);
    ix = ix < 0 ? 0 : (ix > w - 1 ? w - 1 : ix);
    iy = iy < 0 ? 0 : (iy > h - 1 ? h - 1 : iy);
    out[iy * w + ix] += 1;
  }
  return out;
}
"""

#: ``ht_rgba(counts, r, g, b, min_alpha) -> Uint32Array``, the same as :func:`counts_to_rgba`.
RGBA_JS = f"""
function ht_rgba(counts, r, g, b, min_alpha) {{
  const n = counts.length;
  const out = new Uint32Array(n);
  let cmax = 0;
  for (let i = 0; i < n; i++) {{ if (counts[i] > cmax) {{ cmax = counts[i]; }} }}
  if (!(cmax > 0)) {{ return out; }}
  const lmax = Math.log1p(cmax);
  const rgb = (r | (g << 8) | (b << 16)) >>> 0;
  for (let i = 0; i < n; i++) {{
    const c = counts[i];
    if (!(c > 0)) {{ continue; }}
    let a = Math.floor(min_alpha + (255 - min_alpha) * (Math.log1p(c) / lmax) + 0.5 + {_ROUND_EPS!r});
    a = a < 0 ? 0 : (a > 255 ? 255 : a);
    out[i] = (rgb | (a << 24)) >>> 0;
  }}
  return out;
}}
"""

_HIGHLIGHT_BODY = """
const ht_get = (d, k) => (d instanceof Map ? d.get(k) : d[k]);
const ht_nd = (typeof Bokeh !== "undefined" && Bokeh.require) ? Bokeh.require("core/util/ndarray") : null;
function ht_image(buf, h, w, like) {
  if (ht_nd != null) { return ht_nd.ndarray(buf, {dtype: "uint32", shape: [h, w]}); }
  // Without the module loader, borrow the NDArray class of the image already shown.
  return new like.constructor(buf, [h, w]);
}
const mask = ht_get(mask_src.data, "mask");
let ht_any = false;
if (mask != null) {
  for (let i = 0; i < mask.length; i++) { if (mask[i]) { ht_any = true; break; } }
}
const ht_pts = points.data;
for (const layer of layers) {
  const L = Array.isArray(layer) ? layer :
    [layer.source, layer.xcol, layer.ycol, layer.x0, layer.x1, layer.y0, layer.y1, layer.w, layer.h,
     layer.xlog, layer.ylog, layer.r, layer.g, layer.b, layer.min_alpha];
  const [src, xcol, ycol, x0, x1, y0, y1, w, h, xlog, ylog, r, g, b] = L;
  const min_alpha = L.length > 14 && L[14] != null ? L[14] : 60;
  const old = ht_get(src.data, "image");
  const like = old != null ? old[0] : null;
  let img;
  if (ht_any) {
    const counts = ht_bin(ht_get(ht_pts, xcol), ht_get(ht_pts, ycol), mask, x0, x1, y0, y1, w, h, xlog, ylog);
    img = ht_image(ht_rgba(counts, r, g, b, min_alpha), h, w, like);
  } else {
    img = ht_image(new Uint32Array(1), 1, 1, like);  // cleared: one transparent pixel
  }
  const cols = [["image", [img]], ["x", [x0]], ["y", [y0]], ["dw", [x1 - x0]], ["dh", [y1 - y0]]];
  const data = src.data instanceof Map ? new Map(cols) : Object.fromEntries(cols);
  src.setv({data: data}, {sync: false});
}
"""

#: CustomJS body with args ``{mask_src, points, layers}``: bins the rows whose
#: ``mask_src.data.mask`` entry is 1 into each layer's highlight image, in the browser only.
#: A layer is ``[highlight_source, xcol, ycol, x0, x1, y0, y1, w, h, xlog, ylog, r, g, b]``
#: (:meth:`DensityLayer.to_js`; optionally a 15th entry ``min_alpha``, default 60) or an object
#: with those names (``source`` for the highlight source). An all-zero mask clears every layer.
HIGHLIGHT_JS = BIN_JS + RGBA_JS + _HIGHLIGHT_BODY


def add_density_layers(fig: Any, *, x_range: tuple[float, float], y_range: tuple[float, float],
                       base_rgba: np.ndarray, x_log: bool, y_log: bool) -> ColumnDataSource:
    """Add to a Bokeh figure an image_rgba renderer of base_rgba covering the ranges (level 'image')
    and a second image_rgba renderer above it (level 'overlay') whose ColumnDataSource starts
    fully transparent: the highlight layer. Return that highlight ColumnDataSource (with columns
    image, x, y, dw, dh).

    The images are placed at ``x=x_range[0], dw=x_range[1] - x_range[0]`` (likewise y) in data
    units on linear and log axes alike: Bokeh maps both corners through the axis scale and
    stretches the image linearly between them on screen, which on a log axis is exactly a grid
    of bins equal in log10 space. The highlight image starts as one transparent pixel.
    """
    x0, x1 = _check_range("x_range", x_range, x_log)
    y0, y1 = _check_range("y_range", y_range, y_log)
    base = np.asarray(base_rgba)
    if base.ndim != 2 or base.dtype != np.uint32:
        raise ValueError(f"base_rgba must be a 2-D uint32 image (see counts_to_rgba), "
                         f"but got dtype={base.dtype} with shape {base.shape}")
    place = dict(x=[x0], y=[y0], dw=[x1 - x0], dh=[y1 - y0])
    fig.image_rgba(image=[base], level="image", **place)
    highlight = ColumnDataSource(data=dict(image=[np.zeros((1, 1), dtype=np.uint32)], **place))
    fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=highlight, level="overlay")
    return highlight


class DensityLayer(NamedTuple):
    """A plot's highlight image, as the browser bins it: which columns of the points source,
    over which ranges (data units), in how many bins, on which axis scales, in which colour.

    ``source`` is the highlight image's ColumnDataSource. The fields are in the order
    :data:`HIGHLIGHT_JS` reads them; :meth:`to_js` is the list handed to it.
    """

    source: Any
    xcol: str
    ycol: str
    x0: float
    x1: float
    y0: float
    y1: float
    w: int = IMAGE_W
    h: int = IMAGE_H
    xlog: bool = False
    ylog: bool = False
    r: int = DENSITY_HIGHLIGHT[0]
    g: int = DENSITY_HIGHLIGHT[1]
    b: int = DENSITY_HIGHLIGHT[2]

    @property
    def color(self) -> tuple[int, int, int]:
        return (self.r, self.g, self.b)

    def to_js(self) -> list[Any]:
        """The positional list :data:`HIGHLIGHT_JS` reads."""
        return list(self)

    def counts(self, data: Mapping[str, Any], mask: np.ndarray | None) -> np.ndarray:
        """The layer's points in ``data`` (all, or where ``mask``), binned as its images are."""
        return bin_points(np.asarray(data[self.xcol]), np.asarray(data[self.ycol]), mask,
                          x_range=(self.x0, self.x1), y_range=(self.y0, self.y1),
                          width=self.w, height=self.h, x_log=self.xlog, y_log=self.ylog)

    def image_data(self, image: np.ndarray | None) -> dict[str, list[Any]]:
        """The highlight source's data for ``image`` placed over the layer's ranges."""
        return image_data(image, self.x0, self.x1, self.y0, self.y1)


def image_data(image: np.ndarray | None, x0: float, x1: float, y0: float,
               y1: float) -> dict[str, list[Any]]:
    """An image source's data; ``None`` is one transparent pixel (nothing highlighted)."""
    if image is None:
        image = np.zeros((1, 1), dtype=np.uint32)
    return {"image": [image], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}

