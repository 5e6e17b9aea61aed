"""A real mini cluster (HDFS + YARN on 127.0.0.1), started for each test module that uses it and always stopped.

It needs java 17 and Maven (the first start builds it from Maven Central). If it cannot start, the
tests that use it fail with the reason and the tail of its logs; they are never skipped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.minicluster.minicluster import MiniCluster, MiniClusterError


@contextlib.contextmanager
def running_cluster(workdir: Path, what: str, **options: Any) -> Iterator[MiniCluster]:
    """A mini cluster started in ``workdir`` (``options`` go to :meth:`MiniCluster.start`) and always
    stopped; the test fails, never skips, with the reason when it does not start."""
    try:
        cluster = MiniCluster.start(workdir, **options)
    except MiniClusterError as exc:
        pytest.fail(f"{what} did not start: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


# Per module: started for the modules that use it (~7 s each) and stopped after them, so its
# JVMs do not share the two cores with the browser tests that follow.
@pytest.fixture(scope="module")
def minicluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniCluster]:
    with running_cluster(tmp_path_factory.mktemp("minicluster"), "the mini cluster") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def kerberized_minicluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniCluster]:
    """The mini cluster in its Kerberized mode: its own KDC (MiniKdc, realm EXAMPLE.COM), Kerberos on
    HDFS and YARN RPC, SPNEGO on WebHDFS and the ResourceManager's REST API. The test user is
    ``cluster.user_principal`` with ``cluster.user_keytab``; clients use ``cluster.krb5_conf``.
    Per module and always stopped; fails (never skips) with the reason and its log tail."""
    with running_cluster(tmp_path_factory.mktemp("kerberized-minicluster"), "the Kerberized mini cluster",
                         kerberos=True) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def spark_standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark standalone cluster (one master, one worker with 2 cores) from pyspark's own Spark,
    on 127.0.0.1; yields its ``spark://`` URL; both JVMs are stopped by PID."""
    import os
    import socket
    import subprocess
    import time
    import urllib.request

    from engines.spark import default_spark_submit

    spark_class = str(Path(default_spark_submit()).parent / "spark-class")
    workdir = tmp_path_factory.mktemp("spark-standalone")

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    port, ui = free_port(), free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(workdir / "work"),
           "SPARK_LOG_DIR": str(workdir)}
    url = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for name, argv in (
            ("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                        "--webui-port", str(ui)]),
            ("worker", ["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "2",
                        "--memory", "2g", "--webui-port", str(free_port())]),
        ):
            log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed below
            logs.append(log)
            procs.append(subprocess.Popen([spark_class, *argv], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as response:
                    if json.load(response).get("aliveworkers", 0) >= 1:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                tails = "\n".join((workdir / f"{n}.log").read_text(errors="replace")[-1500:]
                                  for n in ("master", "worker"))
                pytest.fail(f"the Spark standalone cluster did not start at {url}:\n{tails}", pytrace=False)
            time.sleep(0.5)
        yield url
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for log in logs:
            log.close()
