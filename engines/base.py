"""The engine interface: where experiments execute.

An engine submits an experiment (the wrapper runs it and records its own states), says whether
a submission is still alive, kills it, and reports capacity and usage. Engines keep no state
that matters across restarts: everything needed to poll or kill is in the ``engine_id`` they
return, which the gateway stores with the experiment. Only an engine builds and parses its ids.

:class:`Engine` is the protocol callers type against; :class:`EngineBase` gives the optional
abilities their defaults (no packing, no usage, no adoption, this machine's resources), so
callers call them and never probe with ``hasattr``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from engines.processes import machine_memory_gib
from workbench_plugin._exceptions import EngineError
from workbench_plugin.store import Experiment, Run

if TYPE_CHECKING:
    from engines.resource_manager import ClusterResources

__all__ = ["Capacity", "Engine", "EngineBase", "Liveness", "Resources"]

#: ``alive``: still running; ``gone``: ended (the wrapper may or may not have recorded why);
#: ``unknown``: the engine cannot tell right now (e.g. the cluster is unreachable).
Liveness = Literal["alive", "gone", "unknown"]


@dataclass(frozen=True)
class Capacity:
    slots: int          # experiments that may run at once
    running: int        # submissions this engine sees alive


@dataclass(frozen=True)
class Resources:
    """What ``hypertuner resources`` prints about an engine: this machine's, or its cluster's."""

    engine: str
    where: str                                   # "this machine", "Spark master local[2] on this machine", RM URL
    slots: int
    cores: int = 0
    memory_gib: tuple[float, float] | None = None  # (available, total) on this machine; None: unknown
    cluster: ClusterResources | None = None         # the YARN ResourceManager's view, on YARN
    notes: tuple[str, ...] = ()                     # more lines to print (the queue's slots)


class Engine(Protocol):
    name: str
    #: Whether the engine's cluster accounts an experiment's usage after it ended (YARN does):
    #: said with the ``submitted`` event, so the run waits for it before it settles.
    accounts_usage: bool
    #: Whether :meth:`submit_packed` works (one submission for many experiments of a run).
    packs: bool
    #: How many :meth:`submit` calls may run at once, from threads (the gateway then does not wait
    #: for them); 1: one at a time, in the gateway's step.
    submit_concurrency: int

    def submit(self, run: Run, experiment: Experiment, *, generation: int = 0) -> str:
        """Start the wrapper for ``experiment`` under claim ``generation`` (the wrapper starts the
        script only if that claim was not given back); return the engine id (PID, YARN app id)."""
        ...

    def submit_packed(self, run: Run, experiments: Sequence[Experiment]) -> str:
        """One submission for ``experiments`` (only when :attr:`packs`); the same engine id for all."""
        ...

    def poll(self, engine_id: str) -> Liveness: ...

    def kill(self, engine_id: str, *, grace_seconds: float = 10.0) -> None:
        """End the submission and everything it started."""
        ...

    def capacity(self, run: Run | None = None) -> Capacity:
        """Slots and what runs now; ``run``: the run about to be submitted, when known (a YARN
        engine counts the slots of its queue)."""
        ...

    def usage(self, engine_id: str) -> dict[str, Any]:
        """Resources used so far (e.g. CPU seconds), for cost estimates; ``{}`` when not known (yet)."""
        ...

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Sleep up to ``timeout`` seconds between gateway steps, returning early when ``stop`` is set."""
        ...

    def adopt(self, reported: Mapping[str, Any]) -> str | None:
        """The engine id of a submission recovered from what its wrapper reported (``pid``,
        ``start_ticks``), for one whose ``submitted`` event is not written yet; None if it cannot tell."""
        ...

    def resources(self) -> Resources: ...

    def ended_by(self, engine_id: str) -> str | None:
        """For a submission that ended without its wrapper writing a final state: a sentence when
        its cluster says it was killed (a user's ``yarn application -kill``, preemption); None
        when the engine cannot tell (the experiment is then lost)."""
        ...

    def clean_up(self, experiment_id: str, reported: Mapping[str, Any], engine_id: str | None) -> None:
        """After ``experiment_id`` ended (its wrapper may have been killed with -9): end what is left
        of its submission (``engine_id``; the script that outlived the wrapper) and remove its work
        folders (the wrapper reported ``work_dir`` and ``host``). Safe to call more than once."""
        ...

    def release(self) -> None:
        """Let go of what the engine keeps ready between submissions (the local engine's wrapper
        on stand-by); the gateway calls it when it stops serving. Submissions keep running."""
        ...


class EngineBase:
    """Defaults of the optional abilities; every engine inherits them."""

    name: str = ""
    accounts_usage: bool = False
    packs: bool = False
    submit_concurrency: int = 1

    def submit_packed(self, run: Run, experiments: Sequence[Experiment]) -> str:
        raise EngineError(f"{self.name} engine: cannot pack experiments into one submission; "
                          "use packing 'none' or the spark engine")

    def capacity(self, run: Run | None = None) -> Capacity:
        raise NotImplementedError

    def usage(self, engine_id: str) -> dict[str, Any]:
        return {}

    def wait(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(timeout)

    def adopt(self, reported: Mapping[str, Any]) -> str | None:
        return None

    def clean_up(self, experiment_id: str, reported: Mapping[str, Any], engine_id: str | None) -> None:
        return None  # the cluster cleans its containers

    def ended_by(self, engine_id: str) -> str | None:
        return None

    def release(self) -> None:
        return None  # nothing kept ready

    def tend_credentials(self) -> list[str]:
        """Renew what the engine's submissions hold (HDFS delegation tokens on a Kerberized
        cluster) and release what ended ones held; called at each gateway step. The lines saying
        what failed (the gateway logs them)."""
        return []

    def resources(self) -> Resources:
        """This machine's cores and memory, with the engine's slots."""
        return Resources(engine=self.name, where="this machine", slots=self.capacity().slots,
                         cores=os.cpu_count() or 1, memory_gib=machine_memory_gib())
