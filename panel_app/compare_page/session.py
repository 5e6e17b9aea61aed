"""A compare page for the current server session, over a project index: the frames of every run
the experiments belong to, their durations and artifacts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import panel as pn

from panel_app.compare_page.view import ComparePage
from panel_app.experiment_page.model import experiment_data
from panel_app.experiment_page.plugins import ExperimentData
from panel_app.page_notes import PageNotes
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.experiment_info import ComparisonInfo, comparison_info
from workbench_plugin.index import ProjectIndex, RunView
from workbench_plugin.store import run_id_of

__all__ = ["compare_data", "compare_inputs", "new_compare_page"]


def compare_inputs(index: ProjectIndex, ids: Sequence[str]) -> tuple[dict[str, dict[str, float]],
                                                                     dict[str, list[str] | str]]:
    """Durations (seconds from running to the end, by id) and artifact names (or the one line
    why they cannot be listed) of experiments ``ids``."""
    durations: dict[str, float] = {}
    artifacts: dict[str, list[str] | str] = {}
    for eid in ids:
        run = run_id_of(eid)
        state = index.runs[run].states.get(eid) if run in index.runs else None
        if state is not None:
            start, end = state.get("running_time"), state.get("ended")
            if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
                durations[eid] = float(end - start)
        try:
            artifacts[eid] = list(index.store.artifacts(index.project, run, eid))
        except (HyperTunerError, OSError) as exc:
            artifacts[eid] = f"artifacts: cannot list ({exc})"
    return {"duration (s)": durations}, artifacts


def compare_data(index: ProjectIndex) -> Callable[[ComparisonInfo], list[ExperimentData]]:
    """What the views draw of each experiment of a comparison over ``index`` (in its order)."""

    def read(info: ComparisonInfo) -> list[ExperimentData]:
        return [experiment_data(index, e.experiment_id)[0] for e in info.experiments]

    return read


def new_compare_page(index: ProjectIndex, ids: Sequence[str], *, view: Mapping[str, Any] | None = None,
                     problems: Sequence[str] = (), nav: pn.viewable.Viewable | None = None) -> ComparePage:
    """The compare page of experiments ``ids`` (2 to 10, ids the router checked) of ``index``'s
    project; their runs' frames are read once (a comparison is of finished work)."""
    runs = list(dict.fromkeys(run_id_of(e) for e in ids))
    frames = [index.frames(r) for r in runs]
    extras, artifacts = compare_inputs(index, ids)
    info = comparison_info(frames, ids, extras=extras)
    doc = pn.state.curdoc
    in_session = doc is not None and doc.session_context is not None
    labels = {e.experiment_id: e.label for e in info.experiments}

    def current_view() -> dict[str, Any]:  # the page's, once built (a note is saved after)
        return page.model.view_state()

    notes = PageNotes(RunView(index, runs[0]).memory, runs[0], "compare", [e.experiment_id for e in info.experiments],
                      current_view, author=(pn.state.user or None) if in_session else None, labels=labels)
    page = ComparePage(info, artifacts=artifacts, view=view, problems=problems, nav=nav,
                       experiment_data=compare_data(index), notes=notes.__panel__())
    if in_session:
        from panel_app.connection import watch_connection

        watch_connection(doc)
    return page
