"""How a hyperparameter or metric is plotted and slid: axes, sliders, jitter (numpy only).

:func:`axis_info` places one column on a plot axis (categorical positions, log or linear values,
with a deterministic jitter per experiment for columns with few values); :func:`slider_info`
turns a plotted axis into a range slider. Both return plain arrays in a NamedTuple: views draw
them, tests call them directly.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "DISCRETE_MAX",
    "NUMBER_JS",
    "AxisInfo",
    "AxisKind",
    "SliderInfo",
    "axis_info",
    "in_range",
    "number_label",
    "slider_info",
    "to_space",
    "value_label",
]

#: A numeric hyperparameter with at most this many distinct values is drawn on a
#: categorical axis when it is integer-valued, and jittered otherwise.
DISCRETE_MAX = 12
#: Half-width of the jitter, as a fraction of the distance between neighbouring values.
JITTER = 0.25
#: The largest neighbour distance (in decades) that log-axis jitter scales with.
LOG_JITTER_MAX_STEP = 0.5
#: Fraction of the data span added on each side of a numeric axis.
RANGE_PADDING = 0.08
AxisKind = Literal["linear", "log", "categorical"]


class AxisInfo(NamedTuple):
    """How one hyperparameter or metric is plotted.

    ``values`` are the plotted coordinates, one per row (NaN where nothing is drawn): jittered
    positions ``0..k-1`` on a categorical axis, jittered values on a numeric axis with few
    distinct values, the values themselves otherwise. ``ticks``/``tick_labels`` name the
    categories; ``start``/``end`` is the axis range in data units (padded; in log10 space on a
    log axis, then converted back).
    """

    name: str
    kind: AxisKind
    column: str
    values: np.ndarray
    ticks: tuple[float, ...] = ()
    tick_labels: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None


class SliderInfo(NamedTuple):
    """A range slider over one hyperparameter or metric.

    ``values`` are the rows' positions on the slider (NaN where none): the value itself, its
    log10 on a log-scaled hyperparameter, or the category index. ``labels`` name the
    categories (empty otherwise).
    """

    name: str
    role: Literal["hparam", "metric"]
    space: AxisKind
    values: np.ndarray
    start: float
    end: float
    step: float
    labels: tuple[str, ...] = ()
    #: Categories that are not numbers (strings, booleans, a mix): picked, not slid.
    picker: bool = False

    def to_value(self, position: float) -> Any:
        """A slider position as the hyperparameter's or metric's own value."""
        if self.space == "log":
            return float(10.0 ** position)
        if self.space == "categorical":
            i = int(round(position))
            return self.labels[i] if 0 <= i < len(self.labels) else None
        return float(position)

    def describe(self, lo: float, hi: float) -> str:
        label = value_label if self.space == "categorical" else number_label
        a, b = label(self.to_value(lo)), label(self.to_value(hi))
        return a if a == b else f"{a}..{b}"

    def title_values(self, lo: float, hi: float) -> str:
        """What the slider's title shows of positions ``lo..hi`` (the browser formats them
        with :data:`NUMBER_JS`, the twin of :func:`number_label`)."""
        a, b = (number_label(self.to_value(p)) for p in (lo, hi))
        return f"{a} .. {b}"


def slider_info(axis: AxisInfo, raw: pd.Series, role: Literal["hparam", "metric"]) -> SliderInfo:
    """The slider of a plotted column: categories by index, log axes in decades."""
    if axis.kind == "categorical":
        pos = np.round(axis.values)  # undo the jitter
        k = len(axis.tick_labels)
        return SliderInfo(axis.name, role, "categorical", pos, 0.0, float(max(k - 1, 1)), 1.0,
                          axis.tick_labels, picker=_numeric(raw) is None)
    nums = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if axis.kind == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            nums = np.where(nums > 0, np.log10(np.where(nums > 0, nums, 1.0)), np.nan)
    finite = nums[np.isfinite(nums)]
    if not len(finite):
        return SliderInfo(axis.name, role, axis.kind, nums, 0.0, 1.0, 0.01)
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        pad = max(abs(lo) * 0.05, 1e-6)
        return SliderInfo(axis.name, role, axis.kind, nums, lo - pad, hi + pad, pad / 50)
    uniques = np.unique(finite)
    step = (hi - lo) / 200
    if len(uniques) <= DISCRETE_MAX:
        step = min(step, _min_step(uniques) / 4)
    return SliderInfo(axis.name, role, axis.kind, nums, lo, hi, step)


def in_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Rows inside ``lo..hi`` (ends included, with a hair of slack for float rounding)."""
    slack = 1e-9 * max(1.0, abs(lo), abs(hi))
    with np.errstate(invalid="ignore"):
        return (values >= lo - slack) & (values <= hi + slack)


