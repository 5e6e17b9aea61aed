"""``hypertuner plan`` and ``hypertuner run``: the options, the next batch from locks, the listing.

``--from-locks [RUN]`` starts from the project's locks and RUN's spec (default: the latest run);
``--add NAME=VALUES`` adds or overrides a hyperparameter; positional ``NAME=VALUES`` (or ``--spec``)
override both. ``--skip N,M`` / ``--star N`` take row numbers as ``plan`` prints them;
``--skip-redundant`` leaves out the redundant rows. ``plan`` takes the same options, so that it
shows exactly the rows ``run`` would queue.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from workbench_plugin import batch
from workbench_plugin._exceptions import SpecError
from workbench_plugin._table import fmt, format_table
from workbench_plugin.flags import one_line
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.next_batch import NextBatchFields, flag_key, merge_values, parse_rows, spec_from_locks
from workbench_plugin.space import SearchSpec

if TYPE_CHECKING:
    from workbench_plugin.config import Config
    from workbench_plugin.index import ProjectIndex
    from workbench_plugin.planning import ListingRow, Plan
    from workbench_plugin.project import ProjectSettings
    from workbench_plugin.store import Experiment, Run, Store

__all__ = ["Prepared", "add_arguments", "args_for", "launch_prepared", "listing_json", "merge_specs", "prepare",
           "print_listing"]

_METRICS_SHOWN = 6


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("values", nargs="*", metavar="NAME=VALUES",
                   help="e.g. 'batch_size=32..256 *2' 'lr=1e-4..1e-1 log 4' optimizer=adam,sgd")
    p.add_argument("--spec", help="a .toml or .json file with the values")
    p.add_argument("--project", help="project folder (default: the current folder)")
    p.add_argument("--from-locks", nargs="?", const="", default=None, metavar="RUN",
                   help="start from the project's locks and RUN's values (default: the latest run)")
    p.add_argument("--add", action="append", default=[], metavar="NAME=VALUES",
                   help="add or override a hyperparameter, e.g. 'num_layers=1..4 +1' (repeatable)")
    p.add_argument("--skip", action="append", default=[], metavar="N,M",
                   help="leave out these rows, numbered as 'plan' lists them")
    p.add_argument("--star", action="append", default=[], metavar="N,M", help="star these rows")
    p.add_argument("--skip-redundant", action="store_true",
                   help="leave out experiments that already ran with the same snapshot")
    if command == "plan":
        p.add_argument("--json", action="store_true", help="print the listing as JSON")
    else:
        p.add_argument("--detach", action="store_true", help="return at once; a background gateway runs it")
        p.add_argument("--note", default="", help="a note kept with the run")
        p.add_argument("--packing", choices=["none", "tasks"],
                       help="spark engine: one application per experiment (none) or one per run with "
                            "a task per experiment (tasks); default: config spark.packing")


class Prepared:
    """A planned batch with the rows chosen on the command line."""

    def __init__(self, plan: Plan, index: ProjectIndex, fields: NextBatchFields | None, origin: dict[str, Any],
                 skip: tuple[int, ...], star: tuple[int, ...], skip_redundant: bool) -> None:
        self.plan, self.index, self.fields, self.origin = plan, index, fields, origin
        self.skip, self.star, self.skip_redundant = skip, star, skip_redundant

    def rows(self) -> list[ListingRow]:
        from workbench_plugin.planning import listing

        return listing(self.plan, self.index, skip=self.skip, star=self.star, skip_redundant=self.skip_redundant)


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


def prepare(config: Config, store: Store, settings: ProjectSettings, args: argparse.Namespace) -> Prepared:
    """Everything ``plan``/``run`` check before anything is queued; a one-line error for bad input."""
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
    added = getattr(args, "add", [])
    if added:
        base = merge_specs(base, SearchSpec.from_assignments(added))
    over = _overrides(args)
    if over is not None:
        base = merge_specs(base, over)
    if base is None:
        raise SpecError("values: none given; give NAME=VALUES, --spec FILE or --from-locks, "
                        "as in 'batch_size=32..64 *2'")
    plan, index = batch.plan_batch(config, store, settings, base)
    origin: dict[str, Any] = {}
    if fields is not None:
        kept = {flag_key(n) for n in plan.spec.params}
        given = {flag_key(n) for n in [*(a.partition("=")[0].strip() for a in added), *(over.params if over else ())]}
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
    return Prepared(plan, index, fields, origin, skip, star, bool(getattr(args, "skip_redundant", False)))


def args_for(from_run: str, *, add: Sequence[str] = (), skip: Collection[int] = (), star: Collection[int] = (),
             skip_redundant: bool = False) -> argparse.Namespace:
    """The arguments of ``hypertuner run --from-locks FROM_RUN --add NAME=VALUES... --skip N,M --star N
    [--skip-redundant]`` (``skip``/``star``: 0-based rows), for callers other than the command line
    (the dashboard's new-run page), so that they :func:`prepare` exactly what the command would."""
    def rows(indexes: Collection[int]) -> list[str]:
        return [",".join(str(i + 1) for i in sorted(indexes))] if indexes else []

    return argparse.Namespace(values=[], spec=None, from_locks=from_run, add=list(add), skip=rows(skip),
                              star=rows(star), skip_redundant=skip_redundant)


def launch_prepared(config: Config, store: Store, prepared: Prepared, *, note: str = "",
                    packing: str | None = None) -> tuple[Run, list[Experiment]]:
    """Queue the prepared batch (``hypertuner run``; the page's Launch): skips, stars and lineage recorded."""
    from workbench_plugin.planning import launch

    note = note or (f"next batch from the locks of run {prepared.origin['from_run']}" if prepared.origin else "")
    return launch(store, prepared.plan, engine=config.engine, skip_redundant=prepared.skip_redundant, note=note,
                  packing=packing or config.packing, skip=prepared.skip, star=prepared.star, origin=prepared.origin)


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
    table = []
    for r in rows:
        row: dict[str, Any] = {"#": r.row, "status": r.status, "skip": "skip" if r.skipped else "",
                               "star": "*" if r.starred else "", **r.params}
        row["previous"] = _runs(r.previous_runs) if r.previous else ""
        row["command"] = r.command
        table.append(row)
    columns = ["#", "status", "skip", *(["star"] if starred else []), *plan.spec.params, "previous", "command"]
    print(format_table(table, columns, max_width=100))
    for r in rows:
        if r.previous:
            print(f"  #{r.row} {r.status}: same setting found in {_runs(r.previous_runs)}")
        for p in r.previous:
            metrics = _metrics(p.metrics)
            print(f"    same as {p.experiment_id} ({p.state}, {_WHY.get(p.why, p.why)})"
                  + (f": {metrics}" if metrics else "") + f"; 'hypertuner show {p.experiment_id}'")
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


def listing_json(prepared: Prepared) -> list[dict[str, Any]]:
    """Every column of the listing as plain data (``plan --json``)."""
    return [{"index": r.index, "row": r.row, "status": r.status, "params": r.params, "argv": r.argv,
             "command": r.command, "skipped": r.skipped, "starred": r.starred,
             "redundant_with": [p.experiment_id for p in r.previous if p.why == "same"],
             "similar_to": [p.experiment_id for p in r.previous if p.why != "same"],
             "previous_runs": r.previous_runs,
             "previous": [p._asdict() for p in r.previous]} for r in prepared.rows()]
