"""The Spark engine with a local master: real spark-submit, real Spark tasks, no cluster."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_submit_from_a_spec_file_exit_codes(store: Store, project_dir: Path, tmp_path: Path) -> None:
    store.create_project("tiny", str(project_dir))
    good = tmp_path / "good.toml"
    good.write_text('x = "1,2"\nepochs = 1\n')
    done = cli(store, "submit", "--spec", str(good), "--project", str(project_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    again = cli(store, "submit", "--spec", str(good), "--project", str(project_dir))
    assert again.returncode == 0 and "nothing to run" in again.stdout
    failing = tmp_path / "failing.toml"
    failing.write_text('x = 3\nfail = 4\n')
    assert cli(store, "submit", "--spec", str(failing), "--project", str(project_dir)).returncode == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('x = "5..1 *2"\n')
    wrong = cli(store, "submit", "--spec", str(bad), "--project", str(project_dir))
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    slow = tmp_path / "slow.toml"
    slow.write_text('x = 9\nepochs = 50\nsleep = 0.2\n')
    late = cli(store, "submit", "--spec", str(slow), "--project", str(project_dir), "--timeout", "2")
    assert late.returncode == 124 and "not done after 2 s" in late.stderr


def test_spark_submit_launch_batch_job(store: Store, project_dir: Path, tmp_path: Path) -> None:
    """A gateway shell: spark-submit spark_jobs/launch_batch.py --spec FILE, packed on local[2]."""
    from engines.spark import default_spark_submit

    store.create_project("tiny", str(project_dir))
    spec = tmp_path / "batch.toml"
    spec.write_text('x = "1,2,3"\nepochs = 1\n')
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, **SPARK_LOCAL, "HYPERTUNER_STORE": store.url, "HYPERTUNER_PACKING": "tasks",
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable, "PYTHONPATH": str(root)}
    done = subprocess.run([default_spark_submit(), "--master", "local[1]", str(root / "spark_jobs" / "launch_batch.py"),
                           "--spec", str(spec), "--project", str(project_dir)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "3 succeeded" in done.stdout
    rows = _experiments(store)
    assert [state for _, state, _ in rows] == ["succeeded"] * 3
    assert len({fields["engine_id"] for _, _, fields in rows}) == 1  # packed into one application


@pytest.mark.parametrize("packing", ["tasks", "none"])
def test_batch_runs_on_a_spark_standalone_cluster(store: Store, project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                  spark_standalone: str, packing: str) -> None:
    settings = {**SPARK_LOCAL, "HYPERTUNER_SPARK_MASTER": spark_standalone, "SPARK_LOCAL_IP": "127.0.0.1"}
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    store.create_project("tiny", str(project_dir))
    done = cli(store, "run", "x=1,2,3", "epochs=1", "--project", str(project_dir), "--packing", packing)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _experiments(store)
    assert [state for _, state, _ in rows] == ["succeeded"] * 3
    assert len({fields["engine_id"] for _, _, fields in rows}) == (1 if packing == "tasks" else 3)
