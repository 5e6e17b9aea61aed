"""The experiment wrapper: runs one experiment and records everything it does in the store.

It unpacks the run's snapshot into a private working folder, runs the training script with its
argv (never through a shell), turns what the script logs (tracking SDK, or stdout patterns for
scripts that cannot be changed) into metrics parts every few seconds and at exit (CSV: writing
them needs no pyarrow, so the wrapper starts quickly; compaction turns them into Parquet), keeps
stdout and stderr as log chunks, and writes the experiment's states itself: ``running``, then
``succeeded``, ``failed`` (with the exit code) or ``killed``.

Its ``running`` event is the start of one claim generation, written as an exclusive create: when a
gateway gave the claim back first (its own gateway died before recording the submission), the
wrapper stops without starting the script, so an experiment never runs twice. The script dies
with the wrapper (``PR_SET_PDEATHSIG``), even when the wrapper is killed with -9.

Used by the local engine as a process, and by cluster engines inside the container::

    python -m spark_jobs.experiment_wrapper --store URL --project P --run R --experiment E

or started ahead of its experiment and handed it on stdin (``--stand-by``,
:mod:`workbench_plugin.standby`), as the local engine does to keep the interpreter's start out
of the slot. Keep this module light (no pyarrow, pandas or numpy): it ships to every container.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import IO, Any

from spark_jobs.warm_start import WarmStart
from workbench_plugin._exceptions import SnapshotError
from workbench_plugin.config import ENV_TOKEN_FILE, container_id
from workbench_plugin.faults import fault_point
from workbench_plugin.fs import filesystem_for
from workbench_plugin.lifecycle import State
from workbench_plugin.patience import DEFAULT_PATIENCE_SECONDS, PatientFileSystem
from workbench_plugin.patterns import StdoutParser
from workbench_plugin.standby import MAX_ORDER_BYTES, STAND_BY_FLAG, WARM_FLAG, StandByOrder
from workbench_plugin.store import METRIC_COLUMNS, Experiment, Run, Store
from workbench_plugin.tracking import (
    ARTIFACTS_DIR,
    ENV_DIR,
    ENV_EXPERIMENT,
    ENV_RUN,
    METRICS_FILE,
    SDK_MARKER,
    read_records,
)

__all__ = ["ExperimentWrapper", "main"]

KILL_GRACE_SECONDS = 10.0
#: How often the wrapper checks for the script's exit once its outputs are closed.
EXIT_POLL_SECONDS = 0.02
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
#: The variables set for the script per experiment (none changes how an interpreter starts).
_EXPERIMENT_VARIABLES = frozenset({ENV_DIR, ENV_EXPERIMENT, ENV_RUN})


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn``: the child gets SIGKILL when the process that started it dies, even by
    SIGKILL (Linux ``PR_SET_PDEATHSIG``); if that already happened between fork and here, it ends
    at once. ``prctl`` is looked up here, in the parent: the child only calls it. None off Linux."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(137)

    return arm


def _script_python(python: str) -> str:
    """The script's interpreter as the wrapper starts it: ``python``, else this one."""
    python = python or sys.executable
    if os.sep in python and not os.path.isabs(python):
        # a build image's ./env/bin/python: the script runs in another folder
        python = os.path.abspath(python)
    return python


