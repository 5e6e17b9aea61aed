"""``hypertuner plan`` and ``hypertuner run``: the options, the next batch from locks, the listing.

``--from-locks [RUN]`` starts from the project's locks and RUN's spec (default: the latest run);
``--add NAME=VALUES`` adds or overrides a hyperparameter; positional ``NAME=VALUES`` (or ``--spec``)
override both. ``--skip N,M`` / ``--star N`` take row numbers as ``plan`` prints them;
``--skip-redundant`` leaves out the redundant rows. ``--resource-row N,M=NAME`` runs those rows on
another resource option than ``--resource``. ``--script PATH`` runs another script of the project
folder for this batch (the demo's ``kmeans.py``). ``plan`` takes the same options, so that it shows
exactly the rows ``run`` would queue.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench_plugin import batch
from workbench_plugin._exceptions import SpecError
from workbench_plugin._propose_cli import (
    Proposer,
    add_propose_arguments,
    lineage_of_request,
    print_proposal,
    request_from_args,
    split_auto,
)
from workbench_plugin._table import fmt, format_table
from workbench_plugin.advice import format_seconds
from workbench_plugin.flags import flag_key, one_line
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.next_batch import NextBatchFields, merge_values, parse_rows, spec_from_locks
from workbench_plugin.space import SearchSpec

if TYPE_CHECKING:
    from workbench_plugin.advice import Advice, RowAdvice
    from workbench_plugin.config import Config
    from workbench_plugin.index import ProjectIndex
    from workbench_plugin.planning import ListingRow, Plan
    from workbench_plugin.project import ProjectSettings
    from workbench_plugin.proposals import Proposal
    from workbench_plugin.store import Experiment, Run, Store

__all__ = ["Prepared", "add_arguments", "args_for", "launch_prepared", "listing_json", "merge_specs", "parse_count",
           "parse_row_resources", "prepare", "print_listing", "with_script"]

_METRICS_SHOWN = 6
_MAX_ROW_RESOURCES = 100   # --resource-row arguments
_MAX_NAME = 100            # characters of an option's name


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("values", nargs="*", metavar="NAME=VALUES",
                   help="e.g. 'batch_size=32..256 *2' 'lr=1e-4..1e-1 log 4' optimizer=adam,sgd")
    p.add_argument("--spec", help="a .toml or .json file with the values")
    p.add_argument("--project", help="project folder (default: the current folder)")
    p.add_argument("--script", metavar="PATH",
                   help="run another script of the project folder for this batch, e.g. kmeans.py "
                        "(default: the project's script)")
    p.add_argument("--from-locks", nargs="?", const="", default=None, metavar="RUN",
                   help="start from the project's locks and RUN's values (default: the latest run)")
    p.add_argument("--add", action="append", default=[], metavar="NAME=VALUES",
                   help="add or override a hyperparameter, e.g. 'num_layers=1..4 +1' (repeatable)")
    p.add_argument("--skip", action="append", default=[], metavar="N,M",
                   help="leave out these rows, numbered as 'plan' lists them")
    p.add_argument("--star", action="append", default=[], metavar="N,M", help="star these rows")
    p.add_argument("--skip-redundant", action="store_true",
                   help="leave out experiments that already ran with the same snapshot")
    p.add_argument("--resource", metavar="NAME",
                   help="the resource option to price and schedule the batch on (config [resources.NAME]; "
                        "default: the first)")
    p.add_argument("--resource-row", action="append", default=[], metavar="N,M=NAME",
                   help="run these rows (numbered as 'plan' lists them) on resource option NAME instead "
                        "(repeatable)")
    p.add_argument("--budget", metavar="MONEY", help="recommend the rows that fit this much money, e.g. 20")
    p.add_argument("--deadline", metavar="DURATION", help="recommend the rows that end within this, e.g. 30m, 2h")
    p.add_argument("--max-experiments", metavar="N", help="recommend at most N rows")
    p.add_argument("--metric", help="the metric the scores optimise (default: a validation accuracy or loss)")
    p.add_argument("--goal", choices=["max", "min"], help="maximise or minimise --metric (default: from its name)")
    p.add_argument("--apply-recommendation", action="store_true",
                   help="skip the rows the recommendation leaves out")
    add_propose_arguments(p)
    if command == "plan":
        p.add_argument("--json", action="store_true", help="print the listing as JSON")
    else:
        p.add_argument("--detach", action="store_true", help="return at once; a background gateway runs it")
        p.add_argument("--note", default="", help="a note kept with the run")
        p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                       help="a Spark setting for this batch's applications, over [spark.conf] and the resource "
                            "option's, e.g. spark.yarn.maxAppAttempts=2 (repeatable)")
        p.add_argument("--packing", choices=["none", "tasks"],
                       help="spark engine: one application per experiment (none) or one per run with "
                            "a task per experiment (tasks); default: config spark.packing")


class Prepared:
    """A planned batch with the rows chosen on the command line, and its advice (durations, costs,
    scores, the recommended rows; with ``--apply-recommendation`` the rows it leaves out are skipped)."""

    def __init__(self, store: Store, plan: Plan, index: ProjectIndex, fields: NextBatchFields | None,
                 origin: dict[str, Any], skip: tuple[int, ...], star: tuple[int, ...], skip_redundant: bool,
                 row_resources: dict[int, str] | None = None) -> None:
        self.store, self.plan, self.index, self.fields, self.origin = store, plan, index, fields, origin
        self.skip, self.star, self.skip_redundant = skip, star, skip_redundant
        self.row_resources: dict[int, str] = dict(row_resources or {})  # 0-based row -> option name
        self.advice: Advice | None = None
        self.applied = False
        self.candidates = 0  # rows not skipped before the recommendation
        self.proposal: Proposal | None = None  # with --propose: the rows' source, basis and reasons

    @property
    def reasons(self) -> list[str]:
        """Why each plan row was proposed (one line each); empty without ``--propose``."""
        return list(self.proposal.reasons) if self.proposal is not None else []

    def rows(self) -> list[ListingRow]:
        from workbench_plugin.planning import listing

        return listing(self.plan, self.index, skip=self.skip, star=self.star, skip_redundant=self.skip_redundant)

    def advise(self, config: Config, args: argparse.Namespace) -> Advice:
        """Durations and costs from the project's history, scores from its results, and the rows to
        recommend within ``--budget``/``--deadline``/``--max-experiments`` and the config's caps."""
        from workbench_plugin.advice import Constraints, advise_from_index, check_row_resources, retotal
        from workbench_plugin.estimates import resource_options
        from workbench_plugin.recommend import parse_duration, parse_money

        engine = None
        if any(o.kind == "yarn" for o in config.resources):  # its queue's free capacity: ask the RM
            from workbench_plugin.plugins import load_engine

            engine = load_engine(config, self.store, submitting=False)
        constraints = Constraints(
            budget=None if args.budget is None else parse_money(args.budget),
            deadline_seconds=None if args.deadline is None else parse_duration(args.deadline),
            max_experiments=None if args.max_experiments is None else parse_count(args.max_experiments),
            metric=args.metric, goal=args.goal,
        )
        rows = self.rows()
        options = resource_options(config, engine)
        check_row_resources(self.row_resources, options, [r.index for r in rows], field="--resource-row")
        advice = advise_from_index(rows, self.index, self.plan.settings.script,
                                   options=options, resource=args.resource,
                                   constraints=constraints, admin=config.limits,
                                   default_seconds=config.default_seconds, scales=self.plan.spec.scales,
                                   row_resources=self.row_resources)
        self.candidates = sum(not r.skipped for r in rows)
        if args.apply_recommendation:
            left = [a.index for a in advice.rows if not a.recommended]
            self.skip = tuple(sorted({*self.skip, *left}))
            self.star = tuple(i for i in self.star if i not in left)
            self.applied = True
            advice = retotal(advice, [a.recommended for a in advice.rows])
        self.advice = advice
        chosen = {str(i + 1): n for i, n in sorted(self.row_resources.items())
                  if n != advice.option.name and i not in self.skip}
        by_name = {o.name: o for o in advice.options}
        queues = {row: by_name[n].queue or "default" for row, n in chosen.items()
                  if n in by_name and by_name[n].kind == "yarn"}  # where those rows are submitted
        self.origin = {**self.origin, "resource": advice.option.name,
                       **({"queue": advice.option.queue or "default"} if advice.option.kind == "yarn" else {}),
                       **({"row_resources": chosen} if chosen else {}),
                       **({"row_queues": queues} if queues else {}),
                       **({"recommendation": {"budget": constraints.budget, "deadline_seconds":
                                              constraints.deadline_seconds,
                                              "max_experiments": constraints.max_experiments,
                                              "metric": advice.objective.metric if advice.objective else None}}
                          if self.applied else {})}
        return advice

    def problems(self) -> list[str]:
        """Administrator caps that the rows to run exceed."""
        if self.advice is None:
            return []
        return self.advice.recommended_problems if self.applied else self.advice.problems


