"""The experiment page for the current server session: the link's view, the Stop button's
engine and user, live updates; and the full-log page (``?experiment=ID&log=stdout|stderr``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import panel as pn

from panel_app.connection import watch_connection
from panel_app.experiment_page.model import STREAMS, ExperimentPageModel
from panel_app.experiment_page.registry import discover_views
from panel_app.experiment_page.templates import full_log_html, problem_html
from panel_app.experiment_page.view import ExperimentPage, Stopper
from panel_app.page_notes import PageNotes
from workbench_plugin.index import RunView

if TYPE_CHECKING:
    from workbench_plugin.config import Config
    from workbench_plugin.index import ProjectIndex

__all__ = ["experiment_page_view", "log_page", "new_experiment_page", "stopper"]

#: Who a stop is recorded as when the server knows no user (no login).
FROM_PAGE = "the experiment page"


def stopper(index: ProjectIndex, config: Config, user: str | None) -> Stopper:
    """Kills one experiment through the configured engine, recorded as asked by ``user``."""

    def stop(experiment_id: str) -> str:
        from workbench_plugin.plugins import kill, load_engine

        engine = load_engine(config, index.store)
        results = kill(index, engine, experiment_id, by=user or FROM_PAGE)
        return "; ".join(f"{r.experiment_id}: {r.before} -> {r.after}" if r.before != r.after
                         else f"{r.experiment_id}: already {r.after}" for r in results)

    return stop


def new_experiment_page(index: ProjectIndex, experiment_id: str, *, config: Config | None = None,
                        view: Mapping[str, Any] | None = None, problems: Sequence[str] = (),
                        nav: pn.viewable.Viewable | None = None, refresh_ms: int = 1500) -> ExperimentPage:
    """The :class:`ExperimentPage` of ``experiment_id``; live and with a Stop button in a server
    session (Stop only when ``config`` names the engine)."""
    doc = pn.state.curdoc
    in_session = doc is not None and doc.session_context is not None
    model = ExperimentPageModel(index, experiment_id, config=config)
    said = [*problems, *model.apply_view_state(view or {})]
    user = (pn.state.user or None) if in_session else None
    stop = stopper(index, config, user) if config is not None else None
    notes = PageNotes(RunView(index, model.data.run_id).memory, model.data.run_id, "experiment", [experiment_id],
                      model.view_state, author=user, labels={experiment_id: model.data.label})
    page = ExperimentPage(model, discover_views(), nav=nav, stop=stop, problems=said, refresh_ms=refresh_ms,
                          notes=notes.__panel__())
    if in_session:
        page.start_live()
        watch_connection(doc)
    return page


def experiment_page_view(index: ProjectIndex, experiment_id: str, **options: Any) -> pn.viewable.Viewable:
    return new_experiment_page(index, experiment_id, **options).__panel__()


def log_page(index: ProjectIndex, experiment_id: str, stream: str) -> pn.viewable.Viewable:
    """A whole log, escaped in a ``<pre>`` (its last :data:`~workbench_plugin.experiment_info.MAX_LOG_BYTES`)."""
    if stream not in STREAMS:
        return pn.pane.HTML(problem_html(f"log={stream[:40]!r}: use log=stdout or log=stderr"), margin=(0, 10))
    model = ExperimentPageModel(index, experiment_id)
    return pn.pane.HTML(full_log_html(experiment_id, stream, model.full_log(stream)),
                        sizing_mode="stretch_width", margin=(0, 10))
