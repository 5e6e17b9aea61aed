"""Makespan of many short experiments on the local engine, against the ideal (sum / slots).

    python bench/local_engine.py [--experiments 200] [--seconds 1] [--slots N]

Each experiment is a real run through the whole path: planned, snapshotted, queued in the
store, submitted by the gateway, executed by the wrapper (snapshot unpacked, script run, states
and logs written). The figure is the makespan from launch to the last final state, against the
ideal (sum / slots) and against a baseline measured in the same run: the same script started
as bare ``python`` processes, ``slots`` at a time (no wrapper, no store, no gateway).

The breakdown says where each experiment's slot time beyond the script's ``--seconds`` went, from
the times the store records (means, ms of slot time per experiment):

* spawn: claim written -> the wrapper's ``running`` event (starting the wrapper process, its
  imports, reading the run);
* unpack: ``running`` -> the script started (the snapshot unpacked, the script's process forked);
* script start/exit: the script's run beyond ``--seconds`` (its interpreter starting and ending;
  the start is paid ahead when a wrapper on stand-by started the script's interpreter: "warm");
* wrap-up: the script's end -> the final state written (logs and metrics flushed);
* hand-off: a final state -> the next claim in the freed slot (the gateway noticing, its step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.local import LocalEngine  # noqa: E402
from gateway.gateway import Gateway  # noqa: E402
from workbench_plugin.index import ProjectIndex, RunEntry  # noqa: E402
from workbench_plugin.planning import launch, make_plan  # noqa: E402
from workbench_plugin.project import write_project_file  # noqa: E402
from workbench_plugin.snapshot import create_snapshot  # noqa: E402
from workbench_plugin.space import SearchSpec  # noqa: E402
from workbench_plugin.store import Store  # noqa: E402

SCRIPT = "import sys, time\ntime.sleep(float(sys.argv[sys.argv.index('--seconds') + 1]))\n"


def bare_processes(script: Path, experiments: int, seconds: float, slots: int) -> float:
    """Makespan of the same script as plain child processes, ``slots`` at a time."""
    start = time.perf_counter()
    running: list[subprocess.Popen[bytes]] = []
    for i in range(experiments):
        while len(running) >= slots:
            running[0].wait()
            running = [p for p in running if p.poll() is None]
        running.append(subprocess.Popen([sys.executable, str(script), "--i", str(i), "--seconds", str(seconds)]))
    for p in running:
        p.wait()
    return time.perf_counter() - start


def breakdown(entry: RunEntry, slots: int, seconds: float) -> dict[str, float]:
    """Mean ms per experiment of each part of its slot time beyond ``seconds`` (see the module doc)."""
    parts: dict[str, list[float]] = {k: [] for k in ("spawn", "unpack", "script start/exit", "wrap-up")}
    claims, finals = [], []
    for exp in entry.experiments:
        exp_id = exp.experiment_id
        claim, state = entry.claims.get(exp_id), entry.states[exp_id]
        running = [e["time"] for e in entry.events[exp_id] if e.get("state") == "running"]
        final = [e["time"] for e in entry.events[exp_id] if e.get("state") == state.state]
        if claim is None or not running or not final or state.get("script_seconds") is None:
            continue
        claims.append(claim["time"])
        finals.append(final[0])
        script_end = state.get("started") + state.get("unpack_seconds") + state.get("script_seconds")
        parts["spawn"].append(running[0] - claim["time"])
        parts["unpack"].append(state.get("unpack_seconds"))
        parts["script start/exit"].append(state.get("script_seconds") - seconds)
        parts["wrap-up"].append(final[0] - script_end)
    claims.sort()
    finals.sort()
    parts["hand-off"] = [c - f for c, f in zip(claims[slots:], finals, strict=False)]
    return {k: 1000 * statistics.fmean(v) if v else float("nan") for k, v in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--slots", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "sleepy")
        folder.mkdir()
        (folder / "sleep.py").write_text(SCRIPT)
        settings = write_project_file(folder, name="sleepy", script="sleep.py")
        store = Store(str(Path(tmp, "store")))
        store.create_project(settings.name, settings.root)
        index = ProjectIndex(store, settings.name)
        spec = SearchSpec.parse({"i": f"1..{args.experiments} +1", "seconds": args.seconds})
        snap = create_snapshot(store, folder, max_file_bytes=1 << 20)
        plan = make_plan(settings, spec, snap, index, max_batch=100_000)
        engine = LocalEngine(store, slots=args.slots, flush_seconds=2.0)
        start = time.perf_counter()
        run, _ = launch(store, plan, engine="local")
        Gateway(store, engine, poll_seconds=0.2).serve(until_idle=True)
        makespan = time.perf_counter() - start
        index.refresh()
        counts = index.runs[run.run_id].counts()
        parts = breakdown(index.runs[run.run_id], args.slots, args.seconds)
        warm = sum(s.get("warm_start") is True for s in index.runs[run.run_id].states.values())
        bare = bare_processes(folder / "sleep.py", args.experiments, args.seconds, args.slots)
    ideal = args.experiments * args.seconds / args.slots
    overhead = (makespan - ideal) * args.slots / args.experiments
    bare_overhead = (bare - ideal) * args.slots / args.experiments
    print(f"local engine: {args.experiments} experiments x {args.seconds} s on {args.slots} slots")
    print(f"  makespan {makespan:.1f} s   ideal (sum/slots) {ideal:.1f} s   ratio {makespan / ideal:.3f}x")
    print(f"  bare python processes, same slots: {bare:.1f} s ({bare / ideal:.3f}x ideal)"
          f"   hypertuner / bare {makespan / bare:.3f}x")
    print(f"  overhead per experiment {overhead * 1000:.0f} ms of slot time"
          f" (bare python: {bare_overhead * 1000:.0f} ms)"
          "   states: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
          + f"   warm starts: {warm}/{args.experiments}")
    print("  breakdown, mean ms per experiment: "
          + "   ".join(f"{name} {ms:.0f}" for name, ms in parts.items()))


if __name__ == "__main__":
    main()
