"""A careless cluster: the NameNode goes away mid-batch, an application is killed from outside.

What users trust HDFS and YARN for holds here too: nothing acknowledged is lost, states stay true,
and the queue resumes by itself.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.test_yarn_engine import _env, _state, yarn  # noqa: F401 - the module's cluster settings
from tests.integration.processes import HYPERTUNER, launch_batch, stop_process, wait_for
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow

#: How long the NameNode stays down (the issue's figure).
NN_OUTAGE_SECONDS = 30.0


def _gateway(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*HYPERTUNER, "gateway"], env=_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(gateway: subprocess.Popen[str]) -> str:
    stop_process(gateway)
    out = gateway.stdout.read() if gateway.stdout else ""
    if gateway.stdout:
        gateway.stdout.close()
    return out


def _epochs(index: ProjectIndex, run_id: str) -> dict[str, list[float]]:
    curves = index.frames(run_id).curves
    loss = curves[curves["name"] == "loss"]
    return {str(k): sorted(v.tolist()) for k, v in loss.groupby("experiment_id", observed=True)["epoch"]}


def test_namenode_outage_mid_batch_loses_nothing(yarn: dict[str, str], minicluster: Any,  # noqa: F811
                                                 project_dir: Path) -> None:
    store = Store(yarn["HYPERTUNER_STORE"])
    env = {**yarn, "HYPERTUNER_SLOTS": "2"}
    epochs = 40
    index, exps = launch_batch(store, project_dir, {"x": "1,2,3", "epochs": epochs, "sleep": 0.5})
    run_id = exps[0].run_id
    gateway = _gateway(env)
    nn_down = False
    try:
        wait_for(lambda: any(_state(index, e.experiment_id) == "running" for e in exps), timeout=180,
                 what="an experiment to run on YARN")
        minicluster.stop_nn()
        nn_down = True
        time.sleep(NN_OUTAGE_SECONDS)
        minicluster.start_nn()
        nn_down = False
        wait_for(lambda: all(_terminal(index, e.experiment_id) for e in exps), timeout=400,
                 what="every experiment to end after the NameNode came back")
        states = {e.experiment_id: index.experiment(e.experiment_id)[2] for e in exps}
        assert {s.state for s in states.values()} == {"succeeded"}, (
            {k: (s.state, s.get("reason"), sorted(s.fields)) for k, s in states.items()}, _finish(gateway)[-3000:])
        # every epoch of every experiment recorded exactly once
        assert _epochs(index, run_id) == {e.experiment_id: [float(i) for i in range(1, epochs + 1)] for e in exps}
    finally:
        if nn_down:
            minicluster.start_nn()
        out = _finish(gateway)
    print(out[-3000:])


def test_application_killed_from_outside_is_killed_and_the_queue_resumes(
        yarn: dict[str, str], minicluster: Any, project_dir: Path) -> None:  # noqa: F811
    store = Store(yarn["HYPERTUNER_STORE"])
    env = {**yarn, "HYPERTUNER_SLOTS": "1"}
    index, exps = launch_batch(store, project_dir, {"x": "1,2", "epochs": 600, "sleep": 0.5})
    first, second = (e.experiment_id for e in exps)
    gateway = _gateway(env)
    try:
        wait_for(lambda: _state(index, first) == "running", timeout=180, what="the first experiment to run")
        app_id = str(index.experiment(first)[2].get("engine_id")).split(":", 1)[1]
        # what `yarn application -kill <id>` does, through the RM's REST API
        request = urllib.request.Request(f"{minicluster.rm_url}/ws/v1/cluster/apps/{app_id}/state",
                                         data=json.dumps({"state": "KILLED"}).encode(), method="PUT",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30):
            pass
        wait_for(lambda: _terminal(index, first), timeout=120, what="the killed experiment to end")
        killed = index.experiment(first)[2]
        assert killed.state == "killed", json.dumps(killed.fields, default=str)
        assert f"YARN application {app_id} was killed" in str(killed.get("reason")) or \
            "received SIGTERM" in str(killed.get("reason")), killed.get("reason")
        wait_for(lambda: _state(index, second) == "running", timeout=180,
                 what="the queue to resume with the second experiment")
    finally:
        out = _finish(gateway)
        for exp in exps:
            state = index.experiment(exp.experiment_id)[2]
            engine_id = str(state.get("engine_id") or "")
            if not state.terminal and engine_id.startswith("yarn:"):
                subprocess.run([*HYPERTUNER, "kill", exp.experiment_id, "--project", str(project_dir)],
                               env=_env(env), capture_output=True, timeout=120, check=False)
    print(out[-3000:])


def _terminal(index: ProjectIndex, exp_id: str) -> bool:
    index.refresh()
    return index.experiment(exp_id)[2].terminal
