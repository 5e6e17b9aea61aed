"""Duration, cost and a recommendation for each row of a planned batch (issue 11, FIG 25D-25E).

One function joins what :mod:`workbench_plugin.estimates` (durations from history, cost per
resource option) and :mod:`workbench_plugin.recommend` (scores from a model fitted on finished
experiments, the subset under a budget, deadline and cap) compute, for the rows of
:func:`workbench_plugin.planning.listing`, joined on :attr:`ListingRow.index`. The CLI (``plan`` /
``run``) and the new-run page both draw the same :class:`Advice`; nothing here imports panel.

Limits: the user's budget, deadline and cap may not exceed the administrator's (``[limits]`` in
the config: a one-line error naming the cap); where the user sets none, the administrator's cap
applies. A money cap in another currency than the chosen option's is not compared, and the advice
says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from workbench_plugin._exceptions import SpecError
from workbench_plugin.estimates import (
    BatchTotals,
    DurationEstimate,
    HistoryRow,
    ResourceOption,
    batch_totals,
    cost,
    estimate_durations,
    history_from_index,
)
from workbench_plugin.recommend import (
    Candidate,
    Finished,
    Limits,
    Objective,
    Recommendation,
    Score,
    apply_caps,
    choose_objective,
    finished_from_frames,
    recommend,
    score_candidates,
)
from workbench_plugin.resources_config import Limits as AdminLimits

if TYPE_CHECKING:
    from workbench_plugin.index import ProjectIndex
    from workbench_plugin.planning import ListingRow

__all__ = ["Advice", "Constraints", "RowAdvice", "advise", "advise_from_index", "cap_problems", "format_seconds",
           "pick_option"]


class Constraints(NamedTuple):
    """What the user asks the batch to stay within (None: no limit of that kind)."""

    budget: float | None = None
    deadline_seconds: float | None = None
    max_experiments: int | None = None
    metric: str | None = None          # the metric to optimise (default: chosen from the names)
    goal: str | None = None            # "max" or "min" (default: from the metric's name)


class RowAdvice(NamedTuple):
    index: int  # type: ignore[assignment]  # ListingRow.index (shadows tuple.index, as ListingRow does)
    estimate: DurationEstimate
    costs: dict[str, float]             # money per resource option name
    score: Score
    recommended: bool
    skip_reason: str | None             # why the recommendation leaves it out ("skip to stay within budget")


class Advice(NamedTuple):
    rows: list[RowAdvice]
    option: ResourceOption              # the option the batch is priced and scheduled on
    options: list[ResourceOption]
    #: per option: the rows that run as chosen now (not skipped)
    totals: dict[str, BatchTotals]
    #: on ``option``: the rows the recommendation keeps
    recommended_totals: BatchTotals
    objective: Objective | None         # None: no metric logged yet (scores are coverage only)
    score_basis: str
    duration_basis: str
    limits: Limits                      # the user's limits with the administrator's caps applied
    binding: str | None                 # the limit that left rows out of the recommendation
    problems: list[str]                 # administrator caps the rows chosen now exceed
    #: administrator caps the recommended rows exceed (none unless a row can exceed a cap on its own)
    recommended_problems: list[str]
    notes: list[str]


_NO_CONSTRAINTS = Constraints()
_NO_CAPS = AdminLimits()


def pick_option(options: Sequence[ResourceOption], name: str | None) -> ResourceOption:
    """The option called ``name`` (default: the first configured); one line naming the others."""
    if not options:
        raise SpecError("resource: no resource options are configured; add [resources.local] to the config")
    if name is None or name == "":
        return options[0]
    for option in options:
        if option.name == name:
            return option
    shown = ", ".join(o.name for o in options)
    raise SpecError(f"resource: {name[:60]!r} is not a resource option; choose one of {shown} "
                    "(configured under [resources.<name>])")


def _admin(admin: AdminLimits, option: ResourceOption, notes: list[str]) -> Limits:
    budget: float | None = admin.max_budget or None
    if budget is not None and admin.currency != option.currency:
        notes.append(f"limits.max_budget is in {admin.currency}, {option.name} prices in {option.currency}: "
                     "not compared")
        budget = None
    return Limits(budget, admin.max_deadline_hours * 3600 or None, admin.max_experiments or None)


def _duration_basis(estimates: Sequence[DurationEstimate]) -> str:
    if not estimates:
        return "no experiments"
    texts = list(dict.fromkeys(e.basis_text for e in estimates))
    return texts[0] if len(texts) == 1 else f"{texts[0]} (and {len(texts) - 1} other bases)"


def advise(rows: Sequence[ListingRow], history: Sequence[HistoryRow], finished_by_metric: Mapping[str, list[Finished]],
           *, options: Sequence[ResourceOption], resource: str | None = None,
           constraints: Constraints = _NO_CONSTRAINTS, admin: AdminLimits = _NO_CAPS,
           default_seconds: float = 60.0, scales: Mapping[str, str] | None = None) -> Advice:
    """Durations, costs, scores and the recommended subset for ``rows``.

    ``finished_by_metric``: the finished experiments' final value of each metric the project logged
    (the objective is chosen among its keys). Rows already skipped by the user stay skipped."""
    notes: list[str] = []
    option = pick_option(options, resource)
    limits = apply_caps(Limits(constraints.budget, constraints.deadline_seconds, constraints.max_experiments),
                        _admin(admin, option, notes))
    estimates = estimate_durations(history, [r.params for r in rows], default_seconds=default_seconds)
    costs = [{o.name: cost(e, o) for o in options} for e in estimates]

    objective: Objective | None = None
    if finished_by_metric:
        objective = choose_objective(list(finished_by_metric), constraints.metric, goal=constraints.goal)
    elif constraints.metric:
        choose_objective([], constraints.metric)  # raises: no metric logged yet
    candidates = [
        Candidate(r.params, r.status, e.seconds, c[option.name],  # type: ignore[arg-type]
                  repeats=r.previous[0].experiment_id if r.previous else "",
                  why=r.previous[0].why if r.previous else "")
        for r, e, c in zip(rows, estimates, costs, strict=True)
    ]
    finished = finished_by_metric.get(objective.metric, []) if objective else []
    report = score_candidates(finished, candidates, objective or Objective("", "max"), scales=scales)
    basis = report.basis if objective else f"no metric logged yet; {report.basis}"
    skipped = [r.skipped for r in rows]
    chosen: Recommendation = recommend(report.scores, candidates, budget=limits.budget,
                                       deadline_seconds=limits.deadline_seconds,
                                       max_experiments=limits.max_experiments, slots=max(1, option.slots or 1),
                                       skipped=skipped)
    running = [not s for s in skipped]
    totals = {o.name: batch_totals(estimates, o, running) for o in options}
    problems = cap_problems(totals[option.name], option, admin)
    kept = batch_totals(estimates, option, chosen.include)
    kept_problems = cap_problems(kept, option, admin)
    advice_rows = [RowAdvice(r.index, e, c, s, inc, reason)
                   for r, e, c, s, inc, reason in zip(rows, estimates, costs, report.scores, chosen.include,
                                                      chosen.reasons, strict=True)]
    if option.note:
        notes.append(f"{option.name}: {option.note}")
    return Advice(advice_rows, option, list(options), totals, kept, objective, basis, _duration_basis(estimates),
                  limits, chosen.binding, problems, kept_problems, notes)


def cap_problems(totals: BatchTotals, option: ResourceOption, admin: AdminLimits = _NO_CAPS) -> list[str]:
    """The administrator's caps that a batch with these ``totals`` on ``option`` exceeds (one line each;
    a money cap in another currency than the option's is not compared)."""
    limits = _admin(admin, option, [])
    caps = AdminLimits(
        max_budget=limits.budget or 0.0, max_experiments=limits.max_experiments or 0,
        max_deadline_hours=(limits.deadline_seconds or 0.0) / 3600, currency=option.currency,
    )
    return caps.problems(count=totals.count, money=totals.money, currency=totals.currency,
                         wall_seconds=totals.wall_seconds)


def advise_from_index(rows: Sequence[ListingRow], index: ProjectIndex, script: str, *,
                      options: Sequence[ResourceOption], resource: str | None = None,
                      constraints: Constraints = _NO_CONSTRAINTS, admin: AdminLimits = _NO_CAPS,
                      default_seconds: float = 60.0, scales: Mapping[str, str] | None = None) -> Advice:
    """:func:`advise` with the history and finished results read from the project's index."""
    history = history_from_index(index, script)
    frames = [index.frames(run_id) for run_id in index.runs if index.entry(run_id).run.script == script]
    names = list(dict.fromkeys(m for f in frames for m in f.metrics))
    finished: dict[str, list[Finished]] = {}
    for name in names:
        rows_of = finished_from_frames(frames, name)
        if rows_of:
            finished[name] = rows_of
    return advise(rows, history, finished, options=options, resource=resource, constraints=constraints,
                  admin=admin, default_seconds=default_seconds, scales=scales)


def format_seconds(seconds: float) -> str:
    """``95`` -> ``1m35s``; ``7300`` -> ``2h02m``; ``nan`` -> ``?``."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
