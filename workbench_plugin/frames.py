"""The frames dashboards read: one wide frame of experiments, one long frame of curves.

Computed in ``workbench_plugin`` (the store index builds them), drawn in ``panel_app``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

import numpy as np
import pandas as pd

from workbench_plugin.store import Experiment, Run

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RESERVED_COLUMNS", "CurveSource", "RunFrames", "RunSource", "Scale", "build_frames", "curve_rows",
           "curves_frame", "dictionary_codes", "empty_curves", "reduce_points"]

#: The experiment frame's own columns, before the hyperparameters and metrics.
RESERVED_COLUMNS = ("experiment_id", "label", "state")

Scale = Literal["linear", "log", "categorical"]

class RunFrames:
    """Everything a run page shows, as plain frames.

    ``experiments`` has one row per experiment of the run, in launch order, with columns
    ``experiment_id`` (str, unique), ``label`` (short str such as ``"#3"``), ``state``
    (one of :class:`~workbench_plugin.lifecycle.State`), one column per hyperparameter (named as the flag; int, float
    or str values) and one column per metric (float; NaN until logged). A metric's value is
    its ``summary`` value when the script logged one, else its last per-epoch value. A flag
    named as one of the first three columns (:data:`RESERVED_COLUMNS`) gets the column
    ``"<flag> (flag)"``, a metric named as a column before it ``"<metric> (metric)"``;
    ``hparams`` and ``metrics`` name the columns, :attr:`flags` maps a renamed column back to
    its flag.

    ``curves`` is long: ``experiment_id``, ``epoch`` (float, NaN when only steps were
    logged), ``step`` (float, NaN when only epochs), ``name``, ``value``; sorted by
    experiment and time. It is read when first asked for: a page that shows one metric's curves
    or one experiment's asks :meth:`curves_of` / :meth:`curves_for`, which read only those
    (from a compacted run, one file or a few row groups).
    """

    def __init__(self, run_id: str, experiments: pd.DataFrame, curves: pd.DataFrame | None = None,
                 hparams: tuple[str, ...] = (), metrics: tuple[str, ...] = (),
                 scales: dict[str, Scale] | None = None, version: int = 0, flags: dict[str, str] | None = None,
                 *, source: CurveSource | None = None) -> None:
        self.run_id = run_id
        self.experiments = experiments
        self.hparams = tuple(hparams)
        self.metrics = tuple(metrics)
        self.scales: dict[str, Scale] = dict(scales or {})
        self.version = version
        #: The hyperparameter columns not named as their flag (a flag named ``state``): column -> flag.
        self.flags: dict[str, str] = dict(flags or {})
        self._curves = curves
        self._source = source

    def __repr__(self) -> str:
        return (f"RunFrames({self.run_id!r}, {len(self.experiments)} experiments, hparams={self.hparams!r}, "
                f"metrics={self.metrics!r}, version={self.version})")

    def flag_of(self, column: str) -> str:
        """The flag a hyperparameter column shows (the column's own name unless renamed)."""
        return self.flags.get(column, column)

    @property
    def curves(self) -> pd.DataFrame:
        """Every curve point of the run (read, then kept, at the first call)."""
        if self._curves is None:
            self._curves = self._source.frame() if self._source is not None else empty_curves()
        return self._curves

    def curves_of(self, name: str) -> pd.DataFrame:
        """The rows of :attr:`curves` of metric ``name`` (as logged), read alone when not all are read."""
        if self._curves is not None or self._source is None:
            curves = self.curves
            return curves[curves["name"] == name] if len(curves) else curves
        return self._source.of_metric(name)

    def curves_for(self, ids: Sequence[str]) -> pd.DataFrame:
        """The rows of :attr:`curves` of experiments ``ids``, read alone when not all are read."""
        if self._curves is not None or self._source is None:
            curves = self.curves
            return curves[curves["experiment_id"].isin(list(ids))] if len(curves) else curves
        return self._source.for_experiments(ids)

    def curve_counts(self) -> dict[str, int]:
        """Curve points per experiment id (experiments without curves left out), without reading
        the points of a compacted run."""
        if self._curves is not None or self._source is None:
            curves = self.curves
            if curves.empty or "experiment_id" not in curves:
                return {}
            counts = curves["experiment_id"].value_counts(sort=False)
            return {str(k): int(v) for k, v in counts.items() if v}
        return self._source.counts()

    def known_health(self) -> dict[str, Any]:
        """Health flags a compaction stored, by experiment id, with the curve count they were
        computed for: ``{id: (count, Health, or None when it has no flag)}`` (empty when the run
        was not compacted)."""
        return self._source.health if self._source is not None else {}


class RunSource(Protocol):
    """What a run page reads. The store index implements it."""

    def frames(self) -> RunFrames:
        """The current frames (cheap: cached until :meth:`refresh` finds new files)."""
        ...

    def refresh(self) -> bool:
        """Read only new files from the store; return True when the frames changed."""
        ...


# ---- building frames from metric points (columnar, numpy) --------------------------------------
class _Points(NamedTuple):
    """Metric points as numpy arrays, strings as codes into the lists of :class:`_Labels`."""

    exp: np.ndarray  # int32
    name: np.ndarray  # int32
    epoch: np.ndarray  # int64, or float64 with NaN where not logged
    step: np.ndarray
    time: np.ndarray
    value: np.ndarray

    def take(self, rows: np.ndarray) -> _Points:
        return _Points(*(column[rows] for column in self))


class _Labels(NamedTuple):
    ids: list[str]  #: the run's experiments in launch order, then unknown ids in the order met
    names: list[str]  #: sorted (metric columns come in the order of :func:`_logging_order`)


def _dictionaries(column: pa.ChunkedArray) -> list[pa.Array]:
    """The distinct dictionaries of a dictionary column's chunks (row groups read from one file
    repeat one dictionary: its values are looked at once)."""
    out: list[pa.Array] = []
    for chunk in column.chunks:
        if not out or not chunk.dictionary.equals(out[-1]):
            out.append(chunk.dictionary)
    return out


def dictionary_codes(column: pa.ChunkedArray, lookup: dict[str, int]) -> np.ndarray:
    """Codes of a dictionary column in ``lookup``'s numbering (-1: null or not in ``lookup``)."""
    out = np.empty(len(column), np.int32)
    at = 0
    dictionary, table = None, np.empty(0, np.int32)
    for chunk in column.chunks:
        if dictionary is None or not chunk.dictionary.equals(dictionary):
            dictionary = chunk.dictionary
            table = np.array([lookup.get(v, -1) for v in dictionary.to_pylist()] + [-1], dtype=np.int32)
        indices = chunk.indices
        np.take(table, indices.fill_null(-1).to_numpy() if indices.null_count else indices.to_numpy(),
                out=out[at:at + len(chunk)])
        at += len(chunk)
    return out


def _points(experiments: Sequence[Experiment], table: pa.Table) -> tuple[_Labels, _Points, np.ndarray]:
    """The labels, every point (code -1 where its experiment or name is null) and which are summaries."""
    ids = [e.experiment_id for e in experiments]
    known = {x: i for i, x in enumerate(ids)}
    names: set[str] = set()
    for dictionary in _dictionaries(table.column("name")):
        names.update(v for v in dictionary.to_pylist() if v is not None)
    for dictionary in _dictionaries(table.column("experiment_id")):
        for v in dictionary.to_pylist():
            if v is not None and v not in known:
                known[v] = len(ids)
                ids.append(v)
    labels = _Labels(ids, sorted(names))
    summary = dictionary_codes(table.column("kind"), {"summary": 1}) == 1
    exp = dictionary_codes(table.column("experiment_id"), known)
    name = dictionary_codes(table.column("name"), {n: i for i, n in enumerate(labels.names)})
    # no copy from one chunk; int64 columns with nulls come back as float64 with NaN
    points = _Points(exp, name, *(table.column(c).to_numpy() for c in ("epoch", "step", "time", "value")))
    summary &= (exp >= 0) & (name >= 0)  # a point without an experiment or a name belongs nowhere
    return labels, points, summary


def _curve_order(labels: _Labels, pts: _Points, summary: np.ndarray) -> np.ndarray:
    """The curve points (neither summaries nor nameless) sorted by experiment then time (stable),
    keeping the last row per (experiment, name, epoch, step) in that order."""
    curve = ~summary & (pts.exp >= 0) & (pts.name >= 0)
    n_curve = int(curve.sum())
    if n_curve == 0:
        return np.empty(0, np.int64)
    key = _point_key(labels, pts)
    repeated = key is None  # unknown: look for repeats the slow way
    if key is not None:
        unique = key[curve]
        del key  # memory is time here: each of these arrays holds one number per point
        unique.sort()
        repeated = bool((unique[1:] == unique[:-1]).any())
        del unique
    # the other rows sort after every curve point: cheaper than taking the curve rows first
    order = np.lexsort((pts.time, np.where(curve, pts.exp, len(labels.ids))))[:n_curve]
    if not repeated:
        return order
    key = _point_key(labels, pts)
    if key is None:  # too many distinct values for one int64: let pandas hash them
        frame = pd.DataFrame({"e": pts.exp, "n": pts.name, "a": pts.epoch, "s": pts.step}).take(order)
        return order[~frame.duplicated(keep="last").to_numpy()]
    key = key[order]
    by_key = np.argsort(key, kind="stable")  # equal keys keep their (experiment, time) order
    key = key[by_key]
    last = np.ones(len(key), bool)
    last[:-1] = key[1:] != key[:-1]
    keep = np.zeros(len(key), bool)
    keep[by_key[last]] = True
    return order[keep]


def _point_key(labels: _Labels, pts: _Points) -> np.ndarray | None:
    """One int64 per row for (experiment, name, epoch, step), or None when it would not fit."""
    key = pts.exp.astype(np.int64)
    scale = max(len(labels.ids), 1)
    for values in (pts.name, pts.epoch, pts.step):
        lo, size = 0, len(labels.names)
        if values.dtype.kind == "f":  # epoch or step with nulls: NaN gets code 0
            present = ~np.isnan(values)
            lo = int(values[present].min()) - 1 if present.any() else 0
            size = int(values[present].max()) - lo + 1 if present.any() else 1
            values = np.where(present, values - lo, 0).astype(np.int64)
            lo = 0
        elif values is not pts.name:
            lo = int(values.min())
            size = int(values.max()) - lo + 1
        if size <= 0 or scale * size >= 2**62:
            return None
        key *= size  # in place: these run over every point
        key += values
        if lo:
            key -= lo
        scale *= size
    return key


def _final_values(labels: _Labels, curve: _Points, summaries: _Points) -> np.ndarray:
    """Per experiment and metric (shape ``(len(ids), len(names))``): the summary value, else the
    last logged value; NaN when neither exists. ``curve`` sorted by experiment then time."""
    n_names = len(labels.names)
    finals = np.full(len(labels.ids) * n_names, np.nan)
    key = curve.exp.astype(np.int64) * n_names + curve.name
    last = np.full(len(finals), -1, np.int64)
    np.maximum.at(last, key, np.arange(len(key)))
    has = last >= 0
    finals[has] = curve.value[last[has]]
    if len(summaries.exp):
        key = summaries.exp.astype(np.int64) * n_names + summaries.name
        by = np.lexsort((summaries.time, key))  # stable: the last summary by time wins
        key = key[by]
        final = np.ones(len(key), bool)
        final[:-1] = key[1:] != key[:-1]
        finals[key[final]] = summaries.value[by[final]]
    return finals.reshape(len(labels.ids), n_names)


def _logging_order(labels: _Labels, pts: _Points, summary: np.ndarray) -> list[int]:
    """Metric names (codes) in the order they were first logged: by time, then as read; names
    with only summaries after the others, names whose times are all NaN last."""
    never = np.iinfo(np.int64).max
    sort_keys: list[np.ndarray] = []
    for rows in (np.flatnonzero(~summary & (pts.name >= 0)), np.flatnonzero(summary)):
        name, time_ = pts.name[rows], pts.time[rows]
        first = np.full(len(labels.names), np.inf)
        np.fmin.at(first, name, time_)
        at = np.flatnonzero(time_ == first[name])  # the first time's rows
        position = np.full(len(labels.names), never)
        np.minimum.at(position, name[at], rows[at])
        sort_keys += [position, first]
    p_curve, t_curve, p_summary, t_summary = sort_keys
    only_summary = p_curve == never
    order = np.lexsort((np.where(only_summary, p_summary, p_curve), np.where(only_summary, t_summary, t_curve),
                        only_summary))
    return [int(i) for i in order]


def _categorical(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object), validate=False)


