"""HyperTuner beside its peers (Optuna Dashboard, MLflow UI), one sweep, one run, one browser.

    pip install -e '.[bench]'
    python bench/peers.py [--runs 10000] [--epochs 20] [--seed 0] [--timeout 300] [--max-clicks 3]

Steps:

1. :func:`bench._peers_sweep.make_sweep` makes one sweep (``--runs`` runs, 4 hyperparameters,
   3 final metrics, ``--epochs`` epochs x 2 curves; deterministic in ``--seed``) and writes it
   into HyperTuner's store (Store API), an Optuna journal file (``JournalStorage``) and an MLflow
   file store; the write times are printed.
2. Logging cost per point, over the same points (``--log-runs`` runs x epochs x 2 curves), in
   this process: HyperTuner's tracking SDK (``Tracker.log(epoch=, train_loss=, val_loss=)``,
   the final flush included), MLflow ``log_metric`` (one call per point), MLflow
   ``log_batch`` (one call per run) and Optuna ``trial.report`` (one curve per trial, so the
   second curve goes through ``trial.set_user_attr``, one call per point).
3. Serves optuna-dashboard (``run_server`` on the journal), ``mlflow server`` on the file store
   (``--workers 1``) and the run page (:func:`panel_app.server.serve_run_page`), all on
   127.0.0.1 at free ports, and asks each the same three questions in headless Chromium
   (:mod:`bench._peers_browser`): first rows visible, every run reachable, a scatter or
   parallel-coordinates view of all runs.

The table prints each figure and the ratio HyperTuner / peer (below 1: HyperTuner takes less).
MLflow 3 keeps its file store in maintenance mode; the bench sets ``MLFLOW_ALLOW_FILE_STORE``
for itself and the MLflow server only.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._browser import CHROMIUM, launch_chromium  # noqa: E402
from bench._peers_sweep import (  # noqa: E402
    CURVES,
    MLFLOW_FILE_STORE_ENV,
    PROJECT,
    Sweep,
    make_sweep,
    mlflow_uri,
    optuna_storage,
    write_hypertuner,
    write_mlflow,
    write_optuna,
)

PEERS = {"optuna": "optuna", "optuna_dashboard": "optuna-dashboard", "mlflow": "mlflow",
         "playwright": "playwright"}


def missing_peers() -> list[str]:
    """The bench's packages that are not installed (their pip names)."""
    return [pip for mod, pip in PEERS.items() if importlib.util.find_spec(mod) is None]


# ---- logging cost ---------------------------------------------------------------------------
def logging_cost(sweep: Sweep, folder: Path, runs: int) -> dict[str, float]:
    """Microseconds per point for each way of logging the same ``runs`` x epochs x 2 points."""
    import mlflow
    import optuna
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from workbench_plugin.tracking import Tracker

    runs = min(runs, sweep.n)
    e = sweep.epochs
    tl, vl = sweep.curves["train_loss"][:runs].tolist(), sweep.curves["val_loss"][:runs].tolist()
    points = runs * e * len(CURVES)
    spent: dict[str, float] = {}

    total = 0.0
    for i in range(runs):
        tracker = Tracker(folder / "ht" / str(i))
        os.makedirs(tracker.directory or "", exist_ok=True)
        t0 = time.perf_counter()
        for s in range(e):
            tracker.log(epoch=s + 1, train_loss=tl[i][s], val_loss=vl[i][s])
        tracker.flush()
        total += time.perf_counter() - t0
    spent["HyperTuner SDK log()"] = total

    mlflow.set_tracking_uri(mlflow_uri(str(folder / "mlruns")))
    mlflow.set_experiment("logging-cost")
    total = 0.0
    for i in range(runs):
        with mlflow.start_run():
            t0 = time.perf_counter()
            for s in range(e):
                mlflow.log_metric("train_loss", tl[i][s], step=s + 1)
                mlflow.log_metric("val_loss", vl[i][s], step=s + 1)
            total += time.perf_counter() - t0
    spent["MLflow log_metric"] = total

    client = MlflowClient()
    total = 0.0
    for i in range(runs):
        with mlflow.start_run() as run:
            now = int(time.time() * 1000)
            batch = [Metric(c, v[i][s], now, s + 1) for c, v in (("train_loss", tl), ("val_loss", vl))
                     for s in range(e)]
            t0 = time.perf_counter()
            client.log_batch(run.info.run_id, metrics=batch)
            total += time.perf_counter() - t0
    spent["MLflow log_batch"] = total

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=optuna_storage(str(folder / "logging.journal")))
    total = 0.0
    for i in range(runs):
        trial = study.ask()
        t0 = time.perf_counter()
        for s in range(e):
            trial.report(vl[i][s], s + 1)
            trial.set_user_attr(f"train_loss:{s + 1}", tl[i][s])
        total += time.perf_counter() - t0
        study.tell(trial, vl[i][-1])
    spent["Optuna report+user_attr"] = total
    return {k: v / points * 1e6 for k, v in spent.items()}


