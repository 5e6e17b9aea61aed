"""The elbow of a curve an experiment recorded with :func:`workbench_plugin.tracking.log_curve`.

:func:`elbow_info` reads ``curve_<x_name>.json``, picks one metric, and finds the elbow with the
Kneedle method (the ``kneed`` library): the curve's shape (convex or concave) and direction
(increasing or decreasing) are read from the curve itself, so k-means inertia (decreasing,
convex) and an accuracy that saturates (increasing, concave) both work. When there is no elbow
(fewer than 3 points, a straight line, a constant) ``knee`` is None and ``reason`` says why.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from workbench_plugin._exceptions import ArtifactError
from workbench_plugin.experiment_info._confusion import load_json
from workbench_plugin.tracking import CURVE_FILE_FORMAT, CURVE_FILE_PATTERN, MAX_CURVE_POINTS, MAX_CURVE_SERIES

__all__ = ["ElbowInfo", "curve_artifacts", "curve_metrics", "elbow_info"]

_PREFIX, _SUFFIX = CURVE_FILE_FORMAT.split("{x_name}")


class ElbowInfo(NamedTuple):
    artifact: str
    x_name: str
    metric: str
    metrics: list[str]  #: every metric the file holds, in logged order
    x: np.ndarray  #: the points where ``metric`` has a value
    y: np.ndarray
    knee: float | None
    knee_y: float | None
    curve: str  #: "convex" or "concave"
    direction: str  #: "increasing" or "decreasing"
    reason: str  #: why there is no knee ("" when there is one)


def curve_artifacts(names: Iterable[str]) -> list[str]:
    """The curve artifacts among ``names``, sorted."""
    return sorted(fnmatch.filter(list(names), CURVE_FILE_PATTERN))


def _parse(raw: bytes, artifact: str) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    def fail(what: str) -> ArtifactError:
        return ArtifactError(f"artifact {artifact}: {what}")

    data = load_json(raw, artifact)
    if not isinstance(data, dict):
        raise fail(f"top level is a JSON {type(data).__name__}; it must be an object with x_name, x and y")
    x_name, x_raw, y_raw = data.get("x_name"), data.get("x"), data.get("y")
    if not isinstance(x_name, str) or not x_name or len(x_name) > 64:
        raise fail("'x_name' must be the hyperparameter's name (a string of 1-64 characters)")
    if not isinstance(x_raw, list) or not x_raw or len(x_raw) > MAX_CURVE_POINTS:
        raise fail(f"'x' must be a list of 1 to {MAX_CURVE_POINTS:,} numbers")
    if not isinstance(y_raw, dict) or not y_raw or len(y_raw) > MAX_CURVE_SERIES:
        raise fail(f"'y' must be an object of 1 to {MAX_CURVE_SERIES} metrics, each a list of numbers")

    def numbers(values: Any, what: str, missing: bool) -> np.ndarray:
        if not isinstance(values, list) or len(values) != len(x_raw):
            got = len(values) if isinstance(values, list) else type(values).__name__
            raise fail(f"{what} has {got} values but x has {len(x_raw)}; one per x")
        for v in values:
            if not ((v is None and missing) or (isinstance(v, int | float) and not isinstance(v, bool))):
                allowed = "numbers or null" if missing else "numbers"
                raise fail(f"{what} holds {str(v)[:20]!r}; it must hold {allowed}")
        out = np.array([np.nan if v is None else v for v in values], dtype=float)
        if np.isinf(out).any():
            raise fail(f"{what} holds an infinity; values must be finite")
        return out

    x = numbers(x_raw, "x", False)
    if (np.diff(x) <= 0).any():
        raise fail("x must be strictly increasing")
    return x_name, x, {str(name): numbers(v, f"y[{str(name)[:40]!r}]", True) for name, v in y_raw.items()}


def curve_metrics(raw: bytes, artifact: str) -> list[str]:
    """The metrics ``curve_*.json`` holds, in logged order."""
    return list(_parse(raw, artifact)[2])


def elbow_info(raw: bytes, metric: str | None = None, *, artifact: str = "") -> ElbowInfo:
    """The curve of ``metric`` (by default the first logged) and its elbow."""
    artifact = artifact or "curve_*.json"
    x_name, x_all, ys = _parse(raw, artifact)
    metrics = list(ys)
    if metric is None:
        metric = metrics[0]
    elif metric not in ys:
        raise ArtifactError(f"artifact {artifact}: no metric {metric!r}; it has {', '.join(metrics)}")
    keep = ~np.isnan(ys[metric])
    x, y = x_all[keep], ys[metric][keep]
    direction = "decreasing" if len(y) and y[-1] < y[0] else "increasing"
    chord = y[0] + (y[-1] - y[0]) * (x - x[0]) / (x[-1] - x[0]) if len(x) > 1 else y
    bend = float(np.mean(y - chord)) if len(y) else 0.0
    curve = "convex" if bend <= 0 else "concave"
    knee: float | None = None
    reason = ""
    span = float(np.ptp(y)) if len(y) else 0.0
    if len(x) < 3:
        reason = f"no elbow: {metric} has {len(x)} point{'s' if len(x) != 1 else ''}; Kneedle needs at least 3"
    elif span == 0:
        reason = f"no elbow: {metric} is constant"
    elif float(np.max(np.abs(y - chord))) <= 1e-9 * span:
        reason = f"no elbow: {metric} is a straight line over {x_name}"
    else:
        from kneed import KneeLocator  # deferred: only the elbow view needs it

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kneed warns when it finds no knee; we say it in `reason`
            found = KneeLocator(x, y, curve=curve, direction=direction).knee
        if found is None:
            reason = f"no elbow: {metric} bends nowhere over {x_name} (the Kneedle method found no knee)"
        else:
            knee = float(found)
    knee_y = None if knee is None else float(y[int(np.argmin(np.abs(x - knee)))])
    return ElbowInfo(artifact, x_name, metric, metrics, x, y, knee, knee_y, curve, direction, reason)
