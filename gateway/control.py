"""User actions on running things: kill an experiment or a whole run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.gateway import engine_id_of
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import KILL_REQUESTED, State

if TYPE_CHECKING:
    from engines.base import Engine

__all__ = ["KillResult", "kill"]


@dataclass(frozen=True)
class KillResult:
    experiment_id: str
    before: str
    after: str


def kill(index: ProjectIndex, engine: Engine, ident: str, *, grace_seconds: float = 10.0,
         by: str = "") -> list[KillResult]:
    """Kill the experiments named by ``ident`` (an experiment id, a run id, or a unique prefix).

    ``by`` says who asked ("alice", "the experiment page"): recorded with the request (the fold's
    ``kill_requested_by``) and in the reason of a ``killed`` this writes.

    Queued experiments are claimed first, so no gateway can start them afterwards; running
    ones are killed through the engine (the wrapper records ``killed`` itself); if the wrapper
    does not record it within the grace period, this records it.
    """
    store = index.store
    asked = {"by": by} if by else {}
    by_whom = f" by {by}" if by else ""
    results = []
    for entry, exp, state in index.resolve(ident):
        run = entry.run
        before = state.state
        if state.terminal:
            results.append(KillResult(exp.experiment_id, before, before))
            continue
        if not state.claimed and store.claim(run.project, run.run_id, exp.experiment_id,
                                                     generation=state.next_generation, engine="kill"):
            store.append_state(run.project, run.run_id, exp.experiment_id, State.KILLED,
                               reason=f"cancelled before it started{by_whom}", **asked)
            results.append(KillResult(exp.experiment_id, before, State.KILLED))
            continue
        deadline = time.time() + grace_seconds
        engine_id = engine_id_of(engine, state)
        while engine_id is None and time.time() < deadline:  # a gateway is submitting it now
            time.sleep(0.1)
            index.refresh()
            engine_id = engine_id_of(engine, entry.states[exp.experiment_id])
        if engine_id is not None:
            # said first, so a gateway that sees the submission vanish records killed, not lost
            store.append_state(run.project, run.run_id, exp.experiment_id, KILL_REQUESTED, **asked)
            engine.kill(engine_id, grace_seconds=grace_seconds)
        deadline = time.time() + 5.0
        while time.time() < deadline:
            index.refresh()
            if entry.states[exp.experiment_id].terminal:
                break
            time.sleep(0.1)
        if not entry.states[exp.experiment_id].terminal:
            store.append_state(run.project, run.run_id, exp.experiment_id, State.KILLED,
                               reason=f"killed on request{by_whom}; the wrapper did not record it")
            index.refresh()
            # killed with -9 after the grace: its finally did not run; remove what it left
            engine.clean_up(exp.experiment_id, entry.states[exp.experiment_id].fields, engine_id)
        results.append(KillResult(exp.experiment_id, before, entry.states[exp.experiment_id].state))
    return results
