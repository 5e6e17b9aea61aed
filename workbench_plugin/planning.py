"""Planning: a search spec becomes proposed experiments, flagged against the project's history.

A proposed experiment is *redundant* when an earlier experiment of the project had the same
script, the same hyperparameter values, the same snapshot and the same data, and did not fail
(it succeeded, or is still queued or running). It is *similar* when only the snapshot or the data
differ, or when the identical experiment ended failed, killed or lost (worth a rerun, maybe).
"""

from __future__ import annotations

import getpass
import shlex
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench_plugin.commands import FlagStyle, build_argv, render_command
from workbench_plugin.flags import FlagSet
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import PENDING_OR_SUCCEEDED
from workbench_plugin.project import ProjectSettings
from workbench_plugin.snapshot import Snapshot
from workbench_plugin.space import SearchSpec, format_value
from workbench_plugin.store import Experiment, Run, Store

__all__ = ["Match", "Plan", "ProposedExperiment", "launch", "make_plan", "shown_interpreter"]

@dataclass(frozen=True)
class Match:
    """An earlier experiment that a proposed one repeats."""

    experiment_id: str
    state: str
    why: str  # "same", "snapshot differs", "data differs", "failed before"


@dataclass(frozen=True)
class ProposedExperiment:
    index: int
    params: dict[str, Any]
    argv: list[str]
    redundant_with: tuple[Match, ...] = ()
    similar_to: tuple[Match, ...] = ()

    @property
    def status(self) -> str:
        if self.redundant_with:
            return "redundant"
        return "similar" if self.similar_to else "new"


@dataclass(frozen=True)
class Plan:
    settings: ProjectSettings
    spec: SearchSpec
    snapshot: Snapshot
    experiments: list[ProposedExperiment] = field(default_factory=list)
    #: the script's flags as found for this snapshot (None: not looked up)
    flags: FlagSet | None = None
    #: one line each: what was not checked, and why
    warnings: tuple[str, ...] = ()

    def count(self, status: str) -> int:
        return sum(1 for e in self.experiments if e.status == status)

    def command(self, exp: ProposedExperiment) -> str:
        return render_command(exp.argv, interpreter=shown_interpreter(self.settings.interpreter))


def shown_interpreter(interpreter: str) -> str:
    """The interpreter as command lines show it (for :func:`render_command`): as configured, one argv
    element like the runner's; ``python`` when empty, which means the Python that runs HyperTuner
    (the gateway's on a laptop, ``spark.python`` in a container)."""
    return shlex.quote(interpreter) if interpreter else "python"


def params_key(script: str, params: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return script, tuple(sorted((k, format_value(v)) for k, v in params.items()))


def make_plan(
    settings: ProjectSettings, spec: SearchSpec, snapshot: Snapshot, index: ProjectIndex,
    *, max_batch: int, options: Mapping[str, str] | None = None, flags: FlagSet | None = None,
    warnings: tuple[str, ...] = (),
) -> Plan:
    style = FlagStyle.parse(settings.flag_style)
    combos = spec.expand(max_batch=max_batch)
    index.refresh()
    history: dict[Any, list[tuple[Run, Experiment, str]]] = defaultdict(list)
    for entry, exp, folded in index.iter_experiments():
        history[params_key(entry.run.script, exp.params)].append((entry.run, exp, folded.state))
    proposed = []
    for i, params in enumerate(combos):
        argv = build_argv(settings.script, params, style, options)
        redundant: list[Match] = []
        similar: list[Match] = []
        for run, exp, state in history.get(params_key(settings.script, params), []):
            same_code = run.snapshot_id == snapshot.snapshot_id
            same_data = run.data_id == snapshot.data_id
            if same_code and same_data:
                if state in PENDING_OR_SUCCEEDED:
                    redundant.append(Match(exp.experiment_id, state, "same"))
                else:
                    similar.append(Match(exp.experiment_id, state, "failed before"))
            else:
                why = "snapshot differs" if not same_code else "data differs"
                similar.append(Match(exp.experiment_id, state, why))
        proposed.append(ProposedExperiment(i, params, argv, tuple(redundant), tuple(similar)))
    return Plan(settings, spec, snapshot, proposed, flags, warnings)


def launch(
    store: Store, plan: Plan, *, engine: str, skip_redundant: bool = False, note: str = "",
    packing: str = "none",
) -> tuple[Run, list[Experiment]]:
    """Write the chosen experiments to the store as queued; the gateway takes it from there."""
    chosen = [e for e in plan.experiments if not (skip_redundant and e.redundant_with)]
    run_id = store.new_run_id()
    width = max(3, len(str(len(chosen))))
    experiments = [
        Experiment(f"{run_id}-{i:0{width}d}", run_id, i, p.params, p.argv)
        for i, p in enumerate(chosen)
    ]
    import time

    run = Run(
        run_id=run_id,
        project=plan.settings.name,
        created=time.time(),
        author=getpass.getuser(),
        script=plan.settings.script,
        interpreter=plan.settings.interpreter,
        flag_style=plan.settings.flag_style,
        spec=dict(plan.spec.sources),
        scales=dict(plan.spec.scales),
        snapshot_id=plan.snapshot.snapshot_id,
        data_id=plan.snapshot.data_id,
        engine=engine,
        n_experiments=len(experiments),
        stdout_patterns=list(plan.settings.stdout_patterns) or None,
        note=note,
        script_flags=plan.flags.names() if plan.flags is not None and plan.flags.known else None,
        extra={"packing": packing} if packing != "none" else {},
    )
    if experiments:
        store.write_run(run, experiments)
    return run, experiments
