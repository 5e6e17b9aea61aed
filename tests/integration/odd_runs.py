"""Runs a new user's script may leave in a store, written through the store's own API: no
metrics at all, names with spaces, dots, slashes and hyphens, a metric named as a flag, only
string hyperparameters, one experiment, an all-NaN metric, a constant hyperparameter.

Each writer returns the run id; :data:`ODD_RUNS` names them all (the browser tests and
``scripts`` that take screenshots of the page use the same runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from workbench_plugin.store import METRIC_COLUMNS, Experiment, Run, Store

__all__ = ["ODD_RUNS", "ODD_SCALES", "write_odd_run", "write_run"]


def write_run(store: Store, project: str, params: Sequence[Mapping[str, Any]],
              metrics: Mapping[str, Callable[[int, int], float]], *, epochs: int = 2,
              state: str = "succeeded", scales: Mapping[str, str] | None = None) -> str:
    """A run of one experiment per ``params`` entry; each logs every metric of ``metrics``
    (``fn(experiment index, epoch)``) for ``epochs`` epochs, then reaches ``state``."""
    if project not in store.projects():
        store.create_project(project, "/somewhere")
    run_id = store.new_run_id()
    names = list(dict.fromkeys(k for p in params for k in p))
    spec = {n: ",".join(dict.fromkeys(str(p.get(n, "")) for p in params)) for n in names}
    run = Run(run_id=run_id, project=project, created=1.0, author="someone", script="train.py",
              interpreter="", flag_style="space", spec=spec, scales=dict(scales or {}),
              snapshot_id="s1", data_id="d1", engine="local", n_experiments=len(params))
    exps = [Experiment(f"{run_id}-{i}", run_id, i, dict(p), []) for i, p in enumerate(params)]
    store.write_run(run, exps)
    for i, exp in enumerate(exps):
        rows: dict[str, list[Any]] = {c: [] for c in METRIC_COLUMNS}
        for name, fn in metrics.items():
            for epoch in range(1, epochs + 1):
                point = (exp.experiment_id, "epoch", epoch, None, float(epoch), name,
                         float(fn(i, epoch)), "sdk")
                for column, v in zip(METRIC_COLUMNS, point, strict=True):
                    rows[column].append(v)
        if rows["name"]:
            store.write_metrics_part(project, run_id, exp.experiment_id, 0, rows)
        store.append_state(project, run_id, exp.experiment_id, state)
    return run_id


def _grid(**values: Sequence[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{}]
    for name, vals in values.items():
        out = [{**p, name: v} for p in out for v in vals]
    return out


#: name -> (params, metrics): the odd runs a first user met.
ODD_RUNS: dict[str, tuple[list[dict[str, Any]], dict[str, Callable[[int, int], float]]]] = {
    "no-metrics": (_grid(lr=[0.1, 0.01], batch=[16, 32]), {}),
    "odd-names": (
        _grid(**{"lr.init": [1e-3, 1e-2], "top-k": [1, 5], "data/dir": ["a b", "c/d"],
                 "drop out": [0.1, 0.2]}),
        {"val/loss": lambda i, e: 1.0 / (i + e), "top1 acc": lambda i, e: 0.1 * i + 0.01 * e,
         "train-acc": lambda i, e: 0.5 + 0.01 * i, "lr.init": lambda i, e: 0.001 * e}),
    "strings-only": (
        _grid(optimizer=["adam", "sgd", "rmsprop"], act=["relu", "gelu"]),
        {"acc": lambda i, e: 0.5 + 0.03 * i}),
    "single": ([{"lr": 0.1, "layers": 3}], {"loss": lambda i, e: 1.0 / e}),
    "nan-metric": (
        _grid(lr=[0.1, 0.01, 0.001]),
        {"acc": lambda i, e: 0.6 + 0.1 * i, "broken": lambda i, e: math.nan}),
    "constant": (
        _grid(seed=[7], lr=[0.1, 0.2, 0.3]),
        {"acc": lambda i, e: 0.6 + 0.1 * i}),
    "reserved-names": (
        _grid(state=["a", "b"], experiment=[1, 2], **{"#": [0.5, 1.5]}),
        {"label": lambda i, e: 0.1 * i, "color": lambda i, e: 1.0 + i, "#": lambda i, e: 2.0}),
    "mixed": (
        [{"lr": "auto", "amp": True}, {"lr": 0.1, "amp": False}, {"lr": 0.01, "amp": True},
         {"lr": None, "amp": False}],
        {"acc": lambda i, e: 0.6 + 0.1 * i}),
    "many-categories": (
        [{"model": f"model-{i}", "k": i % 3} for i in range(14)],
        {"acc": lambda i, e: i / 14}),
    "log-scales": (
        _grid(lr=[1e-5, 1e-4, 1e-3, 1e-2, 0.1], width=[200, 250, 300], wd=[0.015, 0.02]),
        {"loss": lambda i, e: 0.1 + 0.05 * (i % 7) / e}),
}
#: The scales a run's spec gives (log-stepped values).
ODD_SCALES: dict[str, dict[str, str]] = {"log-scales": {"lr": "log", "width": "log", "wd": "log"}}


def write_odd_run(store: Store, project: str, name: str) -> str:
    params, metrics = ODD_RUNS[name]
    return write_run(store, project, params, metrics, scales=ODD_SCALES.get(name))
