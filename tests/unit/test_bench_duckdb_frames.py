"""bench/duckdb_frames.py: DuckDB and HyperTuner's numpy code give the same answers for the three
questions (the bench compares them exactly and exits 1 when they differ), on a generated store
and on one whose parts hold the cases the final-value rule decides (several summaries, a point
logged twice, NaN times, a metric only summarized, an id not in the batch, CSV and Parquet parts);
without the optional ``bench`` extra the bench says how to install DuckDB in one line."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

from bench.synthetic import generate

BENCH = Path(__file__).resolve().parents[2] / "bench" / "duckdb_frames.py"
HAS_DUCKDB = importlib.util.find_spec("duckdb") is not None


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(BENCH.parents[1])}
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def test_duckdb_and_numpy_give_the_same_answers_or_the_bench_says_how_to_install_duckdb():
    done = _bench("--experiments", "50", "--epochs", "5", "--runs", "2", "--repeat", "1")
    if not HAS_DUCKDB:  # a checkout without the dev extra
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "duckdb not installed" in lines[0] and "pip install -e '.[bench]'" in lines[0]
        return
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answers equal: (a), (b), (c)" in done.stdout
    for step in ("(a) metric columns at open", "(b) compaction", "(c) min val_loss by batch_size"):
        assert step in done.stdout


def test_without_duckdb_the_bench_names_the_extra_in_one_line():
    """As where the bench extra is not installed (its import made to fail): one line, nothing else."""
    code = ("import runpy, sys; sys.modules['duckdb'] = None; "
            f"sys.argv = [{str(BENCH)!r}, '--experiments', '5']; runpy.run_path(sys.argv[0], run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": str(BENCH.parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == "bench/duckdb_frames.py: duckdb not installed: pip install -e '.[bench]'"
    assert done.stdout == ""


def _points(rows: list[tuple[str, str, int | None, float, str, float]]) -> dict[str, list[object]]:
    """Metric part columns from (experiment, kind, epoch, time, name, value) rows (step = epoch)."""
    return {"experiment_id": [r[0] for r in rows], "kind": [r[1] for r in rows], "epoch": [r[2] for r in rows],
            "step": [r[2] for r in rows], "time": [r[3] for r in rows], "name": [r[4] for r in rows],
            "value": [r[5] for r in rows], "source": ["test"] * len(rows)}


def test_the_sql_rule_matches_numpy_on_the_cases_it_decides(tmp_path):
    assert HAS_DUCKDB, "duckdb is a dev dependency: pip install -e '.[dev]'"
    sp = generate(str(tmp_path), experiments=6, epochs=3, seed=1)
    store, ids, t = sp.store, [f"{sp.run_id}-{i}" for i in range(6)], 2e9
    nan = math.nan
    store.write_metrics_part(sp.project, sp.run_id, ids[0], 1, _points([
        (ids[1], "epoch", 2, t + 2, "val_loss", 7.0),  # epoch 2 again, later: replaces it, counted once
        (ids[2], "epoch", 9, nan, "lr_now", 1.0),  # NaN times sort last
        (ids[2], "epoch", 8, t + 9, "lr_now", 2.0),
        (ids[3], "summary", None, t, "test_acc", 0.75),  # a metric only summarized
        ("not-in-the-batch", "epoch", 1, t, "val_loss", -1.0),
        (ids[4], "epoch", 4, t + 3, "val_loss", nan),  # a NaN value is a value
    ]), format="csv")
    store.write_metrics_part(sp.project, sp.run_id, ids[5], 1, _points([
        (ids[0], "summary", None, t + 5, "val_loss", 0.5),  # the last summary by time wins...
        (ids[0], "summary", None, t + 1, "val_loss", 0.9),  # ...not the last written
        (ids[5], "summary", None, t + 4, "val_loss", nan),  # a summary wins even when NaN
        (ids[5], "epoch", 7, t + 4, "train_loss", 3.0),
    ]), format="parquet")
    done = _bench(str(tmp_path), "--repeat", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answers equal: (a), (b), (c)" in done.stdout
