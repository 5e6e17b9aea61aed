"""Claims and slots: generations, the start/give-back race, owners, and counting slots from the store."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engines.local import LocalEngine
from engines.processes import remove_work_folders, start_ticks
from gateway.gateway import Gateway, owner_alive
from tests.integration.processes import launch_batch
from workbench_plugin import faults
from workbench_plugin._exceptions import StoreError
from workbench_plugin.config import fault_points
from workbench_plugin.fs import LocalFileSystem
from workbench_plugin.lifecycle import REQUEUED, State, fold_states
from workbench_plugin.store import Experiment, Run, Store


def _dead_owner() -> dict[str, object]:
    """The identity of a gateway process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    ticks = start_ticks(proc.pid)
    proc.kill()
    proc.wait()
    return {"gateway": "dead", "host": socket.gethostname(), "pid": proc.pid, "start_ticks": ticks}


def test_a_given_back_claim_folds_as_queued_and_its_old_events_are_ignored() -> None:
    claim0 = {"time": 1.0, "generation": 0}
    late_submit = {"state": State.SUBMITTED, "time": 3.0, "generation": 0, "engine_id": "local:1:1"}
    requeued = {"state": REQUEUED, "time": 2.0, "generation": 0}
    folded = fold_states([requeued, late_submit], claim0)
    assert (folded.state, folded.claimed, folded.requeued, folded.next_generation) == (State.QUEUED, False, True, 1)
    assert folded.engine_id is None  # the dead gateway's late submission does not count
    claim1 = {"time": 4.0, "generation": 1}
    running = {"state": State.RUNNING, "time": 5.0, "generation": 1, "pid": 7}
    folded = fold_states([requeued, late_submit, running], claim1)
    assert (folded.state, folded.claimed, folded.generation, folded.get("pid")) == (State.RUNNING, True, 1, 7)
    assert folded.engine_id is None


def test_start_and_give_back_of_one_generation_have_one_winner(store: Store, project_dir: Path) -> None:
    _, exps = launch_batch(store, project_dir, {"x": "1,2"})
    run_id, exp_id = exps[0].run_id, exps[0].experiment_id
    assert store.claim("tiny", run_id, exp_id, generation=0)
    assert store.requeue("tiny", run_id, exp_id, generation=0) is not None
    assert store.start("tiny", run_id, exp_id, generation=0) is None  # a late wrapper does not start
    assert store.claim("tiny", run_id, exp_id, generation=1)
    assert not store.claim("tiny", run_id, exp_id, generation=1)
    assert store.claim_generation("tiny", run_id, exp_id) == 1
    assert store.start("tiny", run_id, exp_id, generation=1, pid=1) is not None
    assert store.requeue("tiny", run_id, exp_id, generation=1) is None  # started: stays claimed

    other = exps[1].experiment_id
    assert store.claim("tiny", run_id, other)
    wins: list[bool] = []
    barrier = threading.Barrier(6)

    def race(i: int) -> None:
        barrier.wait()
        if i % 2:
            wins.append(store.start("tiny", run_id, other, generation=0) is not None)
        else:
            wins.append(store.requeue("tiny", run_id, other, generation=0) is not None)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 5 + [True]


def test_owner_alive_tells_a_dead_gateway_from_a_live_one() -> None:
    gateway = Gateway(Store("/nonexistent-store"), LocalEngine(Store("/nonexistent-store"), slots=1))
    assert owner_alive(gateway.identity) is True
    assert owner_alive(_dead_owner()) is False
    assert owner_alive({"host": "elsewhere.example", "pid": 1}) is None
    assert owner_alive(None) is None


