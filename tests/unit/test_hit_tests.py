"""The hit tests and their browser twins: numpy and the JavaScript (run in node) on the same input."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from panel_app.linked.hit_box_lasso import SELECT_JS, mask_in_geometry
from panel_app.linked.hit_tap import BAR_TAP_JS, CELL_JS, TAP_JS, TAP_RADIUS, bars_at, nearest_point

#: Runs a CustomJS body the way Bokeh does (named args, ``cb_obj``) and reports the mask it set.
_HARNESS = r"""
const fs = require("fs");
const req = JSON.parse(fs.readFileSync(0, "utf8"));
const num = (v) => (typeof v === "string" ? Number(v) : v);   // "NaN", "Infinity", "-Infinity"
const out = [];
for (const c of req.cases) {
  const data = {[c.xcol]: Float64Array.from(c.xs, num), [c.ycol]: Float64Array.from(c.ys, num)};
  const src = {data: c.use_map ? new Map(Object.entries(data)) : data};
  const mask = {data: null, opts: null, setv(attrs, opts) { this.data = attrs.data; this.opts = opts; }};
  const args = {...c.args, src: src, mask: mask, xcol: c.xcol, ycol: c.ycol, cb_obj: c.cb_obj};
  const names = Object.keys(args);
  new Function(...names, req.js)(...names.map((k) => args[k]));
  out.push(mask.data == null ? null : {mask: Array.from(mask.data.mask), sync: mask.opts.sync});
}
process.stdout.write(JSON.stringify(out));
"""


def _js_num(v: float) -> float | str:
    return v if math.isfinite(v) else str(v).replace("nan", "NaN").replace("inf", "Infinity")


def _run_js(tmp_path: Path, js: str, cases: list[dict[str, Any]]) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the hit tests' JavaScript twins (SELECT_JS, TAP_JS) are "
                    "tested by running them in Node.js; install Node.js (e.g. `apt-get install "
                    "nodejs`) and run the tests again")
    harness = tmp_path / "harness.js"
    harness.write_text(_HARNESS)
    for case in cases:
        case["xs"] = [_js_num(float(v)) for v in case["xs"]]
        case["ys"] = [_js_num(float(v)) for v in case["ys"]]
    proc = subprocess.run([node, str(harness)], input=json.dumps({"js": js, "cases": cases}),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"node failed (exit {proc.returncode}):\n{proc.stderr}"
    result: list[Any] = json.loads(proc.stdout)
    return result


def _points(rng: np.random.Generator, n: int, log: bool) -> np.ndarray:
    v = 10 ** rng.uniform(-4, 2, n) if log else rng.normal(0, 1, n)
    special = rng.choice(n, n // 15, replace=False)
    v[special] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0], special.size)
    return v


def _polygon(rng: np.random.Generator, k: int, log: bool) -> tuple[list[float], list[float]]:
    """A star-shaped, often self-crossing polygon around the data (in data units)."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, k)) if k % 2 else rng.uniform(0, 2 * np.pi, k)
    r = rng.uniform(0.2, 2.0, k)
    x, y = r * np.cos(angles), r * np.sin(angles)
    if log:
        x, y = 10 ** (x * 2 - 1), 10 ** (y * 2 - 1)
    return x.tolist(), y.tolist()


