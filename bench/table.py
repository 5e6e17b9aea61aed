"""The run page's experiment table at scale: the scrolling table against the Tabulator it
replaced (``bench/_tabulator_table.py``), measured in the same run.

    python bench/table.py [--sizes 1000,100000] [--epochs 2] [--brushes 3] [--timeout 180]

For each size, :mod:`bench.synthetic` writes a real store project; each design is measured in
its own child process (the baseline swaps the old ``TablePanel`` into the run page), which
serves the run page on 127.0.0.1 and drives it with Playwright (``/usr/bin/chromium``):

* server: how long the table takes to follow a selection made in a plot of ``min(N/5,
  20,000)`` rows (``TablePanel.follow``, on a page built in the child with its Bokeh models);
* brush -> first selected rows shown: the table scrolled to its top, then the ``mouseup`` of a
  real drag over one ``batch_size`` column of the top-left scatter plot -> the first animation
  frame where every row the table draws is one of that column's experiments (the scrolling
  table: also the top row is the first of them, marked; the Tabulator keeps a scroll position
  of its own after a filter, often far from the first). One brush warms up, not counted;
* scroll to the bottom -> last row shown: the table's scroll position set to the end -> the
  first frame where the last experiment's row is drawn. Tabulator above 5,000 experiments
  pages instead: the last row is thousands of page clicks away, reported as such.

All times are the browser's clock (``performance.now()``); medians are printed, with ratios
Tabulator / scrolling table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dashboard import (  # noqa: E402 - after the path is set
    _COMMON_JS,
    BATCH_SIZES,
    READY_JS,
    TARGET_JS,
    _load,
    run_child,
)

DESIGNS = ("scrolling", "tabulator")
#: Per design: the element that scrolls, and a cell of the ``#`` column.
SELECTORS = {
    "scrolling": (".ht-table", ".ht-row .ht-cell[data-field='#']", ".ht-row-selected"),
    "tabulator": (".tabulator-tableholder", ".tabulator-row .tabulator-cell[tabulator-field='#']",
                  ".tabulator-selected"),
}
#: The page size of the old table's server-side paging (above 5,000 experiments).
OLD_PAGE = 12

_DEEP_JS = """
window.__ht.all = (root, sel, out = []) => {  // every match, through Panel's shadow roots
  out.push(...root.querySelectorAll(sel));
  for (const n of root.querySelectorAll("*")) {
    if (n.shadowRoot) { window.__ht.all(n.shadowRoot, sel, out); }
  }
  return out;
};
window.__ht.until = (test, limit) => new Promise((resolve) => {
  const t0 = performance.now();
  const tick = () => {
    const now = performance.now();
    if (test()) { resolve(now); return; }
    if (now - t0 > limit) { resolve(null); return; }
    requestAnimationFrame(tick);
  };
  tick();
});
"""

# brush -> every row the table draws is a selected one (the scrolling table: and the top row is
# the first selected, marked; the Tabulator keeps a scroll position of its own after a filter)
BRUSHED_JS = """async ([cell, marked, picked, first, limit]) => {
  const h = window.__ht;
  const want = new Set(picked);
  const done = await h.until(() => {
    if (h.up == null) { return false; }
    const cells = h.all(document, cell);
    if (!cells.length || !cells.every((c) => want.has(c.textContent))) { return false; }
    return marked === null || (cells[0].textContent === first && cells[0].closest(marked) !== null);
  }, limit);
  return done === null ? null : done - h.up;
}"""

TOP_JS = """(holder) => {
  const el = window.__ht.deep(document, holder);
  if (el !== null) { el.scrollTop = 0; }
  window.__ht.up = null;
}"""

SCROLL_JS = """async ([holder, cell, label, limit]) => {
  const h = window.__ht;
  const el = h.deep(document, holder);
  if (el === null) { return -1; }
  const t0 = performance.now();
  el.scrollTop = el.scrollHeight;
  const done = await h.until(() => h.all(document, cell).some((c) => c.textContent === label), limit);
  return done === null ? null : done - t0;
}"""


def _use_design(design: str) -> None:
    if design == "tabulator":
        import panel_app.run_page.view as run_view
        from bench._tabulator_table import TablePanel

        run_view.TablePanel = TablePanel  # type: ignore[misc, assignment]


def _labels(frames: Any) -> tuple[list[str], list[str]]:
    exps = frames.experiments
    labels = [str(v) for v in exps["label"]] if "label" in exps else [str(v) for v in exps["experiment_id"]]
    return labels, [str(v) for v in exps["batch_size"]]


def server_follow_ms(source: Any, n_selected: int, repeats: int = 5) -> float:
    """Median ms of ``TablePanel.follow`` for a selection of ``n_selected`` rows made in a plot."""
    from bokeh.document import Document

    from panel_app.run_page.view import RunPage

    page = RunPage(source)
    page.__panel__().get_root(Document())
    n = len(page.model.order)
    step = max(n // max(n_selected, 1), 1)
    times = []
    for r in range(repeats):
        rows = list(range(r % step, n, step))[:n_selected]
        page.model.origin = {"geometry": {"type": "rect"}, "x": "x", "y": "y"}
        with page._setting_widgets:
            t0 = time.perf_counter()
            page.table_panel.follow(rows)
            times.append((time.perf_counter() - t0) * 1000)
            page.table_panel.follow([])
    return statistics.median(times)


def measure(design: str, store_dir: str, *, brushes: int, timeout: float) -> dict[str, Any]:
    from bench._browser import chromium_page
    from panel_app.server import serve_run_page

    _use_design(design)
    view, frames, _prep = _load(store_dir)
    labels, batch = _labels(frames)
    n = len(labels)
    out: dict[str, Any] = {"design": design, "n": n, "brushes": []}
    out["selected"] = min(n // 5, 20_000)
    out["follow_ms"] = server_follow_ms(view, out["selected"])
    holder, cell, marked = SELECTORS[design]
    served = serve_run_page(view, refresh_ms=60_000)
    ms = int(timeout * 1000)
    n_plots = len(frames.hparams[:6]) * len(frames.metrics[:4]) + 1
    try:
        with chromium_page() as (_browser, page, errors):
            page.add_init_script(_COMMON_JS + _DEEP_JS)
            page.goto(served.url, wait_until="commit", timeout=ms)
            page.wait_for_function(READY_JS, arg=["run page", n_plots], timeout=ms, polling=50)
            page.wait_for_timeout(2000)
            if design == "tabulator" and n > 5000:
                out["scroll_note"] = f"pages: the last row is on page {-(-n // OLD_PAGE):,}"
            else:
                out["scroll_ms"] = page.evaluate(SCROLL_JS, [holder, cell, labels[-1], ms])
            for b in range(brushes + 1):  # the first warms up (not counted)
                index = b % len(BATCH_SIZES)
                factor = BATCH_SIZES[index]
                first = labels[batch.index(factor)]
                t = page.evaluate(TARGET_JS, ["run page", factor, index])
                page.evaluate(TOP_JS, holder)  # both designs start from the table's top
                page.wait_for_timeout(500)
                page.mouse.move(t["x0"], t["top"])
                page.mouse.down()
                page.mouse.move((t["x0"] + t["x1"]) / 2, (t["top"] + t["bottom"]) / 2, steps=4)
                page.mouse.move(t["x1"], t["bottom"], steps=4)
                page.mouse.up()
                picked = [lab for lab, bs in zip(labels, batch, strict=True) if bs == factor]
                took = page.evaluate(BRUSHED_JS, [cell, marked if design == "scrolling" else None,
                                                  picked, first, ms])
                if took is None:
                    out["error"] = f"brush {b + 1}: the table did not show the selected rows within {timeout:.0f} s"
                    break
                if b:
                    out["brushes"].append(took)
                page.wait_for_timeout(1500)
            out["page_errors"] = errors[:3]
    finally:
        served.stop()
    return out


def _child(design: str, store_dir: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", design, "--store", store_dir,
           "--brushes", str(args.brushes), "--timeout", str(args.timeout)]
    return run_child(design, cmd, args.timeout * (3 + args.brushes) + 300)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms"


def _ratio(old: float | None, new: float | None) -> str:
    return f"{old / new:.1f}x" if old and new else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--brushes", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per step")
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.store, brushes=args.brushes,
                                 timeout=args.timeout)), flush=True)
        return

    from bench.synthetic import generate

    rows = []
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):
        with tempfile.TemporaryDirectory(prefix="ht-table-") as tmp:
            store_dir = str(Path(tmp, "store"))
            t0 = time.perf_counter()
            generate(store_dir, experiments=n, epochs=args.epochs)
            print(f"{n:,} experiments x {args.epochs} epochs written in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            for design in [d.strip() for d in args.designs.split(",") if d.strip()]:
                print(f"  measuring {design} ...", flush=True)
                rows.append((n, _child(design, store_dir, args)))

    print()
    print(f"run page table ({os.cpu_count()} cores, headless Chromium); medians")
    print(f"{'design':<11}{'N':>9}  {'server: follow a plot selection':>32}  "
          f"{'brush -> first selected rows':>29}  {'scroll to bottom -> last row':>29}")
    by: dict[tuple[int, str], dict[str, Any]] = {}
    for n, r in rows:
        med = statistics.median(r["brushes"]) if r.get("brushes") else None
        r["brush_ms"] = med
        by[(n, r["design"])] = r
        follow = f"{_ms(r.get('follow_ms'))} ({r.get('selected', 0):,} rows)" if "follow_ms" in r else "-"
        scroll = _ms(r.get("scroll_ms")) if r.get("scroll_ms") is not None else r.get("scroll_note", "-")
        note = "; ".join(x for x in (r.get("error", ""), *(r.get("page_errors") or [])) if x)
        print(f"{r['design']:<11}{n:>9,}  {follow:>32}  {_ms(med):>29}  {scroll:>29}  {note}")
    for n in sorted({n for n, _ in rows}):
        new, old = by.get((n, "scrolling")), by.get((n, "tabulator"))
        if new and old:
            print(f"N = {n:,}: tabulator / scrolling (times faster): server follow "
                  f"{_ratio(old.get('follow_ms'), new.get('follow_ms'))}, brush -> rows "
                  f"{_ratio(old.get('brush_ms'), new.get('brush_ms'))}, scroll to bottom "
                  f"{_ratio(old.get('scroll_ms'), new.get('scroll_ms'))}")


if __name__ == "__main__":
    main()
