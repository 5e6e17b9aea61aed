"""Compaction on the mini cluster's HDFS: spark-submit spark_jobs/compact_runs.py on a gateway
shell compacts a run whose store is on WebHDFS, and the index opens it from the compaction."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from scripts.minicluster.minicluster import spark_home
from workbench_plugin.compaction import latest_compacted
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import State
from workbench_plugin.store import METRIC_COLUMNS, Experiment, Run, Store

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_spark_submit_compacts_a_run_on_hdfs(minicluster: Any) -> None:
    home = spark_home()
    if home is None:
        pytest.fail("pyspark is not installed in this environment: pip install -e '.[cluster]'", pytrace=False)
    host = minicluster.webhdfs_url.split("://", 1)[1]
    url = f"webhdfs://{host}/hypertuner-compact-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **minicluster.client_env(), "HADOOP_CONF_DIR": str(minicluster.conf_dir),
           "HYPERTUNER_STORE": url, "PYTHONPATH": str(ROOT), "PYSPARK_PYTHON": sys.executable}
    store = Store(url)
    store.create_project("p", "/somewhere")
    run_id = store.new_run_id()
    run = Run(run_id=run_id, project="p", created=1.0, author="me", script="train.py", interpreter="",
              flag_style="space", spec={"lr": "x"}, scales={}, snapshot_id="s", data_id="d", engine="spark",
              n_experiments=3)
    ids = [f"{run_id}-{i}" for i in range(3)]
    store.write_run(run, [Experiment(e, run_id, i, {"lr": 0.1 * (i + 1)}, []) for i, e in enumerate(ids)])
    for i, exp in enumerate(ids):
        cols: dict[str, list[Any]] = {c: [] for c in METRIC_COLUMNS}
        for epoch in range(4):
            for c, v in zip(METRIC_COLUMNS, (exp, "epoch", epoch, None, 1000.0 + 10 * i + epoch, "val_loss",
                                             1.0 / (epoch + 1 + i), "sdk"), strict=True):
                cols[c].append(v)
        store.write_metrics_part("p", run_id, exp, 0, cols)
        store.append_state("p", run_id, exp, State.SUCCEEDED)
    plain = ProjectIndex(store, "p", compacted=False)
    plain.refresh()
    before = plain.frames(run_id)

    submit = [str(Path(home) / "bin" / "spark-submit"), "--master", "yarn", "--deploy-mode", "client",
              str(ROOT / "spark_jobs" / "compact_runs.py"), "--project", "p"]
    done = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert f"compact {run_id}: 6 files, 12 points -> " in done.stdout
    again = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and "already compacted" in again.stdout, (again.stdout + again.stderr)[-4000:]

    compacted = latest_compacted(store, "p", run_id)
    assert compacted is not None
    index = ProjectIndex(store, "p")
    index.refresh()
    entry = index.entry(run_id)
    assert entry.compacted is not None and not entry.curves.parts  # opened from the compaction alone
    frames = index.frames(run_id)
    pd.testing.assert_frame_equal(before.experiments, frames.experiments)
    pd.testing.assert_frame_equal(before.curves.astype({"experiment_id": str, "name": str}),
                                  frames.curves.astype({"experiment_id": str, "name": str}))
    assert list(frames.curves_for([ids[2]])["value"]) == pytest.approx([1 / 3, 1 / 4, 1 / 5, 1 / 6])
