"""A run page for the current server session: the view a link asks for, the user, live updates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import panel as pn

from panel_app.connection import watch_connection
from panel_app.run_page.view import RunPage
from panel_app.run_page.view_state import view_from_args
from workbench_plugin.frames import RunSource

__all__ = ["build_run_page", "new_run_page"]


def build_run_page(source: RunSource, *, refresh_ms: int = 1500,
                   nav: pn.viewable.Viewable | None = None) -> pn.viewable.Viewable:
    """A new run page over ``source``; live (polling every ``refresh_ms``) in a server session.

    Call it once per session (``pn.serve(lambda: build_run_page(source))``): every browser
    tab gets its own page, selection and periodic callback, stopped with its session.
    """
    return new_run_page(source, refresh_ms=refresh_ms, nav=nav).__panel__()


def new_run_page(source: RunSource, *, refresh_ms: int = 1500,
                 nav: pn.viewable.Viewable | None = None, view: Mapping[str, Any] | None = None,
                 select: Sequence[str] = (), problems: Sequence[str] = (),
                 **options: Any) -> RunPage:
    """Like :func:`build_run_page`, but returns the :class:`RunPage` viewer itself. ``nav`` is
    shown above the run header (inside the page's own layout: wrapping the page in another
    layout collapses its fixed-size scatter matrix).

    ``view`` is the view to open (by default the session's ``?view=``), ``select`` the
    experiments to select when that view has no selection, ``problems`` one-line errors about
    the link to show in the header.
    """
    doc = pn.state.curdoc
    in_session = doc is not None and doc.session_context is not None
    said = [p for p in problems if p]
    if view is None:
        view = {}
        if in_session:
            view, problem = view_from_args(pn.state.session_args)
            said += [problem] if problem else []
    author = (pn.state.user or None) if in_session else None
    page = RunPage(source, refresh_ms=refresh_ms, nav=nav, view=view, select=select,
                   author=author, **options)
    if said:
        page.link_problems = "; ".join(said)
        page.show_error(page.error)
    if in_session:
        page.start_live()
        watch_connection(doc)
    return page