def _script_environment(environ: MutableMapping[str, str]) -> dict[str, str]:
    """The script's environment, less the experiment's variables: ``environ``, unbuffered, with
    this package importable (the tracking SDK)."""
    env = {k: v for k, v in environ.items() if k not in _EXPERIMENT_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _start_ticks() -> str:
    """This process's start time in clock ticks (with the PID, a reusable process identity)."""
    try:
        raw = Path("/proc/self/stat").read_text()
    except OSError:
        return ""
    return raw[raw.rfind(")") + 2 :].split()[19]


class ExperimentWrapper:
    def __init__(
        self, store: Store, run: Run, experiment: Experiment, *, work_root: str | None = None,
        flush_seconds: float = 2.0, python: str | None = None, snapshot_dir: str | None = None,
        generation: int | None = None, warm: WarmStart | None = None,
    ) -> None:
        self.store = store
        #: The claim generation this wrapper starts (None: the newest, read from the store).
        self.generation = generation
        #: The snapshot already unpacked (YARN localizes it as an archive); else read from the store.
        self.snapshot_dir = snapshot_dir or None
        self.run = run
        self.exp = experiment
        self.work_root = work_root or None
        self.flush_seconds = flush_seconds
        self.python = _script_python(python or run.interpreter)
        #: The script's interpreter, started ahead (on stand-by): used when it fits.
        self.warm = warm
        # a key named like one of the script's flags is an echo of a setting, not a metric
        echoes = [*experiment.params, *(run.script_flags or ())]
        self.parser = StdoutParser(run.stdout_patterns or None, hyperparameters=echoes)
        self._lock = threading.Lock()
        self._stdout_points: list[Any] = []
        self._logs: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._log_seq = {"stdout": 0, "stderr": 0}
        self._part_seq = 0
        self._sdk_offset = 0
        self._sdk_used = False
        self._wake = threading.Event()
        #: Set when the script has closed both output streams, which it does when it exits.
        self._outputs_closed = threading.Event()
        self._open_streams = 2
        self.killed = False
        self.proc: subprocess.Popen[bytes] | None = None
        #: The script's own resource usage, from ``wait4`` when this wrapper reaped it.
        self._usage: resource.struct_rusage | None = None

    # ---- store helpers ---------------------------------------------------------------------
    def _state(self, state: str, **fields: Any) -> None:
        self.store.append_state(self.run.project, self.run.run_id, self.exp.experiment_id, state,
                                generation=self.generation, **fields)

    # ---- signal handling --------------------------------------------------------------------
    def _on_term(self, signum: int, frame: object) -> None:
        self.killed = True
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        self._wake.set()

    def _ended(self) -> bool:
        """Whether the script has ended. It is reaped here with ``wait4``, so its own resource usage
        is known even when this process ran other experiments before (a reused Spark worker)."""
        proc = self.proc
        assert proc is not None
        if proc.returncode is not None:
            return True
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by Popen meanwhile (a signal was sent to it)
            return proc.poll() is not None
        if pid == 0:
            return False
        proc.returncode = os.waitstatus_to_exitcode(status)
        self._usage = usage
        return True

    def _script_usage(self, before: resource.struct_rusage) -> tuple[float, float]:
        """CPU seconds and peak memory (MiB) of the script: its own, or this process's children's
        since ``before`` when it was not reaped here (the peak is then an upper bound)."""
        if self._usage is not None:
            return self._usage.ru_utime + self._usage.ru_stime, self._usage.ru_maxrss / 1024
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return cpu, after.ru_maxrss / 1024

    # ---- reading the script ------------------------------------------------------------------
    def _pump(self, stream: IO[bytes], name: str) -> None:
        for raw in iter(stream.readline, b""):
            points = self.parser.feed(raw.decode(errors="replace").rstrip("\n")) if name == "stdout" else []
            with self._lock:
                self._logs[name] += raw
                self._stdout_points.extend(points)
        tail = self.parser.close() if name == "stdout" else []  # a table the script left open
        with self._lock:
            self._stdout_points.extend(tail)
        stream.close()
        with self._lock:
            self._open_streams -= 1
            if self._open_streams == 0:
                self._outputs_closed.set()
                self._wake.set()  # the script is exiting: do not sit out the flush interval

    def flush(self, track: Path) -> None:
        rows: dict[str, list[Any]] = {c: [] for c in METRIC_COLUMNS}

        def add(kind: str, epoch: int | None, step: int | None, t: float, metrics: dict[str, float],
                source: str) -> None:
            for name, value in metrics.items():
                rows["experiment_id"].append(self.exp.experiment_id)
                rows["kind"].append(kind)
                rows["epoch"].append(epoch)
                rows["step"].append(step)
                rows["time"].append(t)
                rows["name"].append(name)
                rows["value"].append(value)
                rows["source"].append(source)

        records, self._sdk_offset = read_records(track / METRICS_FILE, self._sdk_offset)
        if records or (track / SDK_MARKER).exists():
            self._sdk_used = True
        for r in records:
            add(r.kind, r.epoch, r.step, time.time() if r.time is None else r.time, r.metrics, "sdk")
        with self._lock:
            points, self._stdout_points = self._stdout_points, []
            logs = {k: bytes(v) for k, v in self._logs.items()}
            for v in self._logs.values():
                v.clear()
        if not self._sdk_used:  # stdout patterns only for scripts that do not use the SDK
            now = time.time()
            for p in points:
                add(p.kind, p.epoch, p.step, now, p.metrics, "stdout")
        if rows["name"]:
            fault_point("before-metrics-part")
            self.store.write_metrics_part(
                self.run.project, self.run.run_id, self.exp.experiment_id, self._part_seq, rows
            )
            self._part_seq += 1
            fault_point("after-metrics-part")
        for stream, data in logs.items():
            if data:
                self.store.write_log_chunk(
                    self.run.project, self.run.run_id, self.exp.experiment_id, stream,
                    self._log_seq[stream], data,
                )
                self._log_seq[stream] += 1

    def _upload_artifacts(self, track: Path) -> list[str]:
        folder = track / ARTIFACTS_DIR
        names = []
        if folder.is_dir():
            for file in sorted(folder.iterdir()):
                if file.is_file() and not file.name.startswith("."):
                    self.store.write_artifact(
                        self.run.project, self.run.run_id, self.exp.experiment_id, file.name,
                        file.read_bytes(),
                    )
                    names.append(file.name)
        return names

    # ---- the whole life of an experiment -------------------------------------------------------
    def execute(self) -> int:
        """Run the experiment, start to end; the exit code the wrapper ends with."""
        if threading.current_thread() is not threading.main_thread():  # so in some Spark task runners
            return self._execute()
        # a reused Spark worker runs the next experiment in this process: its handlers come back after
        previous = {sig: signal.signal(sig, self._on_term) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._execute()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _execute(self) -> int:
        run, exp_id = self.run, self.exp.experiment_id
        if self.generation is None:
            self.generation = self.store.claim_generation(run.project, run.run_id, exp_id)
        work = Path(tempfile.mkdtemp(prefix=f"ht-{exp_id}-", dir=self.work_root))
        began = None
        try:
            began = self.store.start(run.project, run.run_id, exp_id, generation=self.generation,
                                     pid=os.getpid(), start_ticks=_start_ticks(), host=socket.gethostname(),
                                     work_dir=str(work), **({"container_id": cid} if (cid := container_id()) else {}))
        finally:
            if began is None:
                shutil.rmtree(work, ignore_errors=True)
        if began is None:
            print(f"experiment_wrapper: claim {self.generation} of {exp_id} was given back before it started; "
                  "not starting it", file=sys.stderr)
            return 0
        started = time.time()
        try:
            src, track = work / "src", work / "track"
            track.mkdir()
            try:
                if self.snapshot_dir:
                    shutil.copytree(self.snapshot_dir, src, symlinks=True)
                else:
                    from workbench_plugin.snapshot import extract_snapshot  # not needed with a YARN archive

                    extract_snapshot(self.store, self.run.snapshot_id, src)
            except (SnapshotError, OSError, tarfile.TarError) as exc:
                self._state(State.FAILED, reason=f"snapshot could not be unpacked: {exc}", exit_code=None)
                return 1
            env = _script_environment(os.environ)
            env.update({ENV_DIR: str(track), ENV_EXPERIMENT: self.exp.experiment_id, ENV_RUN: self.run.run_id})
            argv = [self.python, *self.exp.argv]
            usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            script_started = time.time()
            start: dict[str, Any] = {"warm_start": False}
            if self.warm is not None:
                self.proc, cold = self.warm.take(argv, str(src), env, ignore=_EXPERIMENT_VARIABLES)
                start = {"warm_start": True} if self.proc is not None else {"warm_start": False, "cold_start": cold}
            if self.proc is None:
                try:
                    self.proc = subprocess.Popen(
                        argv, cwd=src, env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_die_with_parent(os.getpid()),
                    )
                except OSError as exc:
                    self._state(State.FAILED, reason=f"cannot start {argv[0]!r}: {exc.strerror}", exit_code=None)
                    return 1
            pumps = [
                threading.Thread(target=self._pump, args=(self.proc.stdout, "stdout"), daemon=True),
                threading.Thread(target=self._pump, args=(self.proc.stderr, "stderr"), daemon=True),
            ]
            for t in pumps:
                t.start()
            term_sent: float | None = None
            last_flush = time.monotonic()
            while not self._ended():
                # Sleep until the next flush, a signal, or the script closing its outputs (then
                # poll briefly: it is exiting, and its end should be recorded at once).
                until_flush = max(0.0, last_flush + self.flush_seconds - time.monotonic())
                self._wake.wait(min(EXIT_POLL_SECONDS, until_flush) if self._outputs_closed.is_set() else until_flush)
                self._wake.clear()
                if self.killed and term_sent is None:
                    term_sent = time.time()
                if term_sent is not None and time.time() - term_sent > KILL_GRACE_SECONDS:
                    self.proc.kill()
                if time.monotonic() - last_flush >= self.flush_seconds:
                    self.flush(track)
                    last_flush = time.monotonic()
            script_ended = time.time()
            for t in pumps:
                t.join(timeout=5)
            self.flush(track)
            artifacts = self._upload_artifacts(track)
            rc = self.proc.returncode
            ended = time.time()
            cpu_seconds, max_rss_mb = self._script_usage(usage_before)
            timing = {
                "started": started, "duration": round(ended - started, 3), "artifacts": artifacts,
                # where the wrapper's own time went: before the script (unpacking), and the script
                "unpack_seconds": round(script_started - started, 4),
                "script_seconds": round(script_ended - script_started, 4),
                "cpu_seconds": round(cpu_seconds, 3), "max_rss_mb": round(max_rss_mb, 1),
                **start,  # which start the script had (a warm interpreter, or afresh and why)
            }
            fault_point("before-final-state")
            if self.killed:
                self._state(State.KILLED, exit_code=rc, reason="received SIGTERM: killed on request, or by its "
                            "cluster (a YARN kill, preemption)", **timing)
                return 143
            if rc == 0:
                self._state(State.SUCCEEDED, exit_code=0, **timing)
                return 0
            reason = f"exit code {rc}"
            if rc < 0:
                reason = f"ended by signal {signal.Signals(-rc).name}"
            self._state(State.FAILED, exit_code=rc, reason=reason, **timing)
            return 1
        finally:
            shutil.rmtree(work, ignore_errors=True)


def absolute_token_file(environ: MutableMapping[str, str] | None = None) -> None:
    """``HYPERTUNER_HDFS_TOKEN_FILE`` as the engine sets it is relative to the container's working
    directory (``hypertuner.token``): made absolute here, before the wrapper or the script it starts
    change directory."""
    env = os.environ if environ is None else environ
    path = env.get(ENV_TOKEN_FILE, "")
    if path and not os.path.isabs(path):
        env[ENV_TOKEN_FILE] = os.path.abspath(path)


def patient_store(url: str, patience: float = DEFAULT_PATIENCE_SECONDS) -> Store:
    """The store as an experiment uses it: every call waits out an outage (NameNode restart,
    network), saying so once per outage on stderr (the container's log)."""
    def say(message: str) -> None:
        print(f"experiment_wrapper: {message}", file=sys.stderr, flush=True)

    absolute_token_file()
    return Store(url, fs=PatientFileSystem(filesystem_for(url), patience=patience, on_wait=say))


def stand_by(args: list[str] | None = None, stdin: IO[bytes] | None = None) -> int:
    """Wait, imports done, for one :class:`StandByOrder` line on ``stdin``, then run that experiment
    as :func:`main` would with its arguments; 0 at once when the pipe closes with no order.

    Meanwhile the script's interpreter waits too (:mod:`spark_jobs.warm_start`): ``args`` is
    ``[WARM_FLAG, PYTHON]`` to name it (a run's interpreter), else it is this one."""
    import workbench_plugin.snapshot  # noqa: F401 (imported now, while no experiment waits)

    args = args or []
    if args and (len(args) != 2 or args[0] != WARM_FLAG):
        raise ValueError(f"stand-by: arguments {args!r:.80}; allowed: {WARM_FLAG} PYTHON")
    env = dict(os.environ)
    absolute_token_file(env)  # as it will be for the script
    warm, _ = WarmStart.start(_script_python(args[1] if args else ""), _script_environment(env),
                              _die_with_parent(os.getpid()))
    try:
        return _take_order(stdin or sys.stdin.buffer, warm)
    finally:
        if warm is not None:
            warm.discard()  # unless its script ran


def _take_order(stdin: IO[bytes], warm: WarmStart | None) -> int:
    line = stdin.readline(MAX_ORDER_BYTES)
    if not line.strip():
        return 0
    order = StandByOrder.decode(line)
    if order.cwd:
        os.chdir(order.cwd)
    os.environ.clear()
    os.environ.update(order.env)
    quiet = os.open(os.devnull, os.O_RDWR)
    os.dup2(quiet, 0)  # the pipe is the engine's, not the script's
    if order.log:
        os.makedirs(os.path.dirname(order.log) or ".", exist_ok=True)
        out = os.open(order.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
    os.close(quiet)
    return main(order.argv, warm=warm)


def main(argv: list[str] | None = None, *, before_start: Callable[[], None] | None = None,
         warm: WarmStart | None = None) -> int:
    """``before_start``: called once the run and the experiment are read, just before the claim is
    taken and the script started (the YARN job waits there for its SparkContext). ``warm``: the
    script's interpreter, started ahead (on stand-by)."""
    given = argv if argv is not None else sys.argv[1:]
    if given[:1] == [STAND_BY_FLAG]:
        return stand_by(given[1:])
    ap = argparse.ArgumentParser(prog="experiment_wrapper", description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--work-dir", default="")
    ap.add_argument("--flush-seconds", type=float, default=2.0)
    ap.add_argument("--python", default="")
    ap.add_argument("--snapshot-dir", default="", help="the snapshot, already unpacked (a YARN archive)")
    ap.add_argument("--store-patience", type=float, default=DEFAULT_PATIENCE_SECONDS,
                    help="seconds each store call may wait for an unreachable store before the experiment fails")
    ap.add_argument("--generation", type=int, default=-1, help="the claim generation to start (default: the newest)")
    args = ap.parse_args(argv)
    store = patient_store(args.store, args.store_patience)
    run = store.read_run(args.project, args.run)
    experiments = {e.experiment_id: e for e in store.read_experiments(args.project, args.run)}
    if args.experiment not in experiments:
        print(f"experiment_wrapper: experiment {args.experiment!r} is not in run {args.run}", file=sys.stderr)
        return 2
    wrapper = ExperimentWrapper(
        store, run, experiments[args.experiment], work_root=args.work_dir or None,
        flush_seconds=args.flush_seconds, python=args.python or None, snapshot_dir=args.snapshot_dir or None,
        generation=args.generation if args.generation >= 0 else None, warm=warm,
    )
    if before_start is not None:
        before_start()
    return wrapper.execute()


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown (modules, threads, finalizers): the
    experiment's states, logs and parts are all written by now, and the slot it held is free as
    soon as this process is gone."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