def _jitter(ids: Sequence[str]) -> np.ndarray:
    """A deterministic number in [-1, 1) per experiment id (stable across refreshes)."""
    codes = np.fromiter((zlib.crc32(i.encode()) for i in ids), dtype=np.float64, count=len(ids))
    return codes / 2.0**31 - 1.0


def _numeric(values: pd.Series) -> np.ndarray | None:
    """The values as float64, or None when any present value is not a number."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            return None
        out[i] = float(v)
    return out


def value_label(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def number_label(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, as Python writes the rounded float
    (``0.001``, ``1e-05``, ``250``, ``0.015``), never rounded to ``0``; other values as
    :func:`value_label`. :data:`NUMBER_JS` is its browser twin."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return value_label(v)
    x = float(v)
    if not math.isfinite(x):
        return value_label(None) if math.isnan(x) else ("∞" if x > 0 else "-∞")
    return value_label(float(f"{x:.{digits}g}"))


#: The body of a JS function of ``tick`` (a number): :func:`number_label` with 3 digits. A
#: log slider (positions in decades) passes ``10 ** position``.
NUMBER_JS = """
const fmt = (x) => {
  if (!Number.isFinite(x)) { return Number.isNaN(x) ? "\u2014" : (x > 0 ? "\u221e" : "-\u221e"); }
  const v = Number(x.toPrecision(3));
  const a = Math.abs(v);
  if (v !== 0 && (a < 1e-4 || a >= 1e16)) {
    const [m, e] = v.toExponential().split("e");
    const n = Number(e);
    return `${m}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
  }
  return String(v);
};
"""


def _min_step(uniques: np.ndarray) -> float:
    if len(uniques) < 2:
        return 1.0
    return float(np.min(np.diff(np.sort(uniques))))


def axis_info(name: str, column: str, values: pd.Series, ids: Sequence[str],
              scale: str = "linear", *, jitter: bool = True) -> AxisInfo:
    """How to plot one column: categorical positions, log or linear values, with jitter."""
    nums = _numeric(values)
    jit = _jitter(ids) * JITTER if jitter else np.zeros(len(ids))
    finite = nums[np.isfinite(nums)] if nums is not None else np.empty(0)
    uniques = np.unique(finite)
    integral = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
    few = len(uniques) <= DISCRETE_MAX
    categorical = (
        nums is None
        or scale == "categorical"
        or (jitter and scale != "log" and integral and few)
    )
    if categorical:
        if nums is not None:
            keys: list[Any] = [None if not np.isfinite(v) else float(v) for v in nums]
            cats: list[Any] = sorted({k for k in keys if k is not None})
            if any(k is None for k in keys):
                cats.append(None)
        else:
            keys = [value_label(v) for v in values.tolist()]
            cats = sorted(set(keys))
        pos = {c: float(i) for i, c in enumerate(cats)}
        x = np.array([pos[k] for k in keys], dtype=np.float64) + jit
        return AxisInfo(name, "categorical", column, x,
                        tuple(float(i) for i in range(len(cats))),
                        tuple(value_label(c) for c in cats), -0.5, max(len(cats), 1) - 0.5)
    assert nums is not None
    if scale == "log":
        logs = np.full(len(nums), np.nan)
        positive = nums > 0
        logs[positive] = np.log10(nums[positive])
        if few and jitter:
            # at most +-1/8 decade: values decades apart must not look like their neighbours
            logs = logs + jit * min(_min_step(np.unique(logs[positive])), LOG_JITTER_MAX_STEP)
        lo, hi = _padded(logs, default=(-3.0, 0.0))
        return AxisInfo(name, "log", column, np.power(10.0, logs), start=10.0**lo, end=10.0**hi)
    x = nums.copy()
    if few and jitter and len(uniques):
        step = _min_step(uniques) if len(uniques) > 1 else max(abs(float(uniques[0])) / 10, 1e-9)
        x = x + jit * step
    lo, hi = _padded(x, default=(0.0, 1.0))
    return AxisInfo(name, "linear", column, x, start=lo, end=hi)


def _padded(values: np.ndarray, *, default: tuple[float, float],
            padding: float = RANGE_PADDING) -> tuple[float, float]:
    """The finite values' span, widened by ``padding`` of it on each side."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return default
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo
    if span <= 0:
        span = max(abs(lo) * 0.2, 1e-9)
        return lo - span, hi + span
    return lo - span * padding, hi + span * padding


def to_space(v: np.ndarray, log: bool) -> np.ndarray:
    """Values in the space the screen shows them in: log10 on a log axis (NaN where not
    positive), themselves otherwise."""
    if not log:
        return v
    out = np.full(v.shape, np.nan)
    pos = v > 0
    out[pos] = np.log10(v[pos])
    return out
