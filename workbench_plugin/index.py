"""An in-memory index of one project's runs, refreshed incrementally from the store.

:meth:`ProjectIndex.refresh` lists folders and reads only files it has not read before; a run
whose experiments have all ended is "settled" and no longer listed. :class:`RunView` adapts one
run to the :class:`~workbench_plugin.frames.RunSource` that dashboards read.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from workbench_plugin._exceptions import ExperimentNotFound, RunNotFound
from workbench_plugin.frames import RunFrames
from workbench_plugin.lifecycle import ExperimentState, Progress, State, count_states, fold_states, needs_usage
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.store import Experiment, Run, Store, run_id_of

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ProjectIndex", "RunEntry", "RunView"]

class RunEntry:
    """What the index knows of one run."""

    def __init__(self, run: Run, experiments: list[Experiment]) -> None:
        self.run = run
        self.experiments = experiments
        self.by_id = {e.experiment_id: e for e in experiments}
        self.events: dict[str, list[dict[str, Any]]] = {e.experiment_id: [] for e in experiments}
        self.claims: dict[str, dict[str, Any]] = {}
        self.states: dict[str, ExperimentState] = {e.experiment_id: ExperimentState() for e in experiments}
        self.seen: dict[str, set[str]] = {"states": set(), "claims": set(), "metrics": set()}
        #: metric parts as read (columns :data:`_POINT_COLUMNS`, strings dictionary-encoded)
        self.metric_parts: list[pa.Table] = []
        self.settled = False
        self.version = 0
        self._frames: RunFrames | None = None

    def counts(self) -> dict[State, int]:
        return count_states(s.state for s in self.states.values())

    def progress(self) -> Progress:
        return Progress.of(s.state for s in self.states.values())

    @property
    def done(self) -> bool:
        return all(s.terminal for s in self.states.values())

    def awaiting_usage(self) -> list[str]:
        now = time.time()
        return [exp_id for exp_id, s in self.states.items() if needs_usage(s, now)]


class ProjectIndex:
    """Incrementally refreshed view of a project in a store. Thread-safe refresh."""

    def __init__(self, store: Store, project: str) -> None:
        self.store = store
        self.project = project
        self.runs: dict[str, RunEntry] = {}
        self._lock = threading.RLock()

    def refresh(self) -> bool:
        """Read new files; return True when anything changed."""
        with self._lock:
            changed = False
            for run_id in self.store.runs(self.project):
                if run_id not in self.runs:
                    run = self.store.read_run(self.project, run_id)
                    exps = self.store.read_experiments(self.project, run_id)
                    self.runs[run_id] = RunEntry(run, exps)
                    changed = True
            for entry in self.runs.values():
                if not entry.settled and self._refresh_run(entry):
                    entry.version += 1
                    entry._frames = None
                    changed = True
            return changed

    def _new(self, entry: RunEntry, folder: str) -> list[str]:
        base = f"{self.store.run_dir(self.project, entry.run.run_id)}/{folder}"
        names = [n for n in self.store.fs.listdir(base) if n not in entry.seen[folder]]
        entry.seen[folder].update(names)
        return [f"{base}/{n}" for n in names]

    def _refresh_run(self, entry: RunEntry) -> bool:
        was_done = entry.done
        touched = self._read_states(entry)
        parts = self._read_metrics(entry)
        # Settle one refresh after everything ended, so parts written before the end are read.
        if was_done and entry.done and not touched and not parts and not entry.awaiting_usage():
            entry.settled = True
        return bool(touched or parts)

    def _read_states(self, entry: RunEntry) -> set[str]:
        """Read new claims and state events; refold each touched experiment once."""
        fs = self.store.fs
        touched: set[str] = set()
        for path in self._new(entry, "claims"):
            claim = json.loads(fs.read_bytes(path))
            entry.claims[claim["experiment_id"]] = claim
            touched.add(claim["experiment_id"])
        events = entry.events
        for path in self._new(entry, "states"):
            event = json.loads(fs.read_bytes(path))
            exp_events = events.get(event.get("experiment_id"))
            if exp_events is not None:
                exp_events.append(event)
                touched.add(event["experiment_id"])
        claims = entry.claims
        for exp_id in touched:
            entry.states[exp_id] = fold_states(events[exp_id], claims.get(exp_id))
        return touched

    def _read_metrics(self, entry: RunEntry) -> int:
        """Read new metric parts (only the columns frames need); return how many."""
        parts = self._new(entry, "metrics")
        if parts:
            import pyarrow.parquet as pq

            fs = self.store.fs
            for path in sorted(parts):  # by experiment and sequence: a stable order for ties
                local = fs.local_path(path)
                table = pq.read_table(local if local else io.BytesIO(fs.read_bytes(path)),
                                      columns=list(_POINT_COLUMNS), read_dictionary=_DICT_COLUMNS)
                entry.metric_parts.append(table.cast(_point_schema()))
        return len(parts)

    # ---- lookups -----------------------------------------------------------------------
    def entry(self, run_id: str) -> RunEntry:
        if run_id not in self.runs:
            self.refresh()
        try:
            return self.runs[run_id]
        except KeyError:
            known = ", ".join(self.runs) or "none yet"
            raise RunNotFound(f"run {run_id!r}: not in project {self.project!r} (runs: {known})") from None

    def latest_run(self) -> str | None:
        return max(self.runs) if self.runs else None

    def experiment(self, experiment_id: str) -> tuple[RunEntry, Experiment, ExperimentState]:
        entry = self.entry(run_id_of(experiment_id))
        if experiment_id not in entry.by_id:
            raise ExperimentNotFound(
                f"experiment {experiment_id!r}: run {entry.run.run_id} has "
                f"{len(entry.experiments)} experiments ({entry.experiments[0].experiment_id} ..)"
            )
        return entry, entry.by_id[experiment_id], entry.states[experiment_id]

    def iter_experiments(self) -> Iterator[tuple[RunEntry, Experiment, ExperimentState]]:
        for entry in self.runs.values():
            for exp in entry.experiments:
                yield entry, exp, entry.states[exp.experiment_id]

    def resolve(self, ident: str) -> list[tuple[RunEntry, Experiment, ExperimentState]]:
        """Experiments named by a run id, an experiment id, or a unique prefix of either."""
        self.refresh()
        if ident in self.runs:
            return [(self.runs[ident], e, self.runs[ident].states[e.experiment_id])
                    for e in self.runs[ident].experiments]
        exact = [t for t in self.iter_experiments() if t[1].experiment_id == ident]
        if exact:
            return exact
        runs = [r for r in self.runs if r.startswith(ident)]
        exps = [t for t in self.iter_experiments() if t[1].experiment_id.startswith(ident)]
        if len(runs) == 1 and all(t[0].run.run_id == runs[0] for t in exps):
            return self.resolve(runs[0])
        if len(exps) == 1:
            return exps
        if not runs and not exps:
            raise ExperimentNotFound(
                f"{ident!r}: no run or experiment with this id in project {self.project!r};"
                " 'hypertuner status' lists them"
            )
        raise ExperimentNotFound(f"{ident!r}: matches several runs or experiments; give more of the id")

    def metrics_table(self, run_id: str) -> pa.Table:
        """Every metric point read so far, one Arrow table (columns :data:`_POINT_COLUMNS`)."""
        import pyarrow as pa

        entry = self.entry(run_id)
        with self._lock:
            if len(entry.metric_parts) != 1:
                table = pa.concat_tables(entry.metric_parts) if entry.metric_parts else _point_schema().empty_table()
                # numbers in one buffer each, so that numpy reads them without a copy; strings stay
                # chunked (unifying their dictionaries costs more than it saves)
                for i, name in enumerate(table.column_names):
                    column = table.column(i)
                    if column.num_chunks > 1 and not pa.types.is_dictionary(column.type):
                        table = table.set_column(i, name, pa.chunked_array([pa.concat_arrays(column.chunks)]))
                entry.metric_parts = [table]
            return entry.metric_parts[0]

    def frames(self, run_id: str) -> RunFrames:
        entry = self.entry(run_id)
        with self._lock:
            if entry._frames is None:
                entry._frames = _build_frames(entry, self.metrics_table(run_id))
            return entry._frames


# ---- frames ------------------------------------------------------------------------------
#: Columns of a metrics part that frames need (``source`` is not read).
_POINT_COLUMNS = ("experiment_id", "kind", "epoch", "step", "time", "name", "value")
_DICT_COLUMNS = ["experiment_id", "kind", "name"]


def _point_schema() -> pa.Schema:
    import pyarrow as pa

    text = pa.dictionary(pa.int32(), pa.string())
    return pa.schema([("experiment_id", text), ("kind", text), ("epoch", pa.int64()), ("step", pa.int64()),
                      ("time", pa.float64()), ("name", text), ("value", pa.float64())])


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


def _codes(column: pa.ChunkedArray, lookup: dict[str, int]) -> np.ndarray:
    """Codes of a dictionary column in ``lookup``'s numbering (-1: null or not in ``lookup``)."""
    out = np.empty(len(column), np.int32)
    at = 0
    for chunk in column.chunks:
        table = np.array([lookup.get(v, -1) for v in chunk.dictionary.to_pylist()] + [-1], dtype=np.int32)
        indices = chunk.indices
        np.take(table, indices.fill_null(-1).to_numpy() if indices.null_count else indices.to_numpy(),
                out=out[at:at + len(chunk)])
        at += len(chunk)
    return out