def parse_count(text: str) -> int:
    """``--max-experiments``: a whole number, 1 or more (one line otherwise)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise SpecError(f"--max-experiments: {one_line(repr(text), 40)} is not a count; give a whole number, 1 or more")
    return value


def parse_row_resources(texts: Sequence[str], count: int) -> dict[int, str]:
    """``--resource-row N,M=NAME`` (rows as ``plan`` prints them) as {0-based row: NAME}; a later
    argument overrides an earlier one for the same row. One line naming the option for bad input
    (an unknown NAME is caught where the options are known)."""
    if len(texts) > _MAX_ROW_RESOURCES:
        raise SpecError(f"--resource-row: given {len(texts)} times; give at most {_MAX_ROW_RESOURCES} "
                        "(list several rows in one, as in '--resource-row 2,5=cloud')")
    out: dict[int, str] = {}
    for text in texts:
        rows, sep, name = text.partition("=")
        name = name.strip()
        if not sep or not rows.strip() or not name:
            raise SpecError(f"--resource-row: {one_line(repr(text), 60)} is not ROWS=NAME; give rows as 'plan' "
                            "numbers them and a resource option, as in '--resource-row 2,5=cloud'")
        if len(name) > _MAX_NAME or not name.isprintable():
            raise SpecError(f"--resource-row: {one_line(repr(name), 60)} is not a resource option's name; "
                            "give one configured under [resources.<name>]")
        for index in parse_rows("--resource-row", [rows], count):
            out[index] = name
    return out


def _source_run(index: ProjectIndex, wanted: str) -> str:
    if not index.runs:
        raise SpecError(f"--from-locks: project {index.project!r} has no runs yet; run a batch first")
    if not wanted:
        return str(index.latest_run())
    if wanted in index.runs:
        return wanted
    found = [r for r in index.runs if r.startswith(wanted)] if wanted.strip() else []
    if len(found) == 1:
        return found[0]
    why = "matches several runs; give more of the id" if found else "is not a run of the project"
    raise SpecError(f"--from-locks: {one_line(repr(wanted), 60)} {why} (latest: {index.latest_run()}); "
                    "'hypertuner status' lists the runs")


def merge_specs(base: SearchSpec | None, over: SearchSpec) -> SearchSpec:
    """``base`` with ``over``'s hyperparameters added or overriding (either spelling of a flag)."""
    if base is None:
        return over
    return SearchSpec(merge_values(base.params, over.params), merge_values(base.sources, over.sources),
                      merge_values(base.scales, over.scales))


