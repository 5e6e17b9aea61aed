"""What every proposal source starts from, read from the project: the domains of the next batch's
fields, the finished experiments as observations of the objective, and the health of every
experiment's curves. The CLI (``hypertuner plan --propose``) and the next-batch page both call
:func:`proposal_inputs`, so that they propose from the same data.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, NamedTuple

from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.proposals._types import Domain, Health, Observation
from workbench_plugin.recommend import Objective, choose_objective

if TYPE_CHECKING:
    from workbench_plugin.flags import FlagSet
    from workbench_plugin.frames import RunFrames
    from workbench_plugin.index import ProjectIndex
    from workbench_plugin.space import SearchSpec, Value

__all__ = ["ProposalInputs", "proposal_inputs", "script_frames"]


class ProposalInputs(NamedTuple):
    domains: dict[str, Domain]
    observations: list[Observation]
    objective: Objective | None  #: None: no metric logged yet (search sources still work; fits do not)
    health: dict[str, Health]
    metrics: tuple[str, ...]  #: every metric the script's runs logged, in first-seen order
    #: every experiment's hyperparameters (any state), by id: what health warnings group by
    experiments: dict[str, dict[str, Value]] = {}


def script_frames(index: ProjectIndex, script: str | None) -> list[RunFrames]:
    """The frames of every run of ``script`` in the project (every run when None); a run whose
    files cannot be read is left out (the index names it once)."""
    out = []
    for run_id, entry in list(index.runs.items()):
        if script is not None and entry.run.script != script:
            continue
        try:
            out.append(index.frames(run_id))
        except HyperTunerError:
            continue
    return out


def proposal_inputs(index: ProjectIndex, spec: SearchSpec, *, locked: Collection[str] = (),
                    flags: FlagSet | None = None, metric: str | None = None, goal: str | None = None,
                    script: str | None = None) -> ProposalInputs:
    """Domains from ``spec`` (``locked``: the flags whose values are locks), observations of the
    objective (``metric``/``goal``, default as the recommendation chooses: a validation accuracy or
    loss) from the runs of ``script``, and the health of their experiments. A ``metric`` the project
    never logged is a one-line :class:`~workbench_plugin._exceptions.SpecError`."""
    import pandas as pd

    from workbench_plugin.proposals._domain import domains_from_spec
    from workbench_plugin.proposals._health import health_of
    from workbench_plugin.proposals._observations import experiment_settings, flag_default_values, observations

    index.refresh()
    domains = domains_from_spec(spec, locked=locked, flags=flags)
    frames = script_frames(index, script)
    metrics = tuple(dict.fromkeys(m for f in frames for m in f.metrics))
    objective = choose_objective(metrics, metric, goal=goal) if metrics or metric is not None else None
    defaults = flag_default_values(flags)
    found = observations(frames, objective.metric, defaults=defaults) if objective is not None else []
    curves = [f.curves for f in frames if len(f.curves)]
    health = health_of(pd.concat(curves, ignore_index=True)) if curves else {}
    return ProposalInputs(domains, found, objective, health, metrics,
                          experiment_settings(frames, defaults=defaults) if health else {})
