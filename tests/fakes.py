"""Test doubles. :class:`FakeRunSource` is a :class:`~workbench_plugin.frames.RunSource` over
synthetic experiments whose progress tests drive by hand (:meth:`FakeRunSource.advance`)."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench_plugin.frames import RunFrames, Scale

__all__ = ["FakeRunSource", "GRID_8"]

#: 2 x 2 x 2 = 8 experiments.
GRID_8: dict[str, list[Any]] = {
    "batch_size": [32, 64],
    "num_epochs": [6, 12],
    "alpha": [1e-4, 1e-2],
}
SCALES_8: dict[str, Scale] = {"batch_size": "linear", "num_epochs": "linear", "alpha": "log"}


@dataclass
class _Exp:
    experiment_id: str
    label: str
    params: dict[str, Any]
    total_epochs: int
    state: str = "queued"
    epoch: int = 0
    overrides: dict[str, float] = field(default_factory=dict)
    #: per metric, the value logged at each epoch from the first (instead of the synthetic one)
    curve_overrides: dict[str, list[float]] = field(default_factory=dict)


class FakeRunSource:
    """Synthetic experiments of one run. Changes made by :meth:`advance`,
    :meth:`add_experiment`, :meth:`fail` or :meth:`set_metric` become visible at the next
    :meth:`refresh` (like new files in a store), which then returns True.
    """

    def __init__(self, grid: Mapping[str, Sequence[Any]] | None = None, *,
                 run_id: str = "run-fake", scales: Mapping[str, Scale] | None = None,
                 metrics: Sequence[str] = ("val_acc", "val_loss", "train_acc"),
                 finished: int | None = None, running: int = 0, parallel: int = 2) -> None:
        grid = dict(GRID_8 if grid is None else grid)
        self.run_id = run_id
        self.hparams = tuple(grid)
        self.metrics = tuple(metrics)
        self.scales: dict[str, Scale] = dict(SCALES_8 if scales is None and grid == GRID_8
                                             else scales or {})
        self.parallel = parallel
        self._lock = threading.Lock()
        self._exps: list[_Exp] = []
        self._version = 0
        self._dirty = False
        self._frames: RunFrames | None = None
        self.refresh_calls = 0
        for values in itertools.product(*grid.values()):
            self._append(dict(zip(self.hparams, values, strict=True)))
        finished = len(self._exps) if finished is None else finished
        for n, exp in enumerate(self._exps):
            if n < finished:
                exp.state, exp.epoch = "succeeded", exp.total_epochs
            elif n < finished + running:
                exp.state, exp.epoch = "running", 1
        self._frames = self._build()

    # ---- RunSource -----------------------------------------------------------------------
    def frames(self) -> RunFrames:
        with self._lock:
            assert self._frames is not None
            return self._frames

    def refresh(self) -> bool:
        with self._lock:
            self.refresh_calls += 1
            if not self._dirty:
                return False
            self._dirty = False
            self._version += 1
            self._frames = self._build()
            return True

    # ---- driving it ----------------------------------------------------------------------
    def advance(self, epochs: int = 1) -> None:
        """Running experiments log ``epochs`` more epochs (and succeed at their last);
        queued ones start while fewer than ``parallel`` run."""
        with self._lock:
            for exp in self._exps:
                if exp.state == "running":
                    exp.epoch = min(exp.total_epochs, exp.epoch + epochs)
                    if exp.epoch >= exp.total_epochs:
                        exp.state = "succeeded"
            active = sum(e.state == "running" for e in self._exps)
            for exp in self._exps:
                if exp.state == "queued" and active < self.parallel:
                    exp.state, exp.epoch = "running", 1
                    active += 1
            self._dirty = True

    def add_experiment(self, params: Mapping[str, Any], *, state: str = "queued",
                       epoch: int = 0) -> str:
        with self._lock:
            exp = self._append(dict(params))
            exp.state, exp.epoch = state, epoch
            self._dirty = True
            return exp.experiment_id

    def fail(self, experiment_id: str) -> None:
        with self._lock:
            self._get(experiment_id).state = "failed"
            self._dirty = True

    def set_metrics(self, names: Sequence[str]) -> None:
        """Change which metrics the experiments report (a new metric appearing, say)."""
        with self._lock:
            self.metrics = tuple(names)
            self._dirty = True

    def set_curve(self, experiment_id: str, name: str, values: Sequence[float]) -> None:
        """The values ``name`` logs at epochs 1, 2, ... (as far as the experiment got)."""
        with self._lock:
            self._get(experiment_id).curve_overrides[name] = [float(v) for v in values]
            self._dirty = True

    def set_metric(self, experiment_id: str, name: str, value: float) -> None:
        with self._lock:
            self._get(experiment_id).overrides[name] = value
            self._dirty = True

    @property
    def ids(self) -> list[str]:
        with self._lock:
            return [e.experiment_id for e in self._exps]

    def params_of(self, experiment_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._get(experiment_id).params)

    # ---- internals -----------------------------------------------------------------------
    def _append(self, params: dict[str, Any]) -> _Exp:
        n = len(self._exps)
        total = int(params.get("num_epochs", 8))
        exp = _Exp(f"{self.run_id}-{n:03d}", f"#{n}", params, total)
        self._exps.append(exp)
        return exp

    def _get(self, experiment_id: str) -> _Exp:
        for exp in self._exps:
            if exp.experiment_id == experiment_id:
                return exp
        raise KeyError(f"experiment {experiment_id!r}: not in {self.run_id}")

    def _metric(self, exp: _Exp, index: int, name: str, epoch: int) -> float:
        p = exp.params
        alpha = float(p.get("alpha", 1e-3))
        batch = float(p.get("batch_size", 32))
        ceiling = 0.97 - 0.04 * abs(math.log10(alpha) + 3) - 0.0006 * (batch - 32)
        ceiling -= 0.01 * ((index * 7) % 5)
        acc = ceiling * (1 - 0.6 * math.exp(-epoch / 3))
        if name.endswith("loss"):
            return round(1.2 * (1 - acc) + 0.02, 6)
        if name.startswith("train"):
            return round(min(1.0, acc + 0.03), 6)
        return round(acc, 6)

    def _build(self) -> RunFrames:
        rows = []
        curves = []
        for index, exp in enumerate(self._exps):
            row: dict[str, Any] = {"experiment_id": exp.experiment_id, "label": exp.label,
                                   "state": exp.state}
            row.update({h: exp.params.get(h) for h in self.hparams})
            for m in self.metrics:
                value = self._metric(exp, index, m, exp.epoch) if exp.epoch else np.nan
                row[m] = exp.overrides.get(m, value)
                custom = exp.curve_overrides.get(m, [])
                for epoch in range(1, exp.epoch + 1):
                    curves.append({"experiment_id": exp.experiment_id, "epoch": float(epoch),
                                   "step": np.nan, "name": m,
                                   "value": custom[epoch - 1] if epoch <= len(custom)
                                   else self._metric(exp, index, m, epoch)})
            rows.append(row)
        columns = ["experiment_id", "label", "state", *self.hparams, *self.metrics]
        experiments = pd.DataFrame(rows, columns=columns)
        for m in self.metrics:
            experiments[m] = experiments[m].astype(float)
        curve_frame = pd.DataFrame(
            curves, columns=["experiment_id", "epoch", "step", "name", "value"])
        scales: dict[str, Scale] = {h: self.scales.get(h, "linear") for h in self.hparams}
        scales.update(dict.fromkeys(self.metrics, "linear"))
        return RunFrames(run_id=self.run_id, experiments=experiments, curves=curve_frame,
                         hparams=self.hparams, metrics=self.metrics, scales=scales,
                         version=self._version)
