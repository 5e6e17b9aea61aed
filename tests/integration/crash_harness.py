"""Fault injection for the crash tests: real ``hypertuner gateway`` processes on a local-engine store,
real wrappers, a tiny script that notes its start and end in a side file, and a sampler of how
many scripts run at once (from /proc).

Every process started here is ended here, by its PID, even when the test fails.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from tests.integration.processes import launch_batch
from workbench_plugin.config import ENV_FAULT_POINTS
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import REQUEUED, TERMINAL
from workbench_plugin.store import Experiment, Store

#: The script name the sampler looks for in /proc/<pid>/cmdline.
SCRIPT = "crash_train.py"
CRASH_SCRIPT = textwrap.dedent(
    """
    import argparse, os, signal, time
    from workbench_plugin import tracking as ht
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--sleep", type=float, default=0.1)
    ap.add_argument("--stubborn", type=int, default=0)
    a = ap.parse_args()
    if a.stubborn:  # ignores SIGTERM: a kill escalates to SIGKILL
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    me = os.environ["HYPERTUNER_EXPERIMENT_ID"]
    def note(kind):
        with open(os.environ["CRASH_SIDE_FILE"], "a") as side:
            side.write(f"{kind} {me} {os.getpid()} {time.time()}\\n")
    note("start")
    for e in range(1, a.epochs + 1):
        time.sleep(a.sleep)
        ht.log(epoch=e, loss=a.x / e)
    ht.summary(score=a.x)
    note("end")
    """
)


def crash_project(folder: Path) -> Path:
    folder.mkdir()
    (folder / SCRIPT).write_text(CRASH_SCRIPT)
    (folder / "hypertuner.toml").write_text(f'[project]\nname = "crash"\nscript = "{SCRIPT}"\n')
    return folder


def _cmdline(pid: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def processes_with(*needles: str) -> list[int]:
    """PIDs of live processes whose command line has every one of ``needles`` as an argument."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            argv = _cmdline(pid)
            if all(any(n in a for a in argv) for n in needles):
                out.append(int(pid))
    return out


