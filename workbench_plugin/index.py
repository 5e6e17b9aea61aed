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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench_plugin._exceptions import ExperimentNotFound, RunNotFound
from workbench_plugin.frames import STATES, TERMINAL_STATES, RunFrames
from workbench_plugin.store import Experiment, Run, Store, run_id_of

__all__ = ["ExperimentState", "ProjectIndex", "RunEntry", "RunView", "fold_states"]

_RANK = {"queued": 0, "submitted": 1, "running": 2}


@dataclass
class ExperimentState:
    """The folded state of one experiment: its events merged in lifecycle order."""

    state: str = "queued"
    claimed: bool = False
    claim_time: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def engine_id(self) -> str | None:
        return self.fields.get("engine_id")

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def fold_states(events: Iterable[dict[str, Any]], claim: dict[str, Any] | None = None) -> ExperimentState:
    """Fold state events: the furthest non-terminal state, unless a terminal one exists.

    The first terminal event (by time) wins: a ``lost`` written by a reconciler after the
    wrapper's own ``succeeded`` does not change the outcome. Fields of later events override
    earlier ones, except that nothing after the terminal event counts.
    """
    folded = ExperimentState()
    if claim is not None:
        folded.claimed = True
        folded.claim_time = claim.get("time")
    ordered = sorted(events, key=lambda e: e.get("time", 0.0))
    usage = [e for e in ordered if e.get("state") == USAGE_EVENT]  # written after the end
    for event in ordered:
        state = event.get("state", "")
        if state not in STATES:
            continue
        extra = {k: v for k, v in event.items() if k not in ("experiment_id", "state")}
        if state in TERMINAL_STATES:
            folded.state = state
            extra[f"{state}_time"] = event.get("time")
            extra["ended"] = event.get("time")
            folded.fields.update(extra)
            break
        if _RANK[state] >= _RANK.get(folded.state, 0):
            folded.state = state
        extra[f"{state}_time"] = event.get("time")
        folded.fields.update({k: v for k, v in extra.items() if k != "time"})
    for event in ordered:
        if event.get("state") == KILL_REQUESTED:
            folded.fields.setdefault("kill_requested", event.get("time"))
    for event in usage:  # recorded after the end, from the cluster's accounting
        folded.fields.update({k: v for k, v in event.items() if k not in ("experiment_id", "state", "time")})
        folded.fields["usage_recorded"] = True
    return folded


#: A user asked to kill the experiment: if it then vanishes without a final state, it was killed, not lost.
KILL_REQUESTED = "kill_requested"
#: Events that carry what the cluster accounted for a finished experiment (vcore-seconds, ...).
USAGE_EVENT = "usage"
#: How long after its end an experiment may wait for its usage before its run settles anyway.
USAGE_WAIT_SECONDS = 600.0


def needs_usage(state: ExperimentState, now: float) -> bool:
    """A finished YARN experiment whose usage the gateway has not recorded yet."""
    engine_id = str(state.get("engine_id") or "")
    ended = state.get("ended") or 0.0
    return (state.terminal and engine_id.startswith("yarn:") and not state.get("usage_recorded")
            and now - ended < USAGE_WAIT_SECONDS)


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
        self.metric_frames: list[pd.DataFrame] = []
        self.settled = False
        self.version = 0
        self._frames: RunFrames | None = None

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for s in self.states.values():
            out[s.state] += 1
        return out

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
        fs = self.store.fs
        touched: set[str] = set()
        for path in self._new(entry, "claims"):
            claim = json.loads(fs.read_bytes(path))
            entry.claims[claim["experiment_id"]] = claim
            touched.add(claim["experiment_id"])
        for path in self._new(entry, "states"):
            event = json.loads(fs.read_bytes(path))
            if event.get("experiment_id") in entry.events:
                entry.events[event["experiment_id"]].append(event)
                touched.add(event["experiment_id"])
        for exp_id in touched:
            entry.states[exp_id] = fold_states(entry.events[exp_id], entry.claims.get(exp_id))
        parts = self._new(entry, "metrics")
        if parts:
            import pyarrow.parquet as pq

            for path in parts:
                local = fs.local_path(path)
                table = pq.read_table(local if local else io.BytesIO(fs.read_bytes(path)))
                entry.metric_frames.append(table.to_pandas())
        # Settle one refresh after everything ended, so parts written before the end are read.
        if was_done and entry.done and not touched and not parts and not entry.awaiting_usage():
            entry.settled = True
        return bool(touched or parts)

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

    def metrics_frame(self, run_id: str) -> pd.DataFrame:
        entry = self.entry(run_id)
        if not entry.metric_frames:
            from workbench_plugin.store import METRIC_COLUMNS

            return pd.DataFrame({c: [] for c in METRIC_COLUMNS})
        if len(entry.metric_frames) > 1:
            entry.metric_frames = [pd.concat(entry.metric_frames, ignore_index=True)]
        return entry.metric_frames[0]

    def frames(self, run_id: str) -> RunFrames:
        entry = self.entry(run_id)
        with self._lock:
            if entry._frames is None:
                entry._frames = _build_frames(entry, self.metrics_frame(run_id))
            return entry._frames