def build_frames(run: Run, experiments: Sequence[Experiment], states: Sequence[str], table: pa.Table, *,
                 version: int = 0, source: CurveSource | None = None) -> RunFrames:
    """The frames of a run from plain data: its experiments in launch order, their states (same
    order), and ``table``, every metric point read (columns :data:`~workbench_plugin.store.POINT_COLUMNS`,
    strings dictionary-encoded, as :meth:`~workbench_plugin.store.Store.read_metrics_part` reads
    them). Built with numpy over the columns: 100k experiments x 100 epochs in about 30 s.

    With ``source``, ``table`` may be only the rows :func:`reduce_points` keeps (the experiment
    frame comes out the same) and the curves are read from ``source`` when first asked for."""
    # a flag named "state" must neither replace the states nor make two columns of one name
    flags = {f"{h} (flag)": h for h in run.spec if h in RESERVED_COLUMNS}
    column_of = {flag: column for column, flag in flags.items()}
    hparams = tuple(column_of.get(h, h) for h in run.spec)
    columns: dict[str, Any] = {
        "experiment_id": [e.experiment_id for e in experiments],
        "label": [e.label for e in experiments],
        "state": [str(s) for s in states],
    }
    for h in hparams:
        columns[h] = [e.params.get(flags.get(h, h)) for e in experiments]
    scales: dict[str, Any] = {h: run.scales.get(flags.get(h, h), "linear") for h in hparams}
    for h in hparams:
        if any(isinstance(v, str) for v in columns[h]):
            scales[h] = "categorical"
    wide = pd.DataFrame(columns, columns=[*RESERVED_COLUMNS, *hparams])
    del columns

    labels, points, summary = _points(experiments, table)
    summaries = points.take(np.flatnonzero(summary))
    logged = _logging_order(labels, points, summary)
    order = _curve_order(labels, points, summary)
    del summary
    # the curve points in order (time only sorted them)
    points = _Points(*(np.empty(0) if f == "time" else v[order] for f, v in zip(_Points._fields, points, strict=True)))
    del order
    finals = _final_values(labels, points, summaries)[: len(experiments)]
    metrics: list[str] = []
    taken = set(wide.columns)
    metric_columns: dict[str, Any] = {}
    for j in logged:
        name = labels.names[j]
        column = name if name not in taken else f"{name} (metric)"
        taken.add(column)
        metrics.append(column)
        scales[column] = "linear"
        metric_columns[column] = finals[:, j]
    if metric_columns:  # one concat: inserting 400 columns one by one fragments the frame (and warns)
        wide = pd.concat([wide, pd.DataFrame(metric_columns, index=wide.index)], axis=1)
    del finals, metric_columns
    curves = None if source is not None else _curve_frame(labels, points)
    return RunFrames(run.run_id, wide, curves, hparams, tuple(metrics), scales, version, flags, source=source)