def _overrides(args: argparse.Namespace) -> SearchSpec | None:
    if args.spec and args.values:
        raise SpecError("values: give NAME=VALUES arguments or --spec FILE, not both")
    if args.spec:
        return SearchSpec.from_any(args.spec)
    return SearchSpec.from_assignments(args.values) if args.values else None


def with_script(settings: ProjectSettings, script: str | None) -> ProjectSettings:
    """``settings`` with ``--script`` (a path inside the project folder) instead of the project's script."""
    if not script or script == settings.script:
        return settings
    try:
        return dataclasses.replace(settings, script=script)
    except SpecError as exc:
        raise SpecError(f"--{exc}") from None


def prepare(config: Config, store: Store, settings: ProjectSettings, args: argparse.Namespace) -> Prepared:
    """Everything ``plan``/``run`` check before anything is queued; a one-line error for bad input."""
    settings = with_script(settings, getattr(args, "script", None))
    from_locks = getattr(args, "from_locks", None)
    values = list(args.values)
    if from_locks and "=" in from_locks:  # 'plan --from-locks lr=0.1': a value, not a run id
        values, from_locks = [from_locks, *values], ""
    args.values = values
    base: SearchSpec | None = None
    fields: NextBatchFields | None = None
    if from_locks is not None:
        index = batch.open_index(store, settings)
        run = index.entry(_source_run(index, from_locks)).run
        fields = spec_from_locks(run, ProjectMemory(StoreMemory(store, settings.name)).locks(), None)
        base = SearchSpec.parse(fields.mapping())
    added, auto = split_auto(getattr(args, "add", []), proposing=getattr(args, "propose", None) is not None)
    if added:
        base = merge_specs(base, SearchSpec.from_assignments(added))
    over = _overrides(args)
    if over is not None:
        base = merge_specs(base, over)
    if base is not None and auto:  # 'NAME=?': its values come from the proposal, not the run's field
        gone = {flag_key(n) for n in auto}
        names = [n for n in base.params if flag_key(n) not in gone]
        if not names:
            raise SpecError(f"--add: {one_line(auto[0], 60)}=? needs another hyperparameter with values (or "
                            "--from-locks) beside it")
        base = SearchSpec({n: base.params[n] for n in names}, {n: base.sources[n] for n in names},
                          {n: base.scales[n] for n in names if n in base.scales})
    if base is None:
        raise SpecError("values: none given; give NAME=VALUES, --spec FILE or --from-locks, "
                        "as in 'batch_size=32..64 *2'")
    request = request_from_args(args)
    proposer = None
    if request is not None:
        locked = list(fields.locks()) if fields is not None else []
        proposer = Proposer(request, locked=locked, metric=getattr(args, "metric", None),
                            goal=getattr(args, "goal", None), script=settings.script, auto=auto)
    plan, index = batch.plan_batch(config, store, settings, base, rows_from=proposer)
    origin: dict[str, Any] = {}
    if fields is not None:
        kept = {flag_key(n) for n in plan.spec.params}
        given = {flag_key(n) for n in [*(a.partition("=")[0].strip() for a in added), *auto,
                                        *(over.params if over else ())]}
        locks = {n: t for n, t in fields.locks().items() if flag_key(n) in kept and flag_key(n) not in given}
        origin = {"from_run": fields.from_run, "locks": locks}
        fields = spec_from_locks(index.entry(fields.from_run).run,
                                 ProjectMemory(StoreMemory(store, settings.name)).locks(), plan.flags)
    count = len(plan.experiments)
    skip = parse_rows("--skip", getattr(args, "skip", []), count)
    star = parse_rows("--star", getattr(args, "star", []), count)
    both = [i + 1 for i in star if i in skip]
    if both:
        raise SpecError(f"--star: row {both[0]} is also given to --skip; a skipped row runs nothing to star")
    row_resources = parse_row_resources(getattr(args, "resource_row", None) or [], count)
    if request is not None and proposer is not None:
        origin = {**origin, "proposal": lineage_of_request(request, proposer.proposal)}
    prepared = Prepared(store, plan, index, fields, origin, skip, star, bool(getattr(args, "skip_redundant", False)),
                        row_resources)
    prepared.proposal = proposer.proposal if proposer is not None else None
    advice = prepared.advise(config, args)
    if (request is not None and (args.budget or args.deadline or args.max_experiments) and not skip
            and request.n > 1):
        keep = sum(a.recommended for a in advice.rows)
        if 0 < keep < len(plan.experiments):  # fewer, better spread values that the recommendation keeps whole
            fewer = argparse.Namespace(**{**vars(args), "n": str(keep)})
            return prepare(config, store, settings, fewer)
    return prepared


