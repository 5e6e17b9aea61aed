"""Submissions to YARN do not wait: the gateway hands three experiments to the ResourceManager, all
three are at the RM at once (ACCEPTED or RUNNING), and each ends ``succeeded`` in the store with
the usage the RM accounted for it, which the gateway reads from the RM once the application ended.

The scripts hold at a barrier (a file on this machine: the NodeManager runs here) that the test
opens only once it has seen all three applications alive at the RM at the same moment, so a
client that waited for its application to end would never submit the second one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engines.spark import SparkEngine
from gateway.gateway import Gateway
from workbench_plugin.config import load_config
from workbench_plugin.index import ProjectIndex
from workbench_plugin.planning import launch, make_plan
from workbench_plugin.project import find_project, write_project_file
from workbench_plugin.snapshot import create_snapshot
from workbench_plugin.space import SearchSpec
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow

#: Waits for the barrier file (its path is written in below), then reports which experiment it was.
SCRIPT = """import os, sys, time
from workbench_plugin import tracking as ht
barrier = {barrier!r}
deadline = time.time() + 400
while not os.path.exists(barrier):
    if time.time() > deadline:
        sys.exit("the barrier never opened")
    time.sleep(0.2)
ht.summary(i=float(sys.argv[sys.argv.index("--i") + 1]))
"""


@pytest.fixture()
def cluster_env(minicluster: Any) -> Iterator[None]:
    """The cluster's client settings in this process's environment (spark-submit reads them), undone after."""
    saved = dict(os.environ)
    os.environ.update(minicluster.client_env())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_three_submissions_are_at_the_rm_at_once_and_end_succeeded(
        minicluster: Any, cluster_env: None, tmp_path: Path) -> None:
    barrier = tmp_path / "open"
    folder = tmp_path / "overlap"
    folder.mkdir()
    (folder / "job.py").write_text(SCRIPT.format(barrier=str(barrier)))
    write_project_file(folder, name="overlap", script="job.py")
    settings = find_project(folder)
    store = Store(f"webhdfs://{minicluster.webhdfs_url.split('://', 1)[1]}/overlap-{time.time_ns()}")
    store.create_project(settings.name, settings.root)
    index = ProjectIndex(store, settings.name)
    snapshot = create_snapshot(store, folder, max_file_bytes=1 << 20)
    plan = make_plan(settings, SearchSpec.parse({"i": "1,2,3"}), snapshot, index, max_batch=10)
    engine = SparkEngine.from_config(load_config(), store, master="yarn", slots=3, flush_seconds=1.0,
                                     rm_url=minicluster.rm_url, hadoop_conf_dir=str(minicluster.conf_dir))
    assert engine.submit_concurrency > 1  # the default on YARN: the gateway does not wait for clients
    run, _ = launch(store, plan, engine=engine.name, packing="none")
    ids = {e.experiment_id for e in plan_experiments(store, settings.name, run.run_id)}

    logs: list[str] = []
    stop = threading.Event()
    gateway = Gateway(store, engine, poll_seconds=0.5, log=logs.append)
    serving = threading.Thread(target=gateway.serve, kwargs={"stop": stop, "until_idle": True}, daemon=True)
    serving.start()
    seen: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            alive = {tag: app for app in engine.rm.applications(states=["ACCEPTED", "RUNNING"])  # type: ignore[union-attr]
                     for tag in app.tags if tag in ids}
            if set(alive) == ids:
                seen = {exp_id: app.state for exp_id, app in alive.items()}
                break
            assert serving.is_alive(), f"the gateway stopped before submitting all three: {logs}"
            time.sleep(0.5)
        assert set(seen) == ids, f"never all three at the ResourceManager at once: {logs}"
        barrier.touch()
        serving.join(timeout=420)
        assert not serving.is_alive(), f"the gateway did not finish within 7 minutes: {logs}"
    finally:
        barrier.touch()
        stop.set()
        serving.join(timeout=60)

    index.refresh()
    entry = index.runs[run.run_id]
    for exp_id in ids:
        state = entry.states[exp_id]
        assert state.state == "succeeded", (exp_id, state.fields, logs)
        app_id = str(state.get("engine_id")).split(":", 1)[1]
        # read from the ResourceManager after the application ended, not by the wrapper
        assert state.get("yarn_app_id") == app_id and state.get("yarn_final_status") == "SUCCEEDED", state.fields
        report = engine.rm.application(app_id)  # type: ignore[union-attr]
        assert report.state == "FINISHED" and report.final_status == "SUCCEEDED"


def plan_experiments(store: Store, project: str, run_id: str) -> list[Any]:
    index = ProjectIndex(store, project)
    index.refresh()
    return list(index.runs[run_id].experiments)
