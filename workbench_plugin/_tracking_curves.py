"""The file contract of the SDK's curve and score artifacts (standard library only, like :mod:`tracking`).

:func:`workbench_plugin.tracking.log_curve` writes ``artifacts/curve_<x_name>.json``::

    {"x_name": "k", "x": [1, 2, 3], "y": {"inertia": [9.5, 4.1, 3.0], "silhouette": [null, 0.18, 0.16]}}

``x`` strictly increasing finite numbers; each ``y`` series as long as ``x``, finite numbers or
``null`` where the metric has no value at that x (silhouette at k = 1).

:func:`workbench_plugin.tracking.log_scores` writes ``artifacts/scores.json`` for a binary
classifier::

    {"labels": ["benign", "malignant"], "pos_label": "malignant", "y_true": [0, 1, 1],
     "scores": [0.1, 0.8, 0.65], "total": 3}

``labels`` is ``[negative, positive]``; ``y_true[i]`` is 1 where sample ``i`` is positive;
``scores`` the classifier's score for the positive class; ``total`` the number of samples before
a subsample (evenly spaced in score order, which keeps the curves' shape) bounded the file.
The readers (``workbench_plugin.experiment_info``) import these names from :mod:`tracking`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "CURVE_FILE_FORMAT",
    "CURVE_FILE_PATTERN",
    "MAX_CURVE_POINTS",
    "MAX_CURVE_SERIES",
    "MAX_SCORES",
    "SCORES_FILE",
    "curve_data",
    "curve_file",
    "label_value",
    "scores_data",
]

#: ``CURVE_FILE_FORMAT.format(x_name="k")`` is the artifact :func:`log_curve` writes.
CURVE_FILE_FORMAT = "curve_{x_name}.json"
#: The :mod:`fnmatch` pattern of every curve artifact.
CURVE_FILE_PATTERN = "curve_*.json"
SCORES_FILE = "scores.json"
#: The most points one curve may have, and the most metrics (y series) one curve file may hold.
MAX_CURVE_POINTS = 100_000
MAX_CURVE_SERIES = 50
#: The default bound on the samples :func:`log_scores` keeps.
MAX_SCORES = 100_000
_X_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def _error(text: str) -> ValueError:
    return ValueError(f"hypertuner tracking: {text}")


def curve_file(x_name: str) -> str:
    """The artifact name of the curve over ``x_name`` (checked: a short plain name)."""
    if not isinstance(x_name, str) or not _X_NAME.fullmatch(x_name) or ".." in x_name:
        raise _error(
            f"log_curve: x_name {x_name!r} is not allowed; use 1-64 letters, digits, '_', '-' or '.', as in 'k'"
        )
    return CURVE_FILE_FORMAT.format(x_name=x_name)


def _numbers(values: Any, what: str, *, missing: bool) -> list[float | None]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise TypeError(f"hypertuner tracking: {what} must be a sequence of numbers, got {type(values).__name__}")
    out: list[float | None] = []
    for i, v in enumerate(values):
        if i >= MAX_CURVE_POINTS:
            raise _error(f"{what} has more than {MAX_CURVE_POINTS} values; log at most {MAX_CURVE_POINTS} points")
        if v is None and missing:
            out.append(None)
            continue
        if isinstance(v, str | bytes) or v is None:
            raise TypeError(f"hypertuner tracking: {what}[{i}] must be a number, got {v!r}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"hypertuner tracking: {what}[{i}] must be a number, got {v!r}") from None
        if math.isnan(f) and missing:
            out.append(None)
        elif not math.isfinite(f):
            allowed = "a finite number or None (no value at this x)" if missing else "a finite number"
            raise _error(f"{what}[{i}] is {f}; it must be {allowed}")
        else:
            out.append(int(f) if isinstance(v, int) and not isinstance(v, bool) else f)
    return out


def curve_data(x_name: str, x: Any, ys: Mapping[str, Any]) -> dict[str, Any]:
    """The content of ``curve_<x_name>.json`` as plain data (checked, nothing written)."""
    curve_file(x_name)
    if not ys:
        raise TypeError(
            "hypertuner tracking: log_curve() needs at least one metric, as in log_curve('k', ks, inertia=...)")
    if len(ys) > MAX_CURVE_SERIES:
        raise _error(f"log_curve got {len(ys)} metrics; at most {MAX_CURVE_SERIES} per curve")
    xs = _numbers(x, "x", missing=False)
    if not xs:
        raise _error("log_curve: x is empty; give at least one point")
    for i in range(1, len(xs)):
        if xs[i] <= xs[i - 1]:  # type: ignore[operator]
            raise _error(f"log_curve: x must be strictly increasing, but x[{i - 1}]={xs[i - 1]} and x[{i}]={xs[i]}")
    series: dict[str, list[float | None]] = {}
    for name, values in ys.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"hypertuner tracking: metric names must be non-empty strings, got {name!r}")
        series[name] = _numbers(values, name, missing=True)
        if len(series[name]) != len(xs):
            raise _error(f"log_curve: {name} has {len(series[name])} values but x has {len(xs)}; give one per x")
    return {"x_name": x_name, "x": xs, "y": series}


def label_value(value: Any, what: str) -> int | str:
    """A class label as JSON keeps it (numpy scalars unwrapped, bools and whole floats as ints);
    ``TypeError`` naming ``what`` for anything else."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # numpy scalar
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"hypertuner tracking: {what} must hold ints or strings, got {value!r}")