def args_for(from_run: str, *, add: Sequence[str] = (), skip: Collection[int] = (), star: Collection[int] = (),
             skip_redundant: bool = False, resource: str | None = None, budget: str | None = None,
             deadline: str | None = None, max_experiments: str | None = None, metric: str | None = None,
             goal: str | None = None, apply_recommendation: bool = False,
             row_resources: Mapping[int, str] | None = None, propose: str | None = None, n: int | None = None,
             seed: int = 0, families: Mapping[str, str] | None = None, lines: Mapping[str, str] | None = None,
             circled: Mapping[str, Sequence[str]] | None = None) -> argparse.Namespace:
    """The arguments of ``hypertuner run --from-locks FROM_RUN --add NAME=VALUES... --skip N,M --star N
    [--skip-redundant] [--resource-row N=NAME...]`` (``skip``/``star``/``row_resources``: 0-based
    rows), for callers other than the command line
    (the dashboard's new-run page), so that they :func:`prepare` exactly what the command would.
    ``propose``/``n``/``seed``/``families``/``lines`` (name -> ``format_line`` text)/``circled`` are
    ``--propose SOURCE --n N --seed S --family NAME=F --line NAME=TEXT --circle NAME=ID,ID``."""
    def rows(indexes: Collection[int]) -> list[str]:
        return [",".join(str(i + 1) for i in sorted(indexes))] if indexes else []

    return argparse.Namespace(values=[], spec=None, from_locks=from_run, add=list(add), skip=rows(skip),
                              star=rows(star), skip_redundant=skip_redundant, resource=resource, budget=budget,
                              deadline=deadline, max_experiments=max_experiments, metric=metric, goal=goal,
                              apply_recommendation=apply_recommendation,
                              resource_row=[f"{i + 1}={name}" for i, name in sorted((row_resources or {}).items())],
                              propose=propose, n=None if n is None or propose is None else str(n),
                              seed=None if propose is None else str(seed),
                              family=[f"{k}={v}" for k, v in (families or {}).items()],
                              line=[f"{k}={v}" for k, v in (lines or {}).items()],
                              circle=[f"{k}={','.join(v)}" for k, v in (circled or {}).items() if v])


