"""The Kerberized mini cluster enforces Kerberos the way a production cluster does, and the clients
HyperTuner relies on work against it: requests-kerberos (SPNEGO) on WebHDFS and the ResourceManager's
REST API, a WebHDFS delegation token without Kerberos (what YARN containers get), and
``spark-submit --master yarn --deploy-mode cluster`` with a keytab or with the ticket cache."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests_kerberos import OPTIONAL, HTTPKerberosAuth

from scripts.minicluster.minicluster import MiniCluster, spark_home

pytestmark = pytest.mark.slow

APP = '''
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("hypertuner-kerberos-check").getOrCreate()
squares = spark.sparkContext.parallelize(range(10), 2).map(lambda x: x * x)
squares.map(str).coalesce(1).saveAsTextFile(sys.argv[1])
spark.stop()
'''


def _kinit(cluster: MiniCluster, cache: Path) -> dict[str, str]:
    """A ticket for the test user in a private FILE: cache; the environment that uses it."""
    env = {**os.environ, "KRB5_CONFIG": cluster.krb5_conf, "KRB5CCNAME": f"FILE:{cache}"}
    done = subprocess.run(["kinit", "-kt", cluster.user_keytab, cluster.user_principal], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"kinit failed: {done.stderr.strip()}"
    return env


@pytest.fixture
def ticket(kerberized_minicluster: MiniCluster, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process holds a ticket for the test user (gssapi reads KRB5CCNAME at each call)."""
    env = _kinit(kerberized_minicluster, tmp_path / "ccache")
    monkeypatch.setenv("KRB5_CONFIG", env["KRB5_CONFIG"])
    monkeypatch.setenv("KRB5CCNAME", env["KRB5CCNAME"])
    yield env


def _spnego() -> HTTPKerberosAuth:
    return HTTPKerberosAuth(mutual_authentication=OPTIONAL)


def test_spnego_with_a_ticket_reads_and_writes(kerberized_minicluster: MiniCluster,
                                               ticket: dict[str, str]) -> None:
    cluster = kerberized_minicluster
    webhdfs = f"{cluster.webhdfs_url}/webhdfs/v1"
    listing = requests.get(f"{webhdfs}/?op=LISTSTATUS", auth=_spnego(), timeout=30)
    assert listing.status_code == 200, listing.text
    assert "tmp" in [s["pathSuffix"] for s in listing.json()["FileStatuses"]["FileStatus"]]

    path = f"/tmp/spnego-{uuid.uuid4().hex[:8]}.txt"
    # CREATE: the NameNode redirects to the DataNode with a delegation token of its own.
    step = requests.put(f"{webhdfs}{path}?op=CREATE&overwrite=true", auth=_spnego(), allow_redirects=False,
                        timeout=30)
    assert step.status_code == 307, step.text
    assert "delegation=" in step.headers["Location"]
    written = requests.put(step.headers["Location"], data=b"hello kerberos", timeout=30)
    assert written.status_code == 201, written.text
    status = requests.get(f"{webhdfs}{path}?op=GETFILESTATUS", auth=_spnego(), timeout=30).json()
    user = cluster.user_principal.split("@")[0]
    assert status["FileStatus"]["owner"] == user  # auth_to_local: user@EXAMPLE.COM -> user
    assert status["FileStatus"]["length"] == len(b"hello kerberos")

    metrics = requests.get(f"{cluster.rm_url}/ws/v1/cluster/metrics", auth=_spnego(), timeout=30)
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["clusterMetrics"]["activeNodes"] == 1


def test_without_a_ticket_both_answer_401(kerberized_minicluster: MiniCluster, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = kerberized_minicluster
    monkeypatch.setenv("KRB5_CONFIG", cluster.krb5_conf)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty-ccache'}")  # no ticket in it
    for url in (f"{cluster.webhdfs_url}/webhdfs/v1/?op=LISTSTATUS", f"{cluster.rm_url}/ws/v1/cluster/metrics"):
        assert requests.get(url, timeout=30).status_code == 401, url
        # requests-kerberos cannot get a service ticket either: the 401 comes through
        assert requests.get(url, auth=_spnego(), timeout=30).status_code == 401, url
    # user.name (simple auth) is not accepted on a Kerberized cluster
    assert requests.get(f"{cluster.webhdfs_url}/webhdfs/v1/?op=LISTSTATUS&user.name=root",
                        timeout=30).status_code == 401


def test_a_delegation_token_writes_and_reads_without_kerberos(kerberized_minicluster: MiniCluster,
                                                              ticket: dict[str, str]) -> None:
    cluster = kerberized_minicluster
    webhdfs = f"{cluster.webhdfs_url}/webhdfs/v1"
    answer = requests.get(f"{webhdfs}/?op=GETDELEGATIONTOKEN", auth=_spnego(), timeout=30)
    assert answer.status_code == 200, answer.text
    token = answer.json()["Token"]["urlString"]
    assert token

    # From here on no Kerberos at all, as in a YARN container that got only the token.
    plain = requests.Session()
    path = f"/tmp/token-{uuid.uuid4().hex[:8]}.jsonl"
    step = plain.put(f"{webhdfs}{path}?op=CREATE&overwrite=true&delegation={token}", allow_redirects=False,
                     timeout=30)
    assert step.status_code == 307, step.text
    assert plain.put(step.headers["Location"], data=b'{"step": 1}\n', timeout=30).status_code == 201
    step = plain.post(f"{webhdfs}{path}?op=APPEND&delegation={token}", allow_redirects=False, timeout=30)
    assert step.status_code == 307, step.text
    assert plain.post(step.headers["Location"], data=b'{"step": 2}\n', timeout=30).status_code == 200
    read = plain.get(f"{webhdfs}{path}?op=OPEN&delegation={token}", timeout=30)
    assert read.status_code == 200, read.text
    assert read.content == b'{"step": 1}\n{"step": 2}\n'
    # a wrong token is refused
    refused = plain.get(f"{webhdfs}{path}?op=OPEN&delegation=AAAA", timeout=30)
    assert refused.status_code in (400, 401, 403), refused.text


# ---------------------------------------------------------------------------------------- spark-submit
def _spark_submit(cluster: MiniCluster, tmp_path: Path, env: dict[str, str], *extra: str) -> tuple[str, float]:
    """Run the tiny app in cluster mode; its application id and seconds from submit to exit."""
    home = spark_home()
    if home is None:
        pytest.fail("pyspark is not installed in this environment: pip install -e '.[cluster]'", pytrace=False)
    script = tmp_path / "squares.py"
    script.write_text(APP)
    output = f"/tmp/kerberos-check-{uuid.uuid4().hex[:8]}"
    command = [str(Path(home) / "bin" / "spark-submit"), "--deploy-mode", "cluster",
               "--name", "hypertuner-kerberos-check", *extra]
    for key, value in cluster.spark_conf(python=sys.executable).items():
        command += ["--conf", f"{key}={value}"]
    command += [str(script), f"{cluster.hdfs_url}{output}"]
    env = {**env, **cluster.client_env()}
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=420, check=False)
    seconds = time.monotonic() - started
    log = done.stdout + done.stderr
    found = re.search(r"application_\d+_\d+", log)
    assert found, log[-4000:]
    assert done.returncode == 0, f"spark-submit failed after {seconds:.0f} s:\n{log[-4000:]}"
    return found.group(0), seconds


