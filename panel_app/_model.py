"""The run page's state, apart from its views: no panel and no bokeh imports here.

:class:`RunPageModel` holds the frames of one run in a stable row order, the selection (a list
of experiment ids), the metric the bar chart shows, and the plain arrays every view draws from
(:attr:`RunPageModel.data`, one column per plotted axis). It also turns a selection geometry
sent by a plot (a rectangle or a lasso polygon in data coordinates) into experiment ids with
numpy, exactly as the browser does for the highlight layer (see ``_linked.py``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import param

from workbench_plugin.frames import STATE_COLORS, TERMINAL_STATES, RunFrames

__all__ = [
    "PALETTE",
    "AxisInfo",
    "RunPageModel",
    "axis_info",
    "mask_in_geometry",
    "points_in_polygon",
]

#: One colour per experiment, cycling: Category10 first, then its lighter Category20 partners.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)
#: A numeric hyperparameter with at most this many distinct values is drawn on a
#: categorical axis when it is integer-valued, and jittered otherwise.
DISCRETE_MAX = 12
#: Half-width of the jitter, as a fraction of the distance between neighbouring values.
JITTER = 0.25
#: The largest neighbour distance (in decades) that log-axis jitter scales with.
LOG_JITTER_MAX_STEP = 0.5
#: Fraction of the data span added on each side of a numeric axis.
RANGE_PADDING = 0.08
#: The selection modes a geometry can be combined with.
Mode = Literal["replace", "append", "intersect", "subtract"]

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


def _jitter(ids: Sequence[str]) -> np.ndarray:
    """A deterministic number in [-1, 1) per experiment id (stable across refreshes)."""
    codes = np.fromiter((zlib.crc32(i.encode()) for i in ids), dtype=np.float64, count=len(ids))
    return codes / 2.0**31 - 1.0


def _numeric(values: pd.Series) -> np.ndarray | None:
    """The values as float64, or None when any present value is not a number."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            return None
        out[i] = float(v)
    return out