def _final_values(points: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and metric: the summary value, else the last logged value."""
    if points.empty:
        return pd.DataFrame()
    pts = points.assign(_summary=(points["kind"] == "summary").astype(int))
    pts = pts.sort_values(["_summary", "time"], kind="stable")
    last = pts.groupby(["experiment_id", "name"], sort=False)["value"].last()
    return last.unstack("name")


def _build_frames(entry: RunEntry, points: pd.DataFrame) -> RunFrames:
    run = entry.run
    hparams = tuple(run.spec)
    rows: list[dict[str, Any]] = []
    for exp in entry.experiments:
        st = entry.states[exp.experiment_id]
        row: dict[str, Any] = {
            "experiment_id": exp.experiment_id,
            "label": exp.label,
            "state": st.state,
        }
        row.update({h: exp.params.get(h) for h in hparams})
        rows.append(row)
    experiments = pd.DataFrame(rows, columns=["experiment_id", "label", "state", *hparams])
    finals = _final_values(points)
    metrics: list[str] = []
    for name in finals.columns:
        column = name if name not in experiments.columns else f"{name} (metric)"
        metrics.append(column)
        experiments[column] = experiments["experiment_id"].map(finals[name]).astype(float)
    curve_pts = points[points["kind"] != "summary"] if not points.empty else points
    curves = pd.DataFrame(
        {
            "experiment_id": curve_pts.get("experiment_id", pd.Series(dtype=str)),
            "epoch": pd.to_numeric(curve_pts.get("epoch", pd.Series(dtype=float)), errors="coerce").astype(float),
            "step": pd.to_numeric(curve_pts.get("step", pd.Series(dtype=float)), errors="coerce").astype(float),
            "name": curve_pts.get("name", pd.Series(dtype=str)),
            "value": curve_pts.get("value", pd.Series(dtype=float)),
            "time": curve_pts.get("time", pd.Series(dtype=float)),
        }
    )
    if not curves.empty:
        curves = curves.sort_values(["experiment_id", "time"], kind="stable")
        # the last value per (experiment, name, epoch, step) wins: re-printed lines fold
        curves = curves.drop_duplicates(["experiment_id", "name", "epoch", "step"], keep="last")
        curves = curves.drop(columns=["time"]).reset_index(drop=True)
    else:
        curves = curves.drop(columns=["time"])
    scales: dict[str, Any] = {h: run.scales.get(h, "linear") for h in hparams}
    for h in hparams:
        if experiments[h].map(lambda v: isinstance(v, str)).any():
            scales[h] = "categorical"
    for m in metrics:
        scales[m] = "linear"
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

    def frames(self) -> RunFrames:
        frames = self.index.frames(self.run_id)
        self._seen = frames.version
        return frames

    def refresh(self) -> bool:
        """True when the run changed since this view last read its frames (indexes are shared)."""
        self.index.refresh()
        return self.index.runs[self.run_id].version != self._seen

