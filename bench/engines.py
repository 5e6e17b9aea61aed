"""Per-experiment overhead of each way to run experiments, measured in one run.

    python bench/engines.py [--experiments 16] [--slots 2] [--yarn]

``--yarn`` adds one YARN application per experiment on a mini cluster it starts itself (java 17 +
Maven; see scripts/minicluster), with the store on that cluster's HDFS.

Every mode runs the same batch of near-empty experiments (the script logs one metric and exits)
through the whole path (store, gateway, wrapper) and reports the makespan and the slot time per
experiment (makespan x slots / experiments). The baseline is the same script started as bare
python processes, ``slots`` at a time, in the same run.

Modes: ``local`` (LocalEngine), ``spark-packed`` (one Spark application, a task per experiment,
master local[slots]), ``spark-app`` (one Spark application per experiment, master local[1]),
and with ``--yarn`` ``yarn-app`` (one YARN application per experiment on the mini cluster).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.local import LocalEngine  # noqa: E402
from engines.spark import SparkEngine  # noqa: E402
from gateway.gateway import Gateway  # noqa: E402
from workbench_plugin.config import load_config  # noqa: E402
from workbench_plugin.index import ProjectIndex  # noqa: E402
from workbench_plugin.planning import launch, make_plan  # noqa: E402
from workbench_plugin.project import write_project_file  # noqa: E402
from workbench_plugin.snapshot import create_snapshot  # noqa: E402
from workbench_plugin.space import SearchSpec  # noqa: E402
from workbench_plugin.store import Store  # noqa: E402

SCRIPT = """import sys
from workbench_plugin import tracking as ht
ht.summary(i=float(sys.argv[sys.argv.index('--i') + 1]))
"""


def bare(script: Path, n: int, slots: int) -> float:
    start = time.perf_counter()
    running: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for i in range(n):
        while len(running) >= slots:
            running[0].wait()
            running = [p for p in running if p.poll() is None]
        running.append(subprocess.Popen([sys.executable, str(script), "--i", str(i)], env=env,
                                        stderr=subprocess.DEVNULL))
    for p in running:
        p.wait()
    return time.perf_counter() - start


def run_mode(store: Store, folder: Path, n: int, engine: Any, packing: str) -> tuple[float, dict[str, int]]:
    settings = write_project_file(folder, name=folder.name, script="job.py") if not (
        folder / "hypertuner.toml").exists() else None
    from workbench_plugin.project import find_project

    settings = settings or find_project(folder)
    store.create_project(settings.name, settings.root)
    index = ProjectIndex(store, settings.name)
    snap = create_snapshot(store, folder, max_file_bytes=1 << 20)
    plan = make_plan(settings, SearchSpec.parse({"i": f"1..{n} +1"}), snap, index, max_batch=100_000)
    start = time.time()
    run, _ = launch(store, plan, engine=engine.name, packing=packing)
    Gateway(store, engine, poll_seconds=0.1).serve(until_idle=True)
    index.refresh()
    entry = index.runs[run.run_id]
    # launch to the last final state (not counting the wait for YARN's usage accounting after it)
    makespan = max(float(s.get("ended") or 0.0) for s in entry.states.values()) - start
    return makespan, entry.counts()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=16)
    ap.add_argument("--slots", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--yarn", action="store_true",
                    help="also one YARN application per experiment, on a mini cluster started for the benchmark")
    args = ap.parse_args()
    n, slots = args.experiments, args.slots
    results: list[tuple[str, float, dict[str, int]]] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp, "empty")
        folder.mkdir()
        (folder / "job.py").write_text(SCRIPT)
        baseline = bare(folder / "job.py", n, slots)
        store = Store(str(Path(tmp, "store")))
        def yarn_engine() -> Any:  # started only now, so the other modes do not share the CPU with it
            from scripts.minicluster.minicluster import MiniCluster

            cluster = stack.enter_context(MiniCluster.start(Path(tmp, "cluster")))
            os.environ.update(cluster.client_env())
            ystore = Store(f"webhdfs://{cluster.webhdfs_url.split('://', 1)[1]}/bench")
            # the cluster's client settings (JAVA_HOME, SPARK_LOCAL_IP, ...) reach the engine through a Config
            return SparkEngine.from_config(load_config(), ystore, master="yarn", slots=slots, flush_seconds=2.0,
                                           rm_url=cluster.rm_url, hadoop_conf_dir=str(cluster.conf_dir))

        modes: list[tuple[str, Any, str]] = [
            ("local", lambda: LocalEngine(store, slots=slots, flush_seconds=2.0), "none"),
            ("spark-packed", lambda: SparkEngine(store, master=f"local[{slots}]", slots=1, flush_seconds=2.0),
             "tasks"),
            ("spark-app", lambda: SparkEngine(store, master="local[1]", slots=slots, flush_seconds=2.0), "none"),
        ]
        if args.yarn:
            modes.append(("yarn-app", yarn_engine, "none"))
        for name, make_engine, packing in modes:
            engine = make_engine()
            mode_folder = Path(tmp, name)
            mode_folder.mkdir()
            (mode_folder / "job.py").write_text(SCRIPT)
            makespan, counts = run_mode(engine.store, mode_folder, n, engine, packing)
            results.append((name, makespan, counts))
    print(f"engines: {n} near-empty experiments, {slots} slots")
    print(f"  {'bare processes':<14} makespan {baseline:6.1f} s   {baseline * slots / n * 1000:7.0f} ms slot time "
          "per experiment (baseline)")
    for name, makespan, counts in results:
        per = makespan * slots / n
        states = ", ".join(f"{c} {s}" for s, c in counts.items() if c)
        print(f"  {name:<14} makespan {makespan:6.1f} s   {per * 1000:7.0f} ms slot time per experiment   "
              f"{makespan / baseline:5.1f}x baseline   ({states})")


if __name__ == "__main__":
    main()