def launch_prepared(config: Config, store: Store, prepared: Prepared, *, note: str = "",
                    packing: str | None = None, conf: Sequence[str] = ()) -> tuple[Run, list[Experiment]]:
    """Queue the prepared batch (``hypertuner run``; the page's Launch): skips, stars and lineage recorded,
    and the Spark settings of its resource option and of ``conf`` (``--conf KEY=VALUE`` arguments)."""
    from workbench_plugin.planning import launch
    from workbench_plugin.spark_settings import parse_conf_args

    given = parse_conf_args(conf)  # checked before anything is queued
    option = prepared.advice.option if prepared.advice is not None else None

    problems = prepared.problems()
    if problems:  # the administrator's caps: nothing is queued
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SpecError(f"{problems[0]}{more}; or let --apply-recommendation choose within the caps")
    from_run = prepared.origin.get("from_run")
    note = note or (f"next batch from the locks of run {from_run}" if from_run else "")
    return launch(store, prepared.plan, engine=config.engine, skip_redundant=prepared.skip_redundant, note=note,
                  packing=packing or config.packing, skip=prepared.skip, star=prepared.star, origin=prepared.origin,
                  spark_conf={**(option.spark_conf() if option else {}), **given},
                  max_running=option.max_running if option else 0)


# ---- the listing -------------------------------------------------------------------------------
def _runs(n: int) -> str:
    return f"{n} previous run{'s' if n != 1 else ''}"


def _metrics(metrics: dict[str, float]) -> str:
    shown = [f"{one_line(k, 40)}={fmt(v)}" for k, v in list(metrics.items())[:_METRICS_SHOWN]]
    more = len(metrics) - _METRICS_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


_WHY = {"same": "same snapshot and data"}