def _app(cluster: MiniCluster, app_id: str) -> dict[str, Any]:
    answer = requests.get(f"{cluster.rm_url}/ws/v1/cluster/apps/{app_id}", auth=_spnego(), timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["app"])


def test_spark_submit_with_a_keytab(kerberized_minicluster: MiniCluster, tmp_path: Path,
                                   ticket: dict[str, str]) -> None:
    cluster = kerberized_minicluster
    # spark-submit's own environment has no ticket: it logs in from the keytab
    env = {**os.environ, "KRB5_CONFIG": cluster.krb5_conf, "KRB5CCNAME": f"FILE:{tmp_path / 'none'}"}
    app_id, seconds = _spark_submit(cluster, tmp_path, env, "--principal", cluster.user_principal,
                                    "--keytab", cluster.user_keytab)
    print(f"kerberized spark-submit (keytab) {app_id}: {seconds:.1f} s")
    app = _app(cluster, app_id)
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), app.get("diagnostics")
    assert app["user"] == cluster.user_principal.split("@")[0]


def test_spark_submit_with_the_ticket_cache(kerberized_minicluster: MiniCluster, tmp_path: Path,
                                            ticket: dict[str, str]) -> None:
    cluster = kerberized_minicluster
    app_id, seconds = _spark_submit(cluster, tmp_path, ticket)
    print(f"kerberized spark-submit (ticket cache) {app_id}: {seconds:.1f} s")
    app = _app(cluster, app_id)
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), app.get("diagnostics")


# ---------------------------------------------------------------------------------------- the product
def test_spark_engine_submits_to_the_kerberized_cluster(kerberized_minicluster: MiniCluster, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """engines.spark builds a spark-submit that a Kerberized cluster accepts when [security] says
    kerberos with a principal, a keytab and the krb5.conf (no ticket cache in its environment)."""
    from engines.spark import SparkEngine
    from workbench_plugin.config import HdfsSettings, SecuritySettings
    from workbench_plugin.store import Store

    cluster = kerberized_minicluster
    security = SecuritySettings(auth="kerberos", principal=cluster.user_principal, keytab=cluster.user_keytab,
                                krb5_conf=cluster.krb5_conf)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-ticket'}")
    monkeypatch.delenv("SPARK_SUBMIT_OPTS", raising=False)
    engine = SparkEngine(Store(str(tmp_path / "store")), rm_url=cluster.rm_url, hadoop_conf_dir=str(cluster.conf_dir),
                         java_home=cluster.java_home, local_ip="127.0.0.1",
                         conf={"spark.executor.instances": "1"},
                         hdfs=HdfsSettings(webhdfs_url=cluster.webhdfs_url, security=security))
    script = tmp_path / "squares.py"
    script.write_text(APP)
    argv = [*engine._common("hypertuner-kerberos-engine", ["check"]), str(script),
            f"{cluster.hdfs_url}/tmp/engine-{uuid.uuid4().hex[:8]}"]
    assert argv[argv.index("--principal") + 1] == cluster.user_principal
    assert f"spark.driver.extraJavaOptions=-Djava.security.krb5.conf={cluster.krb5_conf}" in argv
    env = engine._env()
    assert f"-Djava.security.krb5.conf={cluster.krb5_conf}" in env["SPARK_SUBMIT_OPTS"]

    started = time.monotonic()
    engine_id = engine._submit_to_yarn(argv, "kerberos-check", None)
    app_id = engine_id.split(":", 1)[1]
    # the RM's REST API needs SPNEGO (the engine's own RM client is another part of issue 14)
    _kinit(cluster, tmp_path / "ccache")
    monkeypatch.setenv("KRB5_CONFIG", cluster.krb5_conf)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'ccache'}")
    deadline = time.monotonic() + 300
    while (app := _app(cluster, app_id))["state"] not in ("FINISHED", "FAILED", "KILLED"):
        assert time.monotonic() < deadline, app
        time.sleep(1)
    print(f"kerberized SparkEngine {app_id}: {time.monotonic() - started:.1f} s to FINISHED")
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), app.get("diagnostics")
