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

Memory is bounded by a range, not by the run (:data:`RANGE_POINTS`): the claims and state events
are read first (no metric part), then the parts in batches, each point set out by its
experiment's launch position into local files, then the curves computed and appended to each
metric's file a range of experiments at a time; the reduced points are reduced per range and once
more over all ranges in the order the parts were read. The files are the same whatever the range
size. After a new manifest (and at a no-op), :func:`remove_old_generations` removes the
generations nobody reads any more: superseded ones an hour after they were superseded
(:data:`SUPERSEDED_GRACE`), folders a killed compaction left after a day (:data:`UNFINISHED_GRACE`).
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import io
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench_plugin._exceptions import StoreError
from workbench_plugin.faults import fault_point
from workbench_plugin.frames import curve_rows, curves_frame, dictionary_codes, empty_curves, reduce_points
from workbench_plugin.fs import TMP_PREFIX
from workbench_plugin.lifecycle import State
from workbench_plugin.statebook import JsonRecords, StateBook, StateColumns
from workbench_plugin.store import DAMAGE_ERRORS, POINT_COLUMNS, RUN_FOLDERS, Experiment, Store, metric_schema

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench_plugin.index import ProjectIndex, RunEntry

__all__ = ["FORMAT", "RANGE_POINTS", "SUPERSEDED_GRACE", "UNFINISHED_GRACE", "Compacted", "CompactionResult",
           "RunCurves", "compact_run", "latest_compacted", "remove_old_generations", "states_of"]

log = logging.getLogger("hypertuner.compaction")

#: The manifest's format; a reader skips manifests of another format (a newer writer's).
FORMAT = 1
#: Rows per row group of a curves file.
ROW_GROUP = 65_536
FOLDER = "compacted"
#: Metric points a compaction holds at once, about (:func:`compact_run`): 4 million take about a
#: gigabyte at the peak, whatever the size of the run.
RANGE_POINTS = 4_000_000
#: Buckets the points are set out into (ranges are runs of consecutive buckets): a compaction
#: keeps a file open per bucket while it reads the parts.
_BUCKETS = 128
#: Seconds a superseded generation is kept after the manifest that superseded it was written: a
#: page opened before that reads the old generation's files when asked (curves of a metric, of an
#: experiment), so its files stay a while. An hour: a live run compacted every 5 minutes keeps a
#: dozen generations, a finished one only its newest an hour after its last compaction.
SUPERSEDED_GRACE = 3600.0
#: Seconds a generation folder without a manifest is kept after its compaction started (the time
#: in its name): a compaction killed mid-way leaves one, but one still writing (on another
#: machine, a large run) looks the same; no compaction takes a day.
UNFINISHED_GRACE = 86400.0
_NO_PARAMS: dict[str, Any] = {}
_NO_ARGV: list[str] = []
_GENERATION = re.compile(r"^(\d{20})~[0-9a-f]{6}$")


@dataclass(frozen=True)
class CompactionResult:
    """What one call of :func:`compact_run` did."""

    run_id: str
    generation: str | None  #: the manifest written, or the newest one when nothing was new
    written: bool  #: False: the newest manifest already covered every file
    files: int  #: files covered
    points: int  #: metric points read
    seconds: float
    #: generations removed after it (:func:`remove_old_generations`)
    removed: tuple[str, ...] = ()

    def line(self) -> str:
        removed = f"; removed {len(self.removed)} old generations" if self.removed else ""
        if not self.written:
            return f"compact {self.run_id}: already compacted ({self.generation}, {self.files} files){removed}"
        return (f"compact {self.run_id}: {self.files} files, {self.points:,} points -> {self.generation} "
                f"in {self.seconds:.1f} s{removed}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


def _parquet_bytes(table: pa.Table, *, row_group: int | None = None) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=row_group)
    return buf.getvalue()


