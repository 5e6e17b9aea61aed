"""Experiments side by side (patent FIG 28), as plain data: :func:`comparison_info`.

The comparison shows 2 to 10 experiments, possibly of several runs of one project (their
hyperparameter columns may differ: a run's missing flag reads ``None``). Hyperparameters whose
values differ come first; the equal ones are folded by the page. Each final metric row marks its
best value(s) by :func:`~workbench_plugin.experiment_info.metric_goal` (ties: all best, NaN never).
Curves are grouped by :func:`~workbench_plugin.experiment_info.metric_family`: one axis each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from workbench_plugin._exceptions import SpecError
from workbench_plugin.experiment_info._families import FAMILIES, metric_family, metric_goal
from workbench_plugin.frames import RunFrames

__all__ = [
    "MAX_COMPARED",
    "MIN_COMPARED",
    "CompareError",
    "ComparedExperiment",
    "ComparisonInfo",
    "CompareCurve",
    "FamilyCurves",
    "HparamRow",
    "MetricRow",
    "best_of",
    "compare_count_problem",
    "comparison_info",
]

#: The fewest and most experiments one comparison shows.
MIN_COMPARED = 2
MAX_COMPARED = 10


class CompareError(SpecError):
    """A comparison asked of too few or too many experiments, or of unknown ones."""


class ComparedExperiment(NamedTuple):
    experiment_id: str
    run_id: str
    label: str
    state: str


class HparamRow(NamedTuple):
    """One hyperparameter: its value per experiment (``None`` where its run has no such flag)."""

    name: str
    values: tuple[Any, ...]


class MetricRow(NamedTuple):
    """One final metric: value per experiment (NaN: not logged) and which are best."""

    name: str
    family: str
    goal: str
    values: tuple[float, ...]
    best: tuple[bool, ...]


class CompareCurve(NamedTuple):
    """One experiment's curve of one metric: x is epoch (or step, when only steps were logged)."""

    experiment_id: str
    metric: str
    x_name: str
    x: np.ndarray
    y: np.ndarray


class FamilyCurves(NamedTuple):
    """The curves that share one y axis."""

    family: str
    metrics: tuple[str, ...]
    curves: tuple[CompareCurve, ...]


class ComparisonInfo(NamedTuple):
    experiments: tuple[ComparedExperiment, ...]
    differing: tuple[HparamRow, ...]
    equal: tuple[HparamRow, ...]
    metrics: tuple[MetricRow, ...]
    families: tuple[FamilyCurves, ...]
    #: Duration, cost and the like (given by the caller, smaller is better), marked as metrics.
    extras: tuple[MetricRow, ...] = ()


def compare_count_problem(count: int) -> str:
    """The one line that refuses a comparison of ``count`` experiments ("" when allowed)."""
    if MIN_COMPARED <= count <= MAX_COMPARED:
        return ""
    noun = "experiment" if count == 1 else "experiments"
    fix = ("select at least two (ctrl-click table rows or brush more points)" if count < MIN_COMPARED
           else "narrow the selection (brush fewer points or filter the table)")
    return (f"compare: {count} {noun} selected; the comparison shows {MIN_COMPARED} to "
            f"{MAX_COMPARED} — {fix}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(type(a) is type(b) and a == b) or (
        isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool)
        and not isinstance(b, bool) and a == b)


def _plain(value: Any) -> Any:
    """A frame cell as a Python value (``None`` for a missing one)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def best_of(values: Sequence[float], goal: str) -> tuple[bool, ...]:
    """Which values are best for ``goal`` ("max"/"min"): every tie; NaN never; none if all NaN."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return tuple(False for _ in values)
    target = max(finite) if goal == "max" else min(finite)
    return tuple(not math.isnan(v) and v == target for v in values)


def _rows(frames: Sequence[RunFrames], ids: Sequence[str]) -> tuple[list[ComparedExperiment], list[pd.Series],
                                                                    list[RunFrames]]:
    where: dict[str, tuple[RunFrames, int]] = {}
    for f in frames:
        for position, eid in enumerate(f.experiments["experiment_id"]):
            where.setdefault(str(eid), (f, position))
    shown, rows, of = [], [], []
    for eid in ids:
        if eid not in where:
            runs = ", ".join(repr(f.run_id) for f in frames) or "none"
            raise CompareError(f"compare: {eid[:60]!r} is not an experiment of run(s) {runs}; "
                               "pick experiments from the run's table")
        f, position = where[eid]
        row = f.experiments.iloc[position]
        shown.append(ComparedExperiment(eid, f.run_id, str(row["label"]), str(row["state"])))
        rows.append(row)
        of.append(f)
    return shown, rows, of


