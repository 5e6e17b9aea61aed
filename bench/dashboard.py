"""Run page at scale: time to first render and brush-to-highlight latency in headless Chromium,
against an ``hv.link_selections`` version of the same scatter matrix measured in the same run.

    python bench/dashboard.py [--experiments 100000] [--epochs 100] [--brushes 3] [--timeout 180]
    python bench/dashboard.py --experiments 1000 --epochs 20          # quick
    python bench/dashboard.py --experiments 1000 --epochs 20 --designs "run page" \
        --breakdown --baseline e6faef9 --rounds 2       # where the time goes, against main

``--breakdown`` prints where the run page's first render and brushes spend their time
(:mod:`bench.render_probes`: server session build, the Bokeh document's models and bytes,
browser milestones, CustomJS and repaint times per brush). ``--baseline REF`` also measures
the run page of git commit REF (a temporary worktree) in the same run, and prints the ratio;
``--rounds N`` alternates the designs N times (medians).

Steps: :mod:`bench.synthetic` writes a real store project (one run, N experiments x E epochs);
each design is then measured in its own child process (so that a design which runs out of
memory reports that instead of taking the bench down), which loads the project through
:class:`~workbench_plugin.index.ProjectIndex`, serves the page on 127.0.0.1 and drives it with
Playwright (``/usr/bin/chromium``, software WebGL):

* ``run page``: :func:`panel_app.server.serve_run_page` over ``RunView(index, run_id)``;
* ``link_selections``: one ``hv.Points`` per hyperparameter x metric cell (same final values),
  in an ``hv.Layout`` linked with ``hv.link_selections``, served with ``pn.serve`` in a thread.

What is measured, all in the browser's clock (``performance.now()``, origin = navigation start):

* first render: navigation start -> every plot's Bokeh view reports ``is_idle`` (run page: the
  ``scatter:*`` figures and the bar chart; link_selections: every figure of the layout);
* brush -> all highlighted: the ``pointerup`` of a real mouse drag (a box over one ``batch_size``
  column of the top-left scatter, pixel positions from Bokeh's own scales) -> the first
  animation frame after the highlight is in the data of ALL other plots and every view is
  idle. Run page: the highlight renderers (``highlight:<h>:<m>``) all draw the
  ``runpage-highlight`` source, so its ``experiment_id`` column changing is the signal.
  link_selections: for every figure except the dragged one, the signature (row count of every
  glyph renderer's data source plus its selected indices) differs from before the drag - the
  selection layer's data is replaced by the server. The next frame after that is counted, so
  Bokeh's repaint (requested when the data changed) has run.

Brushes alternate over the batch_size columns (each changes the highlight); medians are
printed. Every step has a timeout (``--timeout``): a design that cannot cope reports e.g.
"did not render within 180 s".
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH_SIZES = ("32", "64", "128", "256")

# ---- browser-side probes -------------------------------------------------------------------
_PLOTS_JS = {
    "run page": """() => [...Bokeh.index.all_views()].filter((v) => v.model.name === "bars" ||
                    (v.model.name || "").startsWith("scatter:"))""",
    "link_selections": """() => [...Bokeh.index.all_views()].filter(
                    (v) => v.model.type === "Figure" || v.model.constructor.name === "Figure")""",
}

_COMMON_JS = """
window.__ht = window.__ht || {};
window.__ht.plots = {
  "run page": RUN_PAGE_PLOTS,
  "link_selections": LINK_SELECTIONS_PLOTS,
};
window.__ht.sig = (view) => {
  const parts = [];
  for (const r of view.model.renderers) {
    const ds = r.data_source;
    if (!ds) continue;
    const d = ds.data;
    const cols = d instanceof Map ? [...d.values()] : Object.values(d);
    const n = cols.length ? cols[0].length : 0;
    parts.push(n + "/" + ds.selected.indices.length);
  }
  return parts.join(",");
};
window.__ht.hl = () => {
  // every highlight layer is drawn synchronously from this mask when it changes
  const m = Bokeh.documents[0].get_model_by_name("runpage-mask");
  const d = m.data;
  const col = d instanceof Map ? d.get("mask") : d.mask;
  if (!col) { return ""; }
  let n = 0, first = -1, last = -1;
  for (let i = 0; i < col.length; i++) { if (col[i]) { n++; if (first < 0) first = i; last = i; } }
  return n + ":" + first + ":" + last;
};
window.__ht.deep = (root, sel) => {  // Panel renders panes in shadow roots
  const el = root.querySelector(sel);
  if (el) { return el; }
  for (const n of root.querySelectorAll("*")) {
    if (n.shadowRoot) { const f = window.__ht.deep(n.shadowRoot, sel); if (f) { return f; } }
  }
  return null;
};
window.__ht.selectedText = () => {
  const el = window.__ht.deep(document, ".ht-selected");
  return el ? el.textContent : "";
};
// Bokeh acts on pointerup (hit test, geometry event), before mouseup: time from the first
window.addEventListener("pointerup", () => {
  if (window.__ht.up == null) { window.__ht.up = performance.now(); }
}, true);
""".replace("RUN_PAGE_PLOTS", _PLOTS_JS["run page"]).replace(
    "LINK_SELECTIONS_PLOTS", _PLOTS_JS["link_selections"])

READY_JS = """([design, expected]) => {
  if (!window.Bokeh || Bokeh.documents.length === 0) { return false; }
  const plots = window.__ht.plots[design]();
  const ok = plots.length >= expected && plots.every((v) => v.is_idle);
  if (ok && window.__ht.ready == null) { window.__ht.ready = performance.now(); }
  return ok;
}"""

BEFORE_JS = """([design, dragged]) => {
  const plots = window.__ht.plots[design]();
  window.__ht.before = design === "run page" ? window.__ht.hl()
      : plots.map((v) => v.model.id === dragged ? null : window.__ht.sig(v));
  window.__ht.ids = plots.map((v) => v.model.id);
  window.__ht.seen = null; window.__ht.done = null; window.__ht.up = null;
  window.__ht.selBefore = window.__ht.selectedText();
  window.__ht.js = []; window.__ht.paints = [];
}"""

# the server followed: the header's "N selected" (sent in the same patch as the table's
# selection and the sliders' handles) changed
FOLLOW_JS = """() => {
  const h = window.__ht;
  if (h.selectedText() === h.selBefore) { return false; }
  h.follow = performance.now();
  return true;
}"""

# true on the first animation frame after the one where the highlight was first complete
DONE_JS = """([design]) => {
  const h = window.__ht;
  if (h.up == null) { return false; }
  const plots = h.plots[design]();
  let changed;
  if (design === "run page") {
    changed = h.hl() !== h.before && !h.hl().startsWith("0:");
  } else {
    const byId = new Map(plots.map((v) => [v.model.id, v]));
    changed = h.ids.every((id, i) => h.before[i] === null ||
                          (byId.has(id) && h.sig(byId.get(id)) !== h.before[i]));
  }
  const ok = changed && plots.every((v) => v.is_idle);
  if (!ok) { h.seen = null; return false; }
  if (h.seen == null) { h.seen = performance.now(); return false; }
  h.done = performance.now();
  return true;
}"""

# the top-left figure with a categorical x axis, and a box over one of its factors
TARGET_JS = """([design, factor, index]) => {
  const plots = window.__ht.plots[design]().filter((v) =>
      design === "run page" ? v.model.name.startsWith("scatter:batch_size:")
                            : v.model.x_range.type === "FactorRange" ||
                              v.model.x_range.constructor.name === "FactorRange");
  const boxes = plots.map((v) => [v, v.canvas_view.el.getBoundingClientRect()]);
  boxes.sort((a, b) => (a[1].top - b[1].top) || (a[1].left - b[1].left));
  const [view, c] = boxes[0];
  const f = view.frame;
  const rng = view.model.x_range;
  const centre = design === "run page" ? index : rng.synthetic(factor);
  return {
    id: view.model.id, name: view.model.name,
    top: c.top + f.bbox.top + 2, bottom: c.top + f.bbox.top + f.bbox.height - 2,
    x0: c.left + f.x_scale.compute(centre - 0.45), x1: c.left + f.x_scale.compute(centre + 0.45),
  };
}"""


def _js_labels() -> list[list[str]]:
    """A unique line of each CustomJS the page runs, to name it in the brush breakdown."""
    from panel_app.linked.density import HIGHLIGHT_JS
    from panel_app.linked.hit_box_lasso import SELECT_JS
    from panel_app.linked.selection import RENDER_JS

    def line(code: str) -> str:
        return max(code.strip().splitlines(), key=len).strip()[:60]

    return [["hit test", line(SELECT_JS)], ["highlight update", line(RENDER_JS)],
            ["density highlight", line(HIGHLIGHT_JS)]]


# ---- the two designs -----------------------------------------------------------------------
def _load(store_dir: str) -> tuple[Any, str, dict[str, float]]:
    from workbench_plugin.index import ProjectIndex, RunView
    from workbench_plugin.store import Store

    t0 = time.perf_counter()
    index = ProjectIndex(Store(store_dir), "synthetic")
    index.refresh()
    run_id = index.latest_run()
    assert run_id is not None
    t1 = time.perf_counter()
    view = RunView(index, run_id)
    frames = view.frames()
    t2 = time.perf_counter()
    return view, frames, {"index refresh": t1 - t0, "frames": t2 - t1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_run_page_design(store_dir: str) -> tuple[str, Any, int, dict[str, float]]:
    from panel_app.server import serve_run_page

    view, frames, prep = _load(store_dir)
    t0 = time.perf_counter()
    served = serve_run_page(view, refresh_ms=60_000)
    prep["serve"] = time.perf_counter() - t0
    n_plots = len(frames.hparams[:6]) * len(frames.metrics[:4]) + 1
    return served.url, served.stop, n_plots, prep


def link_selections_layout(experiments: Any, hparams: list[str], metrics: list[str]) -> Any:
    """The baseline: the same hparam x metric matrix as hv.Points, linked with link_selections."""
    import holoviews as hv

    hv.extension("bokeh")
    data = experiments[[*hparams, *metrics]].copy()
    for h in hparams:
        if h == "batch_size" or data[h].map(lambda v: isinstance(v, str)).any():  # categories
            data[h] = data[h].astype(str)
        else:
            data[h] = data[h].astype(float)
    cells = []
    for m in metrics:
        for h in hparams:
            cells.append(hv.Points(data, kdims=[h, m]).opts(
                width=210, height=190, size=4, tools=["box_select"], active_tools=["box_select"],
                logx=h == "lr"))
    layout = hv.Layout(cells).cols(len(hparams))
    return hv.link_selections.instance()(layout)


def serve_link_selections_design(store_dir: str) -> tuple[str, Any, int, dict[str, float]]:
    import panel as pn

    _view, frames, prep = _load(store_dir)
    hparams, metrics = list(frames.hparams[:6]), list(frames.metrics[:4])
    exps = frames.experiments

    def session() -> Any:
        return pn.pane.HoloViews(link_selections_layout(exps, hparams, metrics))

    port = _free_port()
    t0 = time.perf_counter()
    thread = pn.serve(session, address="127.0.0.1", port=port, threaded=True, show=False,
                      verbose=False, title="link_selections baseline")
    _wait_http(f"http://127.0.0.1:{port}/static/js/bokeh.min.js", 60)
    prep["serve"] = time.perf_counter() - t0

    def stop() -> None:
        thread.stop()
        thread.join(10)

    return f"http://127.0.0.1:{port}/", stop, len(hparams) * len(metrics), prep


def _wait_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: server not up after {timeout:.0f} s") from None
            time.sleep(0.1)


def measure(label: str, store_dir: str, *, brushes: int, timeout: float,
            screenshot: str | None) -> dict[str, Any]:
    """Serve one design, open it in Chromium, time the first render and the brushes."""
    from playwright.sync_api import Error as PlaywrightError

    from bench._browser import chromium_page
    from bench.render_probes import (
        COLLECT_JS,
        PROBES_JS,
        WRAP_JS,
        browser_breakdown,
        brush_breakdown,
        session_breakdown,
    )

    design = "link_selections" if label == "link_selections" else "run page"
    out: dict[str, Any] = {"design": label, "brushes": []}
    if design == "run page":  # the server's share, built once outside the server
        view, _frames, _prep = _load(store_dir)
        out["session"] = session_breakdown(view)
    serve = serve_run_page_design if design == "run page" else serve_link_selections_design
    url, stop, n_plots, prep = serve(store_dir)
    out.update(prep=prep, plots=n_plots)
    ms = int(timeout * 1000)
    try:
        with chromium_page() as (_browser, page, errors):
            page.add_init_script(PROBES_JS + _COMMON_JS + f"window.__ht.design = {json.dumps(design)};"
                                 f"window.__ht.expected = {n_plots};")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            try:
                page.goto(url, wait_until="commit", timeout=ms)
                page.wait_for_function(READY_JS, arg=[design, n_plots], timeout=ms, polling=50)
            except PlaywrightError as exc:
                out["error"] = f"did not render within {timeout:.0f} s"
                out["detail"] = str(exc).splitlines()[0]
                return out
            out["first_render_ms"] = page.evaluate("() => window.__ht.ready")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            out["browser"] = browser_breakdown(page.evaluate(COLLECT_JS), metrics)
            # let the server's trailing work after the first paint (table rows) finish first
            page.wait_for_timeout(2000)
            page.wait_for_function(READY_JS, arg=[design, n_plots], timeout=ms, polling=50)
            if design == "run page":
                page.evaluate(WRAP_JS, [_js_labels()])
            for b in range(brushes):
                index = b % len(BATCH_SIZES)
                t = page.evaluate(TARGET_JS, [design, BATCH_SIZES[index], index])
                page.evaluate(BEFORE_JS, [design, t["id"]])
                x0, x1, top, bottom = t["x0"], t["x1"], t["top"], t["bottom"]
                page.mouse.move(x0, top)
                page.mouse.down()
                page.mouse.move((x0 + x1) / 2, (top + bottom) / 2, steps=4)
                page.mouse.move(x1, bottom, steps=4)
                page.mouse.up()
                try:
                    page.wait_for_function(DONE_JS, arg=[design], timeout=ms, polling="raf")
                except PlaywrightError:
                    out["error"] = f"brush {b + 1}: highlight not in all plots within {timeout:.0f} s"
                    break
                done = page.evaluate("() => window.__ht.done - window.__ht.up")
                out["brushes"].append(done)
                if design == "run page":
                    out.setdefault("brush_parts", []).append(brush_breakdown(page.evaluate(
                        "() => { const h = window.__ht; return {up: h.up, done: h.done, js: h.js,"
                        " paints: h.paints, frames: h.frames.filter((f) => f[0] >= h.up),"
                        " sent: h.sent.filter((f) => f[0] >= h.up), longtasks: h.longtasks}; }")))
                if design == "run page":
                    try:
                        page.wait_for_function(FOLLOW_JS, timeout=ms, polling="raf")
                        out.setdefault("follow", []).append(
                            page.evaluate("() => window.__ht.follow - window.__ht.up"))
                    except PlaywrightError:
                        out["error"] = f"brush {b + 1}: table/sliders did not follow within {timeout:.0f} s"
                        break
                page.wait_for_timeout(2000)  # let the server finish (table, header) before the next
            if screenshot:  # after the last brush: the highlight and the table following it
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=screenshot, full_page=True, timeout=ms)
                out["screenshot"] = screenshot
            out["page_errors"] = errors[:3]
    finally:
        try:
            stop()
        except Exception as exc:  # report, but keep the figures
            out["stop_error"] = str(exc)
    return out


# ---- driver --------------------------------------------------------------------------------
def _child(design: str, store_dir: str, args: argparse.Namespace,
           code: str | None = None) -> dict[str, Any]:
    """Measure ``design`` in a child process; ``code``: import the product from that checkout
    (the baseline) instead of this one."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", design, "--store", store_dir,
           "--brushes", str(args.brushes), "--timeout", str(args.timeout)]
    if code:
        cmd += ["--code", code]
    elif design == "run page" and args.screenshot:
        cmd += ["--screenshot", args.screenshot]
    return run_child(design, cmd, args.timeout * (3 + args.brushes) + 300)


