"""Experiments as YARN applications on the real mini cluster, the store on its HDFS.

Everything here goes through what a user runs: the ``hypertuner`` CLI (``run``, ``kill``,
``resources``, ``gateway``, ``serve``) with the cluster's settings in the environment.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.processes import HYPERTUNER, launch_batch, served_dashboard, stop_process, wait_for
from workbench_plugin.demo import DEMO_NAME, prepare_demo
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def yarn(minicluster: Any) -> Iterator[dict[str, str]]:
    """The environment that points HyperTuner at the cluster: YARN engine, store on HDFS."""
    host = minicluster.webhdfs_url.split("://", 1)[1]
    env = {
        **minicluster.client_env(),  # HADOOP_CONF_DIR, JAVA_HOME, SPARK_LOCAL_IP=127.0.0.1
        "HADOOP_CONF_DIR": str(minicluster.conf_dir),
        "HYPERTUNER_ENGINE": "spark",
        "HYPERTUNER_SPARK_MASTER": "yarn",
        "HYPERTUNER_YARN_RM": minicluster.rm_url,
        "HYPERTUNER_STORE": f"webhdfs://{host}/hypertuner-{uuid.uuid4().hex[:8]}",
        "HYPERTUNER_FLUSH_SECONDS": "1",
        "HYPERTUNER_SLOTS": "2",
    }
    yield env


def hypertuner(env: dict[str, str], *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    import os

    root = str(Path(__file__).resolve().parents[2])
    full = {**os.environ, **env, "PYTHONPATH": root}
    return subprocess.run([*HYPERTUNER, *argv], capture_output=True, text=True, env=full, timeout=timeout,
                          check=False)


def rm_app(rm_url: str, app_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{rm_url}/ws/v1/cluster/apps/{app_id}", timeout=10) as response:
        return dict(json.load(response)["app"])


def index_of(env: dict[str, str], project: str) -> ProjectIndex:
    index = ProjectIndex(Store(env["HYPERTUNER_STORE"]), project)
    index.refresh()
    return index


def test_demo_batch_runs_as_yarn_applications_with_results_on_hdfs(
        yarn: dict[str, str], minicluster: Any, tmp_path: Path, browser: Any) -> None:
    store = Store(yarn["HYPERTUNER_STORE"])
    folder = tmp_path / "digits"
    prepare_demo(store, folder)
    done = hypertuner(yarn, "run", "batch_size=32,64", "num_epochs=3", "alpha=0.0001,1.0", "--project", str(folder))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "4 succeeded" in done.stdout

    index = index_of(yarn, DEMO_NAME)
    [run_id] = index.runs
    entry = index.runs[run_id]
    app_ids = []
    for exp in entry.experiments:
        state = entry.states[exp.experiment_id]
        assert state.state == "succeeded"
        engine_id = str(state.get("engine_id"))
        assert engine_id.startswith("yarn:application_"), engine_id
        app_id = engine_id.split(":", 1)[1]
        app_ids.append(app_id)
        # the wrapper reported its container: what SparkEngine.adopt finds the application by
        assert app_id.split("_", 1)[1] + "_" in str(state.get("container_id")), state.fields
        app = rm_app(minicluster.rm_url, app_id)  # the RM's own record of it
        assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED")
        assert exp.experiment_id.lower() in app["applicationTags"].split(",")
        # usage read back from the RM and stored with the experiment
        assert state.get("vcore_seconds") == app["vcoreSeconds"] > 0
        assert state.get("memory_mb_seconds") == app["memorySeconds"] > 0
    assert len(set(app_ids)) == 4  # one YARN application per experiment

    # the results are metric parts on HDFS (CSV as the wrapper writes them, without pyarrow), read as tables
    parts = store.run_files(DEMO_NAME, run_id, "metrics")
    assert parts and all(p.endswith(".csv") for p in parts)
    table = store.read_metrics_part(parts[0])
    assert {"experiment_id", "epoch", "name", "value"} <= set(table.column_names) and table.num_rows > 0
    frames = index.frames(run_id)
    assert frames.curves.groupby("experiment_id")["epoch"].max().tolist() == [3.0] * 4

    # and the run page shows them, served from the HDFS store
    from tests.integration.browser import open_page

    with served_dashboard(store, folder, tmp_path / "serve.log", extra_env=yarn) as url:
        page = open_page(browser, url, rows=4)
        try:
            assert "4 succeeded" in page.locator(".ht-run-header").inner_text()
        finally:
            page.close()


def test_kill_ends_the_yarn_application_as_killed(yarn: dict[str, str], minicluster: Any,
                                                  project_dir: Path, tmp_path: Path) -> None:
    store = Store(yarn["HYPERTUNER_STORE"])
    index, exps = launch_batch(store, project_dir, {"x": 1, "epochs": 600, "sleep": 0.5})
    gateway = subprocess.Popen([*HYPERTUNER, "gateway"], env=_env(yarn), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        exp_id = exps[0].experiment_id
        wait_for(lambda: _state(index, exp_id) == "running", timeout=180, what="the experiment to run on YARN")
        app_id = str(index.experiment(exp_id)[2].get("engine_id")).split(":", 1)[1]
        killed = hypertuner(yarn, "kill", exp_id, "--project", str(project_dir))
        assert killed.returncode == 0 and f"{exp_id}: running -> killed" in killed.stdout, killed.stdout + killed.stderr
        wait_for(lambda: rm_app(minicluster.rm_url, app_id)["state"] == "KILLED", timeout=60,
                 what="the YARN application to be KILLED")
        assert _state(index, exp_id) == "killed"
    finally:
        stop_process(gateway)


def test_resources_of_the_cluster(yarn: dict[str, str], minicluster: Any) -> None:
    done = hypertuner(yarn, "resources")
    assert done.returncode == 0, done.stderr
    metrics = json.load(urllib.request.urlopen(f"{minicluster.rm_url}/ws/v1/cluster/metrics", timeout=10))
    total_gib = metrics["clusterMetrics"]["totalMB"] / 1024
    assert f"YARN at {minicluster.rm_url}: 1 active nodes" in done.stdout
    assert f"of {total_gib:.1f} GiB" in done.stdout and "root.default" in done.stdout


def test_resource_manager_outage_mid_batch_keeps_the_queue(yarn: dict[str, str], minicluster: Any,
                                                           project_dir: Path) -> None:
    store = Store(yarn["HYPERTUNER_STORE"])
    env = {**yarn, "HYPERTUNER_SLOTS": "1"}
    index, exps = launch_batch(store, project_dir, {"x": "1,2,3", "epochs": 2, "sleep": 3})
    gateway = subprocess.Popen([*HYPERTUNER, "gateway"], env=_env(env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    rm_down = False
    try:
        first = exps[0].experiment_id
        wait_for(lambda: _state(index, first) == "succeeded", timeout=180, what="the first experiment to finish")
        # and the second handed to YARN: a gateway inside spark-submit while the RM stops would wait
        # in spark-submit (and say nothing) rather than meet the outage in its own step
        second = exps[1].experiment_id
        wait_for(lambda: _state(index, second) in ("running", "succeeded"), timeout=180,
                 what="the second experiment to run")
        minicluster.stop_rm()  # mid-batch: one done, one running, one to go
        rm_down = True
        down = hypertuner(env, "resources")
        lines = down.stderr.strip().splitlines()
        assert down.returncode == 2 and len(lines) == 1 and minicluster.rm_url in lines[0], down.stderr
        time.sleep(6)  # the gateway tries, fails, keeps the rest queued
        rest = [e.experiment_id for e in exps[2:]]
        assert {_state(index, e) for e in rest} <= {"queued", "submitted", "running"}
        minicluster.start_rm()
        rm_down = False
        wait_for(lambda: {_state(index, e.experiment_id) for e in exps} == {"succeeded"}, timeout=400,
                 what="the queue to run once the ResourceManager is back")
    finally:
        if rm_down:
            minicluster.start_rm()
        stop_process(gateway)
        out = gateway.stdout.read() if gateway.stdout else ""
        if gateway.stdout:
            gateway.stdout.close()
    assert minicluster.rm_url in out and "unreachable" in out, out[-2000:]


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def _state(index: ProjectIndex, exp_id: str) -> str:
    index.refresh()
    return index.experiment(exp_id)[2].state


def test_a_yarn_resource_option_reads_its_queue_from_the_resource_manager(
        yarn: dict[str, str], minicluster: Any, tmp_path: Path) -> None:
    """``plan --resource onprem`` prices the batch on the queue's free capacity, read from the RM."""
    config = tmp_path / "hypertuner.toml"
    config.write_text('[resources.onprem]\nkind = "yarn"\nqueue = "default"\nvcores_per_experiment = 1\n'
                      "memory_mb_per_experiment = 512\nprice_per_vcore_hour = 0.5\n")
    folder = tmp_path / "digits"
    yarn = {**yarn, "HYPERTUNER_STORE": f"{yarn['HYPERTUNER_STORE']}-{uuid.uuid4().hex[:6]}"}  # its own project
    prepare_demo(Store(yarn["HYPERTUNER_STORE"]), folder)
    done = hypertuner({**yarn, "HYPERTUNER_CONFIG": str(config)}, "plan", "--project", str(folder),
                      "--resource", "onprem", "batch_size=32,64")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("  on onprem (chosen)"))
    slots = int(line.split(" wall at ")[1].split(" slots")[0])
    with urllib.request.urlopen(f"{minicluster.rm_url}/ws/v1/cluster/metrics", timeout=10) as response:
        metrics = json.load(response)["clusterMetrics"]
    assert 1 <= slots <= min(metrics["totalMB"] // 512, metrics["totalVirtualCores"]), line
    assert "note: onprem" not in done.stdout, done.stdout  # the RM answered: no fallback to configured slots
    assert " USD" in line


def test_a_batch_on_a_yarn_resource_option_is_submitted_to_its_queue(
        yarn: dict[str, str], minicluster: Any, tmp_path: Path) -> None:
    """``run --resource onprem --resource-row 2=nowhere``: row 1 goes to onprem's queue, row 2 to
    nowhere's, which YARN does not know: that experiment fails saying so, the other succeeds."""
    yarn = {**yarn, "HYPERTUNER_STORE": f"{yarn['HYPERTUNER_STORE']}-{uuid.uuid4().hex[:6]}"}
    config = tmp_path / "hypertuner.toml"
    config.write_text('[resources.onprem]\nkind = "yarn"\nqueue = "default"\n'
                      '[resources.nowhere]\nkind = "yarn"\nqueue = "no-such-queue"\n')
    env = {**yarn, "HYPERTUNER_CONFIG": str(config)}
    folder = tmp_path / "digits"
    prepare_demo(Store(yarn["HYPERTUNER_STORE"]), folder)
    done = hypertuner(env, "run", "batch_size=32,64", "num_epochs=1", "--project", str(folder),
                      "--resource", "onprem", "--resource-row", "2=nowhere")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # one experiment failed
    index = index_of(yarn, DEMO_NAME)
    [run_id] = index.runs
    entry = index.runs[run_id]
    assert entry.run.yarn_queue == "default"
    first, second = entry.experiments
    assert entry.run.yarn_queue_of(second.experiment_id) == "no-such-queue"
    state = entry.states[first.experiment_id]
    assert state.state == "succeeded", state.fields
    app = rm_app(minicluster.rm_url, str(state.get("engine_id")).split(":")[1])
    assert app["queue"] in ("default", "root.default")
    state = entry.states[second.experiment_id]
    assert state.state in ("failed", "lost"), state.fields
    assert "no-such-queue" in json.dumps(state.fields), state.fields
