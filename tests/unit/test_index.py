"""The index's frames: final values, curves and metric columns built from metric parts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Experiment, Run, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


def make_run(store: Store, n: int = 3) -> Run:
    store.create_project("p", "/somewhere")
    run_id = store.new_run_id()
    run = Run(run_id=run_id, project="p", created=1.0, author="me", script="train.py",
              interpreter="", flag_style="space", spec={"lr": "0.1,0.2,0.3"}, scales={},
              snapshot_id="s1", data_id="d1", engine="local", n_experiments=n)
    exps = [Experiment(f"{run_id}-{i}", run_id, i, {"lr": 0.1 * (i + 1)}, []) for i in range(n)]
    store.write_run(run, exps)
    return run


def write_points(store: Store, run: Run, seq: int, points: list[tuple[Any, ...]]) -> None:
    """Points as (experiment index, kind, epoch, time, name, value)."""
    rows: dict[str, list[Any]] = {c: [] for c in ("experiment_id", "kind", "epoch", "step", "time", "name",
                                                  "value", "source")}
    for index, kind, epoch, t, name, value in points:
        for column, v in zip(("experiment_id", "kind", "epoch", "step", "time", "name", "value", "source"),
                             (f"{run.run_id}-{index}", kind, epoch, None, t, name, value, "sdk"), strict=True):
            rows[column].append(v)
    store.write_metrics_part("p", run.run_id, f"{run.run_id}-0", seq, rows)


def finals(index: ProjectIndex, run: Run, column: str) -> list[float]:
    return index.frames(run.run_id).experiments[column].tolist()


def curve(index: ProjectIndex, run: Run, exp: int, name: str) -> list[tuple[float, float]]:
    c = index.frames(run.run_id).curves
    c = c[(c["experiment_id"] == f"{run.run_id}-{exp}") & (c["name"] == name)]
    return list(zip(c["epoch"], c["value"], strict=True))


def test_summary_beats_the_last_epoch_value_even_when_logged_earlier(store: Store) -> None:
    run = make_run(store)
    write_points(store, run, 0, [
        (0, "epoch", 1, 1.0, "loss", 0.9), (0, "summary", None, 1.5, "loss", 0.1),
        (0, "epoch", 2, 2.0, "loss", 0.5),
        (1, "epoch", 1, 1.0, "loss", 0.8), (1, "epoch", 2, 2.0, "loss", 0.6),
        (1, "summary", None, 3.0, "loss", 0.7), (1, "summary", None, 4.0, "loss", 0.65),
    ])
    index = ProjectIndex(store, "p")
    index.refresh()
    got = finals(index, run, "loss")
    assert got[:2] == [0.1, 0.65]  # the summary (the last one by time), whatever the epochs say
    assert math.isnan(got[2])  # no metrics at all: NaN
    frames = index.frames(run.run_id)
    assert frames.metrics == ("loss",) and frames.scales["loss"] == "linear"
    assert len(frames.curves) == 4  # summaries are not curve points
    assert curve(index, run, 0, "loss") == [(1.0, 0.9), (2.0, 0.5)]


def test_the_last_duplicate_wins_and_curves_sort_by_experiment_then_time(store: Store) -> None:
    run = make_run(store)
    write_points(store, run, 0, [
        (1, "epoch", 2, 5.0, "acc", 0.4),
        (0, "epoch", 1, 1.0, "acc", 0.1), (0, "epoch", 1, 2.0, "acc", 0.2),  # re-printed epoch 1
        (1, "epoch", 1, 3.0, "acc", 0.3),
        (0, "epoch", 2, 4.0, "acc", 0.25), (0, "epoch", 2, 4.0, "acc", 0.26),  # same time: as read
    ])
    index = ProjectIndex(store, "p")
    index.refresh()
    assert curve(index, run, 0, "acc") == [(1.0, 0.2), (2.0, 0.26)]
    assert curve(index, run, 1, "acc") == [(1.0, 0.3), (2.0, 0.4)]
    curves = index.frames(run.run_id).curves
    assert curves["experiment_id"].astype(str).tolist() == [f"{run.run_id}-{i}" for i in (0, 0, 1, 1)]
    assert list(curves.columns) == ["experiment_id", "epoch", "step", "name", "value"]
    assert curves["step"].isna().all()
    assert finals(index, run, "acc")[:2] == [0.26, 0.4]  # no summary: the last value by time


def test_parts_from_several_refreshes_fold_together(store: Store) -> None:
    run = make_run(store)
    index = ProjectIndex(store, "p")
    index.refresh()
    empty = index.frames(run.run_id)
    assert empty.metrics == () and empty.curves.empty
    assert empty.experiments["lr"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    write_points(store, run, 0, [(0, "epoch", 1, 1.0, "loss", 0.9), (0, "epoch", 2, 2.0, "loss", 0.8)])
    assert index.refresh()
    assert finals(index, run, "loss")[0] == 0.8
    write_points(store, run, 1, [(0, "epoch", 2, 3.0, "loss", 0.7), (0, "epoch", 3, 4.0, "loss", 0.6),
                                 (2, "epoch", 1, 4.0, "val_loss", 0.5)])
    write_points(store, run, 2, [(0, "summary", None, 5.0, "loss", 0.55)])
    assert index.refresh()
    frames = index.frames(run.run_id)
    assert frames.version == 2
    assert curve(index, run, 0, "loss") == [(1.0, 0.9), (2.0, 0.7), (3.0, 0.6)]
    assert finals(index, run, "loss")[0] == 0.55
    assert frames.metrics == ("loss", "val_loss")  # in the order they were first logged
    assert pd.isna(frames.experiments.loc[0, "val_loss"]) and frames.experiments.loc[2, "val_loss"] == 0.5
    assert not index.refresh() and index.frames(run.run_id) is frames  # cached until something new


def test_a_metric_named_like_a_hyperparameter_gets_its_own_column(store: Store) -> None:
    run = make_run(store, n=2)
    write_points(store, run, 0, [(0, "summary", None, 1.0, "lr", 0.01), (1, "epoch", 1, 1.0, "state", 3.0)])
    index = ProjectIndex(store, "p")
    index.refresh()
    frames = index.frames(run.run_id)
    assert set(frames.metrics) == {"lr (metric)", "state (metric)"}
    table = frames.experiments
    assert table["lr"].tolist() == [0.1, 0.2]  # the hyperparameter is untouched
    assert table["lr (metric)"].tolist()[0] == 0.01 and math.isnan(table["lr (metric)"].tolist()[1])
    assert table["state"].tolist() == ["queued", "queued"]
    assert table["state (metric)"].tolist()[1] == 3.0
    assert curve(index, run, 1, "state") == [(1.0, 3.0)]


def test_a_flag_named_like_a_frame_column_gets_its_own_column(store: Store) -> None:
    """A flag named ``state`` replaced the states and made two ``state`` columns (the run page
    was blank); it is a column of its own, named back to the flag by ``flag_of``."""
    store.create_project("p", "/somewhere")
    run_id = store.new_run_id()
    run = Run(run_id=run_id, project="p", created=1.0, author="me", script="train.py",
              interpreter="", flag_style="space", spec={"state": "a,b", "label": "1", "lr": "0.1"},
              scales={"label": "log"}, snapshot_id="s1", data_id="d1", engine="local",
              n_experiments=2)
    store.write_run(run, [Experiment(f"{run_id}-{i}", run_id, i,
                                     {"state": "ab"[i], "label": 1, "lr": 0.1}, []) for i in range(2)])
    write_points(store, run, 0, [(0, "epoch", 1, 1.0, "state", 3.0)])
    index = ProjectIndex(store, "p")
    index.refresh()
    frames = index.frames(run.run_id)
    assert sorted(frames.hparams) == ["label (flag)", "lr", "state (flag)"]
    table = frames.experiments
    assert list(table.columns).count("state") == 1
    assert table["state"].tolist() == ["queued", "queued"]
    assert table["label"].tolist() == ["#1", "#2"]
    assert table["state (flag)"].tolist() == ["a", "b"]
    assert frames.scales["state (flag)"] == "categorical" and frames.scales["label (flag)"] == "log"
    assert frames.flag_of("state (flag)") == "state" and frames.flag_of("lr") == "lr"
    assert frames.metrics == ("state (metric)",)
    assert curve(index, run, 0, "state") == [(1.0, 3.0)]


def test_points_of_unknown_experiments_stay_in_curves_only(store: Store) -> None:
    run = make_run(store, n=1)
    write_points(store, run, 0, [(0, "epoch", 1, 1.0, "loss", 0.5), (7, "epoch", 1, 1.0, "loss", 0.4)])
    index = ProjectIndex(store, "p")
    index.refresh()
    frames = index.frames(run.run_id)
    assert frames.experiments["loss"].tolist() == [0.5]
    assert frames.curves["experiment_id"].astype(str).tolist() == [f"{run.run_id}-0", f"{run.run_id}-7"]