def scores_data(
    y_true: Any, scores: Any, *, pos_label: Any = None, max_points: int = MAX_SCORES
) -> dict[str, Any]:
    """The content of ``scores.json`` as plain data (checked, nothing written)."""
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise _error(f"log_scores: max_points must be an int >= 2, got {max_points!r}")
    if hasattr(y_true, "tolist"):
        y_true = y_true.tolist()
    if isinstance(y_true, str | bytes) or not isinstance(y_true, Iterable):
        raise TypeError(
            f"hypertuner tracking: log_scores: y_true must be a sequence of labels, got {type(y_true).__name__}")
    true = [label_value(v, "log_scores: y_true") for v in y_true]
    if hasattr(scores, "tolist"):
        scores = scores.tolist()
    if isinstance(scores, str | bytes) or not isinstance(scores, Sequence | Iterable):
        raise TypeError(
            f"hypertuner tracking: log_scores: scores must be a sequence of numbers, got {type(scores).__name__}")
    values: list[float] = []
    for i, s in enumerate(scores):
        if isinstance(s, list | tuple):
            raise _error(
                "log_scores: scores must be one number per sample (the positive class's score); "
                "for predict_proba output pass proba[:, 1]"
            )
        if isinstance(s, str | bytes) or s is None:
            raise TypeError(f"hypertuner tracking: log_scores: scores[{i}] must be a number, got {s!r}")
        f = float(s)
        if not math.isfinite(f):
            raise _error(f"log_scores: scores[{i}] is {f}; scores must be finite numbers")
        values.append(f)
    if len(values) != len(true):
        raise _error(f"log_scores: y_true has {len(true)} values but scores has {len(values)}")
    classes = sorted(set(true), key=lambda v: (isinstance(v, str), v))
    if len(classes) != 2:
        raise _error(
            f"log_scores is for binary classifiers: y_true holds {len(classes)} classes {classes[:10]}; "
            "for a multi-class model log one class against the rest (y_true == c, proba[:, c])"
            if len(classes) > 2 else
            f"log_scores needs samples of both classes, but y_true holds only {classes}"
        )
    if pos_label is None:
        if set(classes) not in ({0, 1}, {-1, 1}):
            raise _error(f"log_scores: y_true holds {classes}; pass pos_label, one of them (the positive class)")
        pos: int | str = 1
    else:
        pos = label_value(pos_label, "log_scores: pos_label")
        if pos not in classes:
            raise _error(f"log_scores: pos_label {pos_label!r} is not in y_true, which holds {classes}")
    neg = classes[0] if classes[1] == pos else classes[1]
    rows = list(range(len(values)))
    if len(rows) > max_points:  # evenly spaced in score order: the curves keep their shape
        order = sorted(rows, key=values.__getitem__)
        rows = sorted(order[round(i * (len(order) - 1) / (max_points - 1))] for i in range(max_points))
    return {"labels": [neg, pos], "pos_label": pos, "y_true": [int(true[i] == pos) for i in rows],
            "scores": [values[i] for i in rows], "total": len(values)}
