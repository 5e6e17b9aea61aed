"""LocalEngine: experiments as local processes, N at a time.

Each experiment's wrapper starts in its own process session (``start_new_session``), so it
outlives the gateway or dashboard that started it, and ``kill`` signals its whole process group
(the wrapper and the training script). The engine id ``local:<pid>:<start ticks>`` carries the
process start time, so a recycled PID is never mistaken for the experiment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.base import Capacity, Liveness
from workbench_plugin._exceptions import EngineError
from workbench_plugin.store import Experiment, Run, Store

__all__ = ["LocalEngine"]


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _start_ticks(pid: int) -> str:
    fields = _proc_stat(pid)
    return fields[19] if fields else "0"


def _parse(engine_id: str) -> tuple[int, str]:
    try:
        kind, pid, ticks = engine_id.split(":")
        if kind != "local":
            raise ValueError
        return int(pid), ticks
    except ValueError:
        raise EngineError(f"engine id {engine_id!r}: not a local engine id ('local:<pid>:<ticks>')") from None


#: Every wrapper this process started, across engines. Wrappers outlive the gateway that started
#: them by design; keeping their Popen objects here means one that is dropped while its wrapper
#: runs is still reaped later (no zombie, no "subprocess still running" warning).
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def _reap_started() -> None:
    for pid, proc in list(_STARTED.items()):
        if proc.poll() is not None:
            del _STARTED[pid]


def process_liveness(children: dict[int, subprocess.Popen[bytes]], pid: int, ticks: str) -> Liveness:
    """Whether the process ``pid`` started at ``ticks`` still runs (reaping it if it is our child)."""
    child = children.get(pid)
    if child is not None:
        if child.poll() is None:
            return "alive"
        del children[pid]
        return "gone"
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X") or fields[19] != ticks:
        return "gone"
    return "alive"


def kill_session(pid: int, alive: Callable[[], bool], grace_seconds: float) -> None:
    """SIGTERM the session led by ``pid`` (pgid == pid), SIGKILL it if still ``alive`` after the grace."""
    if not alive():
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + grace_seconds
    while time.time() < deadline:
        if not alive():
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


class LocalEngine:
    name = "local"
    accounts_usage = False

    def __init__(
        self, store: Store, *, slots: int | None = None, work_dir: str = "",
        flush_seconds: float = 2.0, python: str | None = None, log_dir: str | None = None,
    ) -> None:
        self.store = store
        self.slots = slots or os.cpu_count() or 1
        self.work_dir = work_dir
        self.flush_seconds = flush_seconds
        self.python = python or sys.executable
        self.log_dir = log_dir
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def submit(self, run: Run, experiment: Experiment) -> str:
        cmd = [
            self.python, "-m", "spark_jobs.experiment_wrapper",
            "--store", self.store.url, "--project", run.project, "--run", run.run_id,
            "--experiment", experiment.experiment_id, "--flush-seconds", str(self.flush_seconds),
        ]
        if self.work_dir:
            cmd += ["--work-dir", self.work_dir]
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            # The wrapper's own stdout/stderr matter only when it crashes; keep them nowhere by
            # default (the script's output goes to the store as logs).
            with contextlib.ExitStack() as stack:
                out: Any = subprocess.DEVNULL
                if self.log_dir:
                    os.makedirs(self.log_dir, exist_ok=True)
                    log = os.path.join(self.log_dir, f"{experiment.experiment_id}.wrapper.log")
                    out = stack.enter_context(open(log, "ab"))
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                    start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            raise EngineError(f"local engine: cannot start {cmd[0]!r} ({exc.strerror})") from exc
        self._children[proc.pid] = proc
        _STARTED[proc.pid] = proc
        return f"local:{proc.pid}:{_start_ticks(proc.pid)}"

    def _reap(self) -> None:
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]
        _reap_started()

    def poll(self, engine_id: str) -> Liveness:
        pid, ticks = _parse(engine_id)
        return process_liveness(self._children, pid, ticks)

    def kill(self, engine_id: str, *, grace_seconds: float = 10.0) -> None:
        pid, _ = _parse(engine_id)  # the wrapper leads its session
        kill_session(pid, lambda: self.poll(engine_id) == "alive", grace_seconds)

    def wait(self, timeout: float, stop: Any = None) -> None:
        """Sleep up to ``timeout`` seconds, returning early when a child process ends."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(p.poll() is not None for p in self._children.values()):
                return
            if stop is not None and stop.is_set():
                return
            time.sleep(0.02)

    def capacity(self) -> Capacity:
        self._reap()
        return Capacity(slots=self.slots, running=len(self._children))

    def usage(self, engine_id: str) -> dict[str, Any]:
        pid, _ = _parse(engine_id)
        fields = _proc_stat(pid)
        if not fields:
            return {}
        hz = os.sysconf("SC_CLK_TCK")
        return {"cpu_seconds": (int(fields[11]) + int(fields[12])) / hz}