@dataclass
class Crashes:
    """A batch on a store, the gateways serving it, and what was seen and done to them."""

    store: Store
    root: Path
    slots: int = 2
    flush_seconds: float = 0.2
    index: ProjectIndex = field(init=False)
    experiments: list[Experiment] = field(init=False)
    side: Path = field(init=False)
    work: Path = field(init=False)
    gateways: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    serving: dict[int, bool] = field(default_factory=dict)  # pid -> a `serve`, not a `gateway`
    max_running: int = 0
    wrapper_kills: dict[str, float] = field(default_factory=dict)  # experiment -> when its wrapper was killed
    gateway_starts: list[float] = field(default_factory=list)
    gateway_kills: dict[int, float] = field(default_factory=dict)  # pid -> when it was killed
    _stop: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def launch(self, values: dict[str, object]) -> None:
        folder = crash_project(self.root / "proj")
        self.side = self.root / "side.txt"
        self.side.touch()
        self.work = self.root / "work"
        self.work.mkdir()
        self.index, self.experiments = launch_batch(self.store, folder, values)

    def env(self, faults: str = "") -> dict[str, str]:
        root = str(Path(__file__).resolve().parents[2])
        env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERTUNER_")}
        env.update({"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
                    "HYPERTUNER_SLOTS": str(self.slots), "HYPERTUNER_FLUSH_SECONDS": str(self.flush_seconds),
                    "HYPERTUNER_WORK_DIR": str(self.work), "CRASH_SIDE_FILE": str(self.side)})
        if faults:
            env[ENV_FAULT_POINTS] = faults
        return env

    def start_gateway(self, faults: str = "", *, serve: bool = False) -> subprocess.Popen[bytes]:
        """A ``hypertuner gateway``, or with ``serve`` a ``hypertuner serve`` (the dashboard on a
        free port of 127.0.0.1 with its in-process gateway)."""
        log = open(self.root / "gateways.log", "ab")  # noqa: SIM115 - closed with the process
        command = ["serve", "--port", "0", "--project", str(self.root / "proj")] if serve else ["gateway"]
        proc = subprocess.Popen([sys.executable, "-m", "workbench_plugin.cli", "--store", self.store.url, *command],
                                env=self.env(faults), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self.gateways[proc.pid] = proc
        self.serving[proc.pid] = serve
        self.gateway_starts.append(time.time())
        return proc

    def kill_gateway(self, proc: subprocess.Popen[bytes]) -> None:
        self.gateway_kills[proc.pid] = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.gateways.pop(proc.pid, None)

    def wrappers(self) -> list[int]:
        return processes_with("spark_jobs.experiment_wrapper", self.store.url)

    def kill_wrapper(self, pid: int) -> str | None:
        """SIGKILL one wrapper; return its experiment id (None when it had ended)."""
        argv = _cmdline(str(pid))
        if "--experiment" not in argv:
            return None
        exp_id = argv[argv.index("--experiment") + 1]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        self.wrapper_kills.setdefault(exp_id, time.time())
        return exp_id

    # ---- watching ---------------------------------------------------------------------------
    def _sample(self) -> None:
        while not self._stop.is_set():
            running = len(self.running_scripts())
            self.max_running = max(self.max_running, running)
            self._stop.wait(0.02)

    def __enter__(self) -> Crashes:
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        for proc in list(self.gateways.values()):
            self.kill_gateway(proc)
        for pid in self.wrappers() + self.running_scripts():  # none is left when the test passed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # ---- what happened ------------------------------------------------------------------------
    def states(self) -> dict[str, str]:
        self.index.refresh()
        return {e.experiment_id: s.state for _, e, s in self.index.iter_experiments()}

    def all_ended(self) -> bool:
        return all(s in TERMINAL for s in self.states().values())

    def starts(self) -> collections.Counter[str]:
        """How many times each experiment's script started (from the side file)."""
        lines = [line.split() for line in self.side.read_text().splitlines() if line.strip()]
        return collections.Counter(parts[1] for parts in lines if parts[0] == "start")

    def ends(self) -> set[str]:
        lines = [line.split() for line in self.side.read_text().splitlines() if line.strip()]
        return {parts[1] for parts in lines if parts[0] == "end"}

    def duplicated_epoch_rows(self) -> int:
        self.index.refresh()
        entry = self.index.runs[self.experiments[0].run_id]
        if not entry.metric_parts:
            return 0
        table = pa.concat_tables([t.cast(entry.metric_parts[0].schema) for t in entry.metric_parts])
        frame = table.to_pandas()
        frame = frame[frame["kind"].astype(str) == "epoch"]
        sizes = frame.groupby(["experiment_id", "epoch", "name"], observed=True).size()
        return int((sizes > 1).sum())

    def events(self, exp_id: str) -> list[dict[str, object]]:
        self.index.refresh()
        return list(self.index.runs[self.experiments[0].run_id].events[exp_id])

    def requeued(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for exp in self.experiments:
            out += [e for e in self.events(exp.experiment_id) if e.get("state") == REQUEUED]
        return out

    def requeue_delays(self) -> list[float]:
        """For each claim given back because its gateway was killed here: seconds from the kill."""
        run_id = self.experiments[0].run_id
        delays = []
        for event in self.requeued():
            exp_id, generation = str(event["experiment_id"]), int(event["generation"])  # type: ignore[call-overload]
            name = exp_id if generation == 0 else f"{exp_id}~{generation:06d}"
            claim = self.store.read_record(f"{self.store.run_dir('crash', run_id)}/claims/{name}.json")
            killed = self.gateway_kills.get(int(claim.get("pid", 0)))
            if killed is not None and event.get("by") != claim.get("gateway"):  # not its own back-off
                delays.append(float(event["time"]) - killed)  # type: ignore[arg-type]
        return delays

    def leftover_work_folders(self) -> list[str]:
        return sorted(p.name for p in self.work.iterdir())

    def running_scripts(self) -> list[int]:
        return processes_with(SCRIPT)


def iter_kill_times(count: int, low: float, high: float, seed: int) -> Iterator[float]:
    """``count`` pauses between kills, uniformly random in [low, high] (seeded: a failure repeats)."""
    import random

    rnd = random.Random(seed)
    for _ in range(count):
        yield rnd.uniform(low, high)
