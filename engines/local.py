"""LocalEngine: experiments as local processes, N at a time.

Each experiment's wrapper starts in its own process session (``start_new_session``), so it
outlives the gateway or dashboard that started it, and ``kill`` signals its whole process group
(the wrapper and the training script). The engine id ``local:<pid>:<start ticks>`` carries the
process start time, so a recycled PID is never mistaken for the experiment.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engines.base import Capacity, EngineBase, Liveness
from engines.processes import (
    cpu_seconds,
    kill_leftovers,
    kill_session,
    parse_pid_id,
    pid_id,
    process_liveness,
    reap,
    remove_work_folders,
    start_ticks,
    track,
)
from workbench_plugin._exceptions import EngineError
from workbench_plugin.config import Config, HdfsSettings
from workbench_plugin.store import Experiment, Run, Store

__all__ = ["LocalEngine"]


def _parse(engine_id: str) -> tuple[int, str]:
    found = parse_pid_id("local", engine_id)
    if found is None:
        raise EngineError(f"engine id {engine_id!r}: not a local engine id ('local:<pid>:<ticks>')")
    return found


class LocalEngine(EngineBase):
    name = "local"

    def __init__(
        self, store: Store, *, slots: int | None = None, work_dir: str = "",
        flush_seconds: float = 2.0, python: str | None = None, log_dir: str | None = None,
        hdfs: HdfsSettings | None = None,
    ) -> None:
        self.store = store
        self.slots = slots or os.cpu_count() or 1
        self.work_dir = work_dir
        self.flush_seconds = flush_seconds
        self.python = python or sys.executable
        self.log_dir = log_dir
        self.hdfs = hdfs or HdfsSettings()
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @classmethod
    def from_config(cls, config: Config, store: Store, *, submitting: bool = True, **overrides: Any) -> LocalEngine:
        """The engine the config describes (``overrides`` win); ``submitting`` changes nothing here."""
        options: dict[str, Any] = {"slots": config.effective_slots, "work_dir": config.work_dir,
                                   "flush_seconds": config.flush_seconds, "hdfs": config.hdfs}
        options.update(overrides)
        return cls(store, **options)

    def submit(self, run: Run, experiment: Experiment, *, generation: int = 0) -> str:
        cmd = [
            self.python, "-m", "spark_jobs.experiment_wrapper",
            "--store", self.store.url, "--project", run.project, "--run", run.run_id,
            "--experiment", experiment.experiment_id, "--flush-seconds", str(self.flush_seconds),
            "--generation", str(generation),
        ]
        if self.work_dir:
            cmd += ["--work-dir", self.work_dir]
        env = dict(os.environ)
        env.update(self.hdfs.environment())  # as this engine was configured (the wrapper reads them)
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
        track(self._children, proc)
        return pid_id("local", proc.pid, start_ticks(proc.pid))

    def adopt(self, reported: Mapping[str, Any]) -> str | None:
        """``local:<pid>:<ticks>`` from the wrapper's ``running`` event: the wrapper leads its session."""
        if reported.get("pid") and reported.get("start_ticks"):
            return pid_id("local", reported["pid"], str(reported["start_ticks"]))
        return None

    def poll(self, engine_id: str) -> Liveness:
        pid, ticks = _parse(engine_id)
        return process_liveness(self._children, pid, ticks)

    def kill(self, engine_id: str, *, grace_seconds: float = 10.0) -> None:
        pid, _ = _parse(engine_id)  # the wrapper leads its session
        kill_session(pid, lambda: self.poll(engine_id) == "alive", grace_seconds)

    def clean_up(self, experiment_id: str, reported: Mapping[str, Any], engine_id: str | None) -> None:
        """Kill what is left of the wrapper's session (the script) and remove the experiment's work
        folders here: the wrapper's ``finally`` does not run when it is killed with -9."""
        if engine_id is not None:
            pid, ticks = _parse(engine_id)
            kill_leftovers(pid, ticks)
        here = reported.get("host") in (None, socket.gethostname())
        remove_work_folders(self.work_dir or tempfile.gettempdir(), experiment_id,
                            str(reported.get("work_dir") or "") if here else "")

    def wait(self, timeout: float, stop: threading.Event | None = None) -> None:
        """Sleep up to ``timeout`` seconds, returning early when a child process ends."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(p.poll() is not None for p in self._children.values()):
                return
            if stop is not None and stop.is_set():
                return
            time.sleep(0.02)

    def capacity(self, run: Run | None = None) -> Capacity:
        reap(self._children)
        return Capacity(slots=self.slots, running=len(self._children))

    def usage(self, engine_id: str) -> dict[str, Any]:
        pid, _ = _parse(engine_id)
        used = cpu_seconds(pid)
        return {} if used is None else {"cpu_seconds": used}