def _curve_frame(labels: _Labels, points: _Points) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment_id": _categorical(points.exp, labels.ids),
            "epoch": points.epoch.astype(np.float64, copy=False),
            "step": points.step.astype(np.float64, copy=False),
            "name": _categorical(points.name, labels.names),
            "value": points.value,
        },
        copy=False,  # a block per column: no consolidation copy of every point
    )


def empty_curves() -> pd.DataFrame:
    """A curves frame without points (the columns of :attr:`RunFrames.curves`)."""
    return _curve_frame(_Labels([], []), _Points(*(np.empty(0, t) for t in (np.int32, np.int32, float, float,
                                                                               float, float))))


def curves_frame(experiments: Sequence[Experiment], table: pa.Table, *, ordered: bool = False) -> pd.DataFrame:
    """:attr:`RunFrames.curves` of the points in ``table`` (as :func:`build_frames` reads them);
    with ``ordered``, ``table`` holds only curve points, in curve order, each once (a compaction's)."""
    labels, points, summary = _points(experiments, table)
    if ordered:
        return _curve_frame(labels, points)
    order = _curve_order(labels, points, summary)
    return _curve_frame(labels, points.take(order))


def curve_rows(experiments: Sequence[Experiment], table: pa.Table) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`curves_frame` of ``table`` and the rows of ``table`` it holds, in its order (by
    experiment, then time; a repeated point keeps its last row)."""
    labels, points, summary = _points(experiments, table)
    order = _curve_order(labels, points, summary)
    del summary
    return _curve_frame(labels, points.take(order)), order


def reduce_points(experiments: Sequence[Experiment], table: pa.Table) -> pa.Table:
    """The rows of ``table`` that decide the experiment frame, in their order: per metric name
    its first rows (by position, and by time then position, curve points and summaries apart),
    per experiment and name the last curve point in curve order and the last summary by time.

    :func:`build_frames` over these rows gives the same experiment frame, metric columns and
    order as over all of ``table``; and over these rows followed by newer points, the same as
    over all points followed by them. So an open page keeps a run's frame current from a few rows
    per experiment and metric, whatever the number of epochs."""
    import pyarrow as pa

    labels, pts, summary = _points(experiments, table)
    n_names = max(len(labels.names), 1)
    keep = np.zeros(len(pts.exp), bool)
    for rows in (np.flatnonzero(~summary & (pts.name >= 0)), np.flatnonzero(summary)):
        if not len(rows):
            continue
        name = pts.name[rows]
        keep[rows[np.unique(name, return_index=True)[1]]] = True  # first by position
        by_time = np.lexsort((rows, pts.time[rows], name))  # NaN times last, as fmin ignores them
        first = np.ones(len(by_time), bool)
        first[1:] = name[by_time][1:] != name[by_time][:-1]
        keep[rows[by_time[first]]] = True
    order = _curve_order(labels, pts, summary)
    if len(order):
        key = pts.exp[order].astype(np.int64) * n_names + pts.name[order]
        keep[order[::-1][np.unique(key[::-1], return_index=True)[1]]] = True  # the last of each
    rows = np.flatnonzero(summary)
    if len(rows):
        key = pts.exp[rows].astype(np.int64) * n_names + pts.name[rows]
        by = rows[np.lexsort((pts.time[rows], key))]
        key = pts.exp[by].astype(np.int64) * n_names + pts.name[by]
        last = np.ones(len(by), bool)
        last[:-1] = key[1:] != key[:-1]
        keep[by[last]] = True
    return table.take(pa.array(np.flatnonzero(keep)))


class CurveSource(Protocol):
    """Where a run's curves come from when they are read only when asked for."""

    #: Health flags stored by a compaction: experiment id -> (curve points then, Health)
    health: dict[str, Any]

    def frame(self) -> pd.DataFrame:
        """Every curve point (:attr:`RunFrames.curves`)."""
        ...

    def of_metric(self, name: str) -> pd.DataFrame: ...

    def for_experiments(self, ids: Sequence[str]) -> pd.DataFrame: ...

    def counts(self) -> dict[str, int]: ...