# ---- servers --------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{url}: the server exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: server not up after {timeout:.0f} s") from None
            time.sleep(0.2)


def start_optuna_dashboard(journal: str, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    code = ("import sys, optuna_dashboard; from bench._peers_sweep import optuna_storage; "
            "optuna_dashboard.run_server(optuna_storage(sys.argv[1]), host='127.0.0.1', "
            "port=int(sys.argv[2]))")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, journal, str(port)], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/api/studies", 120, proc)
    return base, proc


def start_mlflow(root: str, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    env = {**os.environ, **MLFLOW_FILE_STORE_ENV}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", mlflow_uri(root),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/health", 180, proc)
    return base, proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def serve_hypertuner(store_dir: str) -> tuple[str, Any, int]:
    from panel_app.server import serve_run_page
    from workbench_plugin.index import ProjectIndex, RunView
    from workbench_plugin.store import Store

    index = ProjectIndex(Store(store_dir), PROJECT)
    index.refresh()
    run_id = index.latest_run()
    assert run_id is not None
    view = RunView(index, run_id)
    frames = view.frames()
    served = serve_run_page(view, refresh_ms=60_000)
    n_plots = len(frames.hparams[:6]) * len(frames.metrics[:4]) + 1
    return f"http://127.0.0.1:{served.port}/", served.stop, n_plots


# ---- the browser ----------------------------------------------------------------------------
DASHBOARDS = ("HyperTuner", "Optuna Dashboard", "MLflow UI")
#: the store each dashboard reads
STORE_OF = {"HyperTuner": "HyperTuner", "Optuna Dashboard": "Optuna", "MLflow UI": "MLflow"}


def measure_all(urls: dict[str, Any], n: int, *, timeout: float, max_clicks: int,
                shots: Path | None, dashboards: tuple[str, ...] = DASHBOARDS) -> dict[str, dict[str, Any]]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from bench import _peers_browser as pb
    from bench.dashboard import _COMMON_JS, READY_JS

    out: dict[str, dict[str, Any]] = {}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        for peer in dashboards:
            print(f"measuring {peer} ...", flush=True)
            r: dict[str, Any] = {}
            out[peer] = r
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            ctx.set_default_timeout(timeout * 1000)  # a busy server answers a navigation late
            ctx.set_default_navigation_timeout(timeout * 1000)
            page = ctx.new_page()
            page.add_init_script(_COMMON_JS)
            step = "first rows"
            try:
                if peer == "HyperTuner":
                    url, n_plots = urls["ht"], urls["ht_plots"]
                    r["rows"] = pb.hypertuner_rows(page, url, timeout=timeout)
                    step = "every run"
                    r["reach"] = pb.hypertuner_reach(page, n, timeout=timeout)
                    step = "view"
                    r["view"] = pb.hypertuner_view(page, url, n_plots, READY_JS, timeout=timeout)
                elif peer == "Optuna Dashboard":
                    r["rows"] = pb.optuna_rows(page, urls["optuna"], timeout=timeout)
                    step = "every run"
                    r["reach"] = pb.optuna_reach(page, n, timeout=timeout)
                    step = "view"
                    r["view"] = pb.optuna_view(page, urls["optuna"], n, timeout=timeout)
                else:
                    r["rows"] = pb.mlflow_rows(page, urls["mlflow"], urls["mlflow_exp"], timeout=timeout)
                    step = "every run"
                    r["reach"] = pb.mlflow_reach(page, n, timeout=timeout, max_clicks=max_clicks)
                    step = "view"
                    r["view"] = pb.mlflow_view(page, urls["mlflow"], urls["mlflow_exp"], timeout=timeout)
                if shots:
                    page.screenshot(path=str(shots / f"peers-{peer.split()[0].lower()}.png"))
            except PlaywrightError as exc:
                r["error"] = f"{step}: {str(exc).splitlines()[0][:160]}"
            ctx.close()
        browser.close()
    return out


