"""A new-run page for the current server session (``?new=<run id>``), and the run page's "New run" button."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import panel as pn

from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.flags import one_line

if TYPE_CHECKING:
    from workbench_plugin.config import Config
    from workbench_plugin.index import ProjectIndex
    from workbench_plugin.project import ProjectSettings

__all__ = ["new_run_button", "new_run_view"]


def new_run_button(run_id: str) -> pn.widgets.Button:
    """"New run": opens the new-run page of ``run_id`` (``?new=<run id>``) in this tab."""
    button = pn.widgets.Button(label="New run", color="primary", width=100, margin=(4, 10),
                               css_classes=["ht-new-run-button"])
    target = "?new=" + quote(run_id, safe="")
    button.js_on_click(args={"target": target}, code="window.location.search = target;")
    return button


def new_run_view(index: ProjectIndex, run_id: str, config: Config, settings: ProjectSettings) -> Any:
    """The page, or a one-line error (escaped) with a link back to the run."""
    from panel_app.connection import watch_connection
    from panel_app.new_run.model import NewRunContext, NewRunModel
    from panel_app.new_run.view import NewRunPage

    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        watch_connection(doc)
    try:
        model = NewRunModel(NewRunContext.open(config, index.store, settings, index), run_id)
    except (HyperTunerError, OSError) as exc:
        back = f'?run={html.escape(quote(run_id, safe=""))}'
        return pn.pane.HTML(f'<p class="ht-error">new run: {html.escape(one_line(str(exc)))}; '
                            f'<a href="{back}">back to the run</a></p>', margin=(0, 10))
    from panel_app.new_run.proposals import ProposalsModel

    proposals = ProposalsModel(model)
    if doc is not None and doc.session_context is not None:
        proposals.from_query(pn.state.session_args)  # a bad value: one line in the card, the rest is used
    return NewRunPage(model, project=index.project, proposals=proposals).__panel__()

