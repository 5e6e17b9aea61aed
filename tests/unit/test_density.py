"""Density images: numpy binning and colouring, and the browser's copies of them run in node."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bokeh.models import ColumnDataSource, ImageRGBA
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from panel_app.linked.density import (
    BIN_JS,
    HIGHLIGHT_JS,
    IMAGE_H,
    IMAGE_W,
    RGBA_JS,
    add_density_layers,
    bin_points,
    counts_to_rgba,
)

# --------------------------------------------------------------------------- bin_points


def test_bin_points_edges_fall_in_the_lower_bin_and_the_top_edge_in_the_last() -> None:
    x = np.array([0.0, 1.0, 2.999, 3.0, 4.0, 4.0001, -1e-9])
    y = np.full(x.shape, 0.5)
    counts = bin_points(x, y, None, x_range=(0, 4), y_range=(0, 1), width=4, height=1)
    assert counts.dtype == np.float32
    assert counts.shape == (1, 4)
    np.testing.assert_array_equal(counts, [[1, 1, 1, 2]])


def test_bin_points_row_zero_is_the_bottom() -> None:
    x = np.array([0.5, 0.5, 0.5])
    y = np.array([0.1, 0.1, 0.9])
    counts = bin_points(x, y, None, x_range=(0, 1), y_range=(0, 1), width=1, height=2)
    np.testing.assert_array_equal(counts, [[2], [1]])


def test_bin_points_drops_nan_and_infinite_values() -> None:
    x = np.array([0.5, np.nan, 0.5, np.inf, 0.5])
    y = np.array([0.5, 0.5, np.nan, 0.5, -np.inf])
    counts = bin_points(x, y, None, x_range=(0, 1), y_range=(0, 1), width=2, height=2)
    assert counts.sum() == 1
    assert counts[1, 1] == 1


def test_bin_points_log_axis_bins_are_equal_in_log10_and_drop_non_positive_values() -> None:
    x = np.array([1.0, 9.99, 10.0, 100.0, 999.0, 1e4, 0.0, -5.0, 0.5, 1.0001e4])
    y = np.ones(x.shape)
    counts = bin_points(x, y, None, x_range=(1, 1e4), y_range=(0, 2), width=4, height=1, x_log=True)
    np.testing.assert_array_equal(counts, [[2, 1, 2, 1]])


def test_bin_points_log_y_axis() -> None:
    y = np.array([1e-3, 0.05, 0.2, 1.0])
    x = np.zeros(y.shape)
    counts = bin_points(x, y, None, x_range=(-1, 1), y_range=(1e-3, 1), width=1, height=3, y_log=True)
    np.testing.assert_array_equal(counts[:, 0], [1, 1, 2])


def test_bin_points_counts_only_masked_rows() -> None:
    x = np.array([0.1, 0.2, 0.8, 0.9])
    y = np.array([0.1, 0.2, 0.8, 0.9])
    mask = np.array([1, 0, 0, 1], dtype=np.uint8)
    counts = bin_points(x, y, mask, x_range=(0, 1), y_range=(0, 1), width=2, height=2)
    np.testing.assert_array_equal(counts, [[1, 0], [0, 1]])
    none = bin_points(x, y, np.zeros(4, dtype=bool), x_range=(0, 1), y_range=(0, 1), width=2, height=2)
    assert none.sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(x_range=(1, 1)), "x_range: range must be two finite numbers with lo < hi"),
        (dict(x_range=(0, math.nan)), "x_range: range must be two finite numbers"),
        (dict(y_range=(0, 1), y_log=True), "y_range: a log axis needs a positive range"),
        (dict(width=0), "width and height must be at least 1"),
    ],
)
def test_bin_points_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = dict(x_range=(0, 1), y_range=(0, 1), width=2, height=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        bin_points(np.zeros(2), np.zeros(2), None, **args)


def test_bin_points_rejects_a_mask_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match=r"mask must have one entry per point \(3\), but got 2"):
        bin_points(np.zeros(3), np.zeros(3), np.ones(2, dtype=bool),
                   x_range=(0, 1), y_range=(0, 1), width=2, height=2)


# --------------------------------------------------------------------------- counts_to_rgba


def _unpack(img: np.ndarray) -> np.ndarray:
    return img.view(np.uint8).reshape(*img.shape, 4)


def test_counts_to_rgba_packs_little_endian_and_leaves_empty_bins_transparent() -> None:
    counts = np.array([[0, 1], [3, 9]], dtype=np.float32)
    img = counts_to_rgba(counts, (10, 20, 30), min_alpha=60)
    assert img.dtype == np.uint32
    assert img.shape == (2, 2)
    rgba = _unpack(img)
    assert img[0, 0] == 0
    np.testing.assert_array_equal(rgba[0, 1, :3], [10, 20, 30])
    alphas = rgba[..., 3]
    expected_1 = math.floor(60 + 195 * math.log1p(1) / math.log1p(9) + 0.5)
    assert alphas[0, 1] == expected_1
    assert alphas[0, 1] < alphas[1, 0] < alphas[1, 1] == 255


def test_counts_to_rgba_of_nothing_is_fully_transparent() -> None:
    assert not counts_to_rgba(np.zeros((3, 4), dtype=np.float32), (255, 0, 0)).any()


def test_counts_to_rgba_rejects_bad_colours() -> None:
    with pytest.raises(ValueError, match=r"color must be three integers in 0..255, but got \(256, 0, 0\)"):
        counts_to_rgba(np.ones((1, 1)), (256, 0, 0))


# --------------------------------------------------------------------------- add_density_layers


@pytest.mark.parametrize("y_log", [False, True])
def test_add_density_layers_adds_a_base_and_a_transparent_highlight_image(y_log: bool) -> None:
    fig = figure(y_axis_type="log" if y_log else "linear")
    base = counts_to_rgba(np.ones((IMAGE_H, IMAGE_W), dtype=np.float32), (0, 0, 255))
    hl = add_density_layers(fig, x_range=(0, 2), y_range=(1, 100), base_rgba=base, x_log=False, y_log=y_log)
    assert isinstance(hl, ColumnDataSource)
    assert set(hl.data) == {"image", "x", "y", "dw", "dh"}
    assert not np.asarray(hl.data["image"][0]).any()
    assert (hl.data["x"], hl.data["y"], hl.data["dw"], hl.data["dh"]) == ([0.0], [1.0], [2.0], [99.0])
    images = [r for r in fig.renderers if isinstance(r, GlyphRenderer) and isinstance(r.glyph, ImageRGBA)]
    assert [r.level for r in images] == ["image", "overlay"]
    assert images[1].data_source is hl


def test_add_density_layers_rejects_a_float_image() -> None:
    with pytest.raises(ValueError, match="base_rgba must be a 2-D uint32 image"):
        add_density_layers(figure(), x_range=(0, 1), y_range=(0, 1), base_rgba=np.ones((2, 2)),
                           x_log=False, y_log=False)


# --------------------------------------------------------------------------- the JS copies, run in node

_HARNESS = r"""
const fs = require("fs");
const req = JSON.parse(fs.readFileSync(0, "utf8"));
const num = (v) => (typeof v === "string" ? Number(v) : v);   // "NaN", "Infinity", "-Infinity"
const f64 = (a) => Float64Array.from(a, num);
eval(req.js);
const out = {bin: [], rgba: [], highlight: []};
for (const c of req.bin) {
  const xs = c.plain ? c.xs.map(num) : f64(c.xs);
  const ys = c.plain ? c.ys.map(num) : f64(c.ys);
  const mask = c.mask == null ? null : Uint8Array.from(c.mask);
  out.bin.push(Array.from(ht_bin(xs, ys, mask, c.x0, c.x1, c.y0, c.y1, c.w, c.h, c.xlog, c.ylog)));
}
for (const c of req.rgba) {
  out.rgba.push(Array.from(ht_rgba(Float32Array.from(c.counts), c.r, c.g, c.b, c.min_alpha)));
}
if (req.highlight != null) {
  const h = req.highlight;
  globalThis.Bokeh = {require: (name) => {
    if (name !== "core/util/ndarray") { throw new Error("unexpected module " + name); }
    return {ndarray: (buf, {dtype, shape}) => { buf.dtype = dtype; buf.shape = shape; return buf; }};
  }};
  const wrap = (obj) => (h.use_map ? new Map(Object.entries(obj)) : obj);
  const source = () => ({data: wrap({image: [], x: [], y: [], dw: [], dh: []}), opts: null,
                         setv(attrs, opts) { this.data = attrs.data; this.opts = opts; }});
  const points = {data: wrap(Object.fromEntries(Object.entries(h.points).map(([k, v]) => [k, f64(v)])))};
  for (const mask of h.masks) {
    const mask_src = {data: wrap({mask: Uint8Array.from(mask)})};
    const layers = h.layers.map((l, i) => (i % 2 == 0 ? [source(), ...l]
      : {source: source(), xcol: l[0], ycol: l[1], x0: l[2], x1: l[3], y0: l[4], y1: l[5], w: l[6], h: l[7],
         xlog: l[8], ylog: l[9], r: l[10], g: l[11], b: l[12]}));
    new Function("mask_src", "points", "layers", req.highlight_js)(mask_src, points, layers);
    out.highlight.push(layers.map((l) => {
      const src = Array.isArray(l) ? l[0] : l.source;
      const get = (k) => (src.data instanceof Map ? src.data.get(k) : src.data[k]);
      return {is_map: src.data instanceof Map, sync: src.opts.sync, shape: get("image")[0].shape,
              image: Array.from(get("image")[0]), x: get("x"), y: get("y"), dw: get("dw"), dh: get("dh")};
    }));
  }
}
process.stdout.write(JSON.stringify(out));
"""


def _js_num(v: float) -> float | str:
    return v if math.isfinite(v) else str(v).replace("nan", "NaN").replace("inf", "Infinity")


def _run_node(tmp_path: Path, request: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the density JS (BIN_JS, RGBA_JS, HIGHLIGHT_JS) is tested by running it "
                    "in Node.js; install Node.js (e.g. `apt-get install nodejs`) and run the tests again")
    harness = tmp_path / "harness.js"
    harness.write_text(_HARNESS)
    request = dict(request, js=BIN_JS + RGBA_JS)
    proc = subprocess.run([node, str(harness)], input=json.dumps(request), capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"node failed (exit {proc.returncode}):\n{proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _random_points(rng: np.random.Generator, n: int, log: bool) -> np.ndarray:
    v = 10 ** rng.uniform(-4, 3, n) if log else rng.normal(0, 1, n)
    special = rng.choice(n, n // 20, replace=False)
    v[special] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0], special.size)
    return v


_CASES = [  # x_range, y_range, width, height, x_log, y_log
    ((-2.0, 2.0), (-1.5, 2.5), 160, 120, False, False),
    ((1e-3, 100.0), (-2.0, 2.0), 37, 11, True, False),
    ((-3.0, 3.0), (1e-4, 1e3), 16, 7, False, True),
    ((1e-4, 1e3), (1e-2, 10.0), 7, 160, True, True),
]


def test_bin_js_counts_what_bin_points_counts(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 4000
    cases, expected = [], []
    for i, (xr, yr, w, h, xlog, ylog) in enumerate(_CASES):
        x, y = _random_points(rng, n, xlog), _random_points(rng, n, ylog)
        # Values on the edges: the range ends and interior bin edges (exact decades on log axes).
        edges_x = [xr[0], xr[1], 10.0, 1.0, 0.1] if xlog else [xr[0], xr[1], 0.0, 0.5, -1.0]
        edges_y = [yr[0], yr[1], 10.0, 1.0, 0.1] if ylog else [yr[0], yr[1], 0.0, 0.5, -1.0]
        x[:25] = np.repeat(edges_x, 5)
        y[:25] = np.tile(edges_y, 5)
        mask = None if i % 2 == 0 else (rng.random(n) < 0.3).astype(np.uint8)
        expected.append(bin_points(x, y, mask, x_range=xr, y_range=yr, width=w, height=h, x_log=xlog, y_log=ylog))
        cases.append(dict(xs=[_js_num(v) for v in x], ys=[_js_num(v) for v in y],
                          mask=None if mask is None else mask.tolist(), plain=i == 3,
                          x0=xr[0], x1=xr[1], y0=yr[0], y1=yr[1], w=w, h=h, xlog=xlog, ylog=ylog))
    got = _run_node(tmp_path, dict(bin=cases, rgba=[]))["bin"]
    for case, want, have in zip(_CASES, expected, got, strict=True):
        assert want.sum() > 0
        np.testing.assert_array_equal(np.asarray(have, dtype=np.float32).reshape(want.shape), want,
                                      err_msg=f"ht_bin differs from bin_points for case {case}")


def test_rgba_js_colours_what_counts_to_rgba_colours(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    count_sets = [
        rng.poisson(rng.uniform(0, 30, 500)).astype(np.float32),
        np.array([0, 1, 2, 8, 3, 80, 0], dtype=np.float32),  # log1p ratios of exactly 1/2, 1/3 ...
        np.zeros(10, dtype=np.float32),
        np.array([1], dtype=np.float32),
        np.arange(0, 100000, 7, dtype=np.float32),
    ]
    params = [((230, 20, 90), 60), ((0, 0, 0), 0), ((255, 255, 255), 255), ((1, 2, 3), 60), ((12, 200, 7), 90)]
    cases = [dict(counts=c.tolist(), r=col[0], g=col[1], b=col[2], min_alpha=a)
             for c, (col, a) in zip(count_sets, params, strict=True)]
    got = _run_node(tmp_path, dict(bin=[], rgba=cases))["rgba"]
    for counts, (col, a), have in zip(count_sets, params, got, strict=True):
        want = counts_to_rgba(counts, col, min_alpha=a)
        np.testing.assert_array_equal(np.asarray(have, dtype=np.uint32), want,
                                      err_msg=f"ht_rgba differs from counts_to_rgba for color={col}, min_alpha={a}")


@pytest.mark.parametrize("use_map", [True, False])
def test_highlight_js_fills_each_layer_with_the_selected_rows_and_clears_on_an_empty_mask(
        tmp_path: Path, use_map: bool) -> None:
    rng = np.random.default_rng(3)
    n = 3000
    points = {"a": rng.normal(0, 1, n), "b": 10 ** rng.uniform(-3, 2, n), "c": rng.uniform(0, 1, n)}
    layers: list[list[Any]] = [
        ["a", "c", -2.0, 2.0, 0.0, 1.0, 16, 12, False, False, 200, 30, 40],
        ["b", "a", 1e-3, 100.0, -2.0, 2.0, 20, 10, True, False, 10, 20, 250],
        ["c", "b", 0.0, 1.0, 1e-3, 100.0, 9, 13, False, True, 0, 120, 0],
    ]
    mask = (points["c"] < 0.4).astype(np.uint8)
    request = dict(bin=[], rgba=[], highlight_js=HIGHLIGHT_JS, highlight=dict(
        use_map=use_map, points={k: v.tolist() for k, v in points.items()}, layers=layers,
        masks=[mask.tolist(), np.zeros(n, dtype=np.uint8).tolist()]))
    selected, cleared = _run_node(tmp_path, request)["highlight"]
    for layer, have in zip(layers, selected, strict=True):
        xcol, ycol, x0, x1, y0, y1, w, h, xlog, ylog, r, g, b = layer
        counts = bin_points(points[str(xcol)], points[str(ycol)], mask, x_range=(x0, x1), y_range=(y0, y1),
                            width=w, height=h, x_log=xlog, y_log=ylog)
        want = counts_to_rgba(counts, (r, g, b))
        assert want.any()
        assert have["is_map"] is use_map
        assert have["sync"] is False
        assert have["shape"] == [h, w]
        np.testing.assert_array_equal(np.asarray(have["image"], dtype=np.uint32).reshape(h, w), want)
        assert (have["x"], have["y"], have["dw"], have["dh"]) == ([x0], [y0], [x1 - x0], [y1 - y0])
    for have in cleared:
        assert have["shape"] == [1, 1]
        assert have["image"] == [0]
        assert have["sync"] is False
