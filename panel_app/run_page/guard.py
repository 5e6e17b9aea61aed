"""A re-entry guard (one small object instead of a boolean flag set and reset by hand), and
Bokeh edits under the document lock."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import panel as pn

__all__ = ["Guard", "with_lock"]


class Guard:
    """``with guard:`` marks a span of work; ``if guard:`` asks whether one is in progress.

    Spans nest (a counter, not a flag), and the guard is released however the span ends.
    A view uses one per kind of work its own watchers must not react to, e.g. "the server is
    setting widgets" (their watchers must not echo the change back into the model).
    """

    __slots__ = ("_depth", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._depth = 0

    def __enter__(self) -> Guard:
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._depth -= 1

    def __bool__(self) -> bool:
        return self._depth > 0

    def __repr__(self) -> str:
        return f"Guard({self.name!r}, active={bool(self)})"


def with_lock(fn: Callable[[], None]) -> None:
    """Run ``fn`` (which changes plain Bokeh models) holding the document lock.

    Bokeh callbacks (plot events, the periodic refresh) already hold it: run now. Panel runs
    widget callbacks outside it: schedule ``fn`` as the document's next tick, so its changes
    go out in Bokeh's own ordered patches (``pn.io.unlocked`` writes them directly instead,
    and under load those writes could overtake the patch that defines a new model).
    """
    doc = pn.state.curdoc
    session = getattr(getattr(doc, "session_context", None), "session", None)
    if doc is None or session is None or getattr(session, "_pending_writes", None) is not None:
        fn()
    else:
        doc.add_next_tick_callback(fn)
