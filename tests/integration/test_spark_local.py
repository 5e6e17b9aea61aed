"""The Spark engine with a local master: real spark-submit, real Spark tasks, no cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.processes import cli
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow

SPARK_LOCAL = {"HYPERTUNER_ENGINE": "spark", "HYPERTUNER_SPARK_MASTER": "local[2]", "HYPERTUNER_SLOTS": "2",
               "HYPERTUNER_FLUSH_SECONDS": "0.3"}


def _experiments(store: Store) -> list[tuple[str, str, dict[str, object]]]:
    index = ProjectIndex(store, "tiny")
    index.refresh()
    return [(e.experiment_id, s.state, s.fields) for _, e, s in index.iter_experiments()]


@pytest.mark.parametrize("packing", ["tasks", "none"])
def test_batch_runs_on_local_spark(store: Store, project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                   packing: str) -> None:
    for key, value in SPARK_LOCAL.items():
        monkeypatch.setenv(key, value)
    store.create_project("tiny", str(project_dir))
    done = cli(store, "run", "x=1,2,3,4", "epochs=2", "--project", str(project_dir), "--packing", packing)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 succeeded" in done.stdout
    rows = _experiments(store)
    assert [state for _, state, _ in rows] == ["succeeded"] * 4
    engine_ids = {fields["engine_id"] for _, _, fields in rows}
    assert all(str(i).startswith("spark:") for i in engine_ids)
    # packed: one application for the run; otherwise one per experiment
    assert len(engine_ids) == (1 if packing == "tasks" else 4)
    index = ProjectIndex(store, "tiny")
    index.refresh()
    frames = index.frames(next(iter(index.runs)))
    assert sorted(frames.experiments["score"]) == [10.0, 20.0, 30.0, 40.0]
