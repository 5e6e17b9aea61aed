"""HyperTuner on the Kerberized mini cluster, configured the way a user does it (environment
variables), through the ``hypertuner`` CLI.

The gateway logs in from a keytab; each YARN application gets an HDFS delegation token
(``--files ...#hypertuner.token``), and the experiment wrapper in the container, which has no
ticket, writes its metrics to the HDFS store with it: metrics read back from the store prove it.
Without a ticket every command says in one line whom to kinit as.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scripts.minicluster.minicluster import MiniCluster
from tests.integration.processes import HYPERTUNER, launch_batch, stop_process, wait_for
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow

ROOT = str(Path(__file__).resolve().parents[2])


def user_env(cluster: MiniCluster, store_url: str, **extra: str) -> dict[str, str]:
    """What a user puts in the environment for this cluster (no SPARK_SUBMIT_OPTS: the engine
    points spark-submit at the krb5.conf itself)."""
    env = {key: value for key, value in cluster.client_env().items() if key != "SPARK_SUBMIT_OPTS"}
    env.update({
        "HADOOP_CONF_DIR": str(cluster.conf_dir),
        "HYPERTUNER_ENGINE": "spark",
        "HYPERTUNER_SPARK_MASTER": "yarn",
        "HYPERTUNER_STORE": store_url,
        "HYPERTUNER_FLUSH_SECONDS": "1",
        "HYPERTUNER_SLOTS": "2",
        "KRB5_CONFIG": cluster.krb5_conf,
        **extra,
    })
    return env


def kerberos_env(cluster: MiniCluster, store_url: str, tmp: Path) -> dict[str, str]:
    """Kerberos from a keytab (the gateway's way); the ticket cache is empty."""
    return user_env(cluster, store_url, HYPERTUNER_AUTH="kerberos", HYPERTUNER_PRINCIPAL=cluster.user_principal,
                    HYPERTUNER_KEYTAB=cluster.user_keytab, KRB5CCNAME=f"FILE:{tmp / 'gateway-ccache'}")


def store_url_of(cluster: MiniCluster) -> str:
    host = cluster.webhdfs_url.split("://", 1)[1]
    user = cluster.user_principal.split("@", 1)[0]
    return f"webhdfs://{host}/user/{user}/hypertuner-{uuid.uuid4().hex[:8]}"


def hypertuner(env: dict[str, str], *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    full = {**_clean_environ(), **env, "PYTHONPATH": ROOT}
    return subprocess.run([*HYPERTUNER, *argv], capture_output=True, text=True, env=full, timeout=timeout,
                          check=False)


def register(env: dict[str, str], folder: Path) -> None:
    """The project in the store (what ``hypertuner init`` did once), with ``env``'s credentials."""
    code = ("import sys; from workbench_plugin.project import find_project; from workbench_plugin.store import Store; "
            "s = find_project(sys.argv[1]); Store(sys.argv[2]).create_project(s.name, s.root)")
    done = subprocess.run([HYPERTUNER[0], "-c", code, str(folder), env["HYPERTUNER_STORE"]], capture_output=True,
                          text=True, env={**_clean_environ(), **env, "PYTHONPATH": ROOT}, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("HYPERTUNER_", "KRB5")) and k != "SPARK_SUBMIT_OPTS"}


@pytest.fixture
def as_user(kerberized_minicluster: MiniCluster, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This test process, too, reaches the store with the keytab (to queue and read back)."""
    env = kerberos_env(kerberized_minicluster, store_url_of(kerberized_minicluster), tmp_path)
    for key in ("HYPERTUNER_AUTH", "HYPERTUNER_PRINCIPAL", "HYPERTUNER_KEYTAB", "KRB5_CONFIG", "KRB5CCNAME"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("SPARK_SUBMIT_OPTS", raising=False)
    yield env


def rm_app(cluster: MiniCluster, app_id: str) -> dict[str, Any]:
    """The RM's record of an application (SPNEGO with the test process's keytab login)."""
    from workbench_plugin.config import security_settings
    from workbench_plugin.kerberos import http_auth

    answer = requests.get(f"{cluster.rm_url}/ws/v1/cluster/apps/{app_id}", timeout=30,
                          auth=http_auth(security_settings()))
    answer.raise_for_status()
    return dict(answer.json()["app"])


def index_of(env: dict[str, str], project: str) -> ProjectIndex:
    index = ProjectIndex(Store(env["HYPERTUNER_STORE"]), project)
    index.refresh()
    return index


def test_a_batch_writes_its_metrics_to_hdfs_with_delegation_tokens(
        kerberized_minicluster: MiniCluster, as_user: dict[str, str], project_dir: Path, figure: list[str]) -> None:
    """(a) Two experiments of a tiny tracking script run as YARN applications and their metrics
    reach the HDFS store: the containers, without a ticket, wrote them with the token."""
    register(as_user, project_dir)
    started = time.monotonic()
    done = hypertuner(as_user, "run", "x=1,2", "epochs=2", "--project", str(project_dir))
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 succeeded" in done.stdout, done.stdout[-2000:]
    figure.append(f"kerberized cluster: a batch of 2 tiny experiments, run to finished in the store: {seconds:.1f} s")

    index = index_of(as_user, "tiny")
    [run_id] = index.runs
    entry = index.runs[run_id]
    for exp in entry.experiments:
        state = entry.states[exp.experiment_id]
        assert state.state == "succeeded", state.fields
        app_id = str(state.get("engine_id")).split(":", 1)[1]
        app = rm_app(kerberized_minicluster, app_id)
        assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED")
        assert app["user"] == kerberized_minicluster.user_principal.split("@")[0]
        # (b) usage read back from the RM (SPNEGO) and stored with the experiment
        assert state.get("vcore_seconds") == app["vcoreSeconds"] > 0
    frames = index.frames(run_id)
    assert sorted(frames.curves.groupby("experiment_id")["epoch"].max().tolist()) == [2.0, 2.0]
    assert sorted(frames.experiments["score"].tolist()) == [10.0, 20.0]


def test_resources_and_kill_on_the_kerberized_cluster(
        kerberized_minicluster: MiniCluster, as_user: dict[str, str], project_dir: Path) -> None:
    """(b) ``hypertuner resources`` reads the RM with SPNEGO; ``kill`` ends a running application."""
    shown = hypertuner(as_user, "resources")
    assert shown.returncode == 0, shown.stderr
    assert "1 active nodes" in shown.stdout and "root.default" in shown.stdout, shown.stdout

    store = Store(as_user["HYPERTUNER_STORE"])
    index, exps = launch_batch(store, project_dir, {"x": 1, "epochs": 600, "sleep": 0.5})
    gateway = subprocess.Popen([*HYPERTUNER, "gateway"], env={**_clean_environ(), **as_user, "PYTHONPATH": ROOT},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        exp_id = exps[0].experiment_id

        def state() -> str:
            index.refresh()
            return index.experiment(exp_id)[2].state

        # running: the wrapper in the container wrote that to HDFS with its token
        wait_for(lambda: state() == "running", timeout=240, what="the experiment to run on YARN")
        app_id = str(index.experiment(exp_id)[2].get("engine_id")).split(":", 1)[1]
        killed = hypertuner(as_user, "kill", exp_id, "--project", str(project_dir))
        assert killed.returncode == 0 and f"{exp_id}: running -> killed" in killed.stdout, \
            killed.stdout + killed.stderr
        wait_for(lambda: rm_app(kerberized_minicluster, app_id)["state"] == "KILLED", timeout=90,
                 what="the YARN application to be KILLED")
        assert state() == "killed"
    finally:
        stop_process(gateway)


def test_without_a_ticket_each_command_says_whom_to_kinit_as(
        kerberized_minicluster: MiniCluster, project_dir: Path, tmp_path: Path) -> None:
    """(c) No keytab configured and an empty ticket cache: one line naming what to do, no traceback."""
    cluster = kerberized_minicluster
    env = user_env(cluster, store_url_of(cluster), HYPERTUNER_AUTH="kerberos",
                   KRB5CCNAME=f"FILE:{tmp_path / 'empty-ccache'}")
    for argv in (["resources"], ["plan", "x=1", "--project", str(project_dir)],
                 ["run", "x=1", "--project", str(project_dir)], ["show", "a1b2c3d4", "--project", str(project_dir)]):
        done = hypertuner(env, *argv, timeout=180)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode != 0, (argv, done.stdout, done.stderr)
        assert len(lines) == 1, (argv, done.stderr)
        assert "kinit" in lines[0] and "Traceback" not in done.stderr, (argv, lines[0])


def test_one_tiny_experiment_end_to_end_kerberized_vs_open(
        kerberized_minicluster: MiniCluster, minicluster: MiniCluster, tmp_path: Path,
        project_dir: Path, figure: list[str]) -> None:
    """Submit → succeeded in the store for one tiny experiment, on both clusters (printed)."""
    timings = {}
    for name, env in (("kerberized", kerberos_env(kerberized_minicluster, store_url_of(kerberized_minicluster),
                                                  tmp_path)),
                      ("open", user_env(minicluster, f"webhdfs://{minicluster.webhdfs_url.split('://', 1)[1]}"
                                        f"/hypertuner-{uuid.uuid4().hex[:8]}"))):
        register(env, project_dir)
        started = time.monotonic()
        done = hypertuner(env, "run", "x=1", "epochs=1", "--project", str(project_dir))
        timings[name] = time.monotonic() - started
        assert done.returncode == 0 and "1 succeeded" in done.stdout, (name, done.stdout[-2000:], done.stderr[-2000:])
    line = (f"one tiny experiment, hypertuner run to succeeded in the store: kerberized {timings['kerberized']:.1f} s, "
            f"open {timings['open']:.1f} s")
    print(line)
    figure.append(line)
    assert json.dumps(timings)


def test_the_token_keeper_renews_and_cancels_on_the_real_namenode(
        kerberized_minicluster: MiniCluster, as_user: dict[str, str]) -> None:
    """TokenKeeper against the Kerberized NameNode (a fake clock makes the renewal due): renewal
    answers a new expiry; a cancelled token no longer renews."""
    from engines.tokens import TokenKeeper
    from workbench_plugin._exceptions import StoreError
    from workbench_plugin.fs import filesystem_for

    fs = filesystem_for(as_user["HYPERTUNER_STORE"])
    now = [time.time()]
    keeper = TokenKeeper(fs, kerberized_minicluster.user_principal.split("@")[0], clock=lambda: now[0])
    token = keeper.issue()
    assert token is not None and token.expires_at > now[0]
    keeper.keep("yarn:application_0_0001", token)
    first_expiry = token.expires_at
    time.sleep(1.5)
    now[0] = token.renew_due + 1  # three quarters of the interval later
    assert keeper.tend(lambda _id: True) == ["yarn:application_0_0001"]
    assert token.expires_at > first_expiry  # the NameNode's new expiry
    keeper.tend(lambda _id: False)  # the application ended
    assert not keeper.tokens and not keeper.problems
    with pytest.raises(StoreError):
        fs.renew_delegation_token(token.token)


def test_a_packed_run_shares_one_token_with_its_executors(
        kerberized_minicluster: MiniCluster, as_user: dict[str, str], project_dir: Path) -> None:
    """``--packing tasks``: one application, a task per experiment in the executors; the executors
    got the token file too (spark.executorEnv) and wrote every experiment's metrics."""
    register(as_user, project_dir)
    done = hypertuner(as_user, "run", "x=1,2", "epochs=2", "--packing", "tasks", "--project", str(project_dir))
    assert done.returncode == 0 and "2 succeeded" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    index = index_of(as_user, "tiny")
    [run_id] = index.runs
    entry = index.runs[run_id]
    assert len({str(entry.states[x.experiment_id].get("engine_id")) for x in entry.experiments}) == 1
    assert sorted(index.frames(run_id).experiments["score"].tolist()) == [10.0, 20.0]
