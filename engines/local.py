"""LocalEngine: experiments as local processes, N at a time.

Each experiment's wrapper starts in its own process session (``start_new_session``), so it
outlives the gateway or dashboard that started it, and ``kill`` signals its whole process group
(the wrapper and the training script). The engine id ``local:<pid>:<start ticks>`` carries the
process start time, so a recycled PID is never mistaken for the experiment.

Once it has submitted, the engine keeps wrappers started ahead, on stand-by
(:mod:`workbench_plugin.standby`), one per slot up to :data:`MAX_STAND_BY`: their interpreter
and imports are paid while the slots are busy, and a submission only hands one the experiment
(one line on a pipe). Replacements start between gateway steps (:meth:`LocalEngine.wait`), so a
freed slot is filled at once, even when all slots free together. A submission that finds none
ready (or one that died) starts a wrapper afresh, as before. Each wrapper on stand-by also starts
the script's interpreter ahead (:mod:`spark_jobs.warm_start`): the interpreter of the run this
engine last handed out, so the script's own interpreter start leaves the slot too.
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
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engines.base import Capacity, EngineBase, Liveness
from engines.processes import (
    STARTED,
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
from workbench_plugin.standby import STAND_BY_FLAG, WARM_FLAG, StandByOrder
from workbench_plugin.store import Experiment, Run, Store

__all__ = ["LocalEngine"]

#: How often :meth:`LocalEngine.wait` looks for a wrapper that ended (a freed slot).
WAIT_POLL_SECONDS = 0.005
#: The most wrappers kept on stand-by (each an idle interpreter of some 20 MB).
MAX_STAND_BY = 4
#: How long letting wrappers on stand-by go waits for them to exit.
LET_GO_SECONDS = 2.0


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
        #: Wrappers started ahead and waiting for their experiment, and the start ticks read when
        #: each started.
        self._spares: list[subprocess.Popen[bytes]] = []
        self._ticks: dict[int, str] = {}
        self._want_spare = False
        #: The interpreter of the run last submitted ("": the wrapper's), for wrappers on stand-by.
        self._interpreter = ""
        weakref.finalize(self, _let_go, self._spares)

    @classmethod
    def from_config(cls, config: Config, store: Store, *, submitting: bool = True, **overrides: Any) -> LocalEngine:
        """The engine the config describes (``overrides`` win); ``submitting`` changes nothing here."""
        options: dict[str, Any] = {"slots": config.effective_slots, "work_dir": config.work_dir,
                                   "flush_seconds": config.flush_seconds, "hdfs": config.hdfs}
        options.update(overrides)
        return cls(store, **options)

    def submit(self, run: Run, experiment: Experiment, *, generation: int = 0) -> str:
        args = [
            "--store", self.store.url, "--project", run.project, "--run", run.run_id,
            "--experiment", experiment.experiment_id, "--flush-seconds", str(self.flush_seconds),
            "--generation", str(generation),
        ]
        if self.work_dir:
            args += ["--work-dir", self.work_dir]
        env = self._environment()
        log = ""
        if self.log_dir:
            log = os.path.join(self.log_dir, f"{experiment.experiment_id}.wrapper.log")
        proc = self._hand_over(StandByOrder.of(args, env, os.getcwd(), log))
        if proc is None:
            proc = self._start([*self._wrapper, *args], env, log)
        self._want_spare = True
        self._interpreter = run.interpreter
        track(self._children, proc)
        return pid_id("local", proc.pid, self._ticks.pop(proc.pid, "") or start_ticks(proc.pid))

    @property
    def _wrapper(self) -> list[str]:
        return [self.python, "-m", "spark_jobs.experiment_wrapper"]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.hdfs.environment())  # as this engine was configured (the wrapper reads them)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        return env

    def _start(self, cmd: list[str], env: dict[str, str], log: str, *,
               stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        try:
            # The wrapper's own stdout/stderr matter only when it crashes; keep them nowhere by
            # default (the script's output goes to the store as logs).
            with contextlib.ExitStack() as stack:
                out: Any = subprocess.DEVNULL
                if log:
                    os.makedirs(os.path.dirname(log), exist_ok=True)
                    out = stack.enter_context(open(log, "ab"))
                return subprocess.Popen(
                    cmd, stdin=stdin, stdout=out, stderr=out, env=env, start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            raise EngineError(f"local engine: cannot start {cmd[0]!r} ({exc.strerror})") from exc

    def _hand_over(self, order: StandByOrder) -> subprocess.Popen[bytes] | None:
        """Give a wrapper on stand-by its experiment; None when there is none, or it died."""
        if not self._spares:
            return None
        spare = self._spares.pop(0)  # the oldest: the most likely to be ready
        started_as = spare.args if isinstance(spare.args, list) else []
        if started_as[:len(self._wrapper) + 1] == [*self._wrapper, STAND_BY_FLAG] and spare.poll() is None \
                and spare.stdin is not None:
            try:
                spare.stdin.write(order.encode())
                spare.stdin.close()
                return spare
            except OSError:  # it died meanwhile (a closed pipe): start a fresh wrapper instead
                pass
        _let_go([spare])
        return None

    def _start_spares(self) -> None:
        """Start wrappers on stand-by, up to one per slot (between gateway steps, while the slots
        are busy)."""
        self._want_spare = False
        env = self._environment()
        cmd = [*self._wrapper, STAND_BY_FLAG, *([WARM_FLAG, self._interpreter] if self._interpreter else [])]
        while len(self._spares) < min(self.slots, MAX_STAND_BY):
            try:
                spare = self._start(cmd, env, "", stdin=subprocess.PIPE)
            except EngineError:
                return  # submissions start wrappers afresh, and say why if that fails too
            self._ticks[spare.pid] = start_ticks(spare.pid)
            self._spares.append(spare)

    def release(self) -> None:
        """Let the wrappers on stand-by go (each exits at once)."""
        self._want_spare = False
        _let_go(self._spares)

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
        """Sleep up to ``timeout`` seconds, returning early when a child process ends; first start
        wrappers on stand-by for those the last step's submissions took."""
        if self._want_spare:
            self._start_spares()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._children.values()):
                return
            if stop is not None and stop.is_set():
                return
            time.sleep(WAIT_POLL_SECONDS)

    def capacity(self, run: Run | None = None) -> Capacity:
        reap(self._children)
        return Capacity(slots=self.slots, running=len(self._children))

    def usage(self, engine_id: str) -> dict[str, Any]:
        pid, _ = _parse(engine_id)
        used = cpu_seconds(pid)
        return {} if used is None else {"cpu_seconds": used}


def _let_go(spares: list[subprocess.Popen[bytes]]) -> None:
    """Close the pipes of wrappers on stand-by (each exits at end of file, at once once its imports
    are done) and reap them; one still importing is left to be reaped with every wrapper this
    process started (:data:`~engines.processes.STARTED`)."""
    gone = list(spares)
    spares.clear()
    for spare in gone:
        if spare.stdin is not None:
            with contextlib.suppress(OSError):
                spare.stdin.close()
    deadline = time.monotonic() + LET_GO_SECONDS
    for spare in gone:
        try:
            spare.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            STARTED[spare.pid] = spare