# ---- writing ----------------------------------------------------------------------------------------
def compact_run(store: Store, project: str, run_id: str, *, health: bool = True,
                range_points: int = RANGE_POINTS) -> CompactionResult:
    """Compact run ``run_id`` of ``project`` (module docstring); a no-op when its newest manifest
    covers every file. Damaged parts are set aside (one line each), as the index does. Then
    removes the generations nobody reads any more (:func:`remove_old_generations`).

    Memory stays bounded by ``range_points`` (metric points held at once, about), not by the run:
    the parts are read in batches of that many points and set out by experiment in local files,
    then the curves are computed and written over ranges of experiments (in launch order) of
    about that many points each."""
    t0 = time.perf_counter()
    if range_points < 1:
        raise StoreError(f"compact {run_id}: range_points={range_points!r}; give 1 or more points")
    base = store.run_dir(project, run_id)
    listed = {folder: set(store.fs.listdir(f"{base}/{folder}")) for folder in RUN_FOLDERS}
    newest = latest_compacted(store, project, run_id)
    if newest is not None and all(listed[f] <= newest.covered_names(f) for f in RUN_FOLDERS):
        removed = _remove_quietly(store, project, run_id)
        return CompactionResult(run_id, newest.generation, False, sum(map(len, listed.values())), 0,
                                time.perf_counter() - t0, removed)
    index = _states_index()(store, project, compacted=False)  # claims and states; parts are read below
    entry = index.entry(run_id)
    if entry.unread:
        raise StoreError(f"compact {run_id}: {entry.unread} files could not be read now; nothing written, "
                         "try again")
    # what is kept of the states and claims (the index's objects take more memory than the points of
    # a range at a million experiments: they go before the points are read)
    states = _states_table(entry)
    covered = {f: _names_of(entry.seen[f]) for f in RUN_FOLDERS if f != "metrics"}
    del index, entry
    # ids made anew, once the index is gone: strings made among its objects would keep their
    # memory from going back to the system
    ids: list[str] = states.column("experiment_id").to_pylist()
    generation = f"{time.time_ns():020d}~{secrets.token_hex(3)}"
    folder = f"{base}/{FOLDER}/{generation}"
    with _workspace(store, folder) as work:
        spill = _Spill(store, run_id, ids, work, range_points)
        spill.read(store.run_files(project, run_id, "metrics"))
        names, curve_files, reduced, counts, flags = _write_ranges(store, folder, spill, work, health)
    fault_point("compaction-after-curves")
    # strings as strings: a dictionary column is stored with its whole dictionary in every row
    # group, and a reader then meets a million ids per batch it reads (a minute at 1M experiments)
    store.fs.write_atomic(f"{folder}/reduced.parquet",
                          _parquet_bytes(reduced.cast(metric_schema(POINT_COLUMNS))))
    del reduced
    store.fs.write_atomic(f"{folder}/states.parquet", _parquet_bytes(_with_curves(states, counts, flags)))
    del states
    covered["metrics"] = _names_of(spill.covered)
    manifest_covered = {f: len(covered[f]) for f in RUN_FOLDERS}
    manifest = {
        "format": FORMAT, "run_id": run_id, "generation": generation, "time": time.time(),
        "by": getpass.getuser(), "experiments": len(ids), "points": spill.points,
        "curves": curve_files, "names": names, "covered": manifest_covered,
    }
    store.fs.write_atomic(f"{folder}/covered.parquet", _parquet_bytes(_covered_table(covered)))
    fault_point("compaction-before-manifest")
    if not store.fs.create_exclusive(f"{base}/{FOLDER}/{generation}.json", _dumps(manifest).encode()):
        raise StoreError(f"compact {run_id}: manifest {generation} exists")  # a random name met twice
    files = sum(manifest_covered.values())
    removed = _remove_quietly(store, project, run_id)
    return CompactionResult(run_id, generation, True, files, spill.points, time.perf_counter() - t0, removed)


