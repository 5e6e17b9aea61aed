"""A script's output, read once and bounded: run it (argv, no shell, stdin closed, its own process
group killed at a time limit) or read a log a user gives. For ``hypertuner patterns``.

Both stop at :data:`MAX_LINES` lines or :data:`MAX_BYTES` bytes, whichever comes first; a run that
reaches either is stopped (it would only block on a full pipe). Stdout and stderr are read apart,
as the experiment wrapper reads them (metrics from stdout only), and kept in about the order they
came; lines are numbered within their stream, so stdout's numbers do not depend on that order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, NamedTuple

from workbench_plugin._exceptions import SpecError
from workbench_plugin.pattern_check import OutputLine
from workbench_plugin.tracking import ENV_DIR, METRICS_FILE, SDK_MARKER, read_records

__all__ = ["MAX_BYTES", "MAX_LINES", "Output", "read_output", "run_script"]

MAX_LINES = 20_000
MAX_BYTES = 16 * 1024 * 1024
_CHUNK = 64 * 1024
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])  # so the script can import the tracking SDK
_GRACE_SECONDS = 1.0


class Output(NamedTuple):
    lines: list[OutputLine]
    exit_code: int | None  # None: read from a log, or stopped
    timed_out: bool
    cut: bool  # stopped at MAX_LINES / MAX_BYTES
    seconds: float
    sdk_records: int  # metrics the script reported through the tracking SDK (then stdout is not parsed)
    sdk_used: bool


class _Collector:
    """Lines from one or two streams, in arrival order, within the budgets."""

    def __init__(self, max_lines: int, max_bytes: int) -> None:
        self.lines: list[OutputLine] = []
        self._counts = {"stdout": 0, "stderr": 0}
        self.bytes = 0
        self.max_lines, self.max_bytes = max_lines, max_bytes
        self.full = threading.Event()
        self._lock = threading.Lock()

    def add(self, stream: str, raw: bytes) -> bool:
        """Keep one line; False once the budget is spent."""
        with self._lock:
            if self.full.is_set():
                return False
            room = self.max_bytes - self.bytes
            if len(raw) > room or len(self.lines) >= self.max_lines:
                raw = raw[:room]
                self.full.set()
                if not raw:
                    return False
            self.bytes += len(raw)
            text = raw.decode("utf-8", errors="replace").rstrip("\n")
            self._counts[stream] += 1
            self.lines.append(OutputLine(self._counts[stream], stream, text))
            return not self.full.is_set()

    def pump(self, source: IO[bytes], stream: str) -> None:
        """Read ``source`` line by line in chunks (a 10 MB line never sits in memory twice)."""
        pending = bytearray()
        try:
            while not self.full.is_set():
                chunk = source.readline(_CHUNK)
                if not chunk:
                    break
                pending += chunk
                if len(pending) > self.max_bytes - self.bytes:  # a line longer than what is left
                    self.add(stream, bytes(pending))
                    return
                if chunk.endswith(b"\n"):
                    if not self.add(stream, bytes(pending)):
                        return
                    pending.clear()
            if pending:
                self.add(stream, bytes(pending))
        except (OSError, ValueError):
            return  # closed under us: the run was stopped


def read_output(source: IO[bytes], *, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> Output:
    """A log file's (or stdin's) lines, all taken as stdout."""
    started = time.monotonic()
    collector = _Collector(max_lines, max_bytes)
    collector.pump(source, "stdout")
    return Output(collector.lines, None, False, collector.full.is_set(), time.monotonic() - started, 0, False)


def run_script(argv: Sequence[str], *, cwd: str, timeout: float, env: dict[str, str],
               max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> Output:
    """Run ``argv`` once in ``cwd`` with ``env`` (the caller's environment, passed down) and keep
    its output; after ``timeout`` seconds, or when the budget is spent, its process group gets
    SIGTERM and, a second later, SIGKILL. The output read so far is kept."""
    if timeout <= 0:
        raise SpecError(f"--timeout: {timeout:g} is not a time limit; give seconds greater than 0, as in 60")
    collector = _Collector(max_lines, max_bytes)
    with tempfile.TemporaryDirectory(prefix="ht-patterns-") as track:
        child_env = dict(env)
        child_env.update({ENV_DIR: track, "PYTHONUNBUFFERED": "1",
                          "PYTHONPATH": os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)})
        started = time.monotonic()
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, env=child_env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                    close_fds=True)
        except OSError as exc:
            raise SpecError(f"interpreter: cannot start {argv[0]!r} ({exc.strerror or exc}); set "
                            "interpreter in hypertuner.toml to a Python that exists") from None
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [threading.Thread(target=collector.pump, args=(proc.stdout, "stdout"), daemon=True),
                 threading.Thread(target=collector.pump, args=(proc.stderr, "stderr"), daemon=True)]
        for t in pumps:
            t.start()
        timed_out = False
        try:
            deadline = started + timeout
            while proc.poll() is None:
                if collector.full.is_set():
                    break
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
                collector.full.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            if proc.poll() is None:
                _stop(proc)
            for t in pumps:  # leftovers of the script may hold the pipes: stop them too
                t.join(timeout=2)
            if any(t.is_alive() for t in pumps):
                _kill_group(proc.pid, signal.SIGKILL)
                for t in pumps:
                    t.join(timeout=2)
        finally:
            if proc.poll() is None:
                _kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                with contextlib.suppress(OSError):
                    pipe.close()
        seconds = time.monotonic() - started
        records, _ = read_records(Path(track, METRICS_FILE))
        sdk_used = bool(records) or Path(track, SDK_MARKER).exists()
    stopped = timed_out or collector.full.is_set()
    return Output(collector.lines, None if stopped else proc.returncode, timed_out, collector.full.is_set(),
                  seconds, len(records), sdk_used)


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    _kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_GRACE_SECONDS)
    _kill_group(proc.pid, signal.SIGKILL)  # the whole group, even when the leader left on SIGTERM
    proc.wait()
