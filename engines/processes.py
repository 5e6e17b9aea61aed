"""Local processes as engine submissions: what LocalEngine and SparkEngine (client mode) share.

A submission is a process that leads its own session (``start_new_session``), so it outlives
whoever started it and ``kill`` can signal its whole process group. Its engine id is
``<kind>:<pid>:<start ticks>``: the start time (from ``/proc/<pid>/stat``) keeps a recycled PID
from being mistaken for the submission. Only engines build and parse these ids.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engines.base import Liveness

__all__ = [
    "STARTED",
    "cpu_seconds",
    "kill_leftovers",
    "kill_session",
    "remove_work_folders",
    "machine_memory_gib",
    "parse_pid_id",
    "pid_id",
    "proc_stat",
    "process_liveness",
    "reap",
    "start_ticks",
    "track",
]


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> str:
    """When ``pid`` started, in clock ticks after boot ("0" when there is no such process)."""
    fields = proc_stat(pid)
    return fields[19] if fields else "0"


def pid_id(kind: str, pid: int | str, ticks: str) -> str:
    """The engine id ``<kind>:<pid>:<start ticks>``."""
    return f"{kind}:{pid}:{ticks}"


def parse_pid_id(kind: str, engine_id: str) -> tuple[int, str] | None:
    """``(pid, ticks)`` of a ``<kind>:<pid>:<ticks>`` engine id, or None when it is not one."""
    try:
        found, pid, ticks = engine_id.split(":")
        if found != kind:
            return None
        return int(pid), ticks
    except ValueError:
        return None


#: Every wrapper this process started, across engines. Wrappers outlive the gateway that started
#: them by design; keeping their Popen objects here means one that is dropped while its wrapper
#: runs is still reaped later (no zombie, no "subprocess still running" warning).
STARTED: dict[int, subprocess.Popen[bytes]] = {}


def track(children: dict[int, subprocess.Popen[bytes]], proc: subprocess.Popen[bytes]) -> None:
    """Remember a started submission in an engine's ``children`` and in :data:`STARTED`."""
    children[proc.pid] = proc
    STARTED[proc.pid] = proc


def reap(children: dict[int, subprocess.Popen[bytes]]) -> None:
    """Forget ended processes (collecting their exit status): an engine's ``children``, then :data:`STARTED`."""
    for table in (children, STARTED):
        for pid, proc in list(table.items()):
            if proc.poll() is not None:
                del table[pid]


def process_liveness(children: dict[int, subprocess.Popen[bytes]], pid: int, ticks: str) -> Liveness:
    """Whether the process ``pid`` started at ``ticks`` still runs (reaping it if it is our child)."""
    child = children.get(pid)
    if child is not None:
        if child.poll() is None:
            return "alive"
        del children[pid]
        return "gone"
    fields = proc_stat(pid)
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


def kill_leftovers(pid: int, ticks: str) -> None:
    """SIGKILL what is left of the session that ``pid`` (started at ``ticks``) led, once the leader
    itself is gone (killed with -9: its script may still run in the group).

    The kernel never hands out a PID that still names a process group, so while a leftover lives
    no new process has ``pid``; a live process with ``pid`` and other ticks means the group is empty.
    """
    fields = proc_stat(pid)
    if fields is not None and fields[19] != ticks:
        return  # a recycled PID: the old group has no member left
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def remove_work_folders(root: str, experiment_id: str, reported: str = "") -> list[str]:
    """Remove ``ht-<experiment_id>-*`` folders in ``root`` and ``reported`` (the wrapper's own
    ``work_dir``, when it is such a folder); return what was removed."""
    prefix = f"ht-{experiment_id}-"
    found = {str(p) for p in Path(root).glob(f"{prefix}*") if p.is_dir()} if root else set()
    if reported and Path(reported).name.startswith(prefix) and Path(reported).is_dir():
        found.add(reported)
    for folder in sorted(found):
        shutil.rmtree(folder, ignore_errors=True)
    return sorted(found)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far, or None when there is no such process."""
    fields = proc_stat(pid)
    if not fields:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_memory_gib() -> tuple[float, float] | None:
    """``(available, total)`` memory of this machine in GiB from /proc/meminfo, or None when unknown."""
    try:
        meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        total = int(meminfo["MemTotal"].split()[0]) / 1024 / 1024
        free = int(meminfo["MemAvailable"].split()[0]) / 1024 / 1024
    except (OSError, KeyError, ValueError):
        return None
    return free, total