def run_child(design: str, cmd: list[str], limit: float) -> dict[str, Any]:
    """Run a measuring child process; its last JSON line, or ``{"design", "error"}`` in one line."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"design": design, "error": f"child did not finish within {limit:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        why = "killed (out of memory?)" if proc.returncode in (-9, 137) else f"exit {proc.returncode}"
        tail = (proc.stderr.strip().splitlines() or [""])[-1]
        return {"design": design, "error": f"child {why}: {tail[:160]}"}
    return json.loads(lines[-1])


def print_breakdown(r: dict[str, Any]) -> None:
    """Where one design's first render and brushes spent their time."""
    print(f"\n{r['design']}: where the time goes")
    if r.get("first_renders"):
        print("  first renders: " + ", ".join(_fmt_ms(v) for v in r["first_renders"]))
    s = r.get("session") or {}
    if s:
        print(f"  server (outside the server, same code): page build {s['page build s'] * 1000:.0f} ms, "
              f"Panel -> Bokeh models {s['bokeh models s'] * 1000:.0f} ms, serialize "
              f"{s['serialize s'] * 1000:.0f} ms; document {s['models']} models, "
              f"{s['doc bytes'] / 1024:.0f} KiB")
        print("    by part (models, KiB): " + "; ".join(
            f"{k} {n}, {b / 1024:.0f}" for k, (n, b) in s["by part"].items()))
        print("    most models: " + ", ".join(f"{k} {v}" for k, v in s["types"]))
        print("    most bytes (KiB): " + ", ".join(f"{k} {v / 1024:.0f}" for k, v in s["bytes by type"]))
    b = r.get("browser") or {}
    if b:
        def at(k: str) -> str:
            v = b.get(k)
            return "-" if v is None else f"{v:.0f}"
        print("  browser, ms since navigation start: "
              + ", ".join(f"{k} {at(k)}" for k in (
                  "html response (server session build)", "js loaded", "bokeh js", "ws open",
                  "last ws frame before ready", "document", "plot views built", "first paint",
                  "ready")))
        big = b.get("largest ws frame")
        print(f"    bytes: html {(b.get('html bytes') or 0) / 1024:.0f} KiB, js "
              f"{b['js bytes'] / 1024:.0f} KiB in {b['js files']} files, css "
              f"{b['css bytes'] / 1024:.0f} KiB, websocket {b['ws bytes in before ready'] / 1024:.0f} KiB "
              f"in {b['ws frames in before ready']} frames before ready"
              + (f" (largest {big[0] / 1024:.0f} KiB at {big[1]:.0f} ms)" if big else ""))
        print("    js files (KiB): " + ", ".join(
            f"{name} {size / 1024:.0f}" for name, _t, size in b.get("js list") or []))
        print("    main thread: " + ", ".join(
            f"{k[4:]} {b[k]:.0f}" for k in b if k.startswith("cdp "))
            + f"; long tasks {b['long tasks ms']:.0f} ms")
        if b.get("ws sent before ready"):
            print(f"    sent before ready: {b['ws sent before ready']}")
    parts = r.get("brush_parts") or []
    if parts:
        def med(f: Any) -> float:
            vals = [f(p) for p in parts]
            vals = [v for v in vals if v is not None]
            return statistics.median(vals) if vals else float("nan")
        labels = sorted({k for p in parts for k in p["js"]})
        print(f"  brush (median of {len(parts)}): total {med(lambda p: p['total']):.0f} ms; "
              + ", ".join(f"{k} {med(lambda p, k=k: p['js'].get(k)):.1f} ms" for k in labels)
              + f"; highlight data set at {med(lambda p: p['until highlight data set']):.0f} ms; "
              f"repaints: primary {med(lambda p: p['primary repaints']):.0f} "
              f"({med(lambda p: p['primary ms']):.1f} ms), overlay "
              f"{med(lambda p: p['overlay repaints']):.0f} ({med(lambda p: p['overlay ms']):.1f} ms); "
              f"websocket before highlighted: sent {med(lambda p: p['ws sent']):.0f}, "
              f"received {med(lambda p: p['ws received']):.0f} frames")
        print(f"    after pointerup (ms): first repaint {med(lambda p: p['first paint']):.0f}, "
              f"last repaint ends {med(lambda p: p['last paint end']):.0f}, first server frame "
              f"{med(lambda p: p['first server frame']):.0f}, long tasks "
              f"{med(lambda p: p['long tasks']):.0f} ms in {med(lambda p: p['long task count']):.0f}")