# ---- the table ------------------------------------------------------------------------------
def _s(ms: float | None) -> str:
    return "-" if ms is None else (f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms")


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "n/a"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"


def print_table(n: int, epochs: int, writes: dict[str, float], logging: dict[str, float],
                ui: dict[str, dict[str, Any]]) -> None:
    peers = ("HyperTuner", "Optuna Dashboard", "MLflow UI")
    print()
    print(f"peers side by side: {n:,} runs x 4 hyperparameters, 3 final metrics, {epochs} epochs x 2 "
          f"curves ({os.cpu_count()} cores, headless Chromium); ratio = HyperTuner / peer "
          "(below 1: HyperTuner takes less time)")
    head = f"{'':<34}" + "".join(f"{p:>18}" for p in peers) + f"{'HT/Optuna':>11}{'HT/MLflow':>11}"
    print(head)

    def row(label: str, vals: list[float | None], fmt: Any = _s, notes: str = "") -> None:
        cells = "".join(f"{fmt(v):>18}" for v in vals)
        print(f"{label:<34}{cells}{_ratio(vals[0], vals[1]):>11}{_ratio(vals[0], vals[2]):>11}  {notes}")

    row("write the sweep (s)", [writes.get(p) for p in ("HyperTuner", "Optuna", "MLflow")],
        lambda v: "-" if v is None else f"{v:.1f} s")
    get = [ui.get(p, {}) for p in peers]
    row("1. first rows visible", [g.get("rows") for g in get])
    reach = [g.get("reach") or {} for g in get]
    row("2. every run reachable", [x.get("ms") for x in reach], notes="; ".join(
        f"{p.split()[0]}: {x.get('how', '-')}" + (f" (est. {_s(x['estimate_ms'])})" if x.get("estimate_ms") else "")
        for p, x in zip(peers, reach, strict=True)))
    views = [g.get("view") or {} for g in get]
    row("3. scatter / par. coords view", [x.get("ms") for x in views], notes="; ".join(
        f"{p.split()[0]}: {x.get('what', '-')}, "
        + ("all runs" if x.get("runs") is None else f"{x['runs']:,} runs plotted")
        for p, x in zip(peers, views, strict=True) if x))
    for p, g in zip(peers, get, strict=True):
        if g.get("error"):
            print(f"  {p}: {g['error']}")
    ht = logging.get("HyperTuner SDK log()")
    print()
    print(f"4. logging cost per point (same {len(CURVES)} curves x {epochs} epochs per run, µs/point; "
          "ratio HyperTuner / way)")
    for way, us in logging.items():
        print(f"   {way:<28}{us:>10.1f} µs/point   HT/this {_ratio(ht, us)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per browser step")
    ap.add_argument("--max-clicks", type=int, default=3, help="paging clicks timed before extrapolating")
    ap.add_argument("--log-runs", type=int, default=50, help="runs logged for the logging cost")
    ap.add_argument("--screenshots", default=None, help="folder for a screenshot of each page")
    ap.add_argument("--dashboards", default=",".join(DASHBOARDS),
                    help="which to measure (comma-separated; default all); only their stores are written")
    args = ap.parse_args()
    dashboards = tuple(d.strip() for d in args.dashboards.split(",") if d.strip())
    unknown = [d for d in dashboards if d not in DASHBOARDS]
    if unknown:
        raise SystemExit(f"bench/peers.py: --dashboards {unknown[0]!r} is not one of {', '.join(DASHBOARDS)}")
    missing = missing_peers()
    if missing:
        raise SystemExit(f"bench/peers.py: {', '.join(missing)} not installed: pip install -e '.[bench]'")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"bench/peers.py: no Chromium at {CHROMIUM}: apt-get install chromium")
    warnings.filterwarnings("ignore", category=Warning, module="optuna.*")
    warnings.filterwarnings("ignore", message=".*experimental.*")
    shots = Path(args.screenshots) if args.screenshots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)

    sweep = make_sweep(args.runs, epochs=args.epochs, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="ht-peers-") as tmp:
        t = Path(tmp)
        writes: dict[str, float] = {}
        paths = {"HyperTuner": str(t / "ht"), "Optuna": str(t / "optuna.journal"), "MLflow": str(t / "mlruns")}
        exp_id = ""
        wanted = {STORE_OF[d] for d in dashboards}
        for name, write in (("HyperTuner", write_hypertuner), ("Optuna", write_optuna), ("MLflow", write_mlflow)):
            if name not in wanted:
                continue
            print(f"writing {args.runs:,} runs into {name} ...", flush=True)
            t0 = time.perf_counter()
            got = write(sweep, paths[name])
            writes[name] = time.perf_counter() - t0
            if name == "MLflow":
                exp_id = str(got)
        print("logging cost ...", flush=True)
        (t / "log").mkdir()
        logging = logging_cost(sweep, t / "log", args.log_runs)

        procs: list[subprocess.Popen[bytes]] = []
        stop_ht: Any = None
        urls: dict[str, Any] = {"mlflow_exp": exp_id}
        try:
            print(f"starting {', '.join(dashboards)} ...", flush=True)
            if "Optuna Dashboard" in dashboards:
                urls["optuna"], proc = start_optuna_dashboard(paths["Optuna"], t / "optuna-dashboard.log")
                procs.append(proc)
            if "MLflow UI" in dashboards:
                urls["mlflow"], proc = start_mlflow(paths["MLflow"], t / "mlflow.log")
                procs.append(proc)
            if "HyperTuner" in dashboards:
                urls["ht"], stop_ht, urls["ht_plots"] = serve_hypertuner(paths["HyperTuner"])
            ui = measure_all(urls, args.runs, timeout=args.timeout, max_clicks=args.max_clicks,
                             shots=shots, dashboards=dashboards)
        finally:
            if stop_ht is not None:
                stop_ht()
            for proc in procs:
                stop(proc)
    print_table(args.runs, args.epochs, writes, logging, ui)
    if math.isnan(sum(logging.values())):
        raise SystemExit("bench/peers.py: a logging figure is NaN")


if __name__ == "__main__":
    main()
