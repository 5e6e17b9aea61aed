"""Compacted runs: a run's parts as a few Parquet files, so a page opens it in seconds.

A run's store folders hold one file per event: a claim, a state event, a metrics part every few
seconds of every experiment. A compaction reads them all and writes, under
``runs/<run>/compacted/<generation>/``:

* ``reduced.parquet``: the metric points that decide the experiment frame
  (:func:`~workbench_plugin.frames.reduce_points`: per experiment and metric the last curve
  point and the last summary, per metric its first rows) - a few rows per experiment and metric
  whatever the number of epochs;
* ``states.parquet``: per experiment its folded state, its state events and claim as read (so a
  later event folds with them), its number of curve points and its health flags;
* ``curves/m<k>.parquet``: the curve points of metric ``k`` (the manifest names it; a metric's
  name never becomes a path), in curve order (by experiment in launch order, then time), with
  their position ``seq`` in the run's curve order; row groups of :data:`ROW_GROUP` rows, so
  one experiment's points are a few row groups;
* ``covered.parquet``: the name of every file it read (folder, name);

and last, by an exclusive create, the manifest ``compacted/<generation>.json``. A compaction
is visible only through its manifest: one killed mid-way leaves no visible file, and the next
run writes a new generation. Nothing is replaced and no part is touched: a compacted run is
always rebuildable from its parts (delete ``compacted/``). The index
(:class:`~workbench_plugin.index.ProjectIndex`) reads the newest manifest's files plus only the
files it does not cover. Compacting a run whose newest manifest covers every file it has is a
no-op (idempotent).
"""

from __future__ import annotations

import getpass
import io
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench_plugin._exceptions import StoreError
from workbench_plugin.faults import fault_point
from workbench_plugin.frames import curve_rows, curves_frame, empty_curves, reduce_points
from workbench_plugin.lifecycle import State
from workbench_plugin.statebook import JsonRecords, StateBook, StateColumns
from workbench_plugin.store import DAMAGE_ERRORS, POINT_COLUMNS, RUN_FOLDERS, Experiment, Store, metric_schema

if TYPE_CHECKING:
    import pyarrow as pa

    from workbench_plugin.index import RunEntry

__all__ = ["FORMAT", "Compacted", "CompactionResult", "RunCurves", "compact_run", "latest_compacted", "states_of"]

log = logging.getLogger("hypertuner.compaction")

#: The manifest's format; a reader skips manifests of another format (a newer writer's).
FORMAT = 1
#: Rows per row group of a curves file.
ROW_GROUP = 65_536
FOLDER = "compacted"


@dataclass(frozen=True)
class CompactionResult:
    """What one call of :func:`compact_run` did."""

    run_id: str
    generation: str | None  #: the manifest written, or the newest one when nothing was new
    written: bool  #: False: the newest manifest already covered every file
    files: int  #: files covered
    points: int  #: metric points read
    seconds: float

    def line(self) -> str:
        if not self.written:
            return f"compact {self.run_id}: already compacted ({self.generation}, {self.files} files)"
        return (f"compact {self.run_id}: {self.files} files, {self.points:,} points -> {self.generation} "
                f"in {self.seconds:.1f} s")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


def _parquet_bytes(table: pa.Table, *, row_group: int | None = None) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=row_group)
    return buf.getvalue()