def test_select_js_selects_what_mask_in_geometry_selects(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    cases: list[dict[str, Any]] = []
    want: list[np.ndarray] = []
    for i in range(24):
        xlog, ylog = bool(i & 1), bool(i & 2)
        xs, ys = _points(rng, 400, xlog), _points(rng, 400, ylog)
        if i % 3 == 0:  # a box, in either corner order; on log axes in data units
            a, b = sorted(rng.normal(0, 1, 2)) if not xlog else sorted(10 ** rng.uniform(-3, 1, 2))
            c, d = sorted(rng.normal(0, 1, 2)) if not ylog else sorted(10 ** rng.uniform(-3, 1, 2))
            geometry: dict[str, Any] = {"type": "rect", "x0": b, "x1": a, "y0": c, "y1": d}
        elif i % 3 == 1:
            px, py = _polygon(rng, int(rng.integers(3, 12)), xlog and ylog)
            geometry = {"type": "poly", "x": px, "y": py}
        else:  # a lasso with vertices that are not finite on a log axis, or too few of them
            px, py = _polygon(rng, 5, False)
            if i % 4 == 2:
                px, py = px[:2], py[:2]
            geometry = {"type": "poly", "x": px, "y": py}
        want.append(mask_in_geometry(geometry, xs, ys, x_log=xlog, y_log=ylog))
        cases.append({"xcol": "x:h", "ycol": "m:m", "xs": xs, "ys": ys, "use_map": bool(i % 2),
                      "args": {"xlog": xlog, "ylog": ylog},
                      "cb_obj": {"final": True, "geometry": geometry}})
    cases.append({**cases[0], "xs": list(cases[0]["xs"]), "ys": list(cases[0]["ys"]),
                  "cb_obj": {"final": False, "geometry": cases[0]["cb_obj"]["geometry"]}})
    cases.append({**cases[1], "xs": list(cases[1]["xs"]), "ys": list(cases[1]["ys"]),
                  "cb_obj": {"final": True, "geometry": {"type": "point", "x": 0, "y": 0}}})
    got = _run_js(tmp_path, SELECT_JS, cases)
    assert sum(int(w.sum()) for w in want) > 100  # the cases do select something
    for i, (w, g) in enumerate(zip(want, got, strict=False)):
        assert g is not None and g["sync"] is False, i
        assert g["mask"] == w.astype(int).tolist(), f"case {i}: {cases[i]['cb_obj']['geometry']}"
    assert got[-2] is None  # a box still being drawn sets nothing
    assert got[-1] is None  # an unknown geometry type sets nothing (numpy: selects nothing)
    assert not mask_in_geometry({"type": "point"}, np.zeros(3), np.zeros(3)).any()


def test_tap_js_picks_what_nearest_point_picks(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    cases: list[dict[str, Any]] = []
    want: list[int | None] = []
    for i in range(40):
        xlog, ylog = bool(i & 1), bool(i & 2)
        n = 0 if i == 39 else int(rng.integers(1, 60))
        xs, ys = _points(rng, n, xlog), _points(rng, n, ylog)
        if i % 5 == 4 and n:
            xs[:] = xs[0]  # ties: the first one wins
            ys[:] = ys[0]
        x_span = (1e-4, 1e2) if xlog else (-3.0, 3.0)
        y_span = (1e-4, 1e2) if ylog else (-3.0, 3.0)
        if i == 7:
            y_span = (1.0, 1.0)  # an empty span counts as 1
        frame = (int(rng.integers(100, 300)), int(rng.integers(80, 250)))
        radius = TAP_RADIUS if i % 3 else 40.0
        finite = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys) & ((xs > 0) | (not xlog))
                                & ((ys > 0) | (not ylog)))
        if len(finite) and i % 2 == 0:  # close to a point: usually a hit
            k = int(rng.choice(finite))
            px, py = xs[k] * (1.01 if xlog else 1.0) + (0 if xlog else 0.02), ys[k]
        else:
            px = float(10 ** rng.uniform(-4, 2)) if xlog else float(rng.normal(0, 1))
            py = float(10 ** rng.uniform(-4, 2)) if ylog else float(rng.normal(0, 1))
        if i == 9:
            px = -1.0 if xlog else math.nan  # a click that cannot be placed picks nothing
        want.append(nearest_point(xs, ys, px, py, x_span=x_span, y_span=y_span, frame=frame,
                                  x_log=xlog, y_log=ylog, radius=radius))
        cases.append({"xcol": "x:h", "ycol": "m:m", "xs": xs, "ys": ys, "use_map": bool(i % 2),
                      "args": {"xlog": xlog, "ylog": ylog, "fw": frame[0], "fh": frame[1],
                               "radius": radius,
                               "xr": {"start": x_span[0], "end": x_span[1]},
                               "yr": {"start": y_span[0], "end": y_span[1]}},
                      "cb_obj": {"x": _js_num(px), "y": _js_num(py)}})
    got = _run_js(tmp_path, TAP_JS, cases)
    assert sum(w is not None for w in want) >= 10  # the cases do hit something
    assert sum(w is None for w in want) >= 5  # ... and miss something
    for i, (w, g, case) in enumerate(zip(want, got, cases, strict=True)):
        assert g is not None and g["sync"] is False, i
        expected = [0] * len(case["xs"])
        if w is not None:
            expected[w] = 1
        assert g["mask"] == expected, f"case {i}: numpy picked {w}"


