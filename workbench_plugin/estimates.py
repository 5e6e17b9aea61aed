"""Duration and cost estimates for proposed experiments, per resource option.

Pure computations returning plain data (pages and the CLI draw them):

- :func:`history_from_index`: the succeeded experiments of a project that ran a script, with
  their wall time and, on YARN, the vcore-/MB-seconds the cluster accounted (:class:`HistoryRow`).
- :func:`estimate_durations`: an expected duration with a range for each proposed experiment,
  fitted on that history (the model: :mod:`workbench_plugin._duration_fit`), falling back to the
  median of the history, then to ``estimates.default_seconds``; each says which basis it used.
- :func:`resource_options`: the configured options with their slots now (a YARN queue's free
  capacity read from the ResourceManager, or the configured slots with a note saying why).
- :func:`cost` and :func:`batch_totals`: money per experiment and the batch's totals, with the
  wall time of the batch list-scheduled onto the option's slots.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.lifecycle import State
from workbench_plugin.resources_config import Limits, ResourceOption
from workbench_plugin.space import Value

if TYPE_CHECKING:
    from engines.base import Engine
    from engines.resource_manager import ClusterResources
    from workbench_plugin.config import Config
    from workbench_plugin.index import ProjectIndex

__all__ = ["BatchTotals", "DurationEstimate", "HistoryRow", "Limits", "ResourceOption", "batch_totals", "cost",
           "estimate_durations", "history_from_index", "list_schedule", "resource_options"]

Basis = Literal["history", "run median", "default"]
_MAX_NAMES = 4
_MAX_NAME = 30


class HistoryRow(NamedTuple):
    """One earlier experiment as the estimates read it."""

    experiment_id: str
    run_id: str
    script: str
    params: dict[str, Any]
    state: str
    seconds: float | None          # wall duration
    vcore_seconds: float | None    # what YARN accounted; None when unknown
    mb_seconds: float | None


class DurationEstimate(NamedTuple):
    """The expected duration of one proposed experiment, with a range and how it was made."""

    seconds: float
    low: float
    high: float
    basis: Basis
    basis_text: str                # one line, e.g. "fitted on 14 earlier experiments (seconds ~ epochs)"
    n: int                         # history rows used
    vcore_seconds: float | None    # expected usage, from history's usage per second; None: unknown
    mb_seconds: float | None


@dataclass(frozen=True)
class BatchTotals:
    """A batch on one resource option (a dataclass: ``count`` would shadow a tuple's method)."""

    count: int
    compute_seconds: float   # the sum of the durations
    wall_seconds: float      # the durations list-scheduled onto the option's slots
    money: float
    currency: str


# ---- history -----------------------------------------------------------------------------
def _seconds(fields: Mapping[str, Any]) -> float | None:
    """The wall time: the wrapper's ``duration``, else YARN's elapsed time, else end - start."""
    for key in ("duration", "yarn_elapsed_s"):
        value: Any = fields.get(key, 0)
        if _positive(value):
            return float(value)
    start: Any = fields.get("running_time", 0)
    end: Any = fields.get("ended", 0)
    if _positive(start) and _positive(end) and end > start:
        return float(end) - float(start)
    return None


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _usage(value: Any) -> float | None:
    return float(value) if _positive(value) else None


def history_from_index(index: ProjectIndex, script: str) -> list[HistoryRow]:
    """The succeeded experiments of the index's project that ran ``script``, oldest run first.

    Reads what the index has read (call ``index.refresh()`` first for the newest)."""
    rows = []
    for entry, experiment, state in index.iter_experiments():
        if entry.run.script != script or state.state != State.SUCCEEDED:
            continue
        fields = state.fields
        rows.append(HistoryRow(
            experiment_id=experiment.experiment_id, run_id=entry.run.run_id, script=entry.run.script,
            params=dict(experiment.params), state=str(state.state), seconds=_seconds(fields),
            vcore_seconds=_usage(fields.get("vcore_seconds")), mb_seconds=_usage(fields.get("memory_mb_seconds")),
        ))
    return rows


# ---- durations ---------------------------------------------------------------------------
def _names(names: Sequence[str]) -> str:
    """Hyperparameter names for a one-line text: each bounded, at most a few."""
    shown = [n if len(n) <= _MAX_NAME and n.isprintable() else repr(n)[:_MAX_NAME - 3] + "..."
             for n in names[:_MAX_NAMES]]
    more = f" +{len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else ""
    return ", ".join(shown) + more


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _rate(rows: Sequence[HistoryRow], attr: str) -> float | None:
    """Usage per second of wall time, over the rows that have it."""
    pairs = [(getattr(r, attr), r.seconds) for r in rows if getattr(r, attr) is not None and r.seconds]
    if not pairs:
        return None
    return sum(u for u, _ in pairs) / sum(s for _, s in pairs)


def estimate_durations(history: Sequence[HistoryRow], proposed: Sequence[Mapping[str, Value]], *,
                       default_seconds: float) -> list[DurationEstimate]:
    """An expected duration for each of ``proposed`` (hyperparameter name -> value), in order.

    Fitted on ``history`` (rows of the same script; see :mod:`workbench_plugin._duration_fit`),
    else its median, else ``default_seconds``. Rows without a positive duration are not used."""
    from workbench_plugin._duration_fit import History, norm

    if not math.isfinite(default_seconds) or default_seconds <= 0:
        raise ValueError(f"default_seconds: {default_seconds!r} is not allowed; give seconds > 0, as in 60")
    rows = [r for r in history if r.seconds is not None and _positive(r.seconds)]
    if not rows:
        default = DurationEstimate(
            float(default_seconds), default_seconds / 2, default_seconds * 2, "default",
            f"no history; the configured default of {default_seconds:g} s (estimates.default_seconds)",
            0, None, None)
        return [default] * len(proposed)
    import numpy as np

    fits = History([r.params for r in rows], np.array([r.seconds for r in rows], dtype=float))
    vcore_rate, mb_rate = _rate(rows, "vcore_seconds"), _rate(rows, "mb_seconds")
    cache: dict[tuple[tuple[str, Any], ...], DurationEstimate] = {}
    out = []
    for proposal in proposed:
        key = tuple(sorted((name, norm(value)) for name, value in proposal.items()))
        if key not in cache:
            fit = fits.fit(proposal)
            if fit.basis == "history":
                law = "; power law" if fit.power_law else ""
                text = f"fitted on {_plural(len(rows), 'earlier experiment')} (seconds ~ {_names(fit.terms)}{law})"
            else:
                text = f"median of {_plural(len(rows), 'experiment')} of this project"
            if fit.weighted_by:
                text += f"; same {_names(fit.weighted_by)} counts more"
            cache[key] = DurationEstimate(
                fit.seconds, fit.low, fit.high, "history" if fit.basis == "history" else "run median", text,
                len(rows), None if vcore_rate is None else vcore_rate * fit.seconds,
                None if mb_rate is None else mb_rate * fit.seconds)
        out.append(cache[key])
    return out


# ---- resource options and cost -----------------------------------------------------------
def resource_options(config: Config, engine: Engine | None) -> list[ResourceOption]:
    """The configured options with their slots now. ``local``: the engine's slots unless set;
    ``yarn``: the queue's free capacity over the per-experiment vcores and memory, read through
    ``engine.resources()``; when that fails (or there is no engine on YARN) the configured slots
    (at least 1), with a ``note`` saying why."""
    cluster: ClusterResources | None = None
    why = "no engine was given to ask the ResourceManager"
    if engine is not None and any(option.kind == "yarn" for option in config.resources):
        try:
            cluster = engine.resources().cluster
            why = f"engine {engine.name!r} is not on YARN"
        except (HyperTunerError, OSError) as exc:
            text = " ".join(str(exc).split())
            why = text if len(text) <= 200 else text[:199] + "…"
    out = []
    for option in config.resources:
        if option.kind == "local":
            out.append(replace(option, slots=option.slots or config.effective_slots))
        elif option.kind == "yarn":
            out.append(_yarn_option(option, cluster, why))
        else:
            out.append(option)
    return out


def _yarn_option(option: ResourceOption, cluster: ClusterResources | None, why: str) -> ResourceOption:
    fallback = max(option.slots, 1)
    if cluster is None:
        return replace(option, slots=fallback, note=f"{why}; using the configured {_plural(fallback, 'slot')}")
    share, note = 100.0, ""
    queues = {q.name: q for q in cluster.queues}
    queue = queues.get(option.queue) or next((q for q in cluster.queues if q.name.endswith("." + option.queue)),
                                             None)
    if queue is not None:
        share = max((queue.max_capacity_percent or queue.capacity_percent) - queue.used_percent, 0.0)
    elif cluster.queues:
        note = f"queue {option.queue!r} is not among the ResourceManager's queues; using the cluster's free capacity"
    free_mb = min(cluster.total_mb * share / 100, cluster.available_mb)
    free_vcores = min(cluster.total_vcores * share / 100, cluster.available_vcores)
    slots = int(min(free_mb // option.memory_mb_per_experiment, free_vcores // option.vcores_per_experiment))
    if slots < 1:
        note = note or (f"queue {option.queue!r} has no free capacity now; "
                        "estimated as 1 slot (experiments wait their turn)")
        slots = 1
    return replace(option, slots=slots, note=note)


def cost(estimate: DurationEstimate, option: ResourceOption) -> float:
    """The money one experiment is expected to cost on ``option`` (in ``option.currency``).

    vcore- and GB-hours come from history's usage when it is known, else from the option's
    per-experiment vcores and memory held for the expected duration; plus the flat hourly price."""
    hours = estimate.seconds / 3600
    vcore_hours = (estimate.vcore_seconds / 3600 if estimate.vcore_seconds is not None
                   else option.vcores_per_experiment * hours)
    gb_hours = (estimate.mb_seconds / 1024 / 3600 if estimate.mb_seconds is not None
                else option.memory_mb_per_experiment / 1024 * hours)
    return (vcore_hours * option.price_per_vcore_hour + gb_hours * option.price_per_gb_hour
            + hours * option.price_per_hour)


def list_schedule(durations: Sequence[float], slots: int) -> float:
    """The makespan of ``durations`` on ``slots`` lanes, longest first onto the lane free first (LPT;
    within 4/3 of the best schedule)."""
    lanes = [0.0] * max(1, min(slots, len(durations)))
    for d in sorted(durations, reverse=True):
        heapq.heappush(lanes, heapq.heappop(lanes) + d)
    return max(lanes) if durations else 0.0


def batch_totals(estimates: Sequence[DurationEstimate], option: ResourceOption,
                 include: Sequence[bool]) -> BatchTotals:
    """Totals of the ``include``-d estimates on ``option``: count, compute time, wall time at the
    option's slots, money."""
    if len(include) != len(estimates):
        raise ValueError(f"include: {len(include)} flags for {len(estimates)} estimates; give one per estimate")
    chosen = [e for e, keep in zip(estimates, include, strict=True) if keep]
    durations = [e.seconds for e in chosen]
    return BatchTotals(count=len(chosen), compute_seconds=float(sum(durations)),
                       wall_seconds=list_schedule(durations, option.slots or 1),
                       money=float(sum(cost(e, option) for e in chosen)), currency=option.currency)
