"""The gateway: turns queued experiments into submissions, within the engine's capacity.

It is a reconciler. Each :meth:`Gateway.step` reads the store (the queue and the only source of
truth), asks the engine whether submitted experiments are still alive, and:

* marks an experiment ``lost``, with the reason, when its process is gone without a final state
  (killed with -9, out of memory, machine restarted), then has the engine end what is left of it
  (the script, should it have outlived its wrapper) and remove its work folder;
* gives a claim back to the queue (``requeued``) when the gateway that claimed it died before
  the experiment started, or when its submission ended before the wrapper started (a container
  that could not be localized while HDFS was down), so nothing acknowledged is lost;
* claims queued experiments and submits them while slots are free.

Nothing lives only in memory: a gateway killed at any point is replaced by a new one that reads
the store and carries on; experiments it had started keep running in their own sessions.

**Claims.** A claim is an exclusive create in the store (``claims/<experiment>[~<generation>].json``)
that names its owner: this gateway's id, host, PID and process start ticks. A claim with no
submission and no ``running`` event is given back at once when its owner is a dead process on
this host, and after :data:`CLAIM_GRACE_SECONDS` when the owner cannot be checked (another host,
or no owner recorded). Giving back generation *g* and the wrapper's start of generation *g* are
the same exclusive create (:meth:`Store.requeue`, :meth:`Store.start`): exactly one wins. If the
give-back wins, a wrapper that was started late (its gateway died between starting it and
recording it) stops without running the script; the experiment is claimed again as generation
*g + 1*. So an experiment is never lost in the claim window, and never runs twice.

**Slots.** Slots belong to the store and its engine, not to one gateway. Every gateway counts the
active experiments from the store: claimed (and not given back) and not ended, in every project
of the store, one per submission (a packed application takes one). To take a slot, a gateway
writes its claim first and then counts again; when it sees more active experiments than slots, it
gives its claim back and stops submitting for this step (after a short random pause, so two
gateways do not collide forever). This keeps the count: of any set of claims over the limit, the
one written last was written after all others, so its gateway's count sees them all and it backs
off. Each claim is read back before its experiment is submitted, so a read error (the step is
then dropped, and the indexes rebuilt from the store) can only delay a submission, never add one.

**Submissions in flight.** An engine whose submission waits on a client (spark-submit on YARN,
seconds of JVM each) says how many may run at once (``submit_concurrency``): the step claims as
before and hands each submission to a thread, which writes ``submitted`` (or ``failed``) itself,
so the clients overlap and the step never waits for one. The slot is taken by the claim, so the
count above is the same.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engines.processes import proc_stat, start_ticks
from workbench_plugin._exceptions import EngineError, StoreError
from workbench_plugin.faults import fault_point
from workbench_plugin.index import ProjectIndex, RunEntry
from workbench_plugin.lifecycle import KILL_REQUESTED, USAGE_EVENT, USAGE_EXPECTED, ExperimentState, State
from workbench_plugin.store import Experiment, Run, Store

if TYPE_CHECKING:  # the gateway drives whatever engine it is handed; it names the protocol only
    from engines.base import Engine

__all__ = ["CLAIM_GRACE_SECONDS", "Gateway", "StepReport", "owner_alive"]

#: A claim this old with no submission recorded, whose owner cannot be checked, is given back.
CLAIM_GRACE_SECONDS = 30.0
#: A submission that ended before its wrapper started (a container that could not be localized
#: while HDFS was down, an application the cluster refused) goes back to the queue, unless the
#: experiment has been claimed this many times already: then it is lost, with the reason.
MAX_CLAIMS = 5

Row = tuple[ProjectIndex, RunEntry, Experiment, ExperimentState]


@dataclass
class StepReport:
    submitted: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    backed_off: int = 0  # claims given back because another gateway took the last slot
    queued: int = 0
    active: int = 0  # submissions of this gateway's projects not ended
    slots_taken: int = 0  # submissions not ended in the whole store (what the slots limit)
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


def owner_alive(claim: Mapping[str, Any] | None) -> bool | None:
    """Whether the gateway that wrote ``claim`` still runs: None when it cannot be told from
    here (another host, or a claim that names no owner)."""
    if not claim or claim.get("host") != socket.gethostname() or not claim.get("pid"):
        return None
    if proc_stat(os.getpid()) is None:
        return None  # no /proc here (not Linux): processes cannot be told apart
    fields = proc_stat(int(claim["pid"]))
    return fields is not None and fields[0] not in ("Z", "X") and fields[19] == str(claim.get("start_ticks"))


@dataclass(frozen=True)
class CompactionPolicy:
    """When the gateway compacts runs (``[compaction]``): when a run ends, and every ``interval``
    seconds (0: never) a live run with ``min_files`` files its newest compaction does not cover."""

    on_end: bool = True
    interval: float = 300.0
    min_files: int = 500


class Compactor:
    """Compacts runs (:func:`workbench_plugin.compaction.compact_run`) in one background thread,
    one run at a time, so a step never waits for it; failures go to the gateway's log."""

    def __init__(self, store: Store, policy: CompactionPolicy, log: Callable[[str], None]) -> None:
        self.store = store
        self.policy = policy
        self.log = log
        self._ended: set[tuple[str, str]] = set()
        self._last_scheduled = time.monotonic()
        self._queue: list[tuple[str, str]] = []
        self._busy: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._queue and self._busy is None

    def tend(self, indexes: Mapping[str, ProjectIndex]) -> None:
        """Queue the runs that ended since the last call and, on schedule, the live runs with
        enough new files."""
        due = self.policy.interval > 0 and time.monotonic() - self._last_scheduled >= self.policy.interval
        if due:
            self._last_scheduled = time.monotonic()
        for project, index in indexes.items():
            for run_id, entry in index.runs.items():
                key = (project, run_id)
                if entry.settled and self.policy.on_end and key not in self._ended:
                    self._ended.add(key)
                    if entry.compacted is None or entry.uncovered():
                        self._put(key)
                elif due and not entry.settled and entry.uncovered() >= self.policy.min_files:
                    self._put(key)

    def _put(self, key: tuple[str, str]) -> None:
        with self._lock:
            if key in self._queue or key == self._busy:
                return
            self._queue.append(key)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="hypertuner-compaction", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        from workbench_plugin.compaction import compact_run

        while True:
            with self._lock:
                if not self._queue:
                    self._busy = None
                    return
                self._busy = key = self._queue.pop(0)
            try:
                result = compact_run(self.store, *key)
            except (StoreError, OSError, ValueError, TypeError, KeyError) as exc:  # DAMAGE_ERRORS
                self.log(f"compact {key[1]}: {exc}")
                continue
            if result.written:
                self.log(result.line())


