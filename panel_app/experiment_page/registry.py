"""Which views the experiment page shows: every entry point of the ``hypertuner.views`` group.

:func:`discover_views` loads each entry point (:mod:`importlib.metadata`), instantiates it (a
class is called with no arguments; an instance is taken as it is) and checks it against the
:class:`~panel_app.experiment_page.plugins.ExperimentView` protocol. A plug-in that fails to
import or to instantiate, or that is malformed, becomes one line (its name and why) that the page
shows; it never stops the page. The built-in views come first (:data:`BUILT_IN_ORDER`), then the
others by name; of two entry points of one name HyperTuner's own wins, else the first found on
the path, and the other is one line.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from panel_app.experiment_page.plugins import ENTRY_POINT_GROUP, ExperimentView

__all__ = ["BUILT_IN_ORDER", "OUR_DISTRIBUTION", "Registry", "check_view", "discover_views"]

#: The built-in views, in the order the page shows them.
BUILT_IN_ORDER = ("observatory", "confusion", "elbow", "roc")
#: The distribution whose views are the built-in ones.
OUR_DISTRIBUTION = "hypertuner"
#: A view's ``name`` (its key in the URL's view state).
_NAME = re.compile(r"[a-z0-9_]{1,40}")
#: Where a problem quotes an exception, at most this many characters of it.
_SHOWN = 160


class Registry(NamedTuple):
    """The views to show, in order, and one line per plug-in that could not be loaded."""

    views: tuple[ExperimentView, ...]
    problems: tuple[str, ...]

    def names(self) -> tuple[str, ...]:
        return tuple(view.name for view in self.views)


def _one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def check_view(view: Any) -> str:
    """Why ``view`` is not a usable :class:`ExperimentView` ("" when it is)."""
    if not isinstance(view, ExperimentView):
        missing = [a for a in ("name", "title", "needs_artifacts", "needs_metrics", "render")
                   if not hasattr(view, a)]
        return f"{type(view).__name__} is not an ExperimentView (it lacks {', '.join(missing)})"
    if not isinstance(view.name, str) or not _NAME.fullmatch(view.name):
        return f"name {view.name!r} must be 1-40 of a-z, 0-9, _"
    if not isinstance(view.title, str) or not view.title.strip():
        return f"title {view.title!r} must be a non-empty string"
    for what in ("needs_artifacts", "needs_metrics"):
        needs = getattr(view, what)
        if not isinstance(needs, tuple | list) or not all(isinstance(n, str) for n in needs):
            return f"{what} {needs!r} must be a tuple of name patterns"
    if not callable(view.render):
        return "render is not callable"
    return ""


def _order(name: str) -> tuple[int, str]:
    return (BUILT_IN_ORDER.index(name) if name in BUILT_IN_ORDER else len(BUILT_IN_ORDER), name)


def _ours(ep: importlib.metadata.EntryPoint) -> bool:
    """Registered by HyperTuner itself: of two views of one name, a built-in one wins."""
    dist = getattr(ep, "dist", None)
    return dist is not None and str(dist.metadata["Name"]).lower() == OUR_DISTRIBUTION


def discover_views(entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> Registry:
    """Load the views registered in :data:`ENTRY_POINT_GROUP` (or the ``entry_points`` given)."""
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    views: dict[str, ExperimentView] = {}
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for ep in sorted(entry_points, key=lambda e: (*_order(e.name), not _ours(e))):
        if (ep.name, ep.value) in seen:  # one package found twice on the path
            continue
        seen.add((ep.name, ep.value))
        where = f"view plug-in {ep.name!r} ({ep.value})"
        if ep.name in views:
            problems.append(f"{where}: another plug-in already registered the name {ep.name!r}; "
                            "this one is left out")
            continue
        try:
            target = ep.load()
        except Exception as exc:  # a third party's import: any error is one line
            problems.append(f"{where}: could not be imported ({_one_line(exc)})")
            continue
        try:
            view = target() if isinstance(target, type) else target
        except Exception as exc:
            problems.append(f"{where}: could not be created with no arguments ({_one_line(exc)})")
            continue
        why = check_view(view)
        if not why and any(v.name == view.name for v in views.values()):
            why = f"its name {view.name!r} is taken by another plug-in"
        if why:
            problems.append(f"{where}: {why}")
            continue
        views[ep.name] = view
    return Registry(tuple(views.values()), tuple(problems))