# ---- writing ----------------------------------------------------------------------------------------
def compact_run(store: Store, project: str, run_id: str, *, health: bool = True) -> CompactionResult:
    """Compact run ``run_id`` of ``project`` (module docstring); a no-op when its newest manifest
    covers every file. Damaged parts are set aside (one line each), as the index does."""
    from workbench_plugin.index import ProjectIndex

    t0 = time.perf_counter()
    base = store.run_dir(project, run_id)
    listed = {folder: set(store.fs.listdir(f"{base}/{folder}")) for folder in RUN_FOLDERS}
    newest = latest_compacted(store, project, run_id)
    if newest is not None and all(listed[f] <= newest.covered_names(f) for f in RUN_FOLDERS):
        return CompactionResult(run_id, newest.generation, False, sum(map(len, listed.values())), 0,
                                time.perf_counter() - t0)
    index = ProjectIndex(store, project, compacted=False)
    entry = index.entry(run_id)
    if entry.unread:
        raise StoreError(f"compact {run_id}: {entry.unread} files could not be read now; nothing written, "
                         "try again")
    table = index.metrics_table(run_id)
    generation = f"{time.time_ns():020d}~{secrets.token_hex(3)}"
    folder = f"{base}/{FOLDER}/{generation}"
    curves, order = curve_rows(entry.experiments, table)
    names, curve_files = _write_curves(store, folder, table, curves, order)
    del order
    fault_point("compaction-after-curves")
    reduced = reduce_points(entry.experiments, table)
    store.fs.write_atomic(f"{folder}/reduced.parquet", _parquet_bytes(reduced))
    counts = _curve_counts(curves)
    flags = _health(curves) if health else {}
    del curves
    store.fs.write_atomic(f"{folder}/states.parquet", _parquet_bytes(_states_table(entry, counts, flags)))
    covered = {f: sorted(p.rsplit("/", 1)[1] for p in entry.seen[f]) for f in RUN_FOLDERS}
    store.fs.write_atomic(f"{folder}/covered.parquet", _parquet_bytes(_covered_table(covered)))
    manifest = {
        "format": FORMAT, "run_id": run_id, "generation": generation, "time": time.time(),
        "by": getpass.getuser(), "experiments": len(entry.experiments), "points": table.num_rows,
        "curves": curve_files, "names": names, "covered": {f: len(v) for f, v in covered.items()},
    }
    fault_point("compaction-before-manifest")
    if not store.fs.create_exclusive(f"{base}/{FOLDER}/{generation}.json", _dumps(manifest).encode()):
        raise StoreError(f"compact {run_id}: manifest {generation} exists")  # a random name met twice
    files = sum(len(v) for v in covered.values())
    return CompactionResult(run_id, generation, True, files, table.num_rows, time.perf_counter() - t0)


