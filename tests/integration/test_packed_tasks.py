"""Tasks of a packed run (spark_jobs/packed_run.py) without Spark: several tasks take experiments
from one list until none is left, and each experiment runs exactly once, in its own process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from spark_jobs import packed_run
from tests.integration.processes import launch_batch
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow


def test_tasks_take_each_experiment_once_and_run_them_all(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1,2,3,4,5,6,7", "epochs": 1})
    ids = [e.experiment_id for e in exps]
    results: list[list[tuple[str, int]]] = [[] for _ in range(3)]

    def task(k: int) -> None:
        results[k] = packed_run.run_task(store.url, "tiny", exps[0].run_id, "app-1", ids, k * len(ids) // 3, 0.2, "")

    threads = [threading.Thread(target=task, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    ran = [exp_id for done in results for exp_id, _ in done]
    assert sorted(ran) == sorted(ids)  # every experiment once, none twice
    assert all(rc == 0 for done in results for _, rc in done)
    assert store.taken("tiny", exps[0].run_id, "app-1") == set(ids)
    fresh = ProjectIndex(store, "tiny")
    fresh.refresh()
    states = {e.experiment_id: s for _, e, s in fresh.iter_experiments()}
    assert {s.state for s in states.values()} == {"succeeded"}
    # the script's own usage, even though one process ran several experiments
    assert all(s.get("cpu_seconds") is not None and s.get("max_rss_mb", 0) > 0 for s in states.values())
    # a later task of the same application finds nothing left to run
    assert packed_run.run_task(store.url, "tiny", exps[0].run_id, "app-1", ids, 0, 0.2, "") == []
