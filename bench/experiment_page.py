"""Experiment page at scale: first render and cell-hover latency in headless Chromium, against a
small experiment of the same run measured in the same process.

    python bench/experiment_page.py [--epochs 1000] [--classes 100] [--examples 500] [--moves 30]
    python bench/experiment_page.py --epochs 200 --classes 30 --moves 10      # quick

Steps: :func:`build` writes a real store project through the Store API: one run of two
experiments, each with per-epoch ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` (Parquet
metric parts) and a ``confusion_matrix.json`` made by the SDK's
:func:`~workbench_plugin.tracking.confusion_matrix_data` with 8x8 images as examples:

* ``large``: ``--epochs`` epochs, a ``--classes`` x ``--classes`` matrix, ``--examples``
  misclassified samples (all kept);
* ``baseline``: 50 epochs, a 10 x 10 matrix, 50 misclassified samples.

The project is served as ``hypertuner serve`` serves it (:func:`panel_app.server.make_page` on
127.0.0.1) and each experiment's page (``?experiment=ID``) is opened with Playwright
(``/usr/bin/chromium``). All times are the browser's clock (``performance.now()``, origin =
navigation start):

* first render: navigation start -> the observatory's figures and the confusion heat map all
  exist and their Bokeh views report ``is_idle``;
* hover -> examples: the ``pointermove`` of a real mouse move onto a new cell (pixel position
  from Bokeh's own scales) -> the first animation frame after the examples panel's DOM changed
  (a MutationObserver on it). ``--moves`` moves across distinct cells, alternating cells with
  examples and others; the median and the largest are printed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench_plugin.store import Experiment, Run, Store  # noqa: E402
from workbench_plugin.tracking import CONFUSION_MATRIX_FILE, confusion_matrix_data  # noqa: E402

__all__ = ["BenchExperiment", "BenchProject", "build", "confusion_payload", "measure"]

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")
PROJECT = "experiment-bench"


@dataclass(frozen=True)
class BenchExperiment:
    name: str
    experiment_id: str
    epochs: int
    classes: int
    misclassified: int


@dataclass(frozen=True)
class BenchProject:
    store: Store
    project: str
    run_id: str
    experiments: tuple[BenchExperiment, ...]
    seconds: float


def confusion_payload(classes: int, misclassified: int, *, per_class: int = 20, seed: int = 0) -> dict[str, Any]:
    """``confusion_matrix.json`` content: ``classes * per_class`` samples, exactly ``misclassified``
    of them wrong (spread over random off-diagonal cells), each with an 8x8 image (0..16)."""
    rng = np.random.default_rng(seed)
    n = max(classes * per_class, misclassified)
    y = np.arange(n) % classes
    pred = y.copy()
    wrong = rng.choice(n, size=misclassified, replace=False)
    pred[wrong] = (y[wrong] + rng.integers(1, classes, misclassified)) % classes
    images = rng.integers(0, 17, (n, 8, 8))
    return confusion_matrix_data(y, pred, labels=list(range(classes)), examples=images,
                                 max_examples=misclassified)


def _metric_rows(experiment_id: str, epochs: int, rng: np.random.Generator) -> dict[str, list[Any]]:
    t = np.arange(1, epochs + 1)
    decay = np.exp(-3.0 * t / epochs)
    noise = rng.normal(0, 0.01, (len(METRICS), epochs))
    values = [0.2 + 2 * decay, 0.3 + 2 * decay, 0.95 - 0.8 * decay, 0.9 - 0.8 * decay]
    names, epoch, value = [], [], []
    for k, m in enumerate(METRICS):
        names += [m] * epochs
        epoch += t.tolist()
        value += (values[k] + noise[k]).tolist()
    count = len(value)
    start = time.time() - 3600.0
    return {"experiment_id": [experiment_id] * count, "kind": ["epoch"] * count, "epoch": epoch, "step": epoch,
            "time": [start + e for e in epoch], "name": names, "value": value, "source": ["bench"] * count}


def build(root: str, *, epochs: int = 1000, classes: int = 100, examples: int = 500, base_epochs: int = 50,
          base_classes: int = 10, base_examples: int = 50, seed: int = 0) -> BenchProject:
    """Write the project (``large`` and ``baseline`` experiments in one run) under ``root``."""
    t0 = time.perf_counter()
    store = Store(root)
    store.create_project(PROJECT, str(Path(root, "src")))
    run_id = Store.new_run_id()
    shapes = [("large", epochs, classes, examples), ("baseline", base_epochs, base_classes, base_examples)]
    exps = tuple(BenchExperiment(name, f"{run_id}-{i}", e, c, m) for i, (name, e, c, m) in enumerate(shapes))
    rows = [Experiment(experiment_id=x.experiment_id, run_id=run_id, index=i, params={"epochs": x.epochs},
                       argv=[f"--epochs={x.epochs}"]) for i, x in enumerate(exps)]
    run = Run(run_id=run_id, project=PROJECT, created=time.time(), author=getpass.getuser(), script="train.py",
              interpreter="python", flag_style="--name=value", spec={"epochs": f"{epochs},{base_epochs}"}, scales={},
              snapshot_id="synthetic", data_id="", engine="local", n_experiments=len(exps),
              note="synthetic (bench/experiment_page.py)")
    store.write_run(run, rows)
    rng = np.random.default_rng(seed)
    for i, x in enumerate(exps):
        store.write_metrics_part(PROJECT, run_id, x.experiment_id, 0, _metric_rows(x.experiment_id, x.epochs, rng))
        payload = confusion_payload(x.classes, x.misclassified, seed=seed + i)
        store.write_artifact(PROJECT, run_id, x.experiment_id, CONFUSION_MATRIX_FILE, json.dumps(payload).encode())
        store.append_state(PROJECT, run_id, x.experiment_id, "succeeded", engine_id=f"local:{i}")
    return BenchProject(store, PROJECT, run_id, exps, time.perf_counter() - t0)


# ---- browser-side probes -------------------------------------------------------------------
_INIT_JS = """
window.__ht = {ready: null, moved: 0, hover: []};
window.addEventListener("pointermove", (e) => { window.__ht.moved = e.timeStamp; }, true);
"""
READY_JS = """() => {
  if (!window.Bokeh || Bokeh.documents.length === 0) { return false; }
  const views = [...Bokeh.index.all_views()].filter((v) => (v.model.name || "").startsWith("observatory:") ||
                                                         v.model.name === "ht-cm-heatmap");
  const ok = views.some((v) => v.model.name === "ht-cm-heatmap") &&
             views.some((v) => v.model.name.startsWith("observatory:")) && views.every((v) => v.is_idle);
  if (ok && window.__ht.ready == null) { window.__ht.ready = performance.now(); }
  return ok;
}"""
#: Watch the examples panel: each change records the time from the last pointermove to the next frame.
WATCH_JS = """() => {
  const panels = [];
  const walk = (root) => root.querySelectorAll("*").forEach((e) => {
    if (e.classList.contains("ht-cm-examples")) panels.push(e);
    if (e.shadowRoot) walk(e.shadowRoot); });
  walk(document);
  let pending = false;
  const obs = new MutationObserver(() => {
    if (pending) return;
    pending = true;
    const moved = window.__ht.moved;
    requestAnimationFrame(() => { pending = false; window.__ht.hover.push(performance.now() - moved); });
  });
  panels.forEach((p) => obs.observe(p.shadowRoot || p, {subtree: true, childList: true, characterData: true}));
  const fig = [...Bokeh.documents[0].all_models].find((m) => m.name === "ht-cm-heatmap");
  Bokeh.index.get_one(fig).el.scrollIntoView({block: "center"});
  return panels.length;
}"""
CELL_JS = """([t, p]) => {
  const fig = [...Bokeh.documents[0].all_models].find((m) => m.name === "ht-cm-heatmap");
  const view = Bokeh.index.get_one(fig);
  const c = view.canvas_view.el.getBoundingClientRect();
  const f = view.frame;
  return [c.left + f.x_scale.compute(fig.x_range.synthetic(p)), c.top + f.y_scale.compute(fig.y_range.synthetic(t))];
}"""


def _cells(payload: dict[str, Any], moves: int, seed: int) -> list[tuple[str, str]]:
    """``moves`` distinct cells, alternating cells with misclassified examples and other cells."""
    rng = np.random.default_rng(seed)
    labels = [str(v) for v in payload["labels"]]
    with_examples = sorted({(str(m["true"]), str(m["pred"])) for m in payload["misclassified"]})
    picked = [with_examples[i] for i in rng.permutation(len(with_examples))[: (moves + 1) // 2]]
    others: list[tuple[str, str]] = []
    while len(others) < moves - len(picked):
        cell = (labels[int(rng.integers(len(labels)))], labels[int(rng.integers(len(labels)))])
        if cell not in with_examples and cell not in others:
            others.append(cell)
    mixed = [c for pair in zip(picked, others, strict=False) for c in pair]
    mixed += picked[len(others):] + others[len(picked):]
    return mixed[:moves]


def measure(url: str, cells: list[tuple[str, str]], *, timeout: float = 180.0,
            screenshot: str | None = None) -> dict[str, Any]:
    """Open ``url`` (an experiment page), time its first render and a hover onto each cell; with
    ``screenshot``, save the page there with the first cell hovered again."""
    from bench._browser import chromium_page

    ms = int(timeout * 1000)
    out: dict[str, Any] = {"hover": []}
    with chromium_page() as (_browser, page, errors):
        page.add_init_script(_INIT_JS)
        page.goto(url, wait_until="commit", timeout=ms)
        page.wait_for_function(READY_JS, timeout=ms, polling=50)
        out["first_render_ms"] = page.evaluate("() => window.__ht.ready")
        page.wait_for_timeout(1000)
        out["panels"] = page.evaluate(WATCH_JS)
        page.wait_for_timeout(300)  # the scroll settles
        for t, pred in cells:
            seen = page.evaluate("() => window.__ht.hover.length")
            page.mouse.move(*page.evaluate(CELL_JS, [t, pred]))
            page.wait_for_function(f"() => window.__ht.hover.length > {seen}", timeout=ms, polling="raf")
            out["hover"].append(page.evaluate("() => window.__ht.hover[window.__ht.hover.length - 1]"))
            page.wait_for_timeout(60)
        if screenshot:
            page.mouse.move(*page.evaluate(CELL_JS, list(cells[0])))
            page.wait_for_timeout(500)
            page.screenshot(path=screenshot, full_page=True)
        out["page_errors"] = errors[:3]
    return out


def _fmt_ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--examples", type=int, default=500)
    ap.add_argument("--moves", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per step")
    ap.add_argument("--screenshot", metavar="PNG", help="save the large page here (a cell hovered)")
    args = ap.parse_args()

    from panel_app.server import make_page, serve_app
    from workbench_plugin.index import ProjectIndex

    with tempfile.TemporaryDirectory(prefix="ht-exp-") as tmp:
        bp = build(str(Path(tmp, "store")), epochs=args.epochs, classes=args.classes, examples=args.examples)
        print(f"synthetic project: {len(bp.experiments)} experiments written in {bp.seconds:.1f} s", flush=True)
        served = serve_app(make_page(ProjectIndex(bp.store, bp.project), refresh_ms=60_000))
        results = []
        try:
            for x in bp.experiments:
                payload = json.loads(bp.store.read_artifact(bp.project, bp.run_id, x.experiment_id,
                                                            CONFUSION_MATRIX_FILE))
                print(f"measuring {x.name} ...", flush=True)
                r = measure(f"{served.url}?experiment={x.experiment_id}", _cells(payload, args.moves, 1),
                            timeout=args.timeout, screenshot=args.screenshot if x is bp.experiments[0] else None)
                results.append((x, r))
        finally:
            served.stop()

    print()
    print(f"experiment page ({os.cpu_count()} cores, headless Chromium); {args.moves} moves onto new cells, "
          "half of them with examples")
    print(f"{'page':<10}{'epochs':>7}  {'matrix':>9}  {'examples':>8}  {'first render':>13}  "
          f"{'hover->examples median':>23}  {'max':>7}")
    for x, r in results:
        med = statistics.median(r["hover"]) if r["hover"] else None
        r["median"] = med
        print(f"{x.name:<10}{x.epochs:>7,}  {f'{x.classes} x {x.classes}':>9}  {x.misclassified:>8}  "
              f"{_fmt_ms(r.get('first_render_ms')):>13}  {_fmt_ms(med):>23}  {_fmt_ms(max(r['hover'])):>7}")
        if r.get("page_errors"):
            print(f"  {x.name} page errors: {r['page_errors']}")
    (_, big), (_, small) = results
    print(f"large / baseline: first render {big['first_render_ms'] / small['first_render_ms']:.1f}x, "
          f"hover {big['median'] / small['median']:.1f}x")


if __name__ == "__main__":
    main()