@functools.cache
def _states_index() -> type[ProjectIndex]:
    """:class:`~workbench_plugin.index.ProjectIndex` reading every claim and state event of a run
    (no compaction) but no metric part: a compaction reads those itself, a range at a time. (Made
    on first use: the index imports this module.)"""
    from workbench_plugin.index import ProjectIndex

    class StatesIndex(ProjectIndex):
        def _read_metrics(self, entry: RunEntry) -> int:
            return 0

    return StatesIndex


@contextlib.contextmanager
def _workspace(store: Store, folder: str) -> Iterator[str]:
    """A local folder for the files a compaction works with (removed at the end, whatever
    happens): inside its generation's folder when the store is local, under a temporary name
    readers skip (so a compaction killed mid-way leaves it where :func:`remove_old_generations`
    finds it), else in the machine's temporary folder."""
    local = store.fs.local_path(folder)
    if local is not None:
        work = os.path.join(local, f"{TMP_PREFIX}work-{secrets.token_hex(4)}")
        try:
            os.makedirs(work)
        except OSError as exc:
            raise StoreError(f"compact: cannot create {work!r} ({exc.strerror})") from exc
    else:
        work = tempfile.mkdtemp(prefix="hypertuner-compact-")
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Spill:
    """A run's metric points, read part by part (in the order the index reads them: by name) and
    set out by experiment range into local Arrow stream files ("buckets", in launch order of
    their experiments; points of experiments not in the batch in one bucket after them, those
    without an experiment in the first), each point with its position ``_pos`` in the reading
    order. A bucket's points are in reading order, so everything computed per experiment over a
    bucket is what it is over the whole run."""

    def __init__(self, store: Store, run_id: str, ids: Sequence[str], work: str, range_points: int) -> None:
        self.store = store
        self.run_id = run_id
        self.work = work
        self.range_points = range_points
        #: experiment id -> code: the batch in launch order, then ids not in it in the order met
        #: (as :func:`~workbench_plugin.frames.curve_rows` numbers them over every part)
        self.known = {eid: at for at, eid in enumerate(ids)}
        #: stand-ins of the batch's experiments (only their ids count here), then of the ids not in it
        self.experiments = [Experiment(eid, run_id, at, _NO_PARAMS, _NO_ARGV) for at, eid in enumerate(ids)]
        self.per_bucket = max(1, -(-len(ids) // _BUCKETS))
        self.others = -(-len(ids) // self.per_bucket)  # the bucket of ids not in the batch
        self.rows: dict[int, int] = {}
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self.names: set[str] = set()
        self.covered: list[str] = []
        self.points = 0

    def read(self, paths: list[str]) -> None:
        """Read every part of ``paths`` (set aside the damaged ones); :class:`StoreError` when one
        could not be read now."""
        batch: list[pa.Table] = []
        rows = unread = 0
        for path in sorted(paths):
            try:
                table = self.store.read_metrics_part(path)
            except FileNotFoundError:  # set aside by a reader meanwhile
                self.covered.append(path)
                continue
            except OSError:  # StoreError, or Arrow reading a local path: not read now
                unread += 1
                continue
            except DAMAGE_ERRORS as exc:
                self.store.set_aside(path, exc)
                self.covered.append(path)
                continue
            self.covered.append(path)
            batch.append(table)
            rows += table.num_rows
            if rows >= self.range_points:
                self._set_out(batch)
                batch, rows = [], 0
        if unread:
            raise StoreError(f"compact {self.run_id}: {unread} files could not be read now; nothing written, "
                             "try again")
        if batch:
            self._set_out(batch)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def _set_out(self, tables: list[pa.Table]) -> None:
        import pyarrow as pa

        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        for chunk in table.column("experiment_id").chunks:
            for eid in chunk.dictionary.to_pylist():
                if eid is not None and eid not in self.known:
                    self.known[eid] = len(self.experiments)
                    self.experiments.append(Experiment(eid, self.run_id, len(self.experiments), _NO_PARAMS,
                                                       _NO_ARGV))
        for chunk in table.column("name").chunks:
            self.names.update(v for v in chunk.dictionary.to_pylist() if v is not None)
        codes = dictionary_codes(table.column("experiment_id"), self.known)
        bucket = np.minimum(np.maximum(codes, 0) // self.per_bucket, self.others)
        del codes
        n = table.num_rows
        table = table.append_column("_pos", pa.array(np.arange(self.points, self.points + n, dtype=np.int64)))
        self.points += n
        order = np.argsort(bucket, kind="stable")
        bucket = bucket[order]
        edges = np.flatnonzero(np.diff(bucket)) + 1
        for lo, hi in zip(np.concatenate([[0], edges]), np.concatenate([edges, [n]]), strict=True):
            b = int(bucket[lo])
            rows = table.take(pa.array(order[lo:hi])) if lo or hi < n else table
            self._writer(b, rows.schema).write_table(rows.combine_chunks())
            self.rows[b] = self.rows.get(b, 0) + int(hi - lo)

    def _writer(self, bucket: int, schema: pa.Schema) -> pa.ipc.RecordBatchStreamWriter:
        import pyarrow as pa

        if bucket not in self._writers:
            _enough_files(len(self._writers) + 1)
            options = pa.ipc.IpcWriteOptions(compression="lz4")
            self._writers[bucket] = pa.ipc.new_stream(self._path(bucket), schema, options=options)
        return self._writers[bucket]

    def _path(self, bucket: int) -> str:
        return os.path.join(self.work, f"points-{bucket:06d}.arrows")

    def ranges(self) -> Iterator[pa.Table]:
        """The points by range of experiments, in launch order: each range a few buckets of about
        ``range_points`` points in all, in reading order; each bucket file removed once read."""
        group: list[int] = []
        rows = 0
        for b in sorted(self.rows):
            group.append(b)
            rows += self.rows[b]
            if rows >= self.range_points:
                yield self._read(group)
                group, rows = [], 0
        if group:
            yield self._read(group)

    def _read(self, buckets: list[int]) -> pa.Table:
        import pyarrow as pa

        tables = []
        for b in buckets:
            with pa.memory_map(self._path(b)) as source:
                tables.append(pa.ipc.open_stream(source).read_all())
            os.unlink(self._path(b))
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        if len(tables) > 1:  # back into reading order (one bucket's points are in it already)
            table = table.take(pa.array(np.argsort(table.column("_pos").to_numpy(), kind="stable")))
        return table


def _write_ranges(store: Store, folder: str, spill: _Spill, work: str, health: bool) -> tuple[
        list[str], dict[str, str], pa.Table, dict[str, int], dict[str, Any]]:
    """Curves, curve counts, health flags and reduced points of every range of ``spill``; the
    curve files published under ``folder``. Returns every name met (in name order), file stem ->
    metric name, the reduced points, the counts and the flags."""
    import pyarrow as pa

    writers: dict[str, _CurveFile] = {}
    reduced: list[pa.Table] = []
    counts: dict[str, int] = {}
    flags: dict[str, Any] = {}
    seq = 0
    for table in spill.ranges():
        curves, order = curve_rows(spill.experiments, table)
        _append_curves(writers, work, table, curves, order, seq)
        seq += len(order)
        del order
        exp = curves["experiment_id"].cat.codes.to_numpy()
        per = np.bincount(exp[exp >= 0], minlength=0)
        counts.update((spill.experiments[at].experiment_id, int(per[at])) for at in np.flatnonzero(per))
        if health:
            flags.update(_health(curves))
        del curves
        reduced.append(reduce_points(spill.experiments, table))
        del table
    names = sorted(spill.names)
    files: dict[str, str] = {}
    for k, name in enumerate(names):
        if name not in writers:
            continue  # only summaries
        stem = f"m{k:05d}"
        local = writers.pop(name).close()
        if not store.fs.create_exclusive_file(f"{folder}/curves/{stem}.parquet", local):
            raise StoreError(f"compact: {folder}/curves/{stem}.parquet exists")
        os.unlink(local)
        files[stem] = name
    if reduced:
        table = pa.concat_tables(reduced) if len(reduced) > 1 else reduced[0]
        del reduced
        if table.num_rows:  # in reading order again: the first rows of each metric are the run's
            table = table.take(pa.array(np.argsort(table.column("_pos").to_numpy(), kind="stable")))
        out = reduce_points(spill.experiments, table).drop_columns(["_pos"])
    else:
        out = metric_schema(POINT_COLUMNS, dictionary=True).empty_table()
    return names, files, out, counts, flags


class _CurveFile:
    """One metric's curves file, written a range at a time in row groups of :data:`ROW_GROUP` rows."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._rows = 0

    def append(self, rows: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pending.append(rows)
        self._rows += rows.num_rows
        if self._rows < ROW_GROUP:
            return
        table = pa.concat_tables(self._pending)
        full = self._rows - self._rows % ROW_GROUP
        if self._writer is None:
            _enough_files(1)
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table.slice(0, full), row_group_size=ROW_GROUP)
        rest = table.slice(full)
        self._pending = [rest] if rest.num_rows else []
        self._rows = rest.num_rows

    def close(self) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._pending:
            table = pa.concat_tables(self._pending)
            if self._writer is None:
                _enough_files(1)
                self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self._writer.write_table(table, row_group_size=ROW_GROUP)
        if self._writer is not None:
            self._writer.close()
        return self.path


def _append_curves(writers: dict[str, _CurveFile], work: str, table: pa.Table, curves: pd.DataFrame,
                   order: np.ndarray, seq: int) -> None:
    """Append the curve points of one range (``curves``: rows ``order`` of ``table``, in curve
    order, the first at position ``seq`` of the run's curve order) to each metric's file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(order):
        return
    codes = curves["name"].cat.codes.to_numpy()
    exp_codes = curves["experiment_id"].cat.codes.to_numpy().astype(np.int32)
    keep = ["experiment_id", "epoch", "step", "time", "value"]
    by_name = np.argsort(codes, kind="stable")
    sorted_codes = codes[by_name]
    edges = np.flatnonzero(np.diff(sorted_codes)) + 1
    for lo, hi in zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(codes)]]), strict=True):
        code = int(sorted_codes[lo])
        if code < 0:
            continue
        name = str(curves["name"].cat.categories[code])
        at = by_name[lo:hi]  # in curve order (the sort is stable)
        rows = table.take(pa.array(order[at])).select(keep)
        rows = rows.set_column(0, "experiment_id", pc.cast(rows.column(0), pa.string()))
        rows = rows.append_column("seq", pa.array(at.astype(np.int64) + seq))
        # the experiment's launch position: rows are sorted by it, so a row group's min and max
        # let a reader of a few experiments skip the others (ids as strings do not sort that way)
        rows = rows.append_column("exp", pa.array(exp_codes[at]))
        if name not in writers:
            writers[name] = _CurveFile(os.path.join(work, f"curves-{len(writers):05d}.parquet"))
        writers[name].append(rows)


def _enough_files(more: int) -> None:
    """Make sure this process may open ``more`` files beyond those it has (a compaction keeps a
    file open per metric and per bucket): raise the soft limit toward the hard one if needed."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        return
    if soft != resource.RLIM_INFINITY and used + more + 16 > soft:
        want = used + more + 1024
        if hard != resource.RLIM_INFINITY and want > hard:
            raise StoreError(f"compact: needs {used + more} open files, the limit is {hard}; "
                             "raise it (ulimit -n) and compact again")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _health(curves: pd.DataFrame) -> dict[str, Any]:
    from workbench_plugin.proposals import health_of

    return {eid: (list(h.flags), list(h.reasons)) for eid, h in health_of(curves).items()}


#: The stored health of an experiment with no flag
_HEALTHY = _dumps([[], []])


def _states_table(entry: RunEntry) -> pa.Table:
    """The states file's columns from the index (the curve points and health flags come later:
    :func:`_with_curves`)."""
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
    })


def _with_curves(table: pa.Table, counts: dict[str, int], flags: dict[str, Any]) -> pa.Table:
    """The states file: ``table`` (:func:`_states_table`) with each experiment's curve points and
    health flags."""
    import pyarrow as pa

    ids = table.column("experiment_id").to_pylist()
    table = table.append_column("points", pa.array([counts.get(i, 0) for i in ids], pa.int64()))
    return table.append_column("health", pa.array([_dumps(flags[i]) if i in flags else None for i in ids],
                                                  pa.string()))


def _names_of(paths: Iterable[str]) -> pa.Array:
    """The file names of ``paths`` (or names), sorted, as one Arrow array (not a Python string each)."""
    import pyarrow as pa

    return pa.array(sorted(p.rsplit("/", 1)[-1] for p in paths), pa.string())


def _covered_table(covered: dict[str, pa.Array]) -> pa.Table:
    import pyarrow as pa

    folders = [pa.array(np.full(len(covered[f]), f, dtype=object), pa.string()) for f in RUN_FOLDERS]
    return pa.table({"folder": pa.concat_arrays(folders),
                     "name": pa.concat_arrays([covered[f] for f in RUN_FOLDERS])})


# ---- removing old generations --------------------------------------------------------------------
def remove_old_generations(store: Store, project: str, run_id: str, *, now: float | None = None,
                           superseded_grace: float = SUPERSEDED_GRACE,
                           unfinished_grace: float = UNFINISHED_GRACE) -> list[str]:
    """Remove the generations of a run's compactions that nobody reads, and return them:

    * superseded ones: a generation whose next newer manifest (readable, with its time) was
      written more than ``superseded_grace`` seconds ago. Readers take the newest manifest, so
      only a page opened before that one was written can still hold it. Its manifest goes first,
      then its folder: a manifest never names a missing folder (killed between the two, the
      folder is left without a manifest and goes as an unfinished one);
    * unfinished ones: a folder without a manifest whose compaction started (the time in its
      name) more than ``unfinished_grace`` seconds ago: killed mid-way.

    Only names a compaction writes are touched; the newest manifest and a damaged one stay
    (:func:`latest_compacted` sets a damaged one aside)."""
    now = time.time() if now is None else now
    base = f"{store.run_dir(project, run_id)}/{FOLDER}"
    names = store.fs.listdir(base)
    generations = sorted(n for n in names if _GENERATION.match(n))
    manifests = sorted(n[: -len(".json")] for n in names if n.endswith(".json") and _GENERATION.match(n[:-5]))
    removed: list[str] = []
    written: dict[str, float] = {}
    for generation in manifests:
        try:
            manifest = json.loads(store.fs.read_bytes(f"{base}/{generation}.json"))
            stamp = manifest.get("time") if isinstance(manifest, dict) else None
        except FileNotFoundError:  # removed by another compaction meanwhile
            continue
        except DAMAGE_ERRORS:
            continue
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            written[generation] = float(stamp)
    readable = sorted(written)
    for older, newer in zip(readable, readable[1:], strict=False):
        if now - written[newer] > superseded_grace:
            store.fs.remove(f"{base}/{older}.json")
            store.fs.remove(f"{base}/{older}")
            removed.append(older)
    with_manifest = set(manifests)
    for generation in generations:
        match = _GENERATION.match(generation)
        assert match is not None
        if generation not in with_manifest and now - int(match.group(1)) / 1e9 > unfinished_grace:
            store.fs.remove(f"{base}/{generation}")
            removed.append(generation)
    return removed


def _remove_quietly(store: Store, project: str, run_id: str) -> tuple[str, ...]:
    """:func:`remove_old_generations`, said in one line; an error is said, not raised (the
    compaction is done)."""
    try:
        removed = remove_old_generations(store, project, run_id)
    except StoreError as exc:
        log.warning("compact %s: old generations not removed (%s)", run_id, exc)
        return ()
    if removed:
        log.info("compact %s: removed %d old generations (%s)", run_id, len(removed), ", ".join(removed))
    return tuple(removed)


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
