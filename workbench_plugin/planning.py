"""Planning: a search spec becomes proposed experiments, flagged against the project's history.

A proposed experiment is *redundant* when an earlier experiment of the project had the same
script, the same hyperparameter values, the same snapshot and the same data, and did not fail
(it succeeded, or is still queued or running). It is *similar* when only the snapshot or the data
differ, or when the identical experiment ended failed, killed or lost (worth a rerun, maybe).
"""

from __future__ import annotations

import getpass
import math
import shlex
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from workbench_plugin._exceptions import BatchTooLarge, HyperTunerError
from workbench_plugin.commands import FlagStyle, build_argv, render_command
from workbench_plugin.flags import FlagSet, flag_key
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import PENDING_OR_SUCCEEDED
from workbench_plugin.project import ProjectSettings
from workbench_plugin.snapshot import Snapshot
from workbench_plugin.space import SearchSpec, Value, format_value, parse_values
from workbench_plugin.spark_settings import RUN_MAX_RUNNING, RUN_SPARK_CONF
from workbench_plugin.store import Experiment, Run, Store, run_id_of

__all__ = ["LINEAGE_KEY", "ListingRow", "Match", "Plan", "PreviousResult", "ProposedExperiment", "launch", "listing",
           "make_plan", "shown_interpreter", "spec_of_rows"]

#: The key of ``Run.extra`` that records where a run came from (``next_batch.lineage_of`` reads it):
#: ``{"from_run", "locks", "skipped", "starred"}``. In ``extra`` rather than a new ``Run`` field, so that
#: an older gateway reading the record (``Run(**data)``) does not take it for a damaged file.
LINEAGE_KEY = "lineage"

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
        return render_command(exp.argv, interpreter=shown_interpreter(self.settings.run_interpreter))


def shown_interpreter(interpreter: str) -> str:
    """The interpreter as command lines show it (for :func:`render_command`): as configured, one argv
    element like the runner's; ``python`` when empty, which means the Python that runs HyperTuner
    (the gateway's on a laptop, ``spark.python`` in a container)."""
    return shlex.quote(interpreter) if interpreter else "python"


def params_key(script: str, params: dict[str, Any],
               flags: FlagDefaults | None = None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What makes two experiments the same setting: the script and the values its flags take.
    ``learning-rate`` and ``learning_rate`` are one flag. With ``flags`` (from the script's
    parser): a flag left out counts as its default, so adding ``--hidden_units 64`` to a batch
    matches the earlier experiments that ran with the default 64; and a number for an int or
    float flag is compared as a number (``1`` and ``1.0`` are one value)."""
    flags = flags or FlagDefaults({}, frozenset())
    effective = {}
    for key, value in params.items():
        name = flag_key(key)
        effective[name] = _numeric(value) if name in flags.numeric else format_value(value)
    for name, value in flags.defaults.items():
        effective.setdefault(name, value)
    return script, tuple(sorted(effective.items()))


class FlagDefaults(NamedTuple):
    defaults: dict[str, str]    #: flag -> its default as compared (known value-taking flags only)
    numeric: frozenset[str]     #: the flags typed int or float


def _numeric(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return format_value(value)
    return repr(number) if math.isfinite(number) else format_value(value)


def flag_defaults(flags: FlagSet | None) -> FlagDefaults:
    """The defaults and numeric types of the script's flags, for :func:`params_key`."""
    if flags is None or not flags.known:
        return FlagDefaults({}, frozenset())
    defaults: dict[str, str] = {}
    numeric = set()
    for f in flags.flags:
        name = flag_key(f.dest or f.name)
        if f.type in ("int", "float"):
            numeric.add(name)
        value = f.default
        if f.positional or f.is_switch or not f.default_known or value is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float | str):
            defaults[name] = _numeric(value) if name in numeric else format_value(value)
    return FlagDefaults(defaults, frozenset(numeric))


