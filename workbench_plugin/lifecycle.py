"""The experiment lifecycle: its states, the events that move it, their fold, and progress.

An experiment with no state event is ``queued``. A gateway that submits it writes
``submitted`` (with the engine's id, and whether the engine will account its usage after the
end); the wrapper writes ``running`` and then the final state itself; a reconciler writes
``lost`` when the submission vanished without one. Three more event kinds ride in the same
folder: ``kill_requested`` (a user asked to kill it), ``usage`` (what the cluster accounted
for it, after the end) and ``requeued`` (a claim given back because its gateway died before
the experiment started).

Claims have generations: a ``requeued`` event gives claim generation *g* back, the experiment
folds as queued again, and the next claim is generation *g + 1*. Events that carry an older
``generation`` than the current claim belong to the attempt that was given back and are ignored.
Every other part of HyperTuner takes state names from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ACTIVE",
    "KILL_REQUESTED",
    "PENDING_OR_SUCCEEDED",
    "REQUEUED",
    "STATES",
    "TERMINAL",
    "USAGE_EVENT",
    "USAGE_EXPECTED",
    "USAGE_WAIT_SECONDS",
    "ExperimentState",
    "Progress",
    "State",
    "count_states",
    "fold_states",
    "needs_usage",
]


class State(StrEnum):
    """Every experiment state, in lifecycle order."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    KILLED = "killed"
    LOST = "lost"


STATES: tuple[State, ...] = tuple(State)
#: States an experiment never leaves.
TERMINAL = frozenset({State.SUCCEEDED, State.FAILED, State.KILLED, State.LOST})
#: Handed to an engine and not ended: what takes a slot.
ACTIVE = frozenset({State.SUBMITTED, State.RUNNING})
#: Will have a result or has one: running the same experiment again would be redundant.
PENDING_OR_SUCCEEDED = frozenset({State.QUEUED, State.SUBMITTED, State.RUNNING, State.SUCCEEDED})
_RANK = {State.QUEUED: 0, State.SUBMITTED: 1, State.RUNNING: 2}

#: A user asked to kill the experiment: if it then vanishes without a final state, it was killed, not lost.
KILL_REQUESTED = "kill_requested"
#: A claim given back (its gateway died before the experiment started): the experiment is queued again.
REQUEUED = "requeued"
#: Events that carry what the cluster accounted for a finished experiment (vcore-seconds, ...).
USAGE_EVENT = "usage"
#: The ``submitted`` event's field saying that the engine accounts usage after the end.
USAGE_EXPECTED = "usage_expected"
#: How long after its end an experiment may wait for its usage before its run settles anyway.
USAGE_WAIT_SECONDS = 600.0


@dataclass
class ExperimentState:
    """The folded state of one experiment: its events merged in lifecycle order."""

    state: State = State.QUEUED
    claimed: bool = False
    claim_time: float | None = None
    #: The claim generation the fold describes; a requeued experiment is claimed next as ``generation + 1``.
    generation: int = 0
    #: The claim of :attr:`generation` was given back (``requeued``): the experiment is unclaimed.
    requeued: bool = False
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def next_generation(self) -> int:
        """The generation the next claim of this experiment takes (after a give-back, one more)."""
        return self.generation + 1 if self.requeued else self.generation

    @property
    def engine_id(self) -> str | None:
        return self.fields.get("engine_id")

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def _generation(event: dict[str, Any], default: int) -> int:
    """The claim generation an event belongs to (``default`` when it names none)."""
    value = event.get("generation")
    return value if isinstance(value, int) else default