def _merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One design's rounds: median first render, every brush, the first round's breakdowns."""
    ok = [r for r in rounds if r.get("first_render_ms") is not None]
    out = dict(ok[len(ok) // 2] if ok else rounds[0])
    if ok:
        out["first_render_ms"] = statistics.median(r["first_render_ms"] for r in ok)
        out["first_renders"] = [r["first_render_ms"] for r in ok]
    out["brushes"] = [b for r in rounds for b in r.get("brushes") or []]
    out["follow"] = [b for r in rounds for b in r.get("follow") or []]
    out["brush_parts"] = [b for r in rounds for b in r.get("brush_parts") or []]
    errors = [r["error"] for r in rounds if r.get("error")]
    if errors:
        out["error"] = "; ".join(errors)
    return out


def _fmt_ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--brushes", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per step")
    ap.add_argument("--store", help="use this store (generated there if it has no project)")
    ap.add_argument("--designs", default="run page,link_selections")
    ap.add_argument("--screenshot", default=None,
                    help="run page screenshot path (default docs/run-page-<N>.png)")
    ap.add_argument("--baseline", default=None, metavar="REF",
                    help="also measure the run page of this git commit (e.g. e6faef9), checked "
                         "out in a temporary worktree, alternating with this checkout's")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each design this many times, alternating (medians printed)")
    ap.add_argument("--breakdown", action="store_true",
                    help="print where the run page's first render and brushes spend their time")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--code", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        if args.code:  # the baseline's product code first on the path (bench/ stays ours)
            sys.path.insert(0, args.code)
            for name in [m for m in sys.modules if m.split(".")[0] in ("panel_app", "workbench_plugin")]:
                del sys.modules[name]
        print(json.dumps(measure(args.child, args.store, brushes=args.brushes,
                                 timeout=args.timeout, screenshot=args.screenshot)), flush=True)
        return

    from bench.synthetic import generate

    n = args.experiments
    if args.screenshot is None:
        label = f"{n // 1000}k" if n % 1000 == 0 else str(n)
        args.screenshot = str(ROOT / "docs" / f"run-page-{label}.png")
    with tempfile.TemporaryDirectory(prefix="ht-dash-") as tmp:
        store_dir = args.store or str(Path(tmp, "store"))
        if not Path(store_dir, "projects", "synthetic", "project.json").exists():
            t0 = time.perf_counter()
            sp = generate(store_dir, experiments=n, epochs=args.epochs)
            gen = time.perf_counter() - t0
            print(f"synthetic project: {n:,} experiments x {args.epochs} epochs, "
                  f"{sp.metric_rows:,} metric rows, generated in {gen:.1f} s ("
                  + ", ".join(f"{k} {v:.1f} s" for k, v in sp.seconds.items()) + ")", flush=True)
        designs = [(d.strip(), None) for d in args.designs.split(",") if d.strip()]
        base_dir = None
        if args.baseline:
            base_dir = tempfile.mkdtemp(prefix="ht-baseline-")
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", base_dir,
                            args.baseline], check=True, capture_output=True)
            designs.insert(1, (f"run page @{args.baseline}", base_dir))
        runs: dict[str, list[dict[str, Any]]] = {}
        try:
            for rnd in range(args.rounds):
                for design, code in designs:
                    print(f"measuring {design} (round {rnd + 1}/{args.rounds}) ...", flush=True)
                    r = _child("run page" if code else design, store_dir, args, code)
                    r["design"] = design
                    runs.setdefault(design, []).append(r)
        finally:
            if base_dir:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", base_dir],
                               check=False, capture_output=True)
        results = [_merge(rs) for rs in runs.values()]

    print()
    print(f"dashboard at N = {n:,} experiments x {args.epochs} epochs "
          f"({os.cpu_count()} cores, headless Chromium, software WebGL); goals: first render "
          "<= 3 s, brush -> highlight <= 100 ms, table and sliders follow <= 300 ms")
    print(f"{'design':<20}{'N':>9}  {'server prep':>12}  {'first render':>13}  "
          f"{'brush->all highlighted (median)':>32}  brushes / note")
    for r in results:
        prep = r.get("prep") or {}
        brushes = r.get("brushes") or []
        med = statistics.median(brushes) if brushes else None
        r["median"] = med
        note = ", ".join(_fmt_ms(b) for b in brushes)
        if r.get("follow"):
            note += f"; table+sliders follow (median) {_fmt_ms(statistics.median(r['follow']))}"
        if r.get("error"):
            note = (note + "; " if note else "") + r["error"]
        print(f"{r['design']:<20}{n:>9,}  {sum(prep.values()):>10.1f} s  "
              f"{_fmt_ms(r.get('first_render_ms')):>13}  {_fmt_ms(med):>32}  {note}")
    by = {r["design"]: r for r in results}
    a, b = by.get("run page"), by.get("link_selections")
    if a and b:
        def ratio(key: str) -> str:
            x, y = a.get(key), b.get(key)
            return f"{y / x:.1f}x" if x and y else "n/a"
        print(f"link_selections / run page (how many times faster the run page is): first "
              f"render {ratio('first_render_ms')}, brush {ratio('median')}")
    base = next((r for r in results if r["design"].startswith("run page @")), None)
    if a and base:
        def gain(key: str) -> str:
            x, y = a.get(key), base.get(key)
            return f"{y / x:.2f}x" if x and y else "n/a"
        print(f"{base['design']} / run page (this checkout, same run; > 1 = faster now): "
              f"first render {gain('first_render_ms')}, brush {gain('median')}")
    if args.breakdown:
        for r in results:
            if r.get("session") or r.get("browser"):
                print_breakdown(r)
    for r in results:
        if r.get("prep"):
            print(f"  {r['design']} server prep: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in r["prep"].items()))
        if r.get("screenshot"):
            print(f"  screenshot: {r['screenshot']}")
        if r.get("page_errors"):
            print(f"  {r['design']} page errors: {r['page_errors']}")


if __name__ == "__main__":
    main()