def spec_of_rows(spec: SearchSpec, rows: Sequence[Mapping[str, Value]]) -> SearchSpec:
    """The spec a run of proposed ``rows`` records: per flag of ``spec``, the values the rows take
    (sorted numbers, or categories in first-seen order) as a list, and ``spec``'s scale."""
    params: dict[str, tuple[Value, ...]] = {}
    scales = dict(spec.scales)
    for name in [*spec.params, *(k for r in rows for k in r if k not in spec.params)]:
        if name in params:
            continue
        seen = list(dict.fromkeys(r[name] for r in rows if name in r))
        if seen and not any(isinstance(v, str) for v in seen):
            seen.sort(key=float)
        params[name] = tuple(seen) or spec.params[name]
        if name not in scales:  # a flag only the rows name (``--add NAME=?``): the grammar's own scale
            scales[name] = parse_values(name, list(params[name]))[1]
    sources = {n: ",".join(format_value(v) for v in vs) for n, vs in params.items()}
    return SearchSpec(params, sources, scales)


def make_plan(
    settings: ProjectSettings, spec: SearchSpec, snapshot: Snapshot, index: ProjectIndex,
    *, max_batch: int, options: Mapping[str, str] | None = None, flags: FlagSet | None = None,
    warnings: tuple[str, ...] = (), rows: Sequence[Mapping[str, Value]] | None = None,
) -> Plan:
    """The experiments of ``spec``'s grid, or of ``rows`` (proposed rows, each naming every flag of
    ``spec``; the plan's spec then lists the values the rows take), flagged against history."""
    style = FlagStyle.parse(settings.flag_style)
    if rows is not None:
        if len(rows) > max_batch:
            raise BatchTooLarge(f"rows: {len(rows):,} proposed experiments exceed the batch limit of {max_batch:,}; "
                                "ask for fewer (--n)")
        combos = [dict(r) for r in rows]
        spec = spec_of_rows(spec, combos)
    else:
        combos = spec.expand(max_batch=max_batch)
    index.refresh()
    defaults = flag_defaults(flags)
    history: dict[Any, list[tuple[Run, Experiment, str]]] = defaultdict(list)
    for entry, exp, folded in index.iter_experiments():
        history[params_key(entry.run.script, exp.params, defaults)].append((entry.run, exp, folded.state))
    proposed = []
    for i, params in enumerate(combos):
        argv = build_argv(settings.script, params, style, options)
        redundant: list[Match] = []
        similar: list[Match] = []
        for run, exp, state in history.get(params_key(settings.script, params, defaults), []):
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


class PreviousResult(NamedTuple):
    """An earlier experiment with the same setting, as a listing shows it (``hypertuner show ID`` opens it)."""

    experiment_id: str
    run_id: str
    state: str
    why: str  #: "same" (redundant), "snapshot differs", "data differs", "failed before" (similar)
    metrics: dict[str, float]  #: its final metrics (NaN left out)


class ListingRow(NamedTuple):
    """One row of a plan's listing; estimates and scores join on :attr:`index`."""

    #: 0-based, as ``ProposedExperiment.index``; :attr:`row` is the number printed. (It shadows
    #: ``tuple.index``, which nothing here calls.)
    index: int  # type: ignore[assignment]
    params: dict[str, Any]
    argv: list[str]
    command: str
    status: str  #: "new", "redundant" or "similar"
    previous: list[PreviousResult]
    skipped: bool
    starred: bool

    @property
    def row(self) -> int:
        return self.index + 1

    @property
    def previous_runs(self) -> int:
        """In how many earlier runs the same setting was found."""
        return len({p.run_id for p in self.previous})