def _curves(frames: Sequence[RunFrames], ids: Sequence[str]) -> tuple[FamilyCurves, ...]:
    by_family: dict[str, list[CompareCurve]] = {}
    names: dict[str, list[str]] = {}
    wanted = set(ids)
    for f in frames:
        mine = f.curves_for(sorted(wanted))
        if mine.empty:
            continue
        for (eid, metric), part in mine.groupby(["experiment_id", "name"], observed=True, sort=False):
            epochs = part["epoch"].to_numpy(dtype=float)
            use_epoch = bool(np.isfinite(epochs).any())
            x = epochs if use_epoch else part["step"].to_numpy(dtype=float)
            y = part["value"].to_numpy(dtype=float)
            keep = np.isfinite(x)
            family = metric_family(str(metric))
            by_family.setdefault(family, []).append(
                CompareCurve(str(eid), str(metric), "epoch" if use_epoch else "step", x[keep], y[keep]))
            listed = names.setdefault(family, [])
            if str(metric) not in listed:
                listed.append(str(metric))
    order = {eid: i for i, eid in enumerate(ids)}
    return tuple(
        FamilyCurves(fam, tuple(sorted(names[fam])),
                     tuple(sorted(by_family[fam], key=lambda c: (c.metric, order[c.experiment_id]))))
        for fam in FAMILIES if fam in by_family)


def comparison_info(frames: RunFrames | Sequence[RunFrames], ids: Sequence[str], *,
                    extras: Mapping[str, Mapping[str, float]] | None = None) -> ComparisonInfo:
    """What the comparison page shows of experiments ``ids`` (in that order, repeats dropped).

    ``frames`` is one run's frames or several runs' of one project (columns united, in the
    order first met). ``extras`` adds rows marked like metrics with goal "min" (``{"duration
    (s)": {experiment id: seconds}}``); columns named ``duration_s`` or ``cost`` in the frames
    are added the same way. Raises :class:`CompareError` (one line) for fewer than
    :data:`MIN_COMPARED` or more than :data:`MAX_COMPARED` experiments, or an unknown id.
    """
    runs = [frames] if isinstance(frames, RunFrames) else list(frames)
    ids = list(dict.fromkeys(str(i) for i in ids))
    problem = compare_count_problem(len(ids))
    if problem:
        raise CompareError(problem)
    shown, rows, of = _rows(runs, ids)
    hparams = list(dict.fromkeys(h for f in runs for h in f.hparams))
    differing: list[HparamRow] = []
    equal: list[HparamRow] = []
    for h in hparams:
        values = tuple(_plain(row[h]) if h in f.hparams else None for row, f in zip(rows, of, strict=True))
        same = all(_same(values[0], v) for v in values[1:])
        (equal if same else differing).append(HparamRow(h, values))
    metrics = []
    for m in dict.fromkeys(m for f in runs for m in f.metrics):
        values_f = tuple(float(row[m]) if m in f.metrics and _plain(row[m]) is not None else math.nan
                         for row, f in zip(rows, of, strict=True))
        goal = metric_goal(m)
        metrics.append(MetricRow(m, metric_family(m), goal, values_f, best_of(values_f, goal)))
    extra_rows = []
    given = dict(extras or {})
    for column in ("duration_s", "cost"):
        if column not in given and any(column in f.experiments.columns for f in runs):
            given[column] = {e.experiment_id: float(row[column]) for e, row in zip(shown, rows, strict=True)
                             if column in row.index and _plain(row[column]) is not None}
    for name, per in given.items():
        values_f = tuple(float(per.get(e.experiment_id, math.nan)) for e in shown)
        if any(not math.isnan(v) for v in values_f):
            extra_rows.append(MetricRow(name, "time" if "cost" not in name else "other", "min", values_f,
                                        best_of(values_f, "min")))
    return ComparisonInfo(tuple(shown), tuple(differing), tuple(equal), tuple(metrics),
                          _curves(runs, ids), tuple(extra_rows))