def _points(entry: RunEntry, table: pa.Table) -> tuple[_Labels, _Points, np.ndarray]:
    """The labels, every point (code -1 where its experiment or name is null) and which are summaries."""
    ids = [e.experiment_id for e in entry.experiments]
    known = {x: i for i, x in enumerate(ids)}
    names: set[str] = set()
    for chunk in table.column("name").chunks:
        names.update(v for v in chunk.dictionary.to_pylist() if v is not None)
    for chunk in table.column("experiment_id").chunks:
        for v in chunk.dictionary.to_pylist():
            if v is not None and v not in known:
                known[v] = len(ids)
                ids.append(v)
    labels = _Labels(ids, sorted(names))
    summary = _codes(table.column("kind"), {"summary": 1}) == 1
    exp = _codes(table.column("experiment_id"), known)
    name = _codes(table.column("name"), {n: i for i, n in enumerate(labels.names)})
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


def _build_frames(entry: RunEntry, table: pa.Table) -> RunFrames:
    run = entry.run
    hparams = tuple(run.spec)
    exps = entry.experiments
    columns: dict[str, Any] = {
        "experiment_id": [e.experiment_id for e in exps],
        "label": [e.label for e in exps],
        "state": [entry.states[e.experiment_id].state for e in exps],
    }
    for h in hparams:
        columns[h] = [e.params.get(h) for e in exps]
    scales: dict[str, Any] = {h: run.scales.get(h, "linear") for h in hparams}
    for h in hparams:
        if any(isinstance(v, str) for v in columns[h]):
            scales[h] = "categorical"
    experiments = pd.DataFrame(columns, columns=["experiment_id", "label", "state", *hparams])
    del columns

    labels, points, summary = _points(entry, table)
    summaries = points.take(np.flatnonzero(summary))
    logged = _logging_order(labels, points, summary)
    order = _curve_order(labels, points, summary)
    del summary
    # the curve points in order (time only sorted them)
    points = _Points(*(np.empty(0) if f == "time" else v[order] for f, v in zip(_Points._fields, points, strict=True)))
    del order
    finals = _final_values(labels, points, summaries)[: len(exps)]
    metrics: list[str] = []
    for j in logged:
        name = labels.names[j]
        column = name if name not in experiments.columns else f"{name} (metric)"
        metrics.append(column)
        scales[column] = "linear"
        experiments[column] = finals[:, j]
    del finals
    curves = pd.DataFrame(
        {
            "experiment_id": _categorical(points.exp, labels.ids),
            "epoch": points.epoch.astype(np.float64, copy=False),
            "step": points.step.astype(np.float64, copy=False),
            "name": _categorical(points.name, labels.names),
            "value": points.value,
        },
        copy=False,  # a block per column: no consolidation copy of every point
    )
    return RunFrames(
        run_id=run.run_id,
        experiments=experiments,
        curves=curves,
        hparams=hparams,
        metrics=tuple(metrics),
        scales=scales,
        version=entry.version,
    )


class RunView:
    """One run of a :class:`ProjectIndex` as a :class:`~workbench_plugin.frames.RunSource`."""

    def __init__(self, index: ProjectIndex, run_id: str) -> None:
        self.index = index
        self.run_id = run_id
        self._seen = index.entry(run_id).version  # raises RunNotFound early

    @property
    def memory(self) -> ProjectMemory:
        """The project's locks and notes (events in the same store)."""
        return ProjectMemory(StoreMemory(self.index.store, self.index.project))

    def frames(self) -> RunFrames:
        frames = self.index.frames(self.run_id)
        self._seen = frames.version
        return frames

    def refresh(self) -> bool:
        """True when the run changed since this view last read its frames (indexes are shared)."""
        self.index.refresh()
        return self.index.runs[self.run_id].version != self._seen

