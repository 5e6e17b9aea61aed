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

Per-row resources (``row_resources``): a row may run on another option than the batch's; its cost is
then on its own option, and the batch's totals are split per option (:attr:`Advice.split`) with a
combined total (:attr:`Advice.combined`: money and compute summed, wall the longest of the options'
walls, since the options run side by side).
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
from workbench_plugin.flags import one_line
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

__all__ = ["Advice", "Constraints", "RowAdvice", "advise", "advise_from_index", "cap_problems",
           "check_row_resources", "format_seconds", "pick_option", "retotal", "split_totals"]


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
    resource: str = ""                  # the option this row runs on (the batch's unless overridden)


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
    #: per option: the rows assigned to it that run as chosen now (options with no row are left out)
    split: dict[str, BatchTotals] | None = None
    #: the rows that run as chosen now, each on its own option (wall: the longest option's)
    combined: BatchTotals | None = None

    @property
    def overridden(self) -> bool:
        """Some row runs on another option than the batch's."""
        return any(a.resource and a.resource != self.option.name for a in self.rows)


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
           default_seconds: float = 60.0, scales: Mapping[str, str] | None = None,
           row_resources: Mapping[int, str] | None = None) -> Advice:
    """Durations, costs, scores and the recommended subset for ``rows``.

    ``finished_by_metric``: the finished experiments' final value of each metric the project logged
    (the objective is chosen among its keys). Rows already skipped by the user stay skipped.

    ``row_resources``: {ListingRow.index: option name} for rows that run on another option than
    ``resource``. The budget is then checked on each row's own cost. The deadline is an
    approximation: the recommendation schedules every row onto the fewest slots among the options
    used (an upper bound, roughly, on the longest option's wall, since the options run side by
    side), so it may leave out a row that would have fit, never keep one that ends late by more
    than list scheduling's own slack."""
    notes: list[str] = []
    option = pick_option(options, resource)
    assigned = check_row_resources(row_resources or {}, options, [r.index for r in rows])
    resources = [assigned.get(r.index, option.name) for r in rows]
    used = {o.name: o for o in options if o.name in set(resources)}
    if len({o.currency for o in used.values()}) > 1:
        notes.append("the rows' options price in " + ", ".join(sorted({o.currency for o in used.values()}))
                     + f": the combined money and the budget add them up as {option.currency}")
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
        Candidate(r.params, r.status, e.seconds, c[name],  # type: ignore[arg-type]
                  repeats=r.previous[0].experiment_id if r.previous else "",
                  why=r.previous[0].why if r.previous else "")
        for r, e, c, name in zip(rows, estimates, costs, resources, strict=True)
    ]
    finished = finished_by_metric.get(objective.metric, []) if objective else []
    report = score_candidates(finished, candidates, objective or Objective("", "max"), scales=scales)
    basis = report.basis if objective else f"no metric logged yet; {report.basis}"
    skipped = [r.skipped for r in rows]
    chosen: Recommendation = recommend(report.scores, candidates, budget=limits.budget,
                                       deadline_seconds=limits.deadline_seconds,
                                       max_experiments=limits.max_experiments,
                                       slots=min(max(1, o.slots or 1) for o in used.values()) if used else 1,
                                       skipped=skipped)
    running = [not s for s in skipped]
    totals = {o.name: batch_totals(estimates, o, running) for o in options}
    split, combined = split_totals(estimates, resources, options, running, currency=option.currency)
    problems = cap_problems(combined, option, admin)
    _, kept = split_totals(estimates, resources, options, chosen.include, currency=option.currency)
    kept_problems = cap_problems(kept, option, admin)
    advice_rows = [RowAdvice(r.index, e, c, s, inc, reason, name)
                   for r, e, c, s, inc, reason, name in zip(rows, estimates, costs, report.scores, chosen.include,
                                                            chosen.reasons, resources, strict=True)]
    for o in (option, *(u for u in used.values() if u.name != option.name)):
        if o.note:
            notes.append(f"{o.name}: {o.note}")
    return Advice(advice_rows, option, list(options), totals, kept, objective, basis, _duration_basis(estimates),
                  limits, chosen.binding, problems, kept_problems, notes, split, combined)


def check_row_resources(row_resources: Mapping[int, str], options: Sequence[ResourceOption],
                        indexes: Sequence[int], *, field: str = "row resource") -> dict[int, str]:
    """``row_resources`` checked: each key a row's index among ``indexes``, each name an option's;
    a one-line SpecError naming ``field``, the row (numbered as ``plan`` prints it) and the options."""
    names = [o.name for o in options]
    known = set(indexes)
    out: dict[int, str] = {}
    for index, name in row_resources.items():
        if index not in known:
            shown = f"1-{max(known) + 1}" if known else "none"
            raise SpecError(f"{field}: row {index + 1} is not in the plan, which has rows {shown}; "
                            "'hypertuner plan' lists them")
        if name not in names:
            raise SpecError(f"{field}: row {index + 1}: {one_line(repr(name), 60)} is not a resource option; "
                            f"choose one of {', '.join(names) or 'none (add [resources.<name>] to the config)'}")
        out[index] = name
    return out


def split_totals(estimates: Sequence[DurationEstimate], resources: Sequence[str],
                 options: Sequence[ResourceOption], include: Sequence[bool], *,
                 currency: str) -> tuple[dict[str, BatchTotals], BatchTotals]:
    """Per option, the totals of the ``include``-d rows assigned to it (``resources``: one option name
    per estimate; options with none are left out), and the combined total: count, compute and money
    summed (in ``currency``, as given), wall the longest option's (the options run side by side)."""
    if not len(estimates) == len(resources) == len(include):
        raise ValueError(f"resources: {len(resources)} names and {len(include)} flags for {len(estimates)} "
                         "estimates; give one of each per estimate")
    split: dict[str, BatchTotals] = {}
    for o in options:
        mine = [keep and name == o.name for name, keep in zip(resources, include, strict=True)]
        if any(name == o.name for name in resources):
            split[o.name] = batch_totals(estimates, o, mine)
    parts = list(split.values())
    combined = BatchTotals(count=sum(t.count for t in parts), compute_seconds=sum(t.compute_seconds for t in parts),
                           wall_seconds=max((t.wall_seconds for t in parts), default=0.0),
                           money=sum(t.money for t in parts), currency=currency)
    return split, combined


def retotal(advice: Advice, running: Sequence[bool], row_resources: Mapping[int, str] | None = None) -> Advice:
    """``advice`` with its totals over the ``running`` rows (a skip changes no estimate: no refit);
    ``row_resources`` given: the rows' options as these (the batch's elsewhere), costs unchanged."""
    estimates = [a.estimate for a in advice.rows]
    rows = advice.rows
    if row_resources is not None:
        assigned = check_row_resources(row_resources, advice.options, [a.index for a in rows])
        rows = [a._replace(resource=assigned.get(a.index, advice.option.name)) for a in rows]
    resources = [a.resource or advice.option.name for a in rows]
    split, combined = split_totals(estimates, resources, advice.options, running, currency=advice.option.currency)
    return advice._replace(rows=rows, totals={o.name: batch_totals(estimates, o, running) for o in advice.options},
                           split=split, combined=combined)


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
                      default_seconds: float = 60.0, scales: Mapping[str, str] | None = None,
                      row_resources: Mapping[int, str] | None = None) -> Advice:
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
                  admin=admin, default_seconds=default_seconds, scales=scales, row_resources=row_resources)


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