def _write_curves(store: Store, folder: str, table: pa.Table, curves: pd.DataFrame,
                  order: np.ndarray) -> tuple[list[str], dict[str, str]]:
    """One file per metric name of the curve points (``curves``: rows ``order`` of ``table``, in
    curve order); returns every name met (in name order) and file stem -> metric name."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names: set[str] = set()
    for chunk in table.column("name").chunks:
        names.update(v for v in chunk.dictionary.to_pylist() if v is not None)
    codes = curves["name"].cat.codes.to_numpy()
    exp_codes = curves["experiment_id"].cat.codes.to_numpy().astype(np.int32)
    code_of = {str(c): k for k, c in enumerate(curves["name"].cat.categories)}
    files: dict[str, str] = {}
    keep = ["experiment_id", "epoch", "step", "time", "value"]
    for k, name in enumerate(sorted(names)):
        at = np.flatnonzero(codes == code_of[name]) if name in code_of else np.empty(0, np.int64)
        if not len(at):
            continue  # only summaries
        rows = table.take(pa.array(order[at])).select(keep)
        rows = rows.set_column(0, "experiment_id", pc.cast(rows.column(0), pa.string()))
        rows = rows.append_column("seq", pa.array(at.astype(np.int64)))
        # the experiment's launch position: rows are sorted by it, so a row group's min and max
        # let a reader of a few experiments skip the others (ids as strings do not sort that way)
        rows = rows.append_column("exp", pa.array(exp_codes[at]))
        stem = f"m{k:05d}"
        store.fs.write_atomic(f"{folder}/curves/{stem}.parquet", _parquet_bytes(rows, row_group=ROW_GROUP))
        files[stem] = name
    return sorted(names), files


def _curve_counts(curves: pd.DataFrame) -> dict[str, int]:
    if curves.empty:
        return {}
    counts = curves["experiment_id"].value_counts(sort=False)
    return {str(k): int(v) for k, v in counts.items() if v}


def _health(curves: pd.DataFrame) -> dict[str, Any]:
    from workbench_plugin.proposals import health_of

    return {eid: (list(h.flags), list(h.reasons)) for eid, h in health_of(curves).items()}


#: The stored health of an experiment with no flag
_HEALTHY = _dumps([[], []])


def _states_table(entry: RunEntry, counts: dict[str, int], flags: dict[str, Any]) -> pa.Table:
    import pyarrow as pa

    ids = [e.experiment_id for e in entry.experiments]
    states = [entry.states[i] for i in ids]
    claims = [entry.claims.get(i) for i in ids]
    return pa.table({
        "experiment_id": pa.array(ids, pa.string()),
        "state": pa.array([str(s.state) for s in states], pa.string()),
        "claimed": pa.array([s.claimed for s in states], pa.bool_()),
        "claim_time": pa.array([s.claim_time for s in states], pa.float64()),
        "generation": pa.array([s.generation for s in states], pa.int64()),
        "requeued": pa.array([s.requeued for s in states], pa.bool_()),
        "fields": pa.array([_dumps(s.fields) if s.fields else None for s in states], pa.string()),
        "events": pa.array([_dumps(entry.events[i]) if entry.events[i] else None for i in ids], pa.string()),
        "claim": pa.array([_dumps(c) if c is not None else None for c in claims], pa.string()),
        "points": pa.array([counts.get(i, 0) for i in ids], pa.int64()),
        "health": pa.array([_dumps(flags[i]) if i in flags else None for i in ids], pa.string()),
    })


def _covered_table(covered: dict[str, list[str]]) -> pa.Table:
    import pyarrow as pa

    folders = [f for f, names in covered.items() for _ in names]
    return pa.table({"folder": pa.array(folders, pa.string()),
                     "name": pa.array([n for names in covered.values() for n in names], pa.string())})


# ---- reading ----------------------------------------------------------------------------------------
class Compacted:
    """The newest complete compaction of a run (its manifest and files)."""

    def __init__(self, store: Store, folder: str, manifest: dict[str, Any]) -> None:
        self.store = store
        self.folder = folder
        self.manifest = manifest
        self.generation: str = manifest["generation"]
        self._covered: dict[str, set[str]] | None = None

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def covered_names(self, folder: str) -> set[str]:
        if self._covered is None:
            table = self.store.read_parquet(self.path("covered.parquet"))
            covered: dict[str, set[str]] = {f: set() for f in RUN_FOLDERS}
            frame = table.to_pandas()
            for f, names in frame.groupby("folder", sort=False)["name"]:
                covered.setdefault(str(f), set()).update(names.tolist())
            self._covered = covered
        return self._covered.get(folder, set())

    def reduced(self) -> pa.Table:
        table = self.store.read_parquet(self.path("reduced.parquet"),
                              read_dictionary=["experiment_id", "kind", "name"])
        return table.cast(metric_schema(POINT_COLUMNS, dictionary=True))

    def states(self) -> pa.Table:
        return self.store.read_parquet(self.path("states.parquet"))

    @property
    def curve_files(self) -> dict[str, str]:
        """metric name -> store path of its curves file."""
        return {name: self.path(f"curves/{stem}.parquet") for stem, name in self.manifest["curves"].items()}


def latest_compacted(store: Store, project: str, run_id: str) -> Compacted | None:
    """The newest compaction of a run with a readable manifest, or None. A damaged manifest is
    set aside (one line) and the one before it is used."""
    base = f"{store.run_dir(project, run_id)}/{FOLDER}"
    for name in sorted((n for n in store.fs.listdir(base) if n.endswith(".json")), reverse=True):
        path = f"{base}/{name}"
        try:
            manifest = json.loads(store.fs.read_bytes(path))
            if not isinstance(manifest, dict) or not isinstance(manifest.get("curves"), dict):
                raise ValueError("not a compaction manifest")
            if manifest.get("format") != FORMAT:
                log.warning("compaction %s: format %r, this version reads %d; skipped", path,
                            manifest.get("format"), FORMAT)
                continue
            if manifest.get("generation") != name[: -len(".json")]:
                raise ValueError(f"generation {manifest.get('generation')!r} is not the file's name")
        except FileNotFoundError:
            continue
        except DAMAGE_ERRORS as exc:
            store.set_aside(path, exc)
            continue
        return Compacted(store, f"{base}/{manifest['generation']}", manifest)
    return None


def states_of(compacted: Compacted, ids: Sequence[str]) -> tuple[StateBook, JsonRecords, dict[str, str],
                                                              dict[str, int], dict[str, Any]]:
    """From a compaction's states file, for the run's experiments ``ids``: their states (kept as
    columns, built when looked up), claims and state events (JSON, decoded when needed), curve
    points and health (experiment id -> (points, Health, or None when it has no flag), for the
    experiments whose health the compaction computed)."""
    from workbench_plugin.proposals import Health

    table = compacted.states()
    order = table.column("experiment_id").to_pylist()
    by_name = {str(s): s for s in State}
    columns = StateColumns(
        row={eid: at for at, eid in enumerate(order)},
        states=[by_name[s] for s in table.column("state").to_pylist()],
        claimed=table.column("claimed").to_pylist(),
        claim_time=table.column("claim_time").to_pylist(),
        generation=table.column("generation").to_pylist(),
        requeued=table.column("requeued").to_pylist(),
        fields=table.column("fields").to_pylist(),
    )
    known = set(ids)
    claims = JsonRecords({eid: text for eid, text in zip(order, table.column("claim").to_pylist(), strict=True)
                          if text and eid in known})
    events = {eid: text for eid, text in zip(order, table.column("events").to_pylist(), strict=True)
              if text and eid in known}
    counts = table.column("points").to_pylist()
    points = {eid: n for eid, n in zip(order, counts, strict=True) if n and eid in known}
    health: dict[str, Any] = {}
    flagged = []
    for at, text in enumerate(table.column("health").to_pylist()):
        if text == _HEALTHY:  # most experiments: known healthy, no object to build
            if order[at] in known:
                health[order[at]] = (counts[at], None)
        elif text:
            flagged.append((at, text))
    for (at, _), flags in zip(flagged, _decode_all([text for _, text in flagged]), strict=True):
        eid = order[at]
        if eid in known:
            health[eid] = (int(counts[at]), Health(eid, tuple(flags[0]), tuple(flags[1])) if flags[0] else None)
    return StateBook(ids, columns), claims, events, points, health


def _decode_all(texts: list[str | None]) -> list[Any]:
    """JSON texts (None stays None) decoded in one call."""
    present = [t for t in texts if t]
    if not present:
        return [None] * len(texts)
    values = iter(json.loads(f"[{','.join(present)}]"))
    return [next(values) if t else None for t in texts]


class RunCurves:
    """A run's curves: a compaction's files (read when asked for) and the points read since."""

    def __init__(self, experiments: Sequence[Experiment], compacted: Compacted | None,
                 points: dict[str, int], health: dict[str, Any]) -> None:
        self.experiments = experiments
        self.compacted = compacted
        self.parts: list[pa.Table] = []  #: metric parts read since the compaction (all, without one)
        self._points = points
        self.health = health
        self._new_counts: dict[str, int] | None = None
        self._new: pa.Table | None = None
        self._position: dict[str, int] | None = None

    def add(self, parts: list[pa.Table]) -> None:
        self.parts.extend(parts)
        self._new_counts = None
        self._new = None

    def copy(self) -> RunCurves:
        """The same curves, frozen as they are now (frames keep theirs while new parts arrive)."""
        out = RunCurves(self.experiments, self.compacted, self._points, self.health)
        out.parts = list(self.parts)
        return out

    def _new_points(self) -> pa.Table:
        import pyarrow as pa

        if self._new is None:
            empty = metric_schema(POINT_COLUMNS, dictionary=True).empty_table()
            self._new = pa.concat_tables([empty, *self.parts]) if self.parts else empty
        return self._new

    def _compacted_points(self, name: str | None = None, ids: Sequence[str] | None = None) -> pa.Table:
        """Compacted curve points (``POINT_COLUMNS``) of one metric or all, of some experiments or
        all, in curve order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.compacted is None:
            return metric_schema(POINT_COLUMNS, dictionary=True).empty_table()
        files = self.compacted.curve_files
        kwargs: dict[str, Any] = {}
        if ids is not None:
            if self._position is None:
                self._position = {e.experiment_id: at for at, e in enumerate(self.experiments)}
            known = sorted(self._position[i] for i in ids if i in self._position)
            others = [i for i in ids if i not in self._position]  # points of ids not in the batch
            # a range first: the row groups' min and max skip what lies outside it
            kwargs["filters"] = ([[("exp", ">=", known[0]), ("exp", "<=", known[-1]), ("exp", "in", known)]]
                                 if known else []) + ([[("experiment_id", "in", others)]] if others else [])
            if not kwargs["filters"]:
                files = {}
        tables = []
        for metric, path in files.items():
            if name is not None and metric != name:
                continue
            t = self.compacted.store.read_parquet(path, read_dictionary=["experiment_id"],
                              columns=["experiment_id", "epoch", "step", "time", "value", "seq"], **kwargs)
            n = t.num_rows
            t = t.append_column("name", pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                                                     pa.array([metric], pa.string())))
            t = t.append_column("kind", pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                                                     pa.array(["epoch"], pa.string())))
            tables.append(t)
        if not tables:
            return metric_schema(POINT_COLUMNS, dictionary=True).empty_table()
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
        if len(tables) > 1:
            table = table.take(pc.sort_indices(table.column("seq")))
        return table.select(list(POINT_COLUMNS)).cast(metric_schema(POINT_COLUMNS, dictionary=True))

    def _frame(self, old: pa.Table, new: pa.Table) -> pd.DataFrame:
        import pyarrow as pa

        if not new.num_rows:  # a compaction's points are in curve order already: no sort
            return curves_frame(self.experiments, old, ordered=True) if old.num_rows else empty_curves()
        table = pa.concat_tables([old.unify_dictionaries(), new])
        return curves_frame(self.experiments, table)

    def frame(self) -> pd.DataFrame:
        return self._frame(self._compacted_points(), self._new_points())

    def of_metric(self, name: str) -> pd.DataFrame:
        import pyarrow.compute as pc

        new = self._new_points()
        if new.num_rows:
            new = new.filter(pc.equal(new.column("name").cast("string"), name))
        return self._frame(self._compacted_points(name=name), new)

    def for_experiments(self, ids: Sequence[str]) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = [str(i) for i in ids]
        new = self._new_points()
        if new.num_rows:
            new = new.filter(pc.is_in(new.column("experiment_id").cast("string"), value_set=pa.array(wanted)))
        return self._frame(self._compacted_points(ids=wanted), new)

    def counts(self) -> dict[str, int]:
        if self._new_counts is None:
            new = self._new_points()
            counts = dict(self._points)
            if new.num_rows:
                frame = self._frame(self._compacted_points(ids=_ids_in(new)), new)
                if len(frame):
                    for eid, n in frame["experiment_id"].value_counts(sort=False).items():
                        if n:
                            counts[str(eid)] = int(n)
            self._new_counts = counts
        return self._new_counts


def _ids_in(table: pa.Table) -> list[str]:
    out: set[str] = set()
    for chunk in table.column("experiment_id").chunks:
        out.update(v for v in chunk.dictionary.to_pylist() if v is not None)
    return sorted(out)
