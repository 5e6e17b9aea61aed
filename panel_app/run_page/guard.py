"""A re-entry guard: one small object instead of a boolean flag set and reset by hand."""

from __future__ import annotations

from types import TracebackType

__all__ = ["Guard"]


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
