"""An in-memory index of one project's runs, refreshed incrementally from the store.

:meth:`ProjectIndex.refresh` lists folders and reads only files it has not read before; a run
whose experiments have all ended is "settled" and no longer listed. :class:`RunView` adapts one
run to the :class:`~workbench_plugin.frames.RunSource` that dashboards read.

A file counts as read only once it was read: one that could not be read (the store unreachable,
:class:`~workbench_plugin._exceptions.StoreError`) is read again at the next refresh; one read
whole that cannot be decoded is damaged: it is set aside (:meth:`Store.set_aside`, one warning
line naming it) and everything else keeps working.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

from workbench_plugin._bulk import building_many
from workbench_plugin._exceptions import ExperimentNotFound, RunNotFound, StoreError
from workbench_plugin.compaction import FOLDER as COMPACTED_FOLDER
from workbench_plugin.compaction import Compacted, RunCurves, latest_compacted, states_of
from workbench_plugin.frames import RunFrames, build_frames, reduce_points
from workbench_plugin.lifecycle import ExperimentState, Progress, State, count_states, fold_states
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.statebook import StateBook
from workbench_plugin.store import (
    DAMAGE_ERRORS,
    POINT_COLUMNS,
    Experiment,
    Run,
    Store,
    metric_schema,
    run_id_of,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ProjectIndex", "RunEntry", "RunView"]

log = logging.getLogger("hypertuner.index")
T = TypeVar("T")


#: Seconds between two looks for a newer compaction of a run read from one (a superseded
#: generation is removed an hour after the manifest that superseded it)
COMPACTION_CHECK_SECONDS = 60.0


class _EventLists(dict[str, list[dict[str, Any]]]):
    """Experiment id -> its state events read; an experiment with none has an empty list."""

    def __missing__(self, key: str) -> list[dict[str, Any]]:
        return []


class RunEntry:
    """What the index knows of one run."""

    def __init__(self, run: Run, experiments: list[Experiment]) -> None:
        self.run = run
        self.experiments = experiments
        self.by_id = {e.experiment_id: e for e in experiments}
        #: state events read, by experiment (none read: an empty list)
        self.events: dict[str, list[dict[str, Any]]] = _EventLists()
        self.claims: MutableMapping[str, dict[str, Any]] = {}
        self.states = StateBook(self.by_id)
        #: names of the files read in each run folder (a compaction's covered ones included)
        self.seen: dict[str, set[str]] = {"states": set(), "claims": set(), "metrics": set()}
        #: the metric points that decide the experiment frame (:func:`~workbench_plugin.frames.reduce_points`
        #: of a compaction's and every part read since; columns :data:`~workbench_plugin.store.POINT_COLUMNS`,
        #: strings dictionary-encoded)
        self.reduced: pa.Table | None = None
        #: the curves: a compaction's files and the parts read since
        self.curves = RunCurves(experiments, None, {}, {})
        #: a compaction's state events of each experiment (JSON), decoded when a new event comes
        self.compacted_events: dict[str, str] = {}
        self.compacted: Compacted | None = None
        #: when the index last looked for a newer compaction (time.monotonic())
        self.compaction_checked = time.monotonic()
        self.settled = False
        self.refreshes = 0
        #: files the last refresh could not read (the store unreachable): read at the next one
        self.unread = 0
        self.version = 0
        self._frames: RunFrames | None = None

    @property
    def metric_parts(self) -> list[pa.Table]:
        """The metric parts read (since the compaction read, if one was)."""
        return self.curves.parts

    def uncovered(self) -> int:
        """Files read that its compaction (if any) does not cover: what a new compaction would add."""
        if self.compacted is None:
            return sum(len(v) for v in self.seen.values())
        return sum(len(self.seen[f]) - len(self.compacted.covered_names(f)) for f in self.seen)

    def counts(self) -> dict[State, int]:
        return count_states(self.states.state_list())

    def progress(self) -> Progress:
        return Progress.of(self.states.state_list())

    @property
    def done(self) -> bool:
        return self.states.done

    def awaiting_usage(self) -> list[str]:
        return self.states.awaiting_usage(time.time())


class ProjectIndex:
    """Incrementally refreshed view of a project in a store. Thread-safe refresh."""

    def __init__(self, store: Store, project: str, *, compacted: bool = True) -> None:
        self.store = store
        self.project = project
        #: read a run's newest compaction (:mod:`workbench_plugin.compaction`) and only the files
        #: it does not cover; False: read every file (what a compaction itself does)
        self.compacted = compacted
        self.runs: dict[str, RunEntry] = {}
        #: runs left out, with why (a damaged or missing record), each reported once
        self.skipped: dict[str, str] = {}
        self._lock = threading.RLock()

    def refresh(self) -> bool:
        """Read new files; return True when anything changed."""
        with self._lock:
            changed = False
            for run_id in self.store.runs(self.project):
                if run_id not in self.runs and run_id not in self.skipped:
                    entry = self._read_run(run_id)
                    if entry is not None:
                        self.runs[run_id] = entry
                        changed = True
            for run_id, entry in list(self.runs.items()):
                newer = self._newer_compaction(entry)
                if newer is not None:
                    self.runs[run_id] = entry = newer
                    changed = True
                if not entry.settled and self._refresh_run(entry):
                    entry.version += 1
                    entry._frames = None
                    changed = True
            return changed

    def _newer_compaction(self, entry: RunEntry) -> RunEntry | None:
        """The run read anew from its newest compaction, when one newer than the entry's was
        published (checked every :data:`COMPACTION_CHECK_SECONDS`, settled runs too): a compaction
        removes the generations it superseded an hour later, so an index that outlives that (a
        dashboard server) moves to the newest before its files go."""
        if entry.compacted is None or not self.compacted:
            return None
        now = time.monotonic()
        if now - entry.compaction_checked < COMPACTION_CHECK_SECONDS:
            return None
        entry.compaction_checked = now
        run_id = entry.run.run_id
        try:
            names = self.store.fs.listdir(f"{self.store.run_dir(self.project, run_id)}/{COMPACTED_FOLDER}")
        except OSError:  # StoreError (not reachable now), or the folder gone: the next check
            return None
        if max((n for n in names if n.endswith(".json")), default="") <= f"{entry.compacted.generation}.json":
            return None
        fresh = self._read_run(run_id)
        if fresh is None or fresh.compacted is None or fresh.compacted.generation <= entry.compacted.generation:
            return None
        fresh.version = entry.version + 1  # pages compare versions: the new entry's frames are new
        log.info("run %s: reading its newer compaction %s", run_id, fresh.compacted.generation)
        return fresh

    def _read_run(self, run_id: str) -> RunEntry | None:
        """A run's records, or None: skipped (one line) when damaged, retried when unreadable."""
        with building_many():
            return self._read_run_records(run_id)

    def _read_run_records(self, run_id: str) -> RunEntry | None:
        base = self.store.run_dir(self.project, run_id)
        path = f"{base}/run.json"
        try:
            run = self.store.read_run(self.project, run_id)
            path = f"{base}/experiments.json"
            experiments = self.store.read_experiments(self.project, run_id)
        except RunNotFound:  # a record set aside, or never written whole
            self.skipped[run_id] = f"{path} is missing"
            log.warning("run %s: skipped, %s", run_id, self.skipped[run_id])
            return None
        except StoreError:
            return None  # not readable now: the next refresh tries again
        except DAMAGE_ERRORS as exc:
            self.store.set_aside(path, exc)  # says so in one line
            if path.endswith("/experiments.json"):  # the run goes with its batch: named once, not per command
                self.store.set_aside(f"{base}/run.json", f"its batch {path} is damaged", say=False)
            self.skipped[run_id] = f"{path} is damaged"
            return None
        entry = RunEntry(run, experiments)
        if self.compacted:
            self._read_compacted(entry)
        return entry

    def _read_compacted(self, entry: RunEntry) -> None:
        """Start from the run's newest compaction, when it has one: its files stand for every file
        it covers. One that cannot be read now or is damaged is left out (the parts are read)."""
        run_id = entry.run.run_id
        try:
            compacted = latest_compacted(self.store, self.project, run_id)
            if compacted is None:
                return
            reduced = compacted.reduced()
            states, claims, events, points, health = states_of(compacted, list(entry.by_id))
            seen = {folder: set(compacted.covered_names(folder)) for folder in entry.seen}
        except (StoreError, FileNotFoundError) as exc:
            log.warning("run %s: its compaction cannot be read now (%s); reading its parts", run_id, exc)
            return
        except DAMAGE_ERRORS as exc:
            log.warning("run %s: its compaction is damaged (%s); reading its parts", run_id, exc)
            return
        entry.compacted = compacted
        entry.reduced = reduced
        entry.states = states
        entry.claims = claims
        entry.compacted_events = events
        entry.seen = seen
        entry.curves = RunCurves(entry.experiments, compacted, points, health)
        entry.version += 1

    def _new(self, entry: RunEntry, folder: str) -> list[str]:
        """Names in ``folder`` not read before (files are never rewritten: a name read is read)."""
        seen = entry.seen[folder]
        return [n for n in self.store.fs.listdir(self.store.run_folder(self.project, entry.run.run_id, folder))
                if n not in seen]

    def _read_new(self, entry: RunEntry, folder: str, decode: Callable[[str], T]) -> Iterator[T]:
        """Decode each new file of ``folder``; a file counts as read (never again) only once read
        whole: a damaged one is set aside, an unreadable one waits for the next refresh."""
        seen = entry.seen[folder]
        base = self.store.run_folder(self.project, entry.run.run_id, folder)
        for name in sorted(self._new(entry, folder)):  # by experiment and sequence: a stable order
            path = f"{base}/{name}"
            try:
                value = decode(path)
            except FileNotFoundError:  # set aside by another reader meanwhile
                seen.add(name)
                continue
            except OSError:  # StoreError, or Arrow reading a local path: not read, so read it later
                entry.unread += 1
                continue
            except DAMAGE_ERRORS as exc:
                self.store.set_aside(path, exc)
                seen.add(name)
                continue
            seen.add(name)
            yield value

    def _claim(self, path: str) -> dict[str, Any]:
        return _checked(self.store.read_record(path), "experiment_id")

    def _state_event(self, path: str) -> dict[str, Any]:
        return _checked(self.store.read_record(path), "experiment_id", "state")

    def _refresh_run(self, entry: RunEntry) -> bool:
        was_done = entry.done and entry.refreshes > 0  # a compacted run too: one refresh after it was read
        entry.refreshes += 1
        entry.unread = 0
        touched = self._read_states(entry)
        parts = self._read_metrics(entry)
        # Settle one refresh after everything ended, so parts written before the end are read
        # (and never with a file left unread).
        if (was_done and entry.done and not touched and not parts and not entry.unread
                and not entry.awaiting_usage()):
            entry.settled = True
        return bool(touched or parts)

    def _read_states(self, entry: RunEntry) -> set[str]:
        """Read new claims and state events; refold each touched experiment once."""
        touched: set[str] = set()
        for claim in self._read_new(entry, "claims", self._claim):
            if claim["experiment_id"] in entry.by_id:
                entry.claims[claim["experiment_id"]] = claim
                touched.add(claim["experiment_id"])
        events = entry.events
        for event in self._read_new(entry, "states", self._state_event):
            if event["experiment_id"] in entry.by_id:
                exp_events = events.setdefault(event["experiment_id"], [])
                if event["experiment_id"] in entry.compacted_events:  # the events before, as compacted
                    exp_events[:0] = json.loads(entry.compacted_events.pop(event["experiment_id"]))
                exp_events.append(event)
                touched.add(event["experiment_id"])
        claims = entry.claims
        for exp_id in touched:
            entry.states[exp_id] = fold_states(events[exp_id], claims.get(exp_id))
        return touched

    def _read_metrics(self, entry: RunEntry) -> int:
        """Read new metric parts (only the columns frames need); return how many."""
        parts = list(self._read_new(entry, "metrics", self.store.read_metrics_part))
        if parts:
            entry.curves.add(parts)
            import pyarrow as pa

            tables = [t for t in (entry.reduced, *parts) if t is not None]
            entry.reduced = reduce_points(entry.experiments, pa.concat_tables(tables) if len(tables) > 1 else tables[0])
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
        if not ident.strip():  # '' is a prefix of every id: it must not name a project's only run
            raise ExperimentNotFound(f"{ident!r}: the id is empty; give a run or experiment id, as "
                                     "'hypertuner status' lists them")
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
        """Every metric point read from parts (with a compaction, those it does not cover), one Arrow
        table (columns :data:`~workbench_plugin.store.POINT_COLUMNS`)."""
        import pyarrow as pa

        entry = self.entry(run_id)
        with self._lock:
            parts = entry.curves.parts
            if len(parts) != 1:
                empty = metric_schema(POINT_COLUMNS, dictionary=True).empty_table()
                table = pa.concat_tables(parts) if parts else empty
                # numbers in one buffer each, so that numpy reads them without a copy; strings stay
                # chunked (unifying their dictionaries costs more than it saves)
                for i, name in enumerate(table.column_names):
                    column = table.column(i)
                    if column.num_chunks > 1 and not pa.types.is_dictionary(column.type):
                        table = table.set_column(i, name, pa.chunked_array([pa.concat_arrays(column.chunks)]))
                parts[:] = [table]
            return parts[0]

    def frames(self, run_id: str) -> RunFrames:
        """The run's frames; the experiment frame is built from the reduced points, the curves are
        read when a page asks for them."""
        entry = self.entry(run_id)
        with self._lock:
            if entry._frames is None:
                states = entry.states.state_list()
                if len(states) != len(entry.experiments):  # an id twice in the batch: each row its own
                    states = [entry.states.state(e.experiment_id) for e in entry.experiments]
                reduced = entry.reduced if entry.reduced is not None else metric_schema(
                    POINT_COLUMNS, dictionary=True).empty_table()
                with building_many():
                    entry._frames = build_frames(entry.run, entry.experiments, states, reduced,
                                                 version=entry.version, source=entry.curves.copy())
            return entry._frames


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


def _checked(record: dict[str, Any], *strings: str) -> dict[str, Any]:
    """A claim or state event as folded: ``strings`` are strings, ``time`` a number; else
    ``ValueError`` (the file is damaged)."""
    for key in strings:
        if not isinstance(record.get(key), str):
            raise ValueError(f"{key}={record.get(key)!r} is not a string")
    stamp = record.get("time", 0.0)
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        raise ValueError(f"time={stamp!r} is not a number")
    return record
