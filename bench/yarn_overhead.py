"""Where the time of one YARN application per experiment goes, on a mini cluster it starts itself.

    python bench/yarn_overhead.py [--experiments 8] [--slots 4] [--modes waiting,overlapping]

It needs java 17 and the mini cluster's build (scripts/minicluster), like the cluster tests.

Runs the same batch of near-empty experiments (the script records when it started and ended, and
exits) through the whole path (store on the cluster's HDFS, gateway, spark-submit, the
ApplicationMaster, the wrapper) once per mode, and prints per experiment and the median:

- ``client``: the claim until ``spark-submit`` handed the application to YARN (the ``submitted``
  event; the client never waits for the application to end);
- ``queue``: the ResourceManager accepted it (``startedTime``) until its AM container's JVM started
  (the AM JVM's own start time, read by the script from /proc);
- ``am``: the AM JVM's start until the driver's Python started (Spark's ApplicationMaster);
- ``python``: the driver's Python start until the wrapper's ``running`` event (imports, the
  SparkContext the ApplicationMaster waits for, the store's start record);
- ``to script``: ``running`` until the script's first line (snapshot copy, process start);
- ``script``: the script's own first to last line;
- ``final``: the script's end until the wrapper's final state is in the store (metrics, state);
- ``slot``: the claim until the final state (how long the experiment held its slot);
- ``overhead``: slot - script.

``makespan/exp`` is the launch-to-last-final-state time divided by the experiments (throughput).

``am cpu`` and ``py cpu`` are the CPU-seconds the ApplicationMaster's JVM and the driver's Python
had used when the script started; the spark-submit clients' CPU-seconds per experiment are printed
with each mode. CPU-seconds do not depend on how busy the machine is; wall times do.

Modes (same cluster, same run): ``waiting`` is the engine as it was before issue 15 (one blocking
spark-submit at a time in the gateway's step, the JVMs' default options, the SparkContext made
before the wrapper starts the script); ``overlapping`` is today's (``yarn.submit_concurrency``
clients in flight from threads while the gateway steps on; the client and the ApplicationMaster
with options for short-lived JVMs; the SparkContext made while the wrapper is imported and reads
its run, the script started once it is made). Ratios are printed against ``waiting``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from engines.spark import JOBS, SparkEngine  # noqa: E402
from gateway.gateway import Gateway  # noqa: E402
from workbench_plugin.config import load_config  # noqa: E402
from workbench_plugin.index import ProjectIndex  # noqa: E402
from workbench_plugin.planning import launch, make_plan  # noqa: E402
from workbench_plugin.project import find_project, write_project_file  # noqa: E402
from workbench_plugin.snapshot import create_snapshot  # noqa: E402
from workbench_plugin.space import SearchSpec  # noqa: E402
from workbench_plugin.store import Store  # noqa: E402

#: The script: its own start and end, and the start times of its parents (the wrapper's Python,
#: the driver; and the ApplicationMaster's JVM) read from /proc (the NodeManager is on this machine).
SCRIPT = """import os, sys, time
t0 = time.time()
from workbench_plugin import tracking as ht

def started(pid):
    with open(f"/proc/{pid}/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")

def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])

