"""Spark submits to the mini cluster as to a real one: spark-submit --master yarn --deploy-mode
cluster, the driver in a YARN container (the application master), one executor, output on HDFS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from scripts.minicluster.minicluster import MiniCluster, spark_home

pytestmark = pytest.mark.slow

APP = '''
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("hypertuner-minicluster-check").getOrCreate()
squares = spark.sparkContext.parallelize(range(10), 2).map(lambda x: x * x)
squares.map(str).coalesce(1).saveAsTextFile(sys.argv[1])
print("sum of squares", squares.sum())
spark.stop()
'''


def _get(url: str) -> bytes:
    with urlopen(url, timeout=30) as response:
        return bytes(response.read())


def _app(cluster: MiniCluster, app_id: str) -> dict[str, Any]:
    return dict(json.loads(_get(f"{cluster.rm_url}/ws/v1/cluster/apps/{app_id}"))["app"])


def test_spark_submit_in_cluster_mode_succeeds(minicluster: MiniCluster, tmp_path: Path) -> None:
    home = spark_home()
    if home is None:
        pytest.fail("pyspark is not installed in this environment: pip install -e '.[cluster]'", pytrace=False)
    script = tmp_path / "squares.py"
    script.write_text(APP)
    output = f"/tmp/spark-check-{uuid.uuid4().hex[:8]}"
    command = [str(Path(home) / "bin" / "spark-submit"), "--deploy-mode", "cluster",
               "--name", "hypertuner-minicluster-check"]
    for key, value in minicluster.spark_conf(python=sys.executable).items():
        command += ["--conf", f"{key}={value}"]
    command += [str(script), f"{minicluster.hdfs_url}{output}"]
    env = {**os.environ, **minicluster.client_env()}

    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=420, check=False)
    seconds = time.monotonic() - started
    log = done.stdout + done.stderr
    found = re.search(r"application_\d+_\d+", log)
    assert found, log[-4000:]
    app_id = found.group(0)
    assert done.returncode == 0, f"spark-submit failed after {seconds:.0f} s:\n{log[-4000:]}"
    print(f"{app_id} took {seconds:.1f} s from spark-submit to its exit")

    app = _app(minicluster, app_id)
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), app.get("diagnostics")
    assert app["queue"] in ("default", "root.default")
    part = _get(f"{minicluster.webhdfs_url}/webhdfs/v1{output}/part-00000?op=OPEN&user.name=test")
    assert part.decode().split() == [str(x * x) for x in range(10)]

    # The ResourceManager keeps its applications across a restart (recovery is on).
    minicluster.stop_rm()
    minicluster.start_rm()
    assert _app(minicluster, app_id)["finalStatus"] == "SUCCEEDED"