def _label(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


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
            keys = [_label(v) for v in values.tolist()]
            cats = sorted(set(keys))
        pos = {c: float(i) for i, c in enumerate(cats)}
        x = np.array([pos[k] for k in keys], dtype=np.float64) + jit
        return AxisInfo(name, "categorical", column, x,
                        tuple(float(i) for i in range(len(cats))),
                        tuple(_label(c) for c in cats), -0.5, max(len(cats), 1) - 0.5)
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


def points_in_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd ray casting: which points (x, y) lie inside the polygon (px, py)."""
    inside = np.zeros(len(x), dtype=bool)
    n = len(px)
    if n < 3:
        return inside
    j = n - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(n):
            xi, yi, xj, yj = px[i], py[i], px[j], py[j]
            crosses = (yi > y) != (yj > y)
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
            inside ^= crosses & (x < x_at)
            j = i
    return inside


def _to_space(v: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return v
    out = np.full(v.shape, np.nan)
    pos = v > 0
    out[pos] = np.log10(v[pos])
    return out


def mask_in_geometry(geometry: Mapping[str, Any], x: np.ndarray, y: np.ndarray,
                     *, x_log: bool = False, y_log: bool = False) -> np.ndarray:
    """Rows whose plotted (x, y) fall in a Bokeh ``SelectionGeometry`` (data coordinates).

    A ``rect`` has ``x0, x1, y0, y1`` (either order; bounds included); a ``poly`` has ``x`` and
    ``y`` vertex lists, tested in log10 space on log axes as the screen shows them. NaN never
    matches. Other geometry types select nothing.
    """
    kind = geometry.get("type")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if kind == "rect":
            x0, x1 = sorted((float(geometry["x0"]), float(geometry["x1"])))
            y0, y1 = sorted((float(geometry["y0"]), float(geometry["y1"])))
            return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        if kind == "poly":
            px = _to_space(np.asarray(geometry["x"], dtype=np.float64), x_log)
            py = _to_space(np.asarray(geometry["y"], dtype=np.float64), y_log)
            ok = np.isfinite(px) & np.isfinite(py)
            return points_in_polygon(_to_space(x, x_log), _to_space(y, y_log), px[ok], py[ok])
    return np.zeros(len(x), dtype=bool)


def _round(values: pd.Series) -> pd.Series:
    """Four significant digits, for the table."""
    def one(v: float) -> float:
        return float(f"{v:.4g}") if np.isfinite(v) else v
    return values.astype(float).map(one)


class RunPageModel(param.Parameterized):
    """What the run page shows and what is selected; views watch its parameters."""

    frames = param.ClassSelector(class_=RunFrames, doc="The run's frames, as last refreshed.")
    selection = param.List(default=[], item_type=str, doc="Selected experiment ids, row order.")
    bar_metric: Any = param.Selector(default=None, objects=[], allow_None=True,
                                doc="The metric the bar chart shows.")
    matrix_hparams = param.List(default=[], item_type=str, doc="Scatter-matrix columns.")
    matrix_metrics = param.List(default=[], item_type=str, doc="Scatter-matrix rows.")

    max_matrix_hparams = param.Integer(default=6, bounds=(1, None))
    max_matrix_metrics = param.Integer(default=4, bounds=(1, None))

    def __init__(self, frames: RunFrames, **params: Any) -> None:
        self.order: list[str] = []
        self.experiments = pd.DataFrame()
        self.data: dict[str, Any] = {}
        self.axes: dict[str, AxisInfo] = {}
        self.table = pd.DataFrame()
        self._row: dict[str, int] = {}
        super().__init__(frames=frames, **params)
        self.update(frames)

    # ---- frames ----------------------------------------------------------------------------
    def update(self, frames: RunFrames) -> bool:
        """Take new frames: known experiments keep their rows, new ones are appended.

        Returns True when the scatter matrix must be rebuilt (its hyperparameters or metrics,
        or the kind of one of its axes, changed, or the first experiments arrived).
        """
        before = self.structure()
        exps = frames.experiments
        ids = [str(i) for i in exps["experiment_id"]] if "experiment_id" in exps else []
        known = set(ids)
        order = [i for i in self.order if i in known]
        seen = set(order)
        order += [i for i in ids if i not in seen]
        self.order = order
        self._row = {eid: n for n, eid in enumerate(order)}
        if len(exps):
            exps = exps.set_index(exps["experiment_id"].astype(str)).loc[order].reset_index(drop=True)
        self.experiments = exps
        self._compute(frames)
        metrics = list(frames.metrics)
        with param.parameterized.batch_call_watchers(self):
            self.frames = frames
            self.param.bar_metric.objects = list(metrics)
            if self.bar_metric not in metrics:
                self.bar_metric = metrics[0] if metrics else None
            self.matrix_hparams = list(frames.hparams[: self.max_matrix_hparams])
            self.matrix_metrics = metrics[: self.max_matrix_metrics]
            self.selection = [i for i in self.selection if i in self._row]
        return self.structure() != before

    @property
    def run_frames(self) -> RunFrames:
        """The frames shown (never None after ``__init__``)."""
        assert self.frames is not None
        return self.frames

    def structure(self) -> tuple[Any, ...]:
        """What the scatter matrix is built from: its columns, rows and axis kinds."""
        return (
            bool(self.order),
            tuple((h, self.axes[h].kind) for h in self.matrix_hparams if h in self.axes),
            tuple((m, self.axes[m].kind) for m in self.matrix_metrics if m in self.axes),
        )

    def _compute(self, frames: RunFrames) -> None:
        exps = self.experiments
        n = len(self.order)
        labels = [str(v) for v in exps["label"]] if "label" in exps else list(self.order)
        states = [str(v) for v in exps["state"]] if "state" in exps else ["queued"] * n
        if len(set(labels)) != n:  # bar x factors must be unique
            labels = [f"{lab} ({eid})" for lab, eid in zip(labels, self.order, strict=True)]
        data: dict[str, Any] = {
            "experiment_id": list(self.order),
            "label": labels,
            "state": states,
            "color": [PALETTE[i % len(PALETTE)] for i in range(n)],
            "state_color": [STATE_COLORS.get(s, "#9e9e9e") for s in states],
        }
        axes: dict[str, AxisInfo] = {}
        for h in frames.hparams:
            col = exps[h] if h in exps else pd.Series([None] * n, dtype=object)
            info = axis_info(h, f"x:{h}", col, self.order, frames.scales.get(h, "linear"))
            axes[h] = info
            data[info.column] = info.values
            data[f"h:{h}"] = [_label(v) for v in col.tolist()]
        for m in frames.metrics:
            col = exps[m] if m in exps else pd.Series(np.full(n, np.nan))
            scale = "log" if frames.scales.get(m) == "log" else "linear"
            info = axis_info(m, f"m:{m}", pd.to_numeric(col, errors="coerce").astype(float),
                             self.order, scale, jitter=False)
            axes[m] = info
            data[info.column] = info.values
        self.axes = axes
        self.data = data
        table = pd.DataFrame({"#": labels, "state": states})
        for h in frames.hparams:  # raw values, so that numbers sort as numbers
            table[h] = exps[h].to_numpy() if h in exps else [None] * n
        for m in frames.metrics:
            table[m] = _round(pd.Series(self.data[f"m:{m}"]))
        table["experiment"] = list(self.order)
        self.table = table

    # ---- selection -------------------------------------------------------------------------
    def ids_in_geometry(self, geometry: Mapping[str, Any], x: str, y: str) -> list[str]:
        """The experiments inside a plot's selection geometry, in row order.

        ``x``/``y`` name the plot's hyperparameter and metric (keys of :attr:`axes`).
        """
        for name in (x, y):
            if name not in self.axes:
                known = ", ".join(self.axes) or "none"
                raise KeyError(f"axis {name!r}: not a hyperparameter or metric of this run "
                               f"(known: {known})")
        ax, ay = self.axes[x], self.axes[y]
        mask = mask_in_geometry(geometry, ax.values, ay.values,
                                x_log=ax.kind == "log", y_log=ay.kind == "log")
        return [self.order[i] for i in np.flatnonzero(mask)]

    def select_geometry(self, geometry: Mapping[str, Any], x: str, y: str,
                        mode: Mode = "replace") -> list[str]:
        """Select the experiments inside ``geometry``, combined with the current selection."""
        hits = self.ids_in_geometry(geometry, x, y)
        self.select_ids(hits, mode)
        return self.selection

    def select_ids(self, ids: Sequence[str], mode: Mode = "replace") -> None:
        new = {i for i in ids if i in self._row}
        old = set(self.selection)
        if mode == "append":
            new |= old
        elif mode == "intersect":
            new &= old
        elif mode == "subtract":
            new = old - new
        elif mode != "replace":
            raise ValueError(f"selection mode {mode!r}: use 'replace', 'append', 'intersect' "
                             "or 'subtract'")
        self.selection = sorted(new, key=self._row.__getitem__)

    def select_rows(self, rows: Sequence[int]) -> None:
        """Select by row positions (as the table reports them)."""
        self.select_ids([self.order[r] for r in rows if 0 <= r < len(self.order)])

    def selected_rows(self) -> list[int]:
        return [self._row[i] for i in self.selection]

    def clear_selection(self) -> None:
        self.selection = []

    def highlight_data(self) -> dict[str, Any]:
        """The selected rows of :attr:`data`: what the highlight layer draws."""
        rows = np.asarray(self.selected_rows(), dtype=np.int64)
        out: dict[str, Any] = {}
        for key, col in self.data.items():
            if isinstance(col, np.ndarray):
                out[key] = col[rows]
            else:
                out[key] = [col[r] for r in rows]
        return out

    # ---- summaries -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Progress: done (succeeded), running (submitted or running), queued, failed."""
        states = self.data.get("state", [])
        out = {"total": len(states), "done": 0, "running": 0, "queued": 0, "failed": 0}
        for s in states:
            if s == "succeeded":
                out["done"] += 1
            elif s in ("submitted", "running"):
                out["running"] += 1
            elif s in TERMINAL_STATES:
                out["failed"] += 1
            else:
                out["queued"] += 1
        return out
