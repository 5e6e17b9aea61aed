"""No experiment lost in any crash window: real gateways and wrappers killed with -9 at named
points (``HYPERTUNER_FAULT_POINTS``) and at random moments of a batch.

What must hold every time: nothing acknowledged is lost (an experiment whose gateway died goes
back to the queue and succeeds; only an experiment whose own wrapper was killed is ``lost``), no
experiment runs twice (script starts counted in a side file), no epoch row is written twice, the
slots hold across every gateway (running scripts sampled from /proc), states are true within
10 s of a restart, and no work folder is left behind.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from engines.local import LocalEngine
from gateway.control import kill
from gateway.gateway import Gateway
from tests.integration.crash_harness import Crashes, iter_kill_times
from tests.integration.processes import wait_for
from workbench_plugin.lifecycle import State
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow

#: States must be true this soon after a restart (or a wrapper's death).
TRUE_WITHIN_SECONDS = 10.0


def _assert_clean(crashes: Crashes) -> None:
    assert crashes.max_running <= crashes.slots, f"{crashes.max_running} scripts ran at once on {crashes.slots} slots"
    twice = {exp: n for exp, n in crashes.starts().items() if n > 1}
    assert not twice, f"experiments started more than once: {twice}"
    assert crashes.duplicated_epoch_rows() == 0
    wait_for(lambda: not crashes.leftover_work_folders(), timeout=TRUE_WITHIN_SECONDS,
             what=f"work folders to be removed (left: {crashes.leftover_work_folders()})")
    assert crashes.running_scripts() == []


@pytest.mark.parametrize("point", ["after-claim", "after-submit"])
def test_gateway_killed_in_the_claim_window_loses_nothing(store: Store, tmp_path: Path, point: str) -> None:
    with Crashes(store, tmp_path) as crashes:
        crashes.launch({"x": "1,2,3,4", "epochs": 2, "sleep": 0.1})
        first = crashes.start_gateway(faults=point)
        assert first.wait(timeout=60) == -9  # it killed itself at the point
        crashes.gateways.pop(first.pid)
        crashes.states()
        assert crashes.index.runs[crashes.experiments[0].run_id].claims, "the first gateway claimed nothing"
        restarted = time.time()
        crashes.start_gateway()
        wait_for(crashes.all_ended, timeout=60, what="every experiment to end")
        assert set(crashes.states().values()) == {State.SUCCEEDED}
        assert sorted(crashes.starts()) == sorted(e.experiment_id for e in crashes.experiments)
        for event in crashes.requeued():  # the dead gateway's claim went back at once
            assert float(event["time"]) - restarted <= TRUE_WITHIN_SECONDS  # type: ignore[arg-type]
        if point == "after-claim":
            assert crashes.requeued(), "the claim of the dead gateway was not given back"
        _assert_clean(crashes)


@pytest.mark.parametrize("point", ["before-metrics-part", "after-metrics-part", "before-final-state"])
def test_wrapper_killed_takes_its_script_and_frees_its_slot(store: Store, tmp_path: Path, point: str) -> None:
    with Crashes(store, tmp_path) as crashes:
        crashes.launch({"x": "1,2,3", "epochs": 8, "sleep": 0.3})
        crashes.start_gateway(faults=point)  # the wrappers it starts inherit the point
        wait_for(crashes.all_ended, timeout=60, what="every experiment to end")
        states = crashes.states()
        assert set(states.values()) == {State.LOST}, states
        for exp in crashes.experiments:
            assert "without writing a final state" in crashes.index.experiment(exp.experiment_id)[2].get("reason")
        if point != "before-final-state":  # the script was mid-run: it died with its wrapper
            assert crashes.ends() == set()
        assert sorted(crashes.starts()) == sorted(e.experiment_id for e in crashes.experiments)
        _assert_clean(crashes)


def test_two_gateways_keep_the_slots(store: Store, tmp_path: Path) -> None:
    with Crashes(store, tmp_path) as crashes:
        crashes.launch({"x": ",".join(str(i) for i in range(1, 13)), "epochs": 2, "sleep": 0.2})
        crashes.start_gateway()
        crashes.start_gateway()
        wait_for(crashes.all_ended, timeout=120, what="every experiment to end")
        assert set(crashes.states().values()) == {State.SUCCEEDED}
        _assert_clean(crashes)


#: The random matrix: experiments in the batch, kills, and the pause between kills (seconds).
BATCH, KILLS, PAUSE = 100, 50, (0.4, 1.2)


def test_random_kills_of_gateways_and_wrappers(store: Store, tmp_path: Path) -> None:
    """A `hypertuner gateway` and a `hypertuner serve` (dashboard + in-process gateway) side by side,
    each killed with -9 at random moments and started again, and wrappers killed too."""
    rnd = random.Random(9)
    with Crashes(store, tmp_path) as crashes:
        crashes.launch({"x": ",".join(str(i) for i in range(1, BATCH + 1)), "epochs": 2, "sleep": 0.1})
        crashes.start_gateway()
        crashes.start_gateway(serve=True)
        gateway_kills = serve_kills = 0
        for pause in iter_kill_times(KILLS, *PAUSE, seed=9):
            time.sleep(pause)
            wrappers = crashes.wrappers()
            if wrappers and rnd.random() < 0.3:
                crashes.kill_wrapper(rnd.choice(wrappers))
            else:
                victim = rnd.choice(list(crashes.gateways.values()))
                serve = crashes.serving[victim.pid]
                crashes.kill_gateway(victim)
                crashes.start_gateway(serve=serve)
                gateway_kills += 1
                serve_kills += serve
        wait_for(crashes.all_ended, timeout=120, what="every experiment to end")
        states = crashes.states()
        lost = {e for e, s in states.items() if s == State.LOST}
        assert lost <= set(crashes.wrapper_kills), f"lost without their wrapper being killed: {lost}"
        assert {e for e, s in states.items() if s != State.SUCCEEDED} == lost
        for exp_id in lost:  # found out soon after the wrapper died
            ended = crashes.index.experiment(exp_id)[2].get("ended")
            assert ended - crashes.wrapper_kills[exp_id] <= TRUE_WITHIN_SECONDS
        assert gateway_kills >= KILLS // 2
        delays = crashes.requeue_delays()  # claims of killed gateways went back soon
        assert all(d <= TRUE_WITHIN_SECONDS for d in delays), delays
        assert serve_kills >= KILLS // 6
        print(f"\ncrash matrix: {BATCH} experiments, {gateway_kills} gateway kills ({serve_kills} of them `serve`), "
              f"{len(crashes.wrapper_kills)} "
              f"wrapper kills, {len(lost)} lost (their wrapper killed), {len(crashes.requeued())} claims requeued "
              f"({len(delays)} of a killed gateway, at most {max(delays, default=0):.1f} s after the kill), "
              f"max {crashes.max_running} scripts on {crashes.slots} slots")
        _assert_clean(crashes)


def test_a_script_dies_with_its_wrapper_and_its_folder_is_swept(store: Store, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of the wrapper alone (not its group): the script dies at once, by PR_SET_PDEATHSIG."""
    with Crashes(store, tmp_path) as crashes:
        crashes.launch({"x": "1", "epochs": 50, "sleep": 0.2})
        for name, value in crashes.env().items():
            monkeypatch.setenv(name, value)
        engine = LocalEngine(store, slots=1, flush_seconds=0.2, work_dir=str(crashes.work))
        gateway = Gateway(store, engine)
        assert gateway.step().submitted
        exp_id = crashes.experiments[0].experiment_id
        wait_for(lambda: crashes.starts()[exp_id] == 1 and crashes.leftover_work_folders(), what="the script to start")
        [wrapper] = crashes.wrappers()
        [script] = crashes.running_scripts()
        assert os.getpgid(script) == wrapper  # the wrapper leads the session its script runs in
        os.kill(wrapper, signal.SIGKILL)
        wait_for(lambda: not crashes.running_scripts(), timeout=2, what="the script to die with its wrapper")
        wait_for(lambda: bool(gateway.step().lost) or crashes.all_ended(), timeout=TRUE_WITHIN_SECONDS,
                 what="the experiment to be lost")
        gateway.step()
        assert crashes.states()[exp_id] == State.LOST
        assert crashes.ends() == set()
        _assert_clean(crashes)


def test_a_kill_that_escalates_to_sigkill_leaves_no_work_folder(store: Store, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with Crashes(store, tmp_path) as crashes:
        crashes.launch({"x": "1", "epochs": 50, "sleep": 0.2, "stubborn": 1})
        for name, value in crashes.env().items():
            monkeypatch.setenv(name, value)
        engine = LocalEngine(store, slots=1, flush_seconds=0.2, work_dir=str(crashes.work))
        assert Gateway(store, engine).step().submitted
        exp_id = crashes.experiments[0].experiment_id
        wait_for(lambda: crashes.starts()[exp_id] == 1, what="the script to start")
        [result] = kill(crashes.index, engine, exp_id, grace_seconds=0.5)
        assert result.after == State.KILLED
        assert "did not record it" in crashes.index.experiment(exp_id)[2].get("reason")  # SIGKILL, no finally
        _assert_clean(crashes)
