"""The page's URL follows its view: one writer for every page (run, experiment, compare)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import panel as pn

from panel_app.run_page.view_state import search_with_view

__all__ = ["show_view_in_url"]


def show_view_in_url(view: Mapping[str, Any]) -> None:
    """Put ``view`` in the session's URL (``?view=``, the other parameters kept), so a copied
    link opens what is shown; nothing outside a server session or when it is there already."""
    location = pn.state.location if pn.state.curdoc is not None else None
    if location is None:
        return
    search = search_with_view(location.search, view)
    if search is not None:
        location.search = search
