"""A run's experiment states and claims, kept as a compaction stores them until one is asked for.

Opening a compacted run of 100,000 experiments must not build 100,000 :class:`ExperimentState`
objects nor decode 200,000 JSON texts: a page shows counts and a few experiments. A
:class:`StateBook` answers what every refresh asks (each experiment's state, whether all ended,
which wait for their usage) from columns, and builds an experiment's state object only when it
is looked up. New events replace states one by one, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench_plugin.lifecycle import TERMINAL, USAGE_EXPECTED, ExperimentState, State, needs_usage

__all__ = ["JsonRecords", "StateBook", "StateColumns"]

#: The state of an experiment nothing was read of yet (never changed: folds make new ones)
_DEFAULT_STATE = ExperimentState()


@dataclass(frozen=True)
class StateColumns:
    """Folded states as columns (row ``row[id]``), as a compaction's states file holds them;
    ``fields`` are JSON texts (None: no fields), decoded for the experiments looked up."""

    row: Mapping[str, int]
    states: Sequence[State]
    claimed: Sequence[bool]
    claim_time: Sequence[float | None]
    generation: Sequence[int]
    requeued: Sequence[bool]
    fields: Sequence[str | None]

    def build(self, at: int) -> ExperimentState:
        text = self.fields[at]
        claim_time = self.claim_time[at]
        return ExperimentState(state=self.states[at], claimed=bool(self.claimed[at]),
                               claim_time=None if claim_time is None or claim_time != claim_time else claim_time,
                               generation=int(self.generation[at]), requeued=bool(self.requeued[at]),
                               fields=json.loads(text) if text else {})

    def usage_rows(self) -> list[int]:
        """Rows of ended experiments whose engine accounts usage after the end (the only ones
        :func:`~workbench_plugin.lifecycle.needs_usage` can hold for)."""
        return [at for at, (state, text) in enumerate(zip(self.states, self.fields, strict=True))
                if text and state in TERMINAL and USAGE_EXPECTED in text]


class StateBook(MutableMapping[str, ExperimentState]):
    """Experiment id -> folded state for one run's experiments (in launch order). Ids without
    a state read yet are queued. Values set replace the columns' for their id."""

    def __init__(self, ids: Iterable[str], columns: StateColumns | None = None) -> None:
        self._ids: dict[str, None] = dict.fromkeys(ids)  # an ordered set
        self._columns = columns
        self._objects: dict[str, ExperimentState] = {}  # set, or built from the columns when looked up
        usage = set(columns.usage_rows()) if columns is not None else set()
        self._usage = [eid for eid, at in columns.row.items() if at in usage] if usage else []  # type: ignore[union-attr]
        self._list: list[State] | None = None  # every state in launch order, once asked for
        self._position: dict[str, int] | None = None  # id -> its place in _list, once a state is set after

    def __getitem__(self, eid: str) -> ExperimentState:
        found = self._objects.get(eid)
        if found is not None:
            return found
        if eid not in self._ids:
            raise KeyError(eid)
        at = self._columns.row.get(eid) if self._columns is not None else None
        if at is None:
            return _DEFAULT_STATE
        built = self._objects[eid] = self._columns.build(at)  # type: ignore[union-attr]
        return built

    def __setitem__(self, eid: str, state: ExperimentState) -> None:
        if self._list is not None:  # keep the list of states as it would be made now
            if eid not in self._ids:
                self._list.append(state.state)
                if self._position is not None:
                    self._position[eid] = len(self._list) - 1
            else:
                if self._position is None:
                    self._position = {e: at for at, e in enumerate(self._ids)}
                self._list[self._position[eid]] = state.state
        self._ids.setdefault(eid)
        self._objects[eid] = state

    def __delitem__(self, eid: str) -> None:
        del self._ids[eid]
        self._objects.pop(eid, None)
        self._list = self._position = None

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def state(self, eid: str) -> State:
        """The state of ``eid`` without building its state object."""
        found = self._objects.get(eid)
        if found is not None:
            return found.state
        at = self._columns.row.get(eid) if self._columns is not None else None
        return self._columns.states[at] if at is not None else State.QUEUED  # type: ignore[union-attr]

    def state_list(self) -> list[State]:
        """Every experiment's state, in launch order (made once, then kept as states are set)."""
        if self._list is None:
            columns = self._columns
            if columns is not None and len(columns.row) == len(self._ids) and list(columns.row) == list(self._ids):
                # the compaction's rows are the run's experiments in launch order: its column as is
                self._list = list(columns.states)
                for eid, found in self._objects.items():
                    self._list[columns.row[eid]] = found.state
            else:
                self._list = [self.state(eid) for eid in self._ids]
        return list(self._list)

    @property
    def done(self) -> bool:
        return all(s in TERMINAL for s in self.state_list())

    def awaiting_usage(self, now: float) -> list[str]:
        """Ids (launch order) of ended experiments still waiting for their usage."""
        waiting = {eid for eid in self._usage if eid in self._ids and needs_usage(self[eid], now)}
        waiting.update(eid for eid, found in self._objects.items() if needs_usage(found, now))
        return [eid for eid in self._ids if eid in waiting] if waiting else []


class JsonRecords(MutableMapping[str, dict[str, Any]]):
    """Id -> record, from JSON texts decoded when looked up (a compaction's claims); records set
    replace the texts'."""

    def __init__(self, texts: Mapping[str, str] | None = None) -> None:
        self._texts = dict(texts or {})
        self._records: dict[str, dict[str, Any]] = {}  # set, or decoded when looked up

    def __getitem__(self, key: str) -> dict[str, Any]:
        found = self._records.get(key)
        if found is None:
            found = self._records[key] = json.loads(self._texts[key])  # KeyError when unknown
        return found

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        self._records[key] = value

    def __delitem__(self, key: str) -> None:
        found = self._records.pop(key, None)
        if self._texts.pop(key, None) is None and found is None:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self._texts
        yield from [k for k in self._records if k not in self._texts]

    def __len__(self) -> int:
        return len(self._texts) + sum(1 for k in self._records if k not in self._texts)
