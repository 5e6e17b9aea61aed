"""The run page's state, apart from its views: no panel and no bokeh imports here.

:class:`RunPageModel` holds the frames of one run in a stable row order, the selection (a list
of experiment ids), the metric the bar chart shows, and the plain arrays every view draws from
(:attr:`RunPageModel.data`, one column per plotted axis). It also turns a selection geometry
sent by a plot (a rectangle or a lasso polygon in data coordinates) or a click into experiment
ids with numpy, exactly as the browser does for the highlight layer (the hit tests of
:mod:`panel_app.linked`). What a link or a note restores is :mod:`panel_app.run_page.view_state`;
progress counts are :class:`~workbench_plugin.lifecycle.Progress`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import param

from panel_app.linked.axes import AxisInfo, SliderInfo, axis_info, in_range, slider_info, value_label
from panel_app.linked.hit_box_lasso import mask_in_geometry
from panel_app.linked.hit_tap import TAP_RADIUS, bars_at, nearest_point
from panel_app.linked.selection import Mode, combine, mask_of_rows, rows_of
from panel_app.palette import PALETTE, STATE_COLORS
from panel_app.run_page.health import HealthBook
from panel_app.run_page.view_state import CHARTS, apply_view_state, view_state
from workbench_plugin.frames import RESERVED_COLUMNS, RunFrames
from workbench_plugin.lifecycle import Progress, State
from workbench_plugin.proposals import Health

__all__ = ["POINTS_MAX", "RunPageModel"]

#: Up to this many experiments every one is a glyph (hover, per-experiment colour); above,
#: plots are density images with a highlight layer binned in the browser.
POINTS_MAX = 5000


def _metric_rank(name: str) -> int:
    """Validation and test metrics first, then others, training ones, timings last."""
    low = name.lower()
    if low.startswith(("val", "test", "eval")):
        return 0
    if any(word in low for word in ("second", "time", "duration")):
        return 3
    if low.startswith("train"):
        return 2
    return 1


def _round(values: pd.Series) -> pd.Series:
    """Four significant digits, for the table. Vectorized; exact decimal ties round to even
    (``0.12345`` -> ``0.1234``), otherwise the same double as ``float(f"{v:.4g}")``."""
    v = values.to_numpy(dtype=np.float64, na_value=np.nan)
    out = v.copy()
    ok = np.isfinite(v) & (v != 0)
    digits = 3 - np.floor(np.log10(np.abs(v[ok])))
    up = digits >= 0
    scaled = v[ok]
    res = np.empty_like(scaled)
    p = 10.0 ** np.abs(digits)
    res[up] = np.round(scaled[up] * p[up]) / p[up]
    res[~up] = np.round(scaled[~up] / p[~up]) * p[~up]
    out[ok] = res
    return pd.Series(out, index=values.index)


class RunPageModel(param.Parameterized):
    """What the run page shows and what is selected; views watch its parameters."""

    frames = param.ClassSelector(class_=RunFrames, doc="The run's frames, as last refreshed.")
    selection = param.List(default=[], item_type=str, doc="Selected experiment ids, row order.")
    bar_metric: Any = param.Selector(default=None, objects=[], allow_None=True,
                                doc="The metric the bar chart shows.")
    chart: Any = param.Selector(default="bars", objects=list(CHARTS),
                           doc="The metric chart: a bar per experiment, or per-epoch lines.")
    origin = param.Dict(default={}, doc="How the selection was made, compactly: "
                        "{'ids': [...]}, {'geometry': {...}, 'x': h, 'y': m} or "
                        "{'ranges': {name: [lo, hi]}} (slider positions); {} for none.")
    matrix_hparams = param.List(default=[], item_type=str, doc="Scatter-matrix columns.")
    matrix_metrics = param.List(default=[], item_type=str, doc="Scatter-matrix rows.")

    max_matrix_hparams = param.Integer(default=6, bounds=(1, None))
    max_matrix_metrics = param.Integer(default=4, bounds=(1, None))
    points_max = param.Integer(default=POINTS_MAX, bounds=(0, None),
                               doc="Above this many experiments the plots draw density images.")

    def __init__(self, frames: RunFrames, **params: Any) -> None:
        self.order: list[str] = []
        self.experiments = pd.DataFrame()
        self.data: dict[str, Any] = {}
        self.axes: dict[str, AxisInfo] = {}
        self.table = pd.DataFrame()
        self.sliders: dict[str, SliderInfo] = {}
        self._row: dict[str, int] = {}
        self._label_row: dict[str, int] = {}
        self._curve_cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        #: overfitting / noisy / diverged flags from the curves, updated as they grow
        self.health_book = HealthBook()
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
        if len(exps) and ids != order:
            exps = exps.set_index(exps["experiment_id"].astype(str)).loc[order].reset_index(drop=True)
        self.experiments = exps
        self.health_book.update(frames)
        self._compute(frames)
        metrics = sorted(frames.metrics, key=_metric_rank)
        with param.parameterized.batch_call_watchers(self):
            self.frames = frames
            self.param.bar_metric.objects = list(metrics)
            if self.bar_metric not in metrics:
                self.bar_metric = metrics[0] if metrics else None
            self.matrix_hparams = list(frames.hparams[: self.max_matrix_hparams])
            self.matrix_metrics = metrics[: self.max_matrix_metrics]
            self.selection = [i for i in self.selection if i in self._row]
            if self.origin.get("health"):  # flags change as curves grow: the filter follows
                with contextlib.suppress(KeyError, TypeError, ValueError):  # as restored: checked then
                    self.select_ids(self.ids_in_ranges(self.origin.get("ranges") or {},
                                                       self.origin.get("categories") or {},
                                                       str(self.origin["health"])))
        return self.structure() != before

    @property
    def run_frames(self) -> RunFrames:
        """The frames shown (never None after ``__init__``)."""
        assert self.frames is not None
        return self.frames

    @property
    def dense(self) -> bool:
        """Too many experiments for a glyph each: density images with highlight layers."""
        return len(self.order) > self.points_max

    def structure(self) -> tuple[Any, ...]:
        """What the scatter matrix is built from: its columns, rows and axis kinds."""
        return (
            bool(self.order),
            self.dense,
            tuple((h, self.axes[h].kind) for h in self.matrix_hparams if h in self.axes),
            tuple((m, self.axes[m].kind) for m in self.matrix_metrics if m in self.axes),
        )

    def _compute(self, frames: RunFrames) -> None:
        exps = self.experiments
        n = len(self.order)
        labels = [str(v) for v in exps["label"]] if "label" in exps else list(self.order)
        states = [str(v) for v in exps["state"]] if "state" in exps else [str(State.QUEUED)] * n
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
            if n <= self.points_max:  # for hover; dense plots have none
                data[f"h:{h}"] = [value_label(v) for v in col.tolist()]
        for m in frames.metrics:
            col = exps[m] if m in exps else pd.Series(np.full(n, np.nan))
            scale = "log" if frames.scales.get(m) == "log" else "linear"
            info = axis_info(m, f"m:{m}", pd.to_numeric(col, errors="coerce").astype(float),
                             self.order, scale, jitter=False)
            axes[m] = info
            data[info.column] = info.values
        for m in frames.metrics:  # position of each experiment when sorted by the metric
            vals = data[f"m:{m}"]
            rank = np.full(n, np.nan)
            ok = np.flatnonzero(np.isfinite(vals))
            rank[ok[np.argsort(vals[ok], kind="stable")]] = np.arange(len(ok), dtype=np.float64)
            data[f"r:{m}"] = rank
        self.axes = axes
        self.data = data
        self._curve_cache = {}
        sliders: dict[str, SliderInfo] = {}
        for h in frames.hparams:
            raw = exps[h] if h in exps else pd.Series([None] * n, dtype=object)
            sliders[h] = slider_info(axes[h], raw, "hparam")
        for m in frames.metrics:
            raw = exps[m] if m in exps else pd.Series(np.full(n, np.nan))
            sliders[m] = slider_info(axes[m], raw, "metric")
        self.sliders = sliders
        self._label_row = {lab: i for i, lab in enumerate(labels)}
        # the table's own columns keep their names: a flag or metric named "#" or "experiment"
        # gets a column of its own ("# (flag)")
        own = {"#", "state", "health", "experiment"}
        table = pd.DataFrame({"#": labels, "state": states, "health": self.health_book.cells(self.order)})
        for h in frames.hparams:  # raw values, so that numbers sort as numbers
            table[h if h not in own else f"{h} (flag)"] = exps[h].to_numpy() if h in exps \
                else [None] * n
        for m in frames.metrics:
            table[m if m not in own and m not in table else f"{m} (metric)"] = \
                _round(pd.Series(self.data[f"m:{m}"]))
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
        new = combine(self.selection, (i for i in ids if i in self._row), mode)
        self.selection = sorted(new, key=self._row.__getitem__)

    def select_ids_from(self, ids: Sequence[str], origin: Mapping[str, Any]) -> None:
        """Select ``ids`` and remember how (see :attr:`origin`)."""
        with param.parameterized.batch_call_watchers(self):
            self.origin = dict(origin)
            self.select_ids(ids)

    def ids_at_point(self, x: str, y: str, px: float, py: float, *, x_span: tuple[float, float],
                     y_span: tuple[float, float], frame: tuple[int, int],
                     radius: float = TAP_RADIUS) -> list[str]:
        """The experiment nearest to a click at data point (px, py), within ``radius`` pixels
        of a frame of ``frame`` pixels showing ``x_span`` x ``y_span``; none when nothing is
        that close (:func:`~panel_app.linked.hit_tap.nearest_point`, what ``TAP_JS`` picks)."""
        ax, ay = self.axes[x], self.axes[y]
        row = nearest_point(ax.values, ay.values, px, py, x_span=x_span, y_span=y_span,
                            frame=frame, x_log=ax.kind == "log", y_log=ay.kind == "log",
                            radius=radius)
        return [] if row is None else [self.order[row]]

    def ids_at_bar(self, metric: str, px: float, *, x_span: tuple[float, float] | None = None,
                   frame_w: int | None = None) -> list[str]:
        """The experiments of the bar chart's column at x ``px`` (what ``BAR_TAP_JS`` picks):
        the bar of one experiment, or in dense mode every experiment drawn in that pixel
        column of a chart ``frame_w`` pixels wide showing ``x_span`` (x is the rank)."""
        if metric not in self.axes:
            return []
        tops = self.data[self.axes[metric].column]
        if self.dense:
            rows = bars_at(tops, px, xs=self.data[f"r:{metric}"], half=0.5, x_span=x_span,
                           frame_w=frame_w)
        else:
            rows = bars_at(tops, px)
        return [self.order[r] for r in rows]

    def ids_in_ranges(self, ranges: Mapping[str, Sequence[float]],
                      categories: Mapping[str, Sequence[str]] | None = None,
                      health: str = "any") -> list[str]:
        """The experiments inside every slider range given (positions on the sliders), with
        one of the picked ``categories`` of each category picker given (labels) and passing
        the ``health`` filter (:data:`~panel_app.run_page.health.HEALTH_FILTERS`)."""
        mask = self.health_book.mask(self.order, health)
        for name, (lo, hi) in ranges.items():
            info = self.sliders.get(name)
            if info is None:
                continue
            mask &= in_range(info.values, float(lo), float(hi))
        for name, picked in (categories or {}).items():
            info = self.sliders.get(name)
            if info is None:
                continue
            wanted = [i for i, label in enumerate(info.labels) if label in set(map(str, picked))]
            mask &= np.isin(info.values, np.asarray(wanted, dtype=np.float64))
        return [self.order[i] for i in np.flatnonzero(mask)]

    def selection_categories(self) -> dict[str, list[str]]:
        """Per category picker, the categories of the selected experiments (all of them with
        no selection), in the picker's order."""
        rows = np.asarray(self.selected_rows(), dtype=np.int64)
        out: dict[str, list[str]] = {}
        for name, info in self.sliders.items():
            if not info.picker:
                continue
            if not len(rows):
                out[name] = list(info.labels)
                continue
            shown = {int(v) for v in info.values[rows] if np.isfinite(v)}
            out[name] = [label for i, label in enumerate(info.labels) if i in shown]
        return out

    def value_span(self, name: str, lo: float, hi: float) -> tuple[float, float]:
        """The smallest and largest value of ``name`` among the rows inside slider positions
        ``lo..hi`` (the positions themselves, as values, when no row is inside)."""
        info = self.sliders[name]
        column = self.experiments[name] if name in self.experiments else pd.Series(dtype=float)
        raw = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        inside = raw[in_range(info.values, lo, hi) & np.isfinite(raw)]
        if len(inside):
            return float(inside.min()), float(inside.max())
        return float(info.to_value(lo)), float(info.to_value(hi))

    def selection_ranges(self) -> dict[str, tuple[float, float]]:
        """Per slider, the span of the selected experiments (full span with no selection)."""
        out: dict[str, tuple[float, float]] = {}
        rows = np.asarray(self.selected_rows(), dtype=np.int64)
        for name, info in self.sliders.items():
            vals = info.values[rows] if len(rows) else np.empty(0)
            vals = vals[np.isfinite(vals)]
            if len(vals):
                out[name] = (float(vals.min()), float(vals.max()))
            else:
                out[name] = (info.start, info.end)
        return out

    def selection_mask(self) -> np.ndarray:
        """One byte per row: 1 where selected (what the browser's highlight layers draw)."""
        return self.mask_of(self.selection)

    def mask_of(self, ids: Sequence[str]) -> np.ndarray:
        """One byte per row: 1 for the experiments ``ids``."""
        return mask_of_rows([self._row[i] for i in ids], len(self.order))

    # ---- curves ----------------------------------------------------------------------------
    def curve_name(self, metric: str) -> str:
        """The name a metric column was logged under (``"x (metric)"`` clashes with an hparam)."""
        suffix = " (metric)"
        base = metric[: -len(suffix)]
        frames = self.run_frames
        if metric.endswith(suffix) and (base in frames.hparams or base in RESERVED_COLUMNS):
            return base
        return metric

    def curve_arrays(self, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every per-epoch point of ``metric``: row index, epoch (or step), value (cached)."""
        if metric in self._curve_cache:
            return self._curve_cache[metric]
        empty = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
        c = self.run_frames.curves_of(self.curve_name(metric))
        if c.empty:
            return empty
        x = c["epoch"].to_numpy(dtype=np.float64)
        x = np.where(np.isfinite(x), x, c["step"].to_numpy(dtype=np.float64))
        rows = self._rows_of(c["experiment_id"])
        ok = rows >= 0
        out = (rows[ok], x[ok], c["value"].to_numpy(dtype=np.float64)[ok])
        self._curve_cache[metric] = out
        return out

    def _rows_of(self, ids: pd.Series) -> np.ndarray:
        """Row positions of experiment ids (-1 where unknown); per category when categorical."""
        if isinstance(ids.dtype, pd.CategoricalDtype):
            cats = ids.cat.categories
            cat_rows = np.fromiter((self._row.get(str(c), -1) for c in cats), dtype=np.int64,
                                   count=len(cats))
            codes = ids.cat.codes.to_numpy()
            return np.where(codes >= 0, cat_rows[codes], -1)
        return np.fromiter((self._row.get(str(i), -1) for i in ids), dtype=np.int64,
                           count=len(ids))

    def lines_data(self, metric: str | None) -> dict[str, Any]:
        """Per experiment (row order) the per-epoch values of ``metric``: ``xs``/``ys`` lists
        (empty for experiments without any), with the colour and label of the row."""
        if self.dense:  # drawn as an image from curve_arrays; no row per experiment
            return {k: [] for k in ("xs", "ys", "experiment_id", "label", "color", "state")}
        n = len(self.order)
        xs: list[np.ndarray] = [np.empty(0)] * n
        ys: list[np.ndarray] = [np.empty(0)] * n
        if metric is not None and n and not self.dense:
            rows, x, y = self.curve_arrays(metric)
            if len(rows):
                order = np.lexsort((x, rows))
                rows, x, y = rows[order], x[order], y[order]
                starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
                ends = np.r_[starts[1:], len(rows)]
                for a, b in zip(starts, ends, strict=True):
                    xs[rows[a]] = x[a:b]
                    ys[rows[a]] = y[a:b]
        return {
            "xs": xs, "ys": ys,
            "experiment_id": list(self.order),
            "label": list(self.data.get("label", [])),
            "color": list(self.data.get("color", [])),
            "state": list(self.data.get("state", [])),
        }

    # ---- view state (panel_app.run_page.view_state) --------------------------------------
    def view_state(self) -> dict[str, Any]:
        """Selection (as made), metric and chart: what a note or a link restores."""
        return view_state(self)

    def apply_view_state(self, view: Mapping[str, Any]) -> list[str]:
        """Restore a view from :meth:`view_state`; returns what could not be restored."""
        return apply_view_state(self, view)

    def ids_of_labels(self, labels: Iterable[str]) -> list[str]:
        """The experiments shown with ``labels`` (the table's ``#``), unknown ones left out."""
        return [self.order[self._label_row[lab]] for lab in labels if lab in self._label_row]

    def labels_of(self, ids: Iterable[str]) -> list[str]:
        """The labels of the experiments ``ids`` (in the order given), unknown ones left out."""
        labels = self.data.get("label", [])
        return [labels[self._row[i]] for i in ids if i in self._row]

    def select_rows(self, rows: Sequence[int]) -> None:
        """Select by row positions (as the table reports them)."""
        self.select_ids([self.order[r] for r in rows if 0 <= r < len(self.order)])

    def selected_rows(self) -> list[int]:
        return [self._row[i] for i in self.selection]

    def clear_selection(self) -> None:
        with param.parameterized.batch_call_watchers(self):
            self.origin = {}
            self.selection = []

    def highlight_data(self) -> dict[str, Any]:
        """The selected rows of :attr:`data`: what the highlight layer draws."""
        return rows_of(self.data, np.asarray(self.selected_rows(), dtype=np.int64))

    # ---- summaries -------------------------------------------------------------------------
    @property
    def health(self) -> dict[str, Health]:
        """The flags of every experiment with curves, by id (healthy ones have none)."""
        return self.health_book.health

    def progress(self) -> Progress:
        """The run's progress in the groups every view shows."""
        return Progress.of(self.data.get("state", []))

    def counts(self) -> dict[str, int]:
        """:meth:`progress` as a dict: ``total`` and each group."""
        progress = self.progress()
        return {"total": progress.total, **progress.groups()}
