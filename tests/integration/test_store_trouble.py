"""A store in trouble, with real processes: the gateway through disk-full outages, and every
command next to a damaged file (it is named once, set aside, and everything else works)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engines.local import LocalEngine
from gateway.gateway import Gateway, StepReport
from tests.faults import FaultyBackend, raw_names
from tests.integration.processes import launch_batch
from workbench_plugin.fs import TMP_PREFIX
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow


class Retrying(threading.Event):
    """The gateway's stop event; after a failed step the gateway waits on it: count instead of sleeping."""

    def __init__(self, steps: list[bool], faults: FaultyBackend, failed_steps_per_outage: int) -> None:
        super().__init__()
        self.steps = steps
        self.faults = faults
        self.per_outage = failed_steps_per_outage

    def wait(self, timeout: float | None = None) -> bool:
        self.steps.append(False)
        if len(self.steps) >= self.per_outage and not any(self.steps[-self.per_outage:]):
            self.faults.outage = False  # the disk has room again
        return self.is_set()


def outages_in(steps: list[bool]) -> int:
    """Runs of consecutive failed steps."""
    return sum(1 for i, ok in enumerate(steps) if not ok and (i == 0 or steps[i - 1]))


def test_gateway_says_once_per_outage_and_runs_the_batch(
        store: Store, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1,2,3,4,5,6", "epochs": 1})
    faults = FaultyBackend(store, monkeypatch)
    steps: list[bool] = []
    started = [0]

    def on_step(report: StepReport) -> None:
        steps.append(True)
        if report.queued and started[0] < 3 and not faults.outage:
            faults.outage = True  # the disk is full: the next claim fails, and every write after it
            started[0] += 1

    lines: list[str] = []
    gateway = Gateway(store, LocalEngine(store, slots=2, flush_seconds=0.2), poll_seconds=0.05, log=lines.append)
    gateway.serve(Retrying(steps, faults, 5), until_idle=True, on_step=on_step)

    failed_steps = steps.count(False)
    assert started[0] == 3 and failed_steps >= 15
    errors = [line for line in lines if "retrying" in line]
    assert len(errors) == outages_in(steps) >= 3, (errors, steps)  # not one line per failed step
    assert all(TMP_PREFIX not in line and any(code in line for code in ("ENOSPC", "EIO", "ETIMEDOUT"))
               for line in errors), errors
    index.refresh()
    assert {s.state for _, _, s in index.iter_experiments()} == {"succeeded"}
    assert not [name for name in raw_names(store) if TMP_PREFIX in name]
