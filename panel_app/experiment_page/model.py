"""The experiment page's state, apart from its view: no panel imports here.

:class:`ExperimentPageModel` reads one experiment of a :class:`~workbench_plugin.index.ProjectIndex`:
its :class:`~panel_app.experiment_page.plugins.ExperimentData` (what the views draw), its
header (:func:`~workbench_plugin.experiment_info.experiment_header`), its health flags (as the
run page computes them) and the page's view state, which a link carries in ``?view=``::

    {"play": epoch position, "metrics": [picked metrics], "views": {view name: view state}}

``play`` and ``metrics`` are the epoch observatory's (kept in ``views["observatory"]`` while the
page runs, hoisted for the link). :meth:`ExperimentPageModel.refresh` reads new store files
and says whether the experiment changed (new epochs, a new state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from panel_app.experiment_page.plugins import MAX_ARTIFACT_BYTES, ExperimentData, ViewState
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.experiment_info import ExperimentHeader, LogPart, bounded_log, experiment_header, log_tail
from workbench_plugin.proposals import Health, health_of

if TYPE_CHECKING:
    from workbench_plugin.config import Config
    from workbench_plugin.index import ProjectIndex

__all__ = ["OBSERVATORY", "STREAMS", "ExperimentPageModel", "artifact_reader", "experiment_data"]

#: The view whose state is hoisted to the top of the page's view state.
OBSERVATORY = "observatory"
#: The logs a page links to.
STREAMS = ("stdout", "stderr")


def artifact_reader(index: ProjectIndex, run_id: str, experiment_id: str) -> Callable[[str], bytes]:
    """Reads an artifact's bytes of the experiment, refused in one line when larger than
    :data:`MAX_ARTIFACT_BYTES`."""

    def read(name: str) -> bytes:
        data = index.store.read_artifact(index.project, run_id, experiment_id, name)
        if len(data) > MAX_ARTIFACT_BYTES:
            raise ValueError(f"artifact {name!r}: {len(data):,} bytes; a view reads at most "
                             f"{MAX_ARTIFACT_BYTES:,}")
        return data

    return read


def experiment_data(index: ProjectIndex, experiment_id: str) -> tuple[ExperimentData, list[str]]:
    """What the views of experiment ``experiment_id`` of ``index`` read (its run's frames, as
    :meth:`ProjectIndex.frames` holds them), and the lines of what could not be read (its
    artifacts' listing). Raises ``ExperimentNotFound`` / ``RunNotFound``."""
    entry, exp, state = index.experiment(experiment_id)
    run_id = entry.run.run_id
    frames = index.frames(run_id)
    mine = frames.curves_for([experiment_id])
    rows = frames.experiments[frames.experiments["experiment_id"] == experiment_id]
    final = {m: float(pd.to_numeric(rows[m], errors="coerce").iloc[0]) if len(rows) else float("nan")
             for m in frames.metrics}
    problems: list[str] = []
    try:
        artifacts = tuple(index.store.artifacts(index.project, run_id, experiment_id))
    except HyperTunerError as exc:
        artifacts = ()
        problems.append(f"artifacts: {exc}")
    plain = pd.DataFrame({
        "epoch": mine["epoch"].to_numpy(dtype="float64"),
        "step": mine["step"].to_numpy(dtype="float64"),
        "name": mine["name"].astype(str).to_numpy(dtype=object),
        "value": mine["value"].to_numpy(dtype="float64"),
    })
    data = ExperimentData(
        experiment_id=experiment_id, run_id=run_id, label=exp.label, state=str(state.state),
        params=dict(exp.params), curves=plain, final=final, artifacts=artifacts,
        reader=artifact_reader(index, run_id, experiment_id))
    return data, problems


class ExperimentPageModel:
    """One experiment of ``index``, as the page shows it; :meth:`refresh` follows the store."""

    def __init__(self, index: ProjectIndex, experiment_id: str, *, config: Config | None = None,
                 view: Mapping[str, Any] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.index = index
        self.experiment_id = experiment_id
        self.config = config
        #: called when a view's state changes (the page rewrites its URL)
        self.on_change = on_change
        entry, _, _ = index.experiment(experiment_id)  # raises ExperimentNotFound / RunNotFound
        self.run_id = entry.run.run_id
        self._version = -1
        self.states: dict[str, ViewState] = {}
        self.problems: list[str] = []
        self.data: ExperimentData
        self.header: ExperimentHeader
        self.health: Health | None = None
        self._load()
        self.apply_view_state(view or {})

    # ---- reading --------------------------------------------------------------------------
    def _load(self) -> None:
        entry = self.index.entry(self.run_id)
        self._version = entry.version
        self.data, self.problems = experiment_data(self.index, self.experiment_id)
        self.header = experiment_header(self.index, self.experiment_id, config=self.config,
                                        now=time.time())
        curves = self.data.curves
        if len(curves):
            health = health_of(curves.assign(experiment_id=self.experiment_id))
            self.health = health.get(self.experiment_id)
        else:
            self.health = None

    @property
    def active(self) -> bool:
        """Queued, submitted or running: stoppable, and its curves may grow."""
        return self.header.active

    def refresh(self) -> bool:
        """Read new files from the store; True when this experiment's run changed (reloaded)."""
        self.index.refresh()
        if self.index.entry(self.run_id).version == self._version:
            return False
        self._load()
        return True

    def log(self, stream: str) -> str:
        """The experiment's whole ``stdout`` or ``stderr``."""
        if stream not in STREAMS:
            raise ValueError(f"log={stream!r}: use stdout or stderr")
        return self.index.store.read_log(self.index.project, self.run_id, self.experiment_id, stream)

    def log_tail(self, stream: str) -> LogPart:
        return log_tail(self.log(stream))

    def full_log(self, stream: str) -> LogPart:
        return bounded_log(self.log(stream))

    # ---- view state -----------------------------------------------------------------------
    def state_of(self, name: str) -> ViewState:
        """The view state of view ``name`` (created empty), telling :attr:`on_change` of changes."""
        if name not in self.states:
            self.states[name] = ViewState({}, on_change=self._changed)
        return self.states[name]

    def _seed(self, name: str, values: Mapping[str, Any]) -> None:
        """Set values of view ``name``'s state without telling anyone (a link's, before drawing)."""
        old = self.states[name].as_dict() if name in self.states else {}
        self.states[name] = ViewState({**old, **values}, on_change=self._changed)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def view_state(self) -> dict[str, Any]:
        """What a link restores: ``{"play", "metrics", "views": {name: state}}`` (keys only when set)."""
        views = {name: s.as_dict() for name, s in self.states.items() if len(s)}
        out: dict[str, Any] = {}
        obs = dict(views.pop(OBSERVATORY, {}))
        for key in ("play", "metrics"):
            if key in obs:
                out[key] = obs.pop(key)
        if obs:
            views[OBSERVATORY] = obs
        if views:
            out["views"] = views
        return out

    def apply_view_state(self, view: Mapping[str, Any]) -> list[str]:
        """Take a view state from :meth:`view_state` (a link's); returns what was not taken."""
        problems: list[str] = []
        views = view.get("views") or {}
        if not isinstance(views, Mapping):
            problems.append(f"view: views is {type(views).__name__}, not an object")
            views = {}
        for name, values in views.items():
            if isinstance(values, Mapping):
                self._seed(str(name), {str(k): v for k, v in values.items()})
            else:
                problems.append(f"view: the state of {str(name)[:40]!r} is not an object")
        play = view.get("play")
        if play is not None:
            if isinstance(play, int) and not isinstance(play, bool) and play >= 0:
                self._seed(OBSERVATORY, {"play": play})
            else:
                problems.append(f"view: play={str(play)[:40]!r} is not an epoch position (0, 1, 2...)")
        metrics = view.get("metrics")
        if metrics is not None:
            if isinstance(metrics, list) and all(isinstance(m, str) for m in metrics):
                self._seed(OBSERVATORY, {"metrics": list(metrics)})
            else:
                problems.append("view: metrics is not a list of metric names")
        return problems
