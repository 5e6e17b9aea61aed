"""The gateway: turns queued experiments into submissions, within the engine's capacity.

It is a reconciler. Each :meth:`Gateway.step` reads the store (the queue and the only source of
truth), asks the engine whether submitted experiments are still alive, and:

* marks an experiment ``lost``, with the reason, when its process is gone without a final state
  (killed with -9, out of memory, machine restarted) or when a gateway claimed it and stopped
  before submitting it;
* claims queued experiments (an exclusive create in the store, so two gateways never submit the
  same experiment) and submits them while slots are free.

Nothing lives only in memory: a gateway killed at any point is replaced by a new one that reads
the store and carries on; experiments it had started keep running in their own sessions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench_plugin._exceptions import EngineError, StoreError
from workbench_plugin.index import ProjectIndex, RunEntry
from workbench_plugin.lifecycle import KILL_REQUESTED, USAGE_EVENT, USAGE_EXPECTED, ExperimentState, State
from workbench_plugin.store import Experiment, Store

if TYPE_CHECKING:  # the gateway drives whatever engine it is handed; it names the protocol only
    from engines.base import Engine

__all__ = ["Gateway", "StepReport"]

#: A claim this old with no submission recorded means its gateway died in between.
CLAIM_GRACE_SECONDS = 30.0


@dataclass
class StepReport:
    submitted: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    queued: int = 0
    active: int = 0
    awaiting_usage: int = 0  # finished on YARN, accounting not read yet

    @property
    def idle(self) -> bool:
        return self.queued == 0 and self.active == 0 and self.awaiting_usage == 0


def engine_id_of(engine: Engine, state: ExperimentState) -> str | None:
    """The engine id from the ``submitted`` event, or the one the engine recovers from what the
    wrapper reported itself (its ``running`` event: pid, start ticks)."""
    if state.engine_id:
        return state.engine_id
    return engine.adopt(state.fields)


class Gateway:
    def __init__(
        self, store: Store, engine: Engine, *, projects: Iterable[str] | None = None,
        poll_seconds: float = 0.2, log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.only = set(projects) if projects is not None else None
        self.poll_seconds = poll_seconds
        self.log = log or (lambda msg: None)
        self.indexes: dict[str, ProjectIndex] = {}

    def _refresh(self) -> None:
        for name in self.store.projects():
            if self.only is None or name in self.only:
                self.indexes.setdefault(name, ProjectIndex(self.store, name))
        for index in self.indexes.values():
            index.refresh()

    def _experiments(self) -> list[tuple[ProjectIndex, RunEntry, Experiment, ExperimentState]]:
        out = []
        for index in self.indexes.values():
            for entry, exp, state in index.iter_experiments():
                if not entry.settled:
                    out.append((index, entry, exp, state))
        # oldest run first, then launch order
        out.sort(key=lambda t: (t[1].run.created, t[2].index))
        return out

    def _reconcile(self, report: StepReport) -> None:
        now = time.time()
        gone = []
        polled: dict[str, str] = {}  # experiments packed into one application share its id
        for index, entry, exp, state in self._experiments():
            if state.terminal or not state.claimed:
                continue
            engine_id = engine_id_of(self.engine, state)
            if engine_id is None:
                if state.claim_time is not None and now - state.claim_time > CLAIM_GRACE_SECONDS:
                    gone.append((index, entry, exp, "its gateway stopped between claiming and submitting it"))
                continue
            if engine_id not in polled:
                polled[engine_id] = self.engine.poll(engine_id)
            if polled[engine_id] == "gone":
                gone.append((index, entry, exp, f"{engine_id} ended without writing a final state"
                             " (killed with -9, out of memory, or the machine restarted)"))
        if not gone:
            return
        for index in {id(t[0]): t[0] for t in gone}.values():
            index.refresh()  # the wrapper may have written its final state just now
        for _index, entry, exp, reason in gone:
            state = entry.states[exp.experiment_id]
            if state.terminal:
                continue
            if state.get(KILL_REQUESTED):
                self.store.append_state(entry.run.project, entry.run.run_id, exp.experiment_id, State.KILLED,
                                        reason="killed on request")
                continue
            self.store.append_state(entry.run.project, entry.run.run_id, exp.experiment_id,
                                    State.LOST, reason=reason)
            report.lost.append(exp.experiment_id)
            self.log(f"{exp.experiment_id}: lost ({reason})")

    def _record_usage(self, report: StepReport) -> None:
        """What the cluster accounted for finished experiments (vcore-seconds, MB-seconds), once."""
        cache: dict[str, dict[str, object]] = {}
        for index in self.indexes.values():
            for entry in index.runs.values():
                if entry.settled:
                    continue
                for exp_id in entry.awaiting_usage():
                    engine_id = str(entry.states[exp_id].get("engine_id"))
                    if engine_id not in cache:
                        cache[engine_id] = dict(self.engine.usage(engine_id))
                    if cache[engine_id]:
                        self.store.append_state(entry.run.project, entry.run.run_id, exp_id, USAGE_EVENT,
                                                **cache[engine_id])
                    else:
                        report.awaiting_usage += 1

    def step(self) -> StepReport:
        """One reconcile-and-submit pass."""
        report = StepReport()
        self._refresh()
        self._reconcile(report)
        self._record_usage(report)
        if report.lost:
            self._refresh()
        rows = self._experiments()
        # one slot per submission: experiments packed into one application take one between them
        submissions = {engine_id_of(self.engine, s) or x.experiment_id
                       for _, _, x, s in rows if s.claimed and not s.terminal}
        active = len(submissions)
        queued = [(i, e, x) for i, e, x, s in rows if not s.claimed and not s.terminal]
        free = self.engine.capacity().slots - active
        packed_runs: set[str] = set()
        for _index, entry, exp in queued:
            if free <= 0:
                break
            run = entry.run
            if run.extra.get("packing") == "tasks" and self.engine.packs:
                if run.run_id not in packed_runs:
                    packed_runs.add(run.run_id)
                    group = [x for _, e, x in queued if e is entry]
                    report.submitted.extend(self._submit_packed(entry, group))
                    free -= 1
                    active += 1
                continue
            if not self.store.claim(run.project, run.run_id, exp.experiment_id, engine=self.engine.name):
                continue  # another gateway took it
            try:
                engine_id = self.engine.submit(run, exp)
            except EngineError as exc:
                self.store.append_state(run.project, run.run_id, exp.experiment_id, State.FAILED,
                                        reason=str(exc))
                continue
            self.store.append_state(run.project, run.run_id, exp.experiment_id, State.SUBMITTED,
                                    engine_id=engine_id, **self._usage_expected())
            report.submitted.append(exp.experiment_id)
            free -= 1
            active += 1
        report.active = active
        report.queued = len(queued) - len(report.submitted)
        return report

    def _usage_expected(self) -> dict[str, bool]:
        """Said with the submission: the engine accounts usage after the end (a run waits for it)."""
        return {USAGE_EXPECTED: True} if self.engine.accounts_usage else {}

    def _submit_packed(self, entry: RunEntry, group: list[Experiment]) -> list[str]:
        """Claim what is still free of ``group`` and submit it as one application."""
        run = entry.run
        mine = [x for x in group if self.store.claim(run.project, run.run_id, x.experiment_id, engine=self.engine.name)]
        if not mine:
            return []
        try:
            engine_id = self.engine.submit_packed(run, mine)
        except EngineError as exc:
            for x in mine:
                self.store.append_state(run.project, run.run_id, x.experiment_id, State.FAILED, reason=str(exc))
            return []
        for x in mine:
            self.store.append_state(run.project, run.run_id, x.experiment_id, State.SUBMITTED, engine_id=engine_id,
                                    packed=len(mine), **self._usage_expected())
        self.log(f"{run.run_id}: {len(mine)} experiments packed into {engine_id}")
        return [x.experiment_id for x in mine]

    def serve(self, stop: threading.Event | None = None, *, until_idle: bool = False,
              on_step: Callable[[StepReport], None] | None = None) -> None:
        """Step until ``stop`` is set (or, with ``until_idle``, until nothing is left to do)."""
        stop = stop or threading.Event()
        outage: type[Exception] | None = None  # one line per outage, not per failed step
        while not stop.is_set():
            try:
                report = self.step()
            except (StoreError, EngineError) as exc:
                if type(exc) is not outage:
                    self.log(f"gateway: {exc}; retrying")
                    outage = type(exc)
                stop.wait(max(self.poll_seconds, 2.0))
                continue
            outage = None
            if on_step is not None:
                on_step(report)
            if until_idle and report.idle:
                return
            self.engine.wait(self.poll_seconds, stop)