def listing(plan: Plan, index: ProjectIndex, *, skip: Collection[int] = (), star: Collection[int] = (),
            skip_redundant: bool = False) -> list[ListingRow]:
    """The plan's rows with their earlier results (final metrics read from ``index``) and whether they
    are skipped (``skip``: 0-based rows; redundant ones too with ``skip_redundant``) or starred."""
    finals: dict[str, dict[str, dict[str, float]]] = {}

    def metrics_of(run_id: str, experiment_id: str) -> dict[str, float]:
        if run_id not in finals:
            try:
                frames = index.frames(run_id)
            except HyperTunerError:
                finals[run_id] = {}
            else:
                table = frames.experiments
                finals[run_id] = {
                    str(r["experiment_id"]): {m: float(r[m]) for m in frames.metrics if r[m] == r[m]}
                    for r in table[["experiment_id", *frames.metrics]].to_dict("records")
                }
        return finals[run_id].get(experiment_id, {})

    rows = []
    for e in plan.experiments:
        previous = []
        for m in (*e.redundant_with, *e.similar_to):
            run_id = run_id_of(m.experiment_id)
            metrics = metrics_of(run_id, m.experiment_id)
            previous.append(PreviousResult(m.experiment_id, run_id, m.state, m.why, metrics))
        skipped = e.index in skip or (skip_redundant and bool(e.redundant_with))
        rows.append(ListingRow(e.index, e.params, e.argv, plan.command(e), e.status, previous, skipped,
                               e.index in star))
    return rows


def launch(
    store: Store, plan: Plan, *, engine: str, skip_redundant: bool = False, note: str = "",
    packing: str = "none", skip: Collection[int] = (), star: Collection[int] = (),
    origin: Mapping[str, Any] | None = None, spark_conf: Mapping[str, str] | None = None, max_running: int = 0,
) -> tuple[Run, list[Experiment]]:
    """Write the chosen experiments to the store as queued; the gateway takes it from there.

    ``spark_conf`` (the resource option's Spark settings, then ``--conf``) and ``max_running``
    (the option's limit of applications at once) are recorded with the run for the engine and
    ``hypertuner show``.

    ``skip`` (0-based rows of the plan) and, with ``skip_redundant``, the redundant rows are left out
    and recorded with the run (``Run.extra["lineage"]["skipped"]``), as are the ``star`` rows and
    ``origin`` (``from_run`` and ``locks`` of a batch started from a run's locks).
    """
    chosen = [e for e in plan.experiments if not (e.index in skip or (skip_redundant and e.redundant_with))]
    run_id = store.new_run_id()
    width = max(3, len(str(len(chosen))))
    experiments = [
        Experiment(f"{run_id}-{i:0{width}d}", run_id, i, p.params, p.argv)
        for i, p in enumerate(chosen)
    ]
    ids = {p.index: x.experiment_id for p, x in zip(chosen, experiments, strict=True)}
    lineage: dict[str, Any] = dict(origin or {})
    row_queues = lineage.pop("row_queues", None)  # plan rows -> YARN queue: kept per experiment id
    if isinstance(row_queues, dict):
        queues = {ids[int(row) - 1]: q for row, q in row_queues.items() if int(row) - 1 in ids}
        if queues:
            lineage["queues"] = queues
    left_out = [{"row": e.index + 1, "params": e.params, "why": "chosen" if e.index in skip else "redundant"}
                for e in plan.experiments if e.index not in ids]
    if left_out:
        lineage["skipped"] = left_out
    starred = [{"row": i + 1, "experiment_id": ids[i]} for i in sorted(star) if i in ids]
    if starred:
        lineage["starred"] = starred
    extra: dict[str, Any] = {"packing": packing} if packing != "none" else {}
    if spark_conf:
        extra[RUN_SPARK_CONF] = dict(spark_conf)
    if max_running:
        extra[RUN_MAX_RUNNING] = max_running
    if lineage:
        extra[LINEAGE_KEY] = lineage
    import time

    run = Run(
        run_id=run_id,
        project=plan.settings.name,
        created=time.time(),
        author=getpass.getuser(),
        script=plan.settings.script,
        interpreter=plan.settings.run_interpreter,
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
        extra=extra,
    )
    if experiments:
        store.write_run(run, experiments)
    return run, experiments