def name(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()

def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

times = {"i": float(sys.argv[sys.argv.index('--i') + 1]), "script_start": t0}
pid = os.getppid()  # the wrapper (the driver's Python)
times["python_start"] = started(pid)
times["python_cpu"] = cpu(pid)
while pid > 1 and name(pid) != "java":
    pid = parent(pid)
if pid > 1:
    times["am_start"] = started(pid)
    times["am_cpu"] = cpu(pid)
times["script_end"] = time.time()
ht.summary(**times)
"""

PARTS = ("client", "queue", "am", "python", "to script", "script", "final", "slot", "overhead", "am cpu",
         "py cpu")
#: The experiment job as it was (the SparkContext first), for the ``waiting`` mode.
CONTEXT_FIRST_JOB = Path(__file__).resolve().with_name("_context_first_job.py")


class WaitingEngine(SparkEngine):
    """The engine as it was before issue 15: one blocking spark-submit at a time in the gateway's
    step, default JVM options, the SparkContext made before the script starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.submit_concurrency = 1

    @property
    def _short_jvms(self) -> bool:
        return False

    def _launch_with_token(self, argv: list[str], label: str, *, image: bool = False) -> str:
        job = str(JOBS / "experiment_job.py")
        return super()._launch_with_token([str(CONTEXT_FIRST_JOB) if a == job else a for a in argv], label,
                                          image=image)


def rm_times(rm_url: str, app_id: str) -> dict[str, float]:
    app = requests.get(f"{rm_url}/ws/v1/cluster/apps/{app_id}", timeout=10).json()["app"]
    return {"accepted": app["startedTime"] / 1000, "launch": (app.get("launchTime") or 0) / 1000,
            "finished": app["finishedTime"] / 1000}


def breakdown(fields: dict[str, Any], summary: dict[str, float], rm: dict[str, float]) -> dict[str, float]:
    claim, submitted = fields["claim_time"], fields["submitted_time"]
    running, final = fields["running_time"], fields["succeeded_time"]
    am_start = summary.get("am_start") or rm["launch"]
    parts = {
        "client": submitted - claim,
        "queue": am_start - rm["accepted"],
        "am": summary["python_start"] - am_start,
        "python": running - summary["python_start"],
        "to script": summary["script_start"] - running,
        "script": summary["script_end"] - summary["script_start"],
        "final": final - summary["script_end"],
        "slot": final - claim,
    }
    parts["overhead"] = parts["slot"] - parts["script"]
    parts["am cpu"] = summary.get("am_cpu", float("nan"))  # the AM's JVM, until the script started
    parts["py cpu"] = summary.get("python_cpu", float("nan"))  # the driver's Python, until then
    return parts


def run_mode(engine: SparkEngine, folder: Path, n: int, rm_url: str) -> tuple[list[dict[str, float]], float, float]:
    """The rows of the breakdown, the makespan, and the CPU seconds of the spark-submit clients
    (children of this process) per experiment."""
    store = engine.store
    settings = write_project_file(folder, name=folder.name, script="job.py")
    settings = find_project(folder)
    store.create_project(settings.name, settings.root)
    index = ProjectIndex(store, settings.name)
    snap = create_snapshot(store, folder, max_file_bytes=1 << 20)
    plan = make_plan(settings, SearchSpec.parse({"i": f"1..{n} +1"}), snap, index, max_batch=100_000)
    start = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run, _ = launch(store, plan, engine=engine.name, packing="none")
    Gateway(store, engine, poll_seconds=0.2).serve(until_idle=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / n
    index.refresh()
    entry = index.runs[run.run_id]
    summaries: dict[str, dict[str, float]] = {}
    for point in index.metrics_table(run.run_id).to_pylist():
        if point["kind"] == "summary":
            summaries.setdefault(point["experiment_id"], {})[point["name"]] = float(point["value"])
    rows = []
    for exp_id, state in entry.states.items():
        if state.state != "succeeded":
            print(f"  {exp_id}: {state.state} ({state.get('reason', '')})")
            continue
        summary = summaries.get(exp_id, {})
        app_id = str(state.get("engine_id")).split(":", 1)[1]
        rows.append(breakdown({**state.fields, "claim_time": state.claim_time}, summary, rm_times(rm_url, app_id)))
    makespan = max(float(s.get("ended") or 0.0) for s in entry.states.values()) - start
    return rows, makespan, client_cpu


def print_mode(name: str, rows: list[dict[str, float]], makespan: float, n: int, client_cpu: float) -> dict[str, float]:
    print(f"\n{name}: {len(rows)} of {n} succeeded, makespan {makespan:.1f} s ({makespan / n:.1f} s/exp), "
          f"spark-submit {client_cpu:.1f} CPU-s per experiment")
    print("  " + " ".join(f"{p:>9}" for p in ("exp", *PARTS)))
    for i, row in enumerate(rows):
        print("  " + " ".join([f"{i:>9}", *(f"{row[p]:9.2f}" for p in PARTS)]))
    median = {p: statistics.median(r[p] for r in rows) for p in PARTS} if rows else {p: float("nan") for p in PARTS}
    median["makespan/exp"] = makespan / n
    median["client cpu"] = client_cpu
    print("  " + " ".join([f"{'median':>9}", *(f"{median[p]:9.2f}" for p in PARTS)]))
    return median


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=8)
    ap.add_argument("--slots", type=int, default=4, help="applications at once (the gateway's slots)")
    ap.add_argument("--modes", default="waiting,overlapping")
    args = ap.parse_args()
    from scripts.minicluster.minicluster import MiniCluster

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    medians: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, MiniCluster.start(Path(tmp, "cluster")) as cluster:
        os.environ.update(cluster.client_env())
        store = Store(f"webhdfs://{cluster.webhdfs_url.split('://', 1)[1]}/bench")
        for mode in modes:
            if mode not in ("waiting", "overlapping"):
                raise SystemExit(f"--modes: {mode!r}; use waiting, overlapping")
            kind = WaitingEngine if mode == "waiting" else SparkEngine
            engine = kind.from_config(load_config(), store, master="yarn", slots=args.slots, flush_seconds=2.0,
                                      rm_url=cluster.rm_url, hadoop_conf_dir=str(cluster.conf_dir))
            folder = Path(tmp, mode)
            folder.mkdir()
            (folder / "job.py").write_text(SCRIPT)
            rows, makespan, client_cpu = run_mode(engine, folder, args.experiments, cluster.rm_url)
            medians[mode] = print_mode(mode, rows, makespan, args.experiments, client_cpu)
    if "waiting" in medians:
        base = medians["waiting"]
        print(f"\nmedians against waiting ({args.experiments} experiments, {args.slots} slots):")
        for mode, median in medians.items():
            print(f"  {mode:<12} overhead {median['overhead']:6.2f} s ({median['overhead'] / base['overhead']:.2f}x)"
                  f"   slot {median['slot']:6.2f} s   makespan/exp {median['makespan/exp']:6.2f} s "
                  f"({median['makespan/exp'] / base['makespan/exp']:.2f}x)   CPU-s: spark-submit "
                  f"{median['client cpu']:4.1f} ({median['client cpu'] / base['client cpu']:.2f}x), AM "
                  f"{median['am cpu']:4.1f} ({median['am cpu'] / base['am cpu']:.2f}x), driver Python "
                  f"{median['py cpu']:4.1f}")


if __name__ == "__main__":
    main()
