"""Spark/YARN settings passed through, on a real mini cluster with two CapacityScheduler queues
(root.default 70 %, root.small 30 % capped at 30 %): a resource option's queue, ``--conf`` over
the option's ``conf``, unknown keys refused, slots from the queue's maximum capacity."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.minicluster.minicluster import MiniCluster
from tests.cluster.test_yarn_engine import hypertuner, index_of, rm_app
from tests.cluster_fixtures import running_cluster
from workbench_plugin.demo import DEMO_NAME, prepare_demo
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow

_QUEUE = "yarn.scheduler.capacity.root"
QUEUES = {
    f"{_QUEUE}.queues": "default,small",
    f"{_QUEUE}.default.capacity": "70",
    f"{_QUEUE}.default.maximum-capacity": "100",
    f"{_QUEUE}.small.capacity": "30",
    f"{_QUEUE}.small.maximum-capacity": "30",
    f"{_QUEUE}.small.acl_submit_applications": "*",
    f"{_QUEUE}.small.acl_administer_queue": "*",
}


@pytest.fixture(scope="module")
def two_queues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniCluster]:
    with running_cluster(tmp_path_factory.mktemp("minicluster-queues"), "the mini cluster",
                         settings=QUEUES) as cluster:
        yield cluster


@pytest.fixture()
def env(two_queues: MiniCluster, tmp_path: Path) -> dict[str, str]:
    host = two_queues.webhdfs_url.split("://", 1)[1]
    config = tmp_path / "hypertuner.toml"
    config.write_text('[yarn]\nmax_running = 4\n'
                      '[resources.small]\nkind = "yarn"\nqueue = "small"\n'
                      'conf = { "spark.yarn.applicationType" = "FROM-OPTION" }\n'
                      '[resources.one]\nkind = "yarn"\nqueue = "small"\nmax_running = 1\n')
    return {
        **two_queues.client_env(),
        "HADOOP_CONF_DIR": str(two_queues.conf_dir),
        "HYPERTUNER_ENGINE": "spark",
        "HYPERTUNER_SPARK_MASTER": "yarn",
        "HYPERTUNER_YARN_RM": two_queues.rm_url,
        "HYPERTUNER_STORE": f"webhdfs://{host}/hypertuner-{uuid.uuid4().hex[:8]}",
        "HYPERTUNER_FLUSH_SECONDS": "1",
        "HYPERTUNER_CONFIG": str(config),
    }


def test_resources_shows_slots_from_the_queues_max_capacity(env: dict[str, str], two_queues: MiniCluster) -> None:
    done = hypertuner(env, "resources", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    total = json.loads(_get(f"{two_queues.rm_url}/ws/v1/cluster/metrics"))["clusterMetrics"]["totalMB"]
    # the default queue may grow to 100 %: 896 MB applications (512m driver + 384 overhead), at most 4 by the user limit
    assert f"queue root.default: max 100% of {total} MB → {total // 896} applications of 896 MB; user limit 4" \
        in done.stdout, done.stdout
    small = {**env, "HYPERTUNER_CONFIG": str(Path(env["HYPERTUNER_CONFIG"]).with_name("small.toml"))}
    Path(small["HYPERTUNER_CONFIG"]).write_text('[spark.conf]\n"spark.yarn.queue" = "small"\n')
    done = hypertuner(small, "resources", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"queue root.small: max 30% of {total} MB → {int(total * 0.3) // 896} applications of 896 MB; " \
           "no user limit" in done.stdout, done.stdout


def test_a_run_on_the_small_option_lands_in_its_queue_with_the_users_settings(
        env: dict[str, str], two_queues: MiniCluster, tmp_path: Path) -> None:
    folder = tmp_path / "digits"
    prepare_demo(Store(env["HYPERTUNER_STORE"]), folder)
    refused = hypertuner(env, "run", "batch_size=32", "num_epochs=1", "--project", str(folder),
                         "--resource", "small", "--conf", "spark.queue=small")
    assert refused.returncode == 2 and "--conf: spark.queue is not a setting Spark reads; use spark.yarn.queue" \
        in refused.stderr, refused.stdout + refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    owned = hypertuner(env, "run", "batch_size=32", "num_epochs=1", "--project", str(folder),
                       "--conf", "spark.yarn.tags=mine")
    assert owned.returncode == 2 and "--conf: spark.yarn.tags cannot be set" in owned.stderr, owned.stderr
    assert not index_of(env, DEMO_NAME).runs  # nothing was queued

    done = hypertuner(env, "run", "batch_size=32", "num_epochs=1", "--project", str(folder),
                      "--resource", "small", "--conf", "spark.yarn.applicationType=FROM-CLI",
                      "--conf", "spark.yarn.maxAppAttempts=2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    entry = next(iter(index_of(env, DEMO_NAME).runs.values()))
    [exp] = entry.experiments
    state = entry.states[exp.experiment_id]
    assert state.state == "succeeded", state.fields
    app = rm_app(two_queues.rm_url, str(state.get("engine_id")).split(":")[1])
    assert app["queue"] in ("small", "root.small"), app
    assert app["applicationType"] == "FROM-CLI", app  # --conf over the option's conf over Spark's SPARK
    assert "hypertuner" in app["applicationTags"], app  # the tags stay ours

    shown = hypertuner(env, "show", exp.experiment_id, "--project", str(folder), timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for line in ("spark       spark.yarn.queue = small", "spark       spark.yarn.applicationType = FROM-CLI",
                 "spark       spark.yarn.maxAppAttempts = 2"):
        assert line in shown.stdout, shown.stdout


def test_an_options_max_running_bounds_applications_at_once(
        env: dict[str, str], two_queues: MiniCluster, tmp_path: Path) -> None:
    """``max_running = 1`` on the option: the gateway submits the second experiment only after
    the first application ended, though the queue holds two."""
    folder = tmp_path / "digits"
    prepare_demo(Store(env["HYPERTUNER_STORE"]), folder)
    done = hypertuner(env, "run", "batch_size=32,64", "num_epochs=1", "--project", str(folder), "--resource", "one")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    entry = next(iter(index_of(env, DEMO_NAME).runs.values()))
    apps = sorted((rm_app(two_queues.rm_url, str(entry.states[x.experiment_id].get("engine_id")).split(":")[1])
                   for x in entry.experiments), key=lambda app: int(app["startedTime"]))
    assert [app["queue"] in ("small", "root.small") for app in apps] == [True, True], apps
    assert int(apps[1]["startedTime"]) >= int(apps[0]["finishedTime"]), apps


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())
