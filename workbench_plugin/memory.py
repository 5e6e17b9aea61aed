"""A project's memory: locks and notes, stored as project events and folded on read.

Nothing here is ever rewritten: locking, unlocking and noting each append one event
(:meth:`Store.append_event`), and the current locks are the latest event per hyperparameter.
Two users locking at once both get their event stored; the later one wins on read.
"""

from __future__ import annotations

import base64
import getpass
import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from workbench_plugin._exceptions import ConfigError

__all__ = [
    "MAX_NOTE_CHARS",
    "MAX_VIEW_CHARS",
    "ListLog",
    "Lock",
    "MemoryLog",
    "Note",
    "ProjectMemory",
    "StoreMemory",
    "decode_view",
    "encode_view",
    "fold_locks",
    "notes_of_run",
]

LOCK_EVENT = "lock"
NOTE_EVENT = "note"


@dataclass(frozen=True)
class Lock:
    """A value or range of one hyperparameter the user decided to keep.

    Numbers lock a closed range ``low..high`` (``low == high`` for one value); categories lock
    ``values``. ``run_id`` is the run it was set from.
    """

    hparam: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    run_id: str = ""
    author: str = ""
    time: float = 0.0

    def describe(self) -> str:
        if self.values:
            return ", ".join(_short(v) for v in self.values)
        if self.low is None or self.high is None:
            return "any"
        if self.low == self.high:
            return _short(self.low)
        return f"{_short(self.low)}..{_short(self.high)}"


@dataclass(frozen=True)
class Note:
    """A note on a run with the view it was written in (selection, sliders, metric, chart)."""

    text: str
    run_id: str
    author: str
    time: float
    view: dict[str, Any] = field(default_factory=dict)


def _short(v: Any) -> str:
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.4g}"
    return str(v)


class MemoryLog(Protocol):
    """Where project events live: a store, or a list in tests."""

    def append_event(self, kind: str, **payload: Any) -> dict[str, Any]: ...

    def events(self, kind: str | None = None) -> list[dict[str, Any]]: ...


class StoreMemory:
    """The events of one project in a :class:`~workbench_plugin.store.Store`."""

    def __init__(self, store: Any, project: str) -> None:
        self.store = store
        self.project = project

    def append_event(self, kind: str, **payload: Any) -> dict[str, Any]:
        record: dict[str, Any] = self.store.append_event(self.project, kind, **payload)
        return record

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.store.events(self.project, kind)
        return found


class ListLog:
    """Events kept in this process only (a page over a source without a store)."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []

    def append_event(self, kind: str, **payload: Any) -> dict[str, Any]:
        record = {"kind": kind, "time": time.time(), "author": getpass.getuser(), **payload}
        self._events.append(record)
        return dict(record)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [dict(e) for e in self._events if kind is None or e.get("kind") == kind]


def fold_locks(events: Iterable[Mapping[str, Any]]) -> dict[str, Lock]:
    """The current lock per hyperparameter: its latest event, unless that one unlocked."""
    latest: dict[str, Mapping[str, Any]] = {}
    for event in sorted(events, key=lambda e: float(e.get("time", 0.0))):
        if event.get("kind", LOCK_EVENT) == LOCK_EVENT and event.get("hparam"):
            latest[str(event["hparam"])] = event
    out: dict[str, Lock] = {}
    for h, e in latest.items():
        if not e.get("locked", True):
            continue
        out[h] = Lock(
            hparam=h,
            low=None if e.get("low") is None else float(e["low"]),
            high=None if e.get("high") is None else float(e["high"]),
            values=tuple(e.get("values") or ()),
            run_id=str(e.get("run_id", "")),
            author=str(e.get("author", "")),
            time=float(e.get("time", 0.0)),
        )
    return out


def notes_of_run(events: Iterable[Mapping[str, Any]], run_id: str) -> list[Note]:
    """The notes written on ``run_id``, oldest first."""
    notes = [
        Note(text=str(e.get("text", "")), run_id=run_id, author=str(e.get("author", "")),
             time=float(e.get("time", 0.0)), view=dict(e.get("view") or {}))
        for e in events
        if e.get("kind", NOTE_EVENT) == NOTE_EVENT and e.get("run_id") == run_id
    ]
    return sorted(notes, key=lambda n: n.time)


class ProjectMemory:
    """Locks and notes of one project over a :class:`MemoryLog`."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log

    def locks(self) -> dict[str, Lock]:
        return fold_locks(self.log.events(LOCK_EVENT))

    def lock(self, hparam: str, *, run_id: str, low: float | None = None,
             high: float | None = None, values: Iterable[Any] = (),
             author: str | None = None) -> Lock:
        """Lock ``hparam`` to ``low..high`` (numbers) or to ``values`` (categories)."""
        vals = list(values)
        if not vals and (low is None or high is None):
            raise ConfigError(f"lock {hparam}: give a range (low and high) or values")
        for name, v in (("low", low), ("high", high)):
            if v is not None and not math.isfinite(v):
                raise ConfigError(f"lock {hparam}: {name}={v!r} is not a finite number")
        if low is not None and high is not None and low > high:
            raise ConfigError(f"lock {hparam}: low={low!r} is above high={high!r}")
        extra = {"author": author} if author else {}
        self.log.append_event(LOCK_EVENT, hparam=hparam, locked=True, low=low, high=high,
                              values=vals, run_id=run_id, **extra)
        return self.locks()[hparam]

    def unlock(self, hparam: str, *, run_id: str, author: str | None = None) -> None:
        extra = {"author": author} if author else {}
        self.log.append_event(LOCK_EVENT, hparam=hparam, locked=False, run_id=run_id, **extra)

    def notes(self, run_id: str) -> list[Note]:
        return notes_of_run(self.log.events(NOTE_EVENT), run_id)

    def add_note(self, run_id: str, text: str, view: Mapping[str, Any],
                 author: str | None = None) -> Note:
        text = text.strip()
        if not text:
            raise ConfigError("note: the text is empty; write something to save")
        if len(text) > MAX_NOTE_CHARS:
            raise ConfigError(f"note: {len(text):,} characters; a note holds at most {MAX_NOTE_CHARS:,} "
                              "(keep the long text in a file of the project)")
        extra = {"author": author} if author else {}
        record = self.log.append_event(NOTE_EVENT, run_id=run_id, text=text, view=dict(view),
                                       **extra)
        return Note(text=text, run_id=run_id, author=str(record.get("author", "")),
                    time=float(record.get("time", 0.0)), view=dict(view))


def encode_view(view: Mapping[str, Any]) -> str:
    """A view state as a URL-safe token (compact JSON, base64url without padding)."""
    raw = json.dumps(view, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: The longest note kept (it is shown on every page of the run).
MAX_NOTE_CHARS = 2_000
#: The longest view token read (a URL longer than Tornado's 64 KiB header limit never arrives).
MAX_VIEW_CHARS = 65_536


def decode_view(token: str) -> dict[str, Any]:
    """The view state in a token from :func:`encode_view`; a one-line error when it is not one
    (too long, not base64url JSON, nested too deep, not an object)."""
    if len(token) > MAX_VIEW_CHARS:
        raise ConfigError(f"view: {len(token):,} characters; a view token has at most "
                          f"{MAX_VIEW_CHARS:,}")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        view = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"view={token[:40]!r}: not a view token from a HyperTuner link "
                          f"({exc.__class__.__name__})") from None
    if not isinstance(view, dict):
        raise ConfigError(f"view={token[:40]!r}: not a view token from a HyperTuner link")
    return view