def test_a_claim_of_a_dead_gateway_goes_back_to_the_queue_at_once(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1", "epochs": 1})
    exp = exps[0]
    assert store.claim("tiny", exp.run_id, exp.experiment_id, engine="local", **_dead_owner())
    gateway = Gateway(store, LocalEngine(store, slots=1, flush_seconds=0.2))
    report = gateway.step()
    assert report.requeued == [exp.experiment_id]
    assert report.submitted == [exp.experiment_id]  # claimed again, generation 1, in the same step
    gateway.serve(until_idle=True)
    index.refresh()
    state = index.experiment(exp.experiment_id)[2]
    assert (state.state, state.generation) == (State.SUCCEEDED, 1)


def test_slots_count_every_project_of_the_store(store: Store, tmp_path: Path, project_dir: Path) -> None:
    """A gateway for one project (``hypertuner run``) respects experiments another one (``serve``) started."""
    _, first = launch_batch(store, project_dir, {"x": "1"})
    other = tmp_path / "other"
    other.mkdir()
    (other / "train.py").write_text((project_dir / "train.py").read_text())
    (other / "hypertuner.toml").write_text('[project]\nname = "other"\nscript = "train.py"\n')
    index, _ = launch_batch(store, other, {"x": "1,2"})
    gateway = Gateway(store, LocalEngine(store, slots=1), projects=["other"])
    assert store.claim("tiny", first[0].run_id, first[0].experiment_id, engine="local", **gateway.identity)
    report = gateway.step()  # the one slot is taken by the live claim in project "tiny"
    assert (report.submitted, report.slots_taken, report.active, report.queued) == ([], 1, 0, 2)


class _FlakyFs(LocalFileSystem):
    """The real local filesystem, with one transient failure reading a claim (a NameNode failover)."""

    failures = 1

    def read_bytes(self, path: str) -> bytes:
        if "/claims/" in path and self.failures:
            self.failures -= 1
            raise StoreError(f"store: cannot read {path!r} (connection reset)")
        return super().read_bytes(path)


def test_a_read_error_never_adds_a_submission(store: Store, project_dir: Path) -> None:
    _, exps = launch_batch(store, project_dir, {"x": "1,2,3"})
    flaky = Store(store.url, fs=_FlakyFs(store.url))
    gateway = Gateway(flaky, LocalEngine(flaky, slots=1), poll_seconds=0.05)
    gateway.identity = {**gateway.identity, "gateway": "test"}
    assert store.claim("tiny", exps[0].run_id, exps[0].experiment_id, engine="local", **gateway.identity)
    stop = threading.Event()
    reports = []
    thread = threading.Thread(target=gateway.serve, kwargs={"stop": stop, "on_step": reports.append})
    thread.start()
    try:
        for _ in range(100):
            if len(reports) >= 3:
                break
            stop.wait(0.1)
    finally:
        stop.set()
        thread.join()
    assert flaky.fs.failures == 0  # type: ignore[attr-defined]  # the failure happened
    assert len(reports) >= 3
    assert all(r.submitted == [] and r.slots_taken == 1 for r in reports)


def test_fault_points_are_read_from_the_environment_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fault_points({}) == frozenset()
    assert fault_points({"HYPERTUNER_FAULT_POINTS": "after-claim, before-final-state"}) == {
        "after-claim", "before-final-state"}
    assert set(fault_points({"HYPERTUNER_FAULT_POINTS": ",".join(faults.POINTS)})) == set(faults.POINTS)
    faults.fault_point("after-claim")  # not armed here: nothing happens


def test_work_folders_of_an_experiment_are_swept(tmp_path: Path) -> None:
    mine = [tmp_path / "ht-run-1-abc", tmp_path / "ht-run-1-def"]
    others = [tmp_path / "ht-run-10-abc", tmp_path / "ht-run-2-abc"]
    for folder in mine + others:
        (folder / "src").mkdir(parents=True)
    removed = remove_work_folders(str(tmp_path), "run-1")
    assert removed == [str(p) for p in mine]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ht-run-10-abc", "ht-run-2-abc"]


class _StartsLate(LocalEngine):
    """A local engine whose first ``failures`` submissions end before the wrapper starts (as a YARN
    container that cannot be localized while HDFS is down): the wrapper's interpreter is /bin/false."""

    def __init__(self, store: Store, failures: int) -> None:
        super().__init__(store, slots=1, flush_seconds=0.2)
        self.failures = failures
        self.real_python = self.python

    def submit(self, run: Run, experiment: Experiment, *, generation: int = 0) -> str:
        self.python = "/bin/false" if self.failures > 0 else self.real_python
        self.failures -= 1
        return super().submit(run, experiment, generation=generation)


def test_a_submission_that_ended_before_it_started_goes_back_to_the_queue(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": 1, "epochs": 1})
    lines: list[str] = []
    Gateway(store, _StartsLate(store, failures=2), poll_seconds=0.05, log=lines.append).serve(until_idle=True)
    index.refresh()
    _, exp, state = index.experiment(exps[0].experiment_id)
    assert state.state == State.SUCCEEDED and state.generation == 2
    back = [line for line in lines if "back in the queue" in line]
    assert len(back) == 2 and all("ended before the experiment started" in line for line in back), lines


def test_a_submission_that_never_starts_is_lost_after_a_few_claims(store: Store, project_dir: Path) -> None:
    from gateway.gateway import MAX_CLAIMS

    index, exps = launch_batch(store, project_dir, {"x": 1, "epochs": 1})
    Gateway(store, _StartsLate(store, failures=10**6), poll_seconds=0.05).serve(until_idle=True)
    index.refresh()
    state = index.experiment(exps[0].experiment_id)[2]
    assert state.state == State.LOST and state.generation == MAX_CLAIMS - 1
    assert f"claimed {MAX_CLAIMS} times" in str(state.get("reason"))