def fold_states(events: Iterable[dict[str, Any]], claim: dict[str, Any] | None = None) -> ExperimentState:
    """Fold state events: the furthest non-terminal state, unless a terminal one exists.

    The first terminal event (by time) wins: a ``lost`` written by a reconciler after the
    wrapper's own ``succeeded`` does not change the outcome. Fields of later events override
    earlier ones, except that nothing after the terminal event counts.
    """
    folded = ExperimentState()
    if claim is not None:
        folded.claimed = True
        folded.claim_time = claim.get("time")
        folded.generation = _generation(claim, 0)
    current = folded.generation
    # events of a generation given back are the past of another attempt (unmarked ones are of any)
    ordered = sorted((e for e in events if _generation(e, current) >= current), key=lambda e: e.get("time", 0.0))
    if any(e.get("state") == REQUEUED and _generation(e, -1) == current for e in ordered):
        folded.claimed = False
        folded.requeued = True
        folded.claim_time = None
        ordered = [e for e in ordered if e.get("state") != REQUEUED and "generation" not in e]
    usage = [e for e in ordered if e.get("state") == USAGE_EVENT]  # written after the end
    for event in ordered:
        try:
            state = State(event.get("state", ""))
        except ValueError:
            continue  # kill requests, usage, or a kind from a newer version
        extra = {k: v for k, v in event.items() if k not in ("experiment_id", "state")}
        if state in TERMINAL:
            folded.state = state
            extra[f"{state}_time"] = event.get("time")
            extra["ended"] = event.get("time")
            folded.fields.update(extra)
            break
        if _RANK[state] >= _RANK.get(folded.state, 0):
            folded.state = state
        extra[f"{state}_time"] = event.get("time")
        folded.fields.update({k: v for k, v in extra.items() if k != "time"})
    for event in ordered:
        if event.get("state") == KILL_REQUESTED:
            folded.fields.setdefault("kill_requested", event.get("time"))
            if isinstance(event.get("by"), str) and event["by"]:  # who asked (the page's user)
                folded.fields.setdefault("kill_requested_by", event["by"])
    by = folded.fields.get("kill_requested_by")
    if folded.state == State.KILLED and by and by not in str(folded.fields.get("reason") or ""):
        # the wrapper or a gateway wrote the reason without knowing who asked: the reason says it
        reason = str(folded.fields.get("reason") or "killed on request")
        folded.fields["reason"] = f"{reason}; stop asked by {by}"
    for event in usage:  # recorded after the end, from the cluster's accounting
        folded.fields.update({k: v for k, v in event.items() if k not in ("experiment_id", "state", "time")})
        folded.fields["usage_recorded"] = True
    return folded


def needs_usage(state: ExperimentState, now: float) -> bool:
    """An ended experiment whose engine said (at submission) it accounts usage, not recorded yet."""
    ended = state.get("ended") or 0.0
    return (state.terminal and bool(state.get(USAGE_EXPECTED)) and not state.get("usage_recorded")
            and now - ended < USAGE_WAIT_SECONDS)


@dataclass(frozen=True)
class Progress:
    """A batch's progress in the four groups every view shows (the CLI line, the page's bar).

    ``running`` counts submitted and running experiments; ``failed`` counts failed, killed and
    lost ones; ``ended`` is ``succeeded + failed``.
    """

    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0

    #: The groups in the order they are drawn.
    GROUPS = ("succeeded", "running", "queued", "failed")

    @classmethod
    def of(cls, states: Iterable[str]) -> Progress:
        counts = count_states(states)
        return cls(
            total=sum(counts.values()),
            queued=counts[State.QUEUED],
            running=counts[State.SUBMITTED] + counts[State.RUNNING],
            succeeded=counts[State.SUCCEEDED],
            failed=counts[State.FAILED] + counts[State.KILLED] + counts[State.LOST],
        )

    @property
    def ended(self) -> int:
        return self.succeeded + self.failed

    def groups(self) -> dict[str, int]:
        return {g: getattr(self, g) for g in self.GROUPS}


def count_states(states: Iterable[str]) -> dict[State, int]:
    """How many experiments are in each state (every state present, in lifecycle order)."""
    out = dict.fromkeys(STATES, 0)
    for s in states:
        out[State(s)] += 1
    return out