def print_listing(prepared: Prepared, interpreter_note: str) -> None:
    plan, rows, fields = prepared.plan, prepared.rows(), prepared.fields
    if fields is not None:
        locked = "; ".join(f"{f.name}={one_line(f.text, 60)}" for f in fields.fields if f.locked) or "none"
        print(f"from run {fields.from_run}: locked {locked}")
    snap = plan.snapshot
    skipped = sum(r.skipped for r in rows)
    print(f"project {plan.settings.name}: {len(rows)} experiments ({plan.count('new')} new, "
          f"{plan.count('redundant')} redundant, {plan.count('similar')} similar"
          + (f"; {skipped} skipped, {len(rows) - skipped} to queue" if skipped else "")
          + f"); snapshot {snap.snapshot_id} ({len(snap.files)} files, {'reused' if snap.reused else 'new'})")
    if interpreter_note:
        print(interpreter_note)
    starred = any(r.starred for r in rows)
    advice = {a.index: a for a in prepared.advice.rows} if prepared.advice else {}
    used = {a.resource for a in prepared.advice.rows} if prepared.advice else set()
    priced = prepared.advice is not None and not all(o.free for o in prepared.advice.options if o.name in used
                                                      or o.name == prepared.advice.option.name)
    table = []
    for r in rows:
        row: dict[str, Any] = {"#": r.row, "status": r.status, "skip": "skip" if r.skipped else "",
                               "star": "*" if r.starred else "", **r.params}
        row["previous"] = _runs(r.previous_runs) if r.previous else ""
        adv = advice.get(r.index)
        if adv is not None:
            row["duration"] = f"{format_seconds(adv.estimate.seconds)} ({format_seconds(adv.estimate.low)}-" \
                              f"{format_seconds(adv.estimate.high)})"
            row["cost"] = _row_cost(prepared.advice, adv) if prepared.advice else ""
            row["score"] = f"{adv.score.value:.1f}"
            row["advice"] = "" if adv.recommended else (adv.skip_reason or "skip")
        row["command"] = r.command
        table.append(row)
    extra = ["duration", *(["cost"] if priced else []), "score", "advice"] if advice else []
    columns = ["#", "status", "skip", *(["star"] if starred else []), *plan.spec.params, "previous", *extra,
               "command"]
    print(format_table(table, columns, max_width=100))
    for r in rows:
        if r.previous:
            print(f"  #{r.row} {r.status}: same setting found in {_runs(r.previous_runs)}")
        for p in r.previous:
            metrics = _metrics(p.metrics)
            print(f"    same as {p.experiment_id} ({p.state}, {_WHY.get(p.why, p.why)})"
                  + (f": {metrics}" if metrics else "") + f"; 'hypertuner show {p.experiment_id}'")
    if prepared.proposal is not None:
        print_proposal(prepared.proposal)
        for r, reason in zip(rows, prepared.reasons, strict=False):
            print(f"  #{r.row} proposed: {one_line(reason, 200)}")
    if prepared.advice is not None:
        _print_advice(prepared, rows)
    redundant = [r.row for r in rows if r.status == "redundant" and not r.skipped]
    if redundant:
        shown = ",".join(map(str, redundant[:20])) + ("..." if len(redundant) > 20 else "")
        print(f"redundant rows {shown} run again unless left out: 'hypertuner run --skip-redundant' "
              f"(or --skip {shown})")
    if fields is not None and fields.addable:
        print("flags to add with --add NAME=VALUES:")
        for a in fields.addable[:30]:
            print(f"  {a.name} ({a.type}, default {a.default})" + (f": {a.help}" if a.help else ""))
        if len(fields.addable) > 30:
            print(f"  and {len(fields.addable) - 30} more ('hypertuner flags' lists them)")


def _money(value: float, currency: str) -> str:
    return f"{value:.2f} {currency}"


def _row_cost(advice: Advice, row: RowAdvice) -> str:
    """``0.03``, or ``0.03 USD (cloud)`` for a row on another option than the batch's."""
    name = row.resource or advice.option.name
    if name == advice.option.name:
        return f"{row.costs[name]:.2f}"
    option = next(o for o in advice.options if o.name == name)
    return f"{_money(row.costs[name], option.currency)} ({one_line(name, 40)})"


