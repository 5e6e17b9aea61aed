"""Test-only fault injection: a process SIGKILLs itself when it reaches a named point.

The crash tests (``tests/integration/test_crash_matrix.py``) set ``HYPERTUNER_FAULT_POINTS``
(read by :func:`workbench_plugin.config.fault_points`, like every setting) to kill a gateway or a
wrapper exactly where a crash hurts most. Unset, :func:`fault_point` does nothing but a set lookup.
"""

from __future__ import annotations

import os
import signal

from workbench_plugin.config import fault_points

__all__ = ["POINTS", "fault_point"]

#: Every named point, where it sits.
POINTS = (
    "after-claim",           # gateway: claim written, nothing submitted
    "after-submit",          # gateway: wrapper started, ``submitted`` not written
    "before-metrics-part",   # wrapper: a metrics part is about to be published
    "after-metrics-part",    # wrapper: a metrics part was just published
    "before-final-state",    # wrapper: the script ended, its final state not written
    "compaction-after-curves",     # compaction: curves files written, the rest not
    "compaction-before-manifest",  # compaction: every file written, the manifest not
)

_armed: frozenset[str] | None = None


def fault_point(name: str) -> None:
    """SIGKILL this process if the environment armed ``name`` (crash tests only)."""
    global _armed
    if _armed is None:
        _armed = fault_points()
    if name in _armed:
        os.kill(os.getpid(), signal.SIGKILL)