class Gateway:
    def __init__(
        self, store: Store, engine: Engine, *, projects: Iterable[str] | None = None,
        poll_seconds: float = 0.2, log: Callable[[str], None] | None = None,
        compact_on_end: bool = True, compact_interval: float = 300.0, compact_min_files: int = 500,
    ) -> None:
        self.store = store
        self.engine = engine
        self.only = set(projects) if projects is not None else None
        self.poll_seconds = poll_seconds
        self.log = log or (lambda msg: None)
        #: Every project of the store (slots are counted across all of them); ``projects`` only
        #: limits which ones this gateway reconciles and submits.
        self.indexes: dict[str, ProjectIndex] = {}
        pid = os.getpid()
        #: Written into every claim, so a later gateway can tell whether this one still runs.
        self.identity = {"gateway": uuid.uuid4().hex[:12], "host": socket.gethostname(), "pid": pid,
                         "start_ticks": start_ticks(pid)}
        self._cleaned: set[str] = set()
        #: :meth:`_experiments` as of the last refresh (states change only when an index refreshes)
        self._rows: dict[bool, list[Row]] = {}
        self.compactor = Compactor(store, CompactionPolicy(compact_on_end, compact_interval, compact_min_files),
                                   self.log)
        #: Threads running the engine's clients (:meth:`_submit_in_background`); made at first use.
        self._pool: ThreadPoolExecutor | None = None

    def _refresh(self) -> None:
        for name in self.store.projects():
            self.indexes.setdefault(name, ProjectIndex(self.store, name))
        self._rows.clear()
        for index in self.indexes.values():
            index.refresh()

    def _refresh_one(self, index: ProjectIndex) -> None:
        self._rows.clear()
        index.refresh()

    def _experiments(self, *, everywhere: bool = False) -> list[Row]:
        """Experiments of runs not settled, oldest run first, then launch order (a new list: the
        caller may keep it across a refresh)."""
        rows = self._rows.get(everywhere)
        if rows is None:
            rows = self._rows[everywhere] = self._read_experiments(everywhere=everywhere)
        return list(rows)

    def _read_experiments(self, *, everywhere: bool) -> list[Row]:
        out = []
        for name, index in self.indexes.items():
            if not everywhere and self.only is not None and name not in self.only:
                continue
            for entry, exp, state in index.iter_experiments():
                if not entry.settled:
                    out.append((index, entry, exp, state))
        # oldest run first, then launch order
        out.sort(key=lambda t: (t[1].run.created, t[2].index))
        return out

    def _active(self, *, everywhere: bool = True) -> int:
        """Slots taken in the whole store (or this gateway's projects): claimed, not given back, not
        ended; one per submission."""
        return len({engine_id_of(self.engine, s) or x.experiment_id
                    for _, _, x, s in self._experiments(everywhere=everywhere) if s.claimed and not s.terminal})

    def _claim(self, entry: RunEntry, exp: Experiment) -> int | None:
        """Claim ``exp`` under its next generation; return the generation, or None if another took it."""
        run = entry.run
        generation = entry.states[exp.experiment_id].next_generation
        if not self.store.claim(run.project, run.run_id, exp.experiment_id, generation=generation,
                                engine=self.engine.name, **self.identity):
            return None
        fault_point("after-claim")
        return generation

    def _give_back(self, entry: RunEntry, exp_id: str, generation: int, reason: str) -> bool:
        """Requeue claim ``generation`` of ``exp_id``; False when its wrapper started first."""
        run = entry.run
        done = self.store.requeue(run.project, run.run_id, exp_id, generation=generation, reason=reason,
                                  by=self.identity["gateway"])
        return done is not None

    def _reconcile(self, report: StepReport) -> None:
        now = time.time()
        gone = []
        polled: dict[str, str] = {}  # experiments packed into one application share its id
        for index, entry, exp, state in self._experiments():
            if state.terminal or not state.claimed:
                continue
            engine_id = engine_id_of(self.engine, state)
            if engine_id is None:
                self._maybe_give_back(entry, exp, state, now, report)
                continue
            if engine_id not in polled:
                polled[engine_id] = self.engine.poll(engine_id)
            if polled[engine_id] == "gone":
                gone.append((index, entry, exp, f"{engine_id} ended without writing a final state"
                             " (killed with -9, out of memory, or the machine restarted)"))
        if not gone:
            return
        for index in {id(t[0]): t[0] for t in gone}.values():
            self._refresh_one(index)  # the wrapper may have written its final state just now
        for _index, entry, exp, reason in gone:
            state = entry.states[exp.experiment_id]
            if state.terminal:
                continue
            run, exp_id = entry.run, exp.experiment_id
            if state.get(KILL_REQUESTED):
                self.store.append_state(run.project, run.run_id, exp_id, State.KILLED,
                                        reason="killed on request", generation=state.generation)
                continue
            engine_id = engine_id_of(self.engine, state)
            killed_by = self.engine.ended_by(engine_id) if engine_id and state.state == State.RUNNING else None
            if killed_by is not None:  # killed from outside before its wrapper could say so
                self.store.append_state(run.project, run.run_id, exp_id, State.KILLED, reason=killed_by,
                                        generation=state.generation)
                self.log(f"{exp_id}: killed ({killed_by})")
                continue
            if state.state == State.SUBMITTED and state.generation + 1 < MAX_CLAIMS:
                # it never started (no ``running`` event for this claim): nothing ran, so nothing is
                # lost by running it again; the give-back and a late wrapper's start race exclusively
                why = f"{state.engine_id} ended before the experiment started"
                if self._give_back(entry, exp_id, state.generation, why):
                    report.requeued.append(exp_id)
                    self.log(f"{exp_id}: back in the queue ({why})")
                    continue
                self._refresh_one(_index)
                state = entry.states[exp_id]
                if state.terminal:
                    continue
            elif state.state == State.SUBMITTED:
                reason = (f"{state.engine_id} ended before the experiment started, and it had been claimed "
                          f"{MAX_CLAIMS} times (see the engine's log)")
            self.store.append_state(run.project, run.run_id, exp_id, State.LOST, reason=reason,
                                    generation=state.generation)
            report.lost.append(exp_id)
            self.log(f"{exp_id}: lost ({reason})")

    def _maybe_give_back(self, entry: RunEntry, exp: Experiment, state: ExperimentState, now: float,
                         report: StepReport) -> None:
        """Requeue a claim whose gateway died before the experiment started."""
        if state.state == State.RUNNING:
            return  # its wrapper started (an engine that cannot adopt it): the claim stays
        claim = entry.claims.get(exp.experiment_id)
        alive = owner_alive(claim)
        if alive:
            return
        if alive is None and (state.claim_time is None or now - state.claim_time <= CLAIM_GRACE_SECONDS):
            return
        reason = ("its gateway stopped between claiming and starting it" if alive is False else
                  f"claimed more than {CLAIM_GRACE_SECONDS:.0f} s ago by a gateway that cannot be checked from here,"
                  " and not started")
        if self._give_back(entry, exp.experiment_id, state.generation, reason):
            report.requeued.append(exp.experiment_id)
            self.log(f"{exp.experiment_id}: back in the queue ({reason})")

    def _clean_up_ended(self) -> None:
        """Have the engine end leftovers and remove work folders of experiments that ended."""
        for _index, _entry, exp, state in self._experiments():
            exp_id = exp.experiment_id
            if not state.terminal or exp_id in self._cleaned or not state.claimed:
                continue
            engine_id = engine_id_of(self.engine, state)
            if engine_id is not None and self.engine.poll(engine_id) == "alive":
                continue  # the wrapper wrote its final state and is cleaning up itself
            self._cleaned.add(exp_id)
            self.engine.clean_up(exp_id, state.fields, engine_id)

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
        if report.lost or report.requeued:
            self._refresh()
        self.compactor.tend(self.indexes)
        tend = getattr(self.engine, "tend_credentials", None)  # engines that hold credentials
        for line in (tend() if tend is not None else None) or []:
            self.log(f"gateway: {line}")
        rows = self._experiments()
        queued = [(i, e, x) for i, e, x, s in rows if not s.claimed and not s.terminal]
        # the queue of the first run waiting decides (on YARN: its queue's capacity and the user's limit)
        slots = self.engine.capacity(queued[0][1].run if queued else None).slots
        free = slots - self._active()
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
                continue
            generation = self._claim(entry, exp)
            if generation is None:
                continue  # another gateway took it
            # count again, with every claim written so far: over the limit, the last claim backs off
            self._refresh()
            if self._active() > slots:
                self._give_back(entry, exp.experiment_id, generation, "another gateway took the last slot")
                report.backed_off += 1
                time.sleep(random.uniform(0.0, self.poll_seconds))
                break
            if self._submit_in_background(run, exp, generation):
                report.submitted.append(exp.experiment_id)
                free -= 1
                continue
            try:
                engine_id = self.engine.submit(run, exp, generation=generation)
            except EngineError as exc:
                self.store.append_state(run.project, run.run_id, exp.experiment_id, State.FAILED,
                                        reason=str(exc), generation=generation)
                continue
            fault_point("after-submit")
            self.store.append_state(run.project, run.run_id, exp.experiment_id, State.SUBMITTED,
                                    engine_id=engine_id, generation=generation, **self._usage_expected())
            report.submitted.append(exp.experiment_id)
            free -= 1
        self._clean_up_ended()  # after submitting: a freed slot is filled first
        self._refresh()
        report.active = self._active(everywhere=False)
        report.slots_taken = self._active()
        report.queued = sum(1 for _, _, _, s in self._experiments() if not s.claimed and not s.terminal)
        return report

    def _submit_in_background(self, run: Run, exp: Experiment, generation: int) -> bool:
        """Hand the submission of a claimed experiment to the pool of :attr:`Engine.
        submit_concurrency` threads (engines whose submission waits on a client, spark-submit on
        YARN): the step goes on, several clients run at once, and each writes its own ``submitted``
        (or ``failed``) event when its engine id is known. False: the engine submits in the step.

        Nothing here lives only in memory: until ``submitted`` is written the claim is this
        gateway's, alive, so no other gateway gives it back; if this one dies first, its claim is
        given back (or the wrapper's ``running`` event, which the engine adopts, keeps it)."""
        workers = self.engine.submit_concurrency
        if workers <= 1:
            return False
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hypertuner-submit")
        self._pool.submit(self._submit_one, run, exp, generation)
        return True

    def _submit_one(self, run: Run, exp: Experiment, generation: int) -> None:
        exp_id = exp.experiment_id
        try:
            try:
                engine_id = self.engine.submit(run, exp, generation=generation)
            except EngineError as exc:
                self.store.append_state(run.project, run.run_id, exp_id, State.FAILED, reason=str(exc),
                                        generation=generation)
                return
            fault_point("after-submit")
            self.store.append_state(run.project, run.run_id, exp_id, State.SUBMITTED, engine_id=engine_id,
                                    generation=generation, **self._usage_expected())
        except StoreError as exc:  # the engine id is recovered from the wrapper's report (adopt)
            self.log(f"{exp_id}: submitted, but its state could not be written ({exc})")

    def close(self) -> None:
        """Wait for the submissions still in flight (their ``submitted`` events written)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _usage_expected(self) -> dict[str, bool]:
        """Said with the submission: the engine accounts usage after the end (a run waits for it)."""
        return {USAGE_EXPECTED: True} if self.engine.accounts_usage else {}

    def _submit_packed(self, entry: RunEntry, group: list[Experiment]) -> list[str]:
        """Claim what is still free of ``group`` and submit it as one application."""
        run = entry.run
        generations = {x.experiment_id: self._claim(entry, x) for x in group}
        mine = [x for x in group if generations[x.experiment_id] is not None]
        if not mine:
            return []
        self._refresh()
        # my claims are one submission; another gateway's claims not yet submitted count one each
        if self._active() - (len(mine) - 1) > self.engine.capacity(run).slots:  # another took the last slot
            for x in mine:
                self._give_back(entry, x.experiment_id, generations[x.experiment_id] or 0,
                                "another gateway took the last slot")
            return []
        try:
            engine_id = self.engine.submit_packed(run, mine)
        except EngineError as exc:
            for x in mine:
                self.store.append_state(run.project, run.run_id, x.experiment_id, State.FAILED, reason=str(exc),
                                        generation=generations[x.experiment_id])
            return []
        for x in mine:
            self.store.append_state(run.project, run.run_id, x.experiment_id, State.SUBMITTED, engine_id=engine_id,
                                    packed=len(mine), generation=generations[x.experiment_id],
                                    **self._usage_expected())
        self.log(f"{run.run_id}: {len(mine)} experiments packed into {engine_id}")
        return [x.experiment_id for x in mine]

    def serve(self, stop: threading.Event | None = None, *, until_idle: bool = False,
              on_step: Callable[[StepReport], None] | None = None) -> None:
        """Step until ``stop`` is set (or, with ``until_idle``, until nothing is left to do)."""
        stop = stop or threading.Event()
        try:
            self._serve(stop, until_idle, on_step)
        finally:
            self.close()
            self.engine.release()

    def _serve(self, stop: threading.Event, until_idle: bool, on_step: Callable[[StepReport], None] | None) -> None:
        outage: type[Exception] | None = None  # one line per outage, not per failed step
        while not stop.is_set():
            try:
                report = self.step()
            except (StoreError, EngineError) as exc:
                if type(exc) is not outage:
                    self.log(f"gateway: {exc}; retrying")
                    outage = type(exc)
                self.indexes = {}  # a refresh cut short may have skipped files: read the store afresh
                self._rows.clear()
                stop.wait(max(self.poll_seconds, 2.0))
                continue
            outage = None
            if on_step is not None:
                on_step(report)
            if until_idle and report.idle and self.compactor.idle:
                tend = getattr(self.engine, "tend_credentials", None)
                if tend is not None:  # every application ended: cancel the tokens they held
                    with contextlib.suppress(EngineError):
                        tend()
                return
            self.engine.wait(self.poll_seconds, stop)