def _print_advice(prepared: Prepared, rows: list[ListingRow]) -> None:
    """Totals per resource option, the scores' basis, the recommendation and the caps."""
    advice = prepared.advice
    assert advice is not None
    print(f"duration: {one_line(advice.duration_basis, 200)}")
    running = prepared.candidates
    for option in advice.options:
        t = advice.totals[option.name]
        chosen = " (chosen)" if option.name == advice.option.name else ""
        money = "free" if option.free else _money(t.money, t.currency)
        print(f"  on {one_line(option.name, 40)}{chosen}: {t.count} experiments, {format_seconds(t.compute_seconds)} "
              f"compute, {format_seconds(t.wall_seconds)} wall at {max(1, option.slots)} slots, {money}")
    if advice.overridden and advice.split is not None and advice.combined is not None:
        shares = []
        for option in advice.options:
            share = advice.split.get(option.name)
            if share is not None:
                shares.append(f"{one_line(option.name, 40)} {share.count} ({format_seconds(share.wall_seconds)} "
                              "wall, " + ("free" if option.free else _money(share.money, share.currency)) + ")")
        c = advice.combined
        print(f"  as assigned per row: {'; '.join(shares)}; combined {c.count} experiments, "
              f"{format_seconds(c.compute_seconds)} compute, {format_seconds(c.wall_seconds)} wall, "
              f"{_money(c.money, c.currency)}")
    what = f"{advice.objective.metric} ({advice.objective.goal})" if advice.objective else "coverage"
    print(f"scores 0-10 for {one_line(what, 60)}: {one_line(advice.score_basis, 300)}")
    kept = [a for a in advice.rows if a.recommended]
    t = advice.recommended_totals
    limits = [f"budget {advice.limits.budget:g}" if advice.limits.budget is not None else "",
              f"deadline {format_seconds(advice.limits.deadline_seconds)}"
              if advice.limits.deadline_seconds is not None else "",
              f"at most {advice.limits.max_experiments}" if advice.limits.max_experiments is not None else ""]
    within = ", ".join(x for x in limits if x) or "no limit"
    rows_kept = ",".join(str(a.index + 1) for a in kept[:30]) + ("..." if len(kept) > 30 else "")
    print(f"recommended ({within}): {len(kept)} of {running} rows{(' (' + rows_kept + ')') if kept else ''}, "
          f"{format_seconds(t.wall_seconds)} wall"
          + ("" if advice.option.free and not advice.overridden else f", {_money(t.money, t.currency)}")
          + (f"; limited by the {advice.binding}" if advice.binding else ""))
    if prepared.applied:
        print("the recommendation is applied: the rows it leaves out are skipped")
    elif len(kept) < running:
        print("apply it with --apply-recommendation")
    for a in advice.rows:
        if a.score.reason:
            print(f"  #{a.index + 1} {a.score.value:.1f}: {one_line(a.score.reason, 160)}")
    for note in advice.notes:
        print(f"note: {one_line(note, 200)}")
    for problem in prepared.problems():
        print(f"over a cap: {one_line(problem, 200)}")


def listing_json(prepared: Prepared) -> list[dict[str, Any]]:
    """Every column of the listing as plain data (``plan --json``)."""
    reasons = prepared.reasons
    return [{"index": r.index, "row": r.row, "status": r.status, "params": r.params, "argv": r.argv,
             "command": r.command, "skipped": r.skipped, "starred": r.starred,
             "redundant_with": [p.experiment_id for p in r.previous if p.why == "same"],
             "similar_to": [p.experiment_id for p in r.previous if p.why != "same"],
             "previous_runs": r.previous_runs,
             "previous": [p._asdict() for p in r.previous], **_advice_json(prepared, r.index),
             **({"proposal_reason": reasons[r.index]} if r.index < len(reasons) else {})}
            for r in prepared.rows()]


def _advice_json(prepared: Prepared, index: int) -> dict[str, Any]:
    if prepared.advice is None:
        return {}
    a = prepared.advice.rows[index]
    return {"duration_seconds": a.estimate.seconds, "duration_low": a.estimate.low, "duration_high": a.estimate.high,
            "duration_basis": a.estimate.basis, "costs": a.costs, "resource": a.resource or prepared.advice.option.name,
            "score": a.score.value, "score_reason": a.score.reason, "recommended": a.recommended,
            "advice": a.skip_reason}