def test_bar_tap_js_picks_what_bars_at_picks(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    cases: list[dict[str, Any]] = []
    want: list[np.ndarray] = []
    for i in range(30):
        n = 0 if i == 29 else int(rng.integers(1, 40))
        tops = rng.normal(0, 1, n)
        tops[rng.choice(n, n // 6, replace=False)] = np.nan
        dense = i % 3 == 2  # ranks as x, and a pixel column as the least half-width
        xs = rng.permutation(n).astype(np.float64) if dense else None
        span = (-0.5, n - 0.5) if dense else None
        frame_w = (4 if i < 12 else int(rng.integers(3, 200))) if dense else None
        px = float(rng.uniform(-1, n + 1))
        if i % 5 == 0 and n:
            px = float(rng.integers(0, n)) + (0.0 if dense else 0.5) + 0.39  # near an edge
        want.append(bars_at(tops, px, xs=xs, x_span=span, frame_w=frame_w))
        cases.append({"xcol": "r:m" if dense else None, "ycol": "m:m",
                      "xs": xs if dense else np.zeros(n), "ys": tops, "use_map": bool(i % 2),
                      "args": {"half": 0.5 if dense else 0.4, "fw": frame_w,
                               "xr": {"start": span[0], "end": span[1]} if span else None},
                      "cb_obj": {"x": px}})
        if dense:
            want[-1] = bars_at(tops, px, xs=xs, half=0.5, x_span=span, frame_w=frame_w)
    got = _run_js(tmp_path, BAR_TAP_JS, cases)
    assert sum(len(w) > 0 for w in want) >= 10 and sum(len(w) == 0 for w in want) >= 3
    assert any(len(w) > 1 for w in want)  # a pixel column of a dense chart holds several
    for i, (w, g, case) in enumerate(zip(want, got, cases, strict=True)):
        assert g is not None and g["sync"] is False, i
        expected = [0] * len(case["ys"])
        for r in w:
            expected[r] = 1
        assert g["mask"] == expected, f"case {i}: numpy picked {w.tolist()}"


def test_bars_at_picks_the_column_and_never_a_missing_bar() -> None:
    tops = np.array([0.5, np.nan, -0.2, 0.01])
    assert bars_at(tops, 0.5).tolist() == [0]
    assert bars_at(tops, 0.95).tolist() == []  # the gap between bars
    assert bars_at(tops, 1.5).tolist() == []  # no value, no bar
    assert bars_at(tops, 2.2).tolist() == [2]  # below the baseline: its column all the same
    assert bars_at(tops, 3.8).tolist() == [3]  # a short bar: anywhere in its column


_CELL_HARNESS = """
const fs = require("fs");
const req = JSON.parse(fs.readFileSync(0, "utf8"));
const out = [];
for (const c of req.cases) {
  const src = {data: new Map(Object.entries(c.data).map(([k, v]) => [k, Float64Array.from(v)]))};
  const mask = {data: null, setv(attrs, opts) { this.data = attrs.data; }};
  const cells = new Map(Object.entries(req.cells));
  new Function("src", "mask", "cells", "radius", "cb_obj", req.js)(src, mask, cells, 8, c.cb_obj);
  out.push(mask.data == null ? null : Array.from(mask.data.mask));
}
process.stdout.write(JSON.stringify(out));
"""


def test_one_callback_serves_every_cell_by_the_event_origin(tmp_path: Path) -> None:
    """``CELL_JS``: the cell an event happened in picks the columns and axes the hit test uses."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js (e.g. `apt-get install nodejs`)")
    xs, ys, zs = [1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0], [40.0, 30.0, 20.0, 10.0]
    data = {"x:a": xs, "m:b": ys, "m:c": zs}
    cells = {"f1": ["x:a", "m:b", False, False], "f2": ["x:a", "m:c", False, False]}
    box = {"type": "rect", "x0": 0.5, "x1": 2.5, "y0": 15.0, "y1": 45.0}
    frame = {"x_range": {"start": 0, "end": 5}, "y_range": {"start": 0, "end": 50},
             "frame_width": 100, "frame_height": 100}
    cases = [{"data": data, "cb_obj": {"final": True, "geometry": box, "origin": {"id": f, **frame}}}
             for f in ("f1", "f2", "unknown")]
    harness = tmp_path / "cells.js"
    harness.write_text(_CELL_HARNESS)
    proc = subprocess.run([node, str(harness)], capture_output=True, text=True, timeout=120,
                          check=False, input=json.dumps({"js": CELL_JS + SELECT_JS,
                                                         "cells": cells, "cases": cases}))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got[0] == mask_in_geometry(box, np.array(xs), np.array(ys)).astype(int).tolist() == [0, 1, 0, 0]
    assert got[1] == mask_in_geometry(box, np.array(xs), np.array(zs)).astype(int).tolist() == [1, 1, 0, 0]
    assert got[2] is None  # an event from a figure that is not a cell sets nothing
    click = {"data": data, "cb_obj": {"x": 3.0, "y": 20.0, "origin": {"id": "f2", **frame}}}
    proc = subprocess.run([node, str(harness)], capture_output=True, text=True, timeout=120,
                          check=False, input=json.dumps({"js": CELL_JS + TAP_JS, "cells": cells,
                                                         "cases": [click]}))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [[0, 0, 1, 0]]  # the point (3, 20) of the cell clicked
