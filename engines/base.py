"""The engine interface: where experiments execute.

An engine submits an experiment (the wrapper runs it and records its own states), says whether
a submission is still alive, kills it, and reports capacity and usage. Engines keep no state
that matters across restarts: everything needed to poll or kill is in the ``engine_id`` they
return, which the gateway stores with the experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from workbench_plugin.store import Experiment, Run

__all__ = ["Capacity", "Engine", "Liveness"]

#: ``alive``: still running; ``gone``: ended (the wrapper may or may not have recorded why);
#: ``unknown``: the engine cannot tell right now (e.g. the cluster is unreachable).
Liveness = Literal["alive", "gone", "unknown"]


@dataclass(frozen=True)
class Capacity:
    slots: int          # experiments that may run at once
    running: int        # submissions this engine sees alive


class Engine(Protocol):
    name: str
    #: Whether the engine's cluster accounts an experiment's usage after it ended (YARN does):
    #: said with the ``submitted`` event, so the run waits for it before it settles.
    accounts_usage: bool

    def submit(self, run: Run, experiment: Experiment) -> str:
        """Start the wrapper for ``experiment``; return the engine id (PID, YARN app id)."""
        ...

    def poll(self, engine_id: str) -> Liveness: ...

    def kill(self, engine_id: str, *, grace_seconds: float = 10.0) -> None:
        """End the submission and everything it started."""
        ...

    def capacity(self) -> Capacity: ...

    def usage(self, engine_id: str) -> dict[str, Any]:
        """Resources used so far (e.g. CPU seconds), for cost estimates."""
        ...
