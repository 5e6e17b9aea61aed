"""The run page's health flags (overfitting, noisy, diverged: :func:`workbench_plugin.proposals.health_of`),
kept per experiment as its curves grow. No panel imports here.

Curves only grow while a run is live, so a refresh recomputes only the experiments whose number
of curve points changed (the running ones): a finished run of 100,000 experiments costs one
count per refresh, not a new health pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench_plugin.frames import RunFrames
from workbench_plugin.proposals import Health, health_of

__all__ = ["HEALTH_FILTERS", "HealthBook", "health_cell"]

#: The health filter's choices: no filter, one flag, or no flag (among experiments with curves).
HEALTH_FILTERS: tuple[str, ...] = ("any", "overfitting", "noisy", "diverged", "healthy")


def health_cell(health: Health | None) -> str:
    """The table cell of one experiment: a line ``flag: reason`` per flag ("" when none)."""
    if health is None:
        return ""
    return "\n".join(f"{flag}: {' '.join(reason.split())}"
                     for flag, reason in zip(health.flags, health.reasons, strict=True))


class HealthBook:
    """The health of every experiment of one run with curves, updated from new curves."""

    def __init__(self) -> None:
        self.health: dict[str, Health] = {}
        self._points: dict[str, int] = {}
        self._curves: pd.DataFrame | RunFrames | None = None

    def update(self, curves: pd.DataFrame | RunFrames) -> bool:
        """Take the run's current curves (or its frames: then only the curves of experiments whose
        count of points changed are read, and a compaction's flags stand for the rest); True when a
        flag or a reason changed."""
        if curves is self._curves:
            return False
        self._curves = curves
        if isinstance(curves, RunFrames):
            points = curves.curve_counts()
            known = curves.known_health()
        else:
            if curves.empty or "experiment_id" not in curves:
                changed = bool(self.health)
                self.health, self._points = {}, {}
                return changed
            counts = curves["experiment_id"].value_counts(sort=False)
            points = {str(k): int(v) for k, v in counts.items() if v}
            known = {}
        stale = [eid for eid, n in points.items() if self._points.get(eid) != n]
        gone = [eid for eid in self.health if eid not in points]
        self._points = points
        if not stale and not gone:
            return False
        before = {eid: self.health.get(eid) for eid in [*stale, *gone]}
        for eid in gone:
            del self.health[eid]
        fresh = [eid for eid in stale if eid in known and known[eid][0] == points[eid]]
        for eid in fresh:  # a compaction's health: None when healthy
            if known[eid][1] is not None:
                self.health[eid] = known[eid][1]
        fresh_set = set(fresh)
        for eid in stale:  # a healthy experiment has no entry; one that became healthy loses its own
            if eid not in fresh_set or known[eid][1] is None:
                self.health.pop(eid, None)
        stale = [eid for eid in stale if eid not in fresh_set]
        if stale:
            if isinstance(curves, RunFrames):
                part = curves.curves_for(stale)
            else:
                part = curves if len(stale) == len(points) else curves[curves["experiment_id"].isin(stale)]
            self.health.update(health_of(part))
        return any(self.health.get(eid) != h for eid, h in before.items())

    def cells(self, ids: Sequence[str]) -> list[str]:
        """The table's health column for experiments ``ids`` (row order)."""
        return [health_cell(self.health.get(eid)) for eid in ids]

    def mask(self, ids: Sequence[str], which: str) -> np.ndarray:
        """Per experiment of ``ids``: True where it passes the health filter ``which``
        (one of :data:`HEALTH_FILTERS`; "healthy" needs curves and no flag)."""
        if which not in HEALTH_FILTERS:
            raise ValueError(f"health {which!r} is not one of {', '.join(HEALTH_FILTERS)}")
        if which == "any":
            return np.ones(len(ids), dtype=bool)
        out = np.zeros(len(ids), dtype=bool)
        for row, eid in enumerate(ids):
            h = self.health.get(eid)
            if h is not None:
                out[row] = not h.flags if which == "healthy" else which in h.flags
        return out
