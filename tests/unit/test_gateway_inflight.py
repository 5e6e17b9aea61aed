"""Submissions in flight: an engine whose client waits (spark-submit on YARN) gets its submissions
run from threads, all at once, and the gateway's step does not wait for them."""

from __future__ import annotations

import threading
from pathlib import Path

from engines.base import Capacity, EngineBase, Liveness
from gateway.gateway import Gateway
from tests.integration.processes import launch_batch
from workbench_plugin._exceptions import EngineError
from workbench_plugin.lifecycle import State
from workbench_plugin.store import Experiment, Run, Store


class _SlowClientEngine(EngineBase):
    """Each submit holds until all three are in flight at once, then until the test releases it."""

    name = "slow"
    submit_concurrency = 3

    def __init__(self) -> None:
        self.together = threading.Barrier(3)
        self.release = threading.Event()

    def submit(self, run: Run, experiment: Experiment, *, generation: int = 0) -> str:
        try:
            self.together.wait(timeout=20)
        except threading.BrokenBarrierError as exc:
            raise EngineError("slow engine: the submissions did not run at the same time") from exc
        if experiment.argv[-1] == "3":
            raise EngineError("slow engine: the cluster refused x=3")
        self.release.wait(timeout=20)
        return f"slow:{experiment.experiment_id}"

    def poll(self, engine_id: str) -> Liveness:
        return "alive"

    def kill(self, engine_id: str, *, grace_seconds: float = 10.0) -> None:
        return None

    def capacity(self, run: Run | None = None) -> Capacity:
        return Capacity(slots=3, running=0)


def test_the_step_hands_submissions_to_threads_that_run_at_once(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1,2,3"})
    engine = _SlowClientEngine()
    gateway = Gateway(store, engine)
    report = gateway.step()  # returns with the clients still running
    assert sorted(report.submitted) == sorted(e.experiment_id for e in exps)
    index.refresh()
    [entry] = index.runs.values()
    states = [entry.states[e.experiment_id] for e in exps]
    assert all(s.claimed and s.state == State.QUEUED and s.engine_id is None for s in states)
    assert gateway.step().submitted == []  # the claims hold the slots meanwhile
    engine.release.set()
    gateway.close()
    index.refresh()
    by_x = {e.argv[-1]: entry.states[e.experiment_id] for e in exps}
    assert by_x["1"].state == State.SUBMITTED and by_x["1"].engine_id == f"slow:{exps[0].experiment_id}"
    assert by_x["2"].state == State.SUBMITTED
    assert by_x["3"].state == State.FAILED and "refused x=3" in str(by_x["3"].get("reason"))
