"""Per-experiment overhead of each way to run experiments, measured in one run.

    python bench/engines.py [--experiments 16] [--slots 2] [--yarn] [--modes local,spark-packed]

``--yarn`` adds one YARN application per experiment on a mini cluster it starts itself (java 17 +
Maven; see scripts/minicluster), with the store on that cluster's HDFS.

Every mode runs the same batch of near-empty experiments (the script logs one metric and exits)
through the whole path (store, gateway, wrapper) and reports the makespan and the slot time per
experiment (makespan x slots / experiments). The baseline is the same script started as bare
python processes, ``slots`` at a time, in the same run.

Modes: ``local`` (LocalEngine), ``spark-packed`` (one Spark application, a task per experiment,
master local[slots]), ``spark-app`` (one Spark application per experiment, master local[1]),
and with ``--yarn`` ``yarn-app`` (one YARN application per experiment on the mini cluster).

Per-experiment overhead: slot time per experiment once the experiments run (first ``running``
event to the last final state, x slots / experiments: an application's own start is left out)
minus the script's own time (the baseline's slot time per experiment). For each mode the
breakdown says where an experiment's slot time went, from the times the store records (means):
``before`` (claim, or in a packed application the previous experiment's end in that slot, to the
wrapper's ``running`` event: starting the wrapper, or taking the next experiment in the task), ``unpack``, ``script``
(the script's process, start to end) and ``after`` (the script's end to the final state).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
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


class Result:
    def __init__(self, name: str, makespan: float, steady: float, counts: dict[str, int], parts: dict[str, float]):
        self.name, self.makespan, self.steady, self.counts, self.parts = name, makespan, steady, counts, parts


def run_mode(store: Store, folder: Path, n: int, engine: Any, packing: str,
             slots: int) -> tuple[float, float, dict[str, int], dict[str, float]]:
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
    for engine_id in {str(s.engine_id) for s in entry.states.values() if s.engine_id}:
        while engine.poll(engine_id) == "alive":  # the application ends after its last experiment
            time.sleep(0.1)
    # launch to the last final state (not counting the wait for YARN's usage accounting after it)
    ends = sorted(float(s.get("ended") or 0.0) for s in entry.states.values())
    makespan = ends[-1] - start
    runs: dict[str, float] = {}
    parts: dict[str, list[float]] = {"before": [], "unpack": [], "script": [], "after": []}
    for exp_id, events in entry.events.items():
        running = [float(e["time"]) for e in events if e.get("state") == "running"]
        if running:
            runs[exp_id] = running[0]
    steady = (ends[-1] - min(runs.values())) * slots / n if runs else float("nan")
    claims = {x: float(c["time"]) for x, c in entry.claims.items()}
    # a packed task's experiments follow each other: "before" counts from the previous end in its slot
    free = sorted(ends)[: max(0, len(runs) - slots)]
    for i, (exp_id, began) in enumerate(sorted(runs.items(), key=lambda t: t[1])):
        state = entry.states[exp_id]
        if state.get("script_seconds") is None:
            continue
        if packing != "tasks":
            parts["before"].append(began - claims[exp_id])
        elif i >= slots:  # the first ones waited for the application to start
            parts["before"].append(began - free[i - slots])
        parts["unpack"].append(float(state.get("unpack_seconds")))
        parts["script"].append(float(state.get("script_seconds")))
        parts["after"].append(float(state.get("ended")) - began - parts["unpack"][-1] - parts["script"][-1])
    means = {k: 1000 * statistics.fmean(v) if v else float("nan") for k, v in parts.items()}
    return makespan, steady, entry.counts(), means


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=16)
    ap.add_argument("--slots", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--yarn", action="store_true",
                    help="also one YARN application per experiment, on a mini cluster started for the benchmark")
    ap.add_argument("--modes", default="local,spark-packed,spark-app", help="comma-separated modes to run")
    args = ap.parse_args()
    n, slots = args.experiments, args.slots
    results: list[Result] = []
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
        wanted = set(args.modes.split(",")) | ({"yarn-app"} if args.yarn else set())
        for name, make_engine, packing in modes:
            if name not in wanted:
                continue
            engine = make_engine()
            mode_folder = Path(tmp, name)
            mode_folder.mkdir()
            (mode_folder / "job.py").write_text(SCRIPT)
            makespan, steady, counts, parts = run_mode(engine.store, mode_folder, n, engine, packing, slots)
            results.append(Result(name, makespan, steady, counts, parts))
    own = baseline * slots / n
    print(f"engines: {n} near-empty experiments, {slots} slots")
    print(f"  {'bare processes':<14} makespan {baseline:6.1f} s   {own * 1000:7.0f} ms slot time "
          "per experiment (baseline: the script's own time)")
    for r in results:
        per = r.makespan * slots / n
        states = ", ".join(f"{c} {s}" for s, c in r.counts.items() if c)
        print(f"  {r.name:<14} makespan {r.makespan:6.1f} s   {per * 1000:7.0f} ms slot time per experiment   "
              f"{r.makespan / baseline:5.1f}x baseline   ({states})")
        print(f"  {'':<14} once running: {r.steady * 1000:7.0f} ms slot time per experiment, overhead "
              f"{(r.steady - own) * 1000:5.0f} ms per experiment   breakdown (mean ms): "
              + "   ".join(f"{k} {v:.0f}" for k, v in r.parts.items()))


if __name__ == "__main__":
    main()
