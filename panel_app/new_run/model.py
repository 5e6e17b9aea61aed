"""The new-run page's state (issue 11): the next batch from a run's locks, checked as typed, listed live.

No panel and no bokeh imports here. :class:`NewRunContext` is what planning needs, opened once per
page (the project's settings and config, the store, a snapshot and the script's flags); it plans
with the core's own functions (``next_batch.spec_from_locks``/``validate_field``,
``flag_check.check_spec``, ``planning.make_plan``/``listing``) and launches through
``_plan_cli.prepare``/``launch_prepared``, i.e. exactly what ``hypertuner run --from-locks RUN
--add NAME=VALUES --skip N --star N [--skip-redundant]`` does (a fresh snapshot included).

:class:`NewRunModel` holds the fields (text, lock, one-line error), the rows skipped and starred,
"skip all redundant", and the listing rows (:class:`~workbench_plugin.planning.ListingRow`, plain
data). Columns that other parts compute plug in as :data:`ColumnSlot` functions joined on
``ListingRow.index``; :meth:`NewRunModel.records` hands them to the view.

Duration, cost, score and the recommendation (FIG 25D-25E) come from ``advice.advise_from_index``
on the chosen resource option within the constraints typed (budget, deadline, max experiments,
parsed by the CLI's own functions). The fit takes a while on a long history, so it is not on the
typing path: :meth:`NewRunModel.compute_advice` (any thread) and :meth:`NewRunModel.take_advice`
(the session's thread) run when the view asks, debounced; a skip only re-totals the advice it has.
"Apply recommendation" skips the rows it leaves out; ``auto_apply`` keeps doing so as things change.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import param

from panel_app.new_run.pricing import (
    ADVICE_COLUMNS,
    CONSTRAINTS,
    ConstraintTexts,
    advice_cells,
    parse_constraints,
    retotal,
)
from workbench_plugin import _plan_cli
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin._propose_cli import AUTO, auto_domains
from workbench_plugin.advice import cap_problems
from workbench_plugin.flags import FlagSet, flag_key, one_line
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.next_batch import AddableFlag, NextBatchFields, spec_from_locks, validate_field
from workbench_plugin.planning import ListingRow, Plan, listing, make_plan, params_key
from workbench_plugin.resources_config import ResourceOption
from workbench_plugin.space import SearchSpec, format_value

if TYPE_CHECKING:
    from panel_app.new_run.proposals import ProposedBatch
    from workbench_plugin.advice import Advice, Constraints
    from workbench_plugin.config import Config
    from workbench_plugin.flag_check import CheckedSpec
    from workbench_plugin.index import ProjectIndex
    from workbench_plugin.project import ProjectSettings
    from workbench_plugin.snapshot import Snapshot
    from workbench_plugin.store import Run, Store

__all__ = ["MAX_ROWS_SHOWN", "PROPOSAL_COLUMN", "ColumnSlot", "FieldState", "NewRunContext", "NewRunModel"]

#: The listing shows at most this many rows (the batch itself is capped by config ``max_batch``).
MAX_ROWS_SHOWN = 1000

#: The listing's column with each proposed row's reason (named apart from the score's "reason").
PROPOSAL_COLUMN = "proposal"

#: A column computed elsewhere (duration, cost, score): the listing's rows -> {ListingRow.index: value}.
ColumnSlot = Callable[[Sequence[ListingRow]], Mapping[int, object]]


class FieldState(NamedTuple):
    """One hyperparameter field of the page."""

    name: str
    text: str
    locked: bool
    lock: str  #: the lock as described (``32..64``), "" when not locked
    original: str  #: the text it was opened with ("" for an added flag)
    added: bool = False  #: from the "add hyperparameter" menu
    error: str | None = None  #: the CLI's one-line message for this text

    @property
    def changed(self) -> bool:
        return self.added or self.text != self.original


class NewRunContext:
    """Planning for one project, with the snapshot and the script's flags taken once (when opened)."""

    def __init__(self, config: Config, store: Store, settings: ProjectSettings, index: ProjectIndex,
                 snapshot: Snapshot, flags: FlagSet | None) -> None:
        self.config, self.store, self.settings, self.index = config, store, settings, index
        self.snapshot, self.flags = snapshot, flags
        self._options: list[ResourceOption] | None = None

    @classmethod
    def open(cls, config: Config, store: Store, settings: ProjectSettings, index: ProjectIndex) -> NewRunContext:
        """Snapshot the project and find its script's flags, as ``hypertuner plan`` does."""
        from workbench_plugin.snapshot import create_snapshot, snapshot_flags

        snapshot = create_snapshot(store, settings.root, max_file_bytes=int(config.max_file_mb * 1024 * 1024),
                                   exclude=(config.store_path,))
        flags = snapshot_flags(store, snapshot, settings.root, settings.script, settings.run_interpreter)
        return cls(config, store, settings, index, snapshot, flags)

    def fields(self, run_id: str) -> NextBatchFields:
        self.index.refresh()
        run = self.index.entry(run_id).run
        return spec_from_locks(run, ProjectMemory(StoreMemory(self.store, self.settings.name)).locks(), self.flags)

    def validate(self, name: str, text: str) -> str | None:
        return validate_field(name, text, self.flags, flag_style=self.settings.flag_style,
                              script=self.settings.script)

    def plan(self, spec: SearchSpec, rows: Sequence[Mapping[str, Any]] | None = None) -> Plan:
        """``batch.plan_batch`` on the snapshot taken when opened; a one-line SpecError for bad input.
        ``rows``: plan exactly these (a proposal's) instead of the spec's grid."""
        if rows is None:
            spec.expand(max_batch=self.config.max_batch)
        checked = self.check(spec)
        return make_plan(self.settings, checked.spec, self.snapshot, self.index, max_batch=self.config.max_batch,
                         options=checked.options, flags=self.flags, warnings=checked.warnings, rows=rows)

    def check(self, spec: SearchSpec) -> CheckedSpec:
        """``spec`` checked against the script's flags (their spelling, types and options)."""
        from workbench_plugin.flag_check import check_spec

        flags = self.flags if self.flags is not None else FlagSet(reason="not looked up")
        return check_spec(spec, flags, self.settings.flag_style, script=self.settings.script)

    def options(self) -> list[ResourceOption]:
        """The configured resource options with their slots (asked once; a YARN queue asks the RM)."""
        if self._options is None:
            from workbench_plugin.estimates import resource_options

            engine = None
            if any(o.kind == "yarn" for o in self.config.resources):
                from workbench_plugin.plugins import load_engine

                try:
                    engine = load_engine(self.config, self.store, submitting=False)
                except (HyperTunerError, OSError):
                    engine = None  # the configured slots, with a note saying why
            self._options = resource_options(self.config, engine)
        return self._options

    def advise(self, rows: Sequence[ListingRow], plan_scales: Mapping[str, str], *, resource: str | None,
               constraints: Constraints, row_resources: Mapping[int, str] | None = None) -> Advice:
        """``plan``'s advice for these rows (the same call as ``Prepared.advise``)."""
        from workbench_plugin.advice import advise_from_index

        return advise_from_index(rows, self.index, self.settings.script, options=self.options(),
                                 resource=resource, constraints=constraints, admin=self.config.limits,
                                 default_seconds=self.config.default_seconds, scales=plan_scales,
                                 row_resources=row_resources)

    def launch(self, from_run: str, add: Sequence[str], *, skip: Sequence[int], star: Sequence[int],
               skip_redundant: bool, expected: Sequence[Mapping[str, Any]] | None = None,
               running: Sequence[Mapping[str, Any]] | None = None, resource: str | None = None,
               constraints: ConstraintTexts | None = None, row_resources: Mapping[int, str] | None = None,
               proposed: ProposedBatch | None = None) -> Run:
        """Queue the batch as ``hypertuner run`` would; ``expected`` (the rows' params shown) must be
        what the command plans now, and ``running`` the rows it queues, else a one-line error and
        nothing queued. ``constraints``: given, they are passed with ``--apply-recommendation``.
        ``proposed``: the rows of a proposal, as ``hypertuner run --propose SOURCE --n N`` plans them
        (the same source, seed, families, lines and circled points); the lineage records the proposal."""
        texts = constraints or ConstraintTexts()
        extra: dict[str, Any] = dict(proposed.args) if proposed is not None else {}
        args = _plan_cli.args_for(from_run, add=add, skip=skip, star=star, skip_redundant=skip_redundant,
                                  resource=resource, budget=texts.given("budget"),
                                  deadline=texts.given("deadline"),
                                  max_experiments=texts.given("max_experiments"),
                                  apply_recommendation=constraints is not None, row_resources=row_resources,
                                  **extra)
        prepared = _plan_cli.prepare(self.config, self.store, self.settings, args)
        if proposed is not None:  # what the page showed, kept beside what prepare records
            prepared.origin = {**prepared.origin,
                               "proposal": {**proposed.lineage, **dict(prepared.origin.get("proposal") or {})}}
        if expected is not None:
            now = [params_key("", e.params) for e in prepared.plan.experiments]
            if now != [params_key("", dict(p)) for p in expected]:
                raise HyperTunerError("launch: the locks or the script changed since the listing was made; "
                                      "check the refreshed listing and launch again")
        if running is not None:
            queued = [params_key("", r.params) for r in prepared.rows() if not r.skipped]
            if queued != [params_key("", dict(p)) for p in running]:
                raise HyperTunerError("launch: the recommendation changed since the listing was made; "
                                      "apply it again (or press 'Price and recommend') and launch again")
        run, _ = _plan_cli.launch_prepared(self.config, self.store, prepared)
        return run


def _default_text(flag: AddableFlag) -> str:
    """The flag's default as a field's first text ("" when unknown)."""
    if flag.default == "?":
        return ""
    try:
        value = json.loads(flag.default)
    except ValueError:
        return ""
    if value is None or isinstance(value, bool | list | dict):
        return ""
    return str(value) if isinstance(value, str) else format_value(value)


class NewRunModel(param.Parameterized):
    """The fields, the choices made on the listing, and the listing itself; views watch ``version``."""

    fields = param.List(default=[], item_type=FieldState, doc="The hyperparameters, in order.")
    rows = param.List(default=[], doc="The listing (ListingRow), empty while a field is invalid.")
    skip_redundant = param.Boolean(default=True, doc="Leave out every redundant row.")
    problem = param.String(default="", doc="A one-line error about the batch as a whole.")
    launch_error = param.String(default="")
    launching = param.Boolean(default=False)
    launched = param.String(default="", doc="The run queued by the launch.")
    version = param.Integer(default=0, doc="Bumped whenever the listing was recomputed.")
    resource = param.String(default="", doc="The resource option to price and schedule on.")
    auto_apply = param.Boolean(default=False, doc="Apply the recommendation whenever it is recomputed.")
    advice_error = param.String(default="", doc="A one-line error from the advice (a limit over a cap).")

    def __init__(self, context: NewRunContext, run_id: str, *,
                 columns: Mapping[str, ColumnSlot] | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.context = context
        self.run_id = run_id
        self.columns: dict[str, ColumnSlot] = dict(columns or {})
        self.skip: set[int] = set()
        self.star: set[int] = set()
        #: rows that run on another option than ``resource`` (ListingRow.index -> option name)
        self.row_resources: dict[int, str] = {}
        # the advice's columns, unless a caller plugs in its own under the same name
        self.columns = {**{name: functools.partial(self._advice_column, name) for name in ADVICE_COLUMNS},
                        **self.columns}
        self.options = context.options()
        self.resource = self.options[0].name if self.options else ""
        self.constraint_texts = ConstraintTexts()
        self.constraint_errors: dict[str, str] = {}
        self.advice: Advice | None = None
        self._advice_keys: list[Any] = []
        #: rows skipped by applying the recommendation, with its reason then
        self.applied: dict[int, str] = {}
        self.scales: dict[str, str] = {}
        #: the rows of a proposal listed instead of the fields' grid (None: the grid)
        self.proposed: ProposedBatch | None = None
        self.columns.setdefault(PROPOSAL_COLUMN, self._proposal_column)
        self.base = context.fields(run_id)
        self.fields = [FieldState(f.name, f.text, f.locked, f.lock, f.text) for f in self.base.fields]
        self.recompute()

    # ---- fields ----------------------------------------------------------------------------------
    def field(self, name: str) -> FieldState:
        return next(f for f in self.fields if f.name == name)

    @property
    def addable(self) -> list[AddableFlag]:
        """The script's flags not yet among the fields."""
        taken = {flag_key(f.name) for f in self.fields}
        return [a for a in self.base.addable if flag_key(a.name) not in taken]

    def set_text(self, name: str, text: str) -> None:
        """A field's text changed (as typed): check it, and relist when every field is valid."""
        fields = list(self.fields)
        i = next(i for i, f in enumerate(fields) if f.name == name)
        f = fields[i]._replace(text=text)
        fields[i] = f._replace(error=self._check(name, text) if f.changed else None)
        self.fields = fields
        self._to_grid()
        self.recompute()

    def add_flag(self, name: str) -> FieldState:
        """Add a discovered flag as a field, with its default as the text."""
        flag = next((a for a in self.addable if a.name == name), None)
        if flag is None:
            raise HyperTunerError(f"add: {one_line(repr(name), 60)} is not a flag to add; pick one of the menu")
        text = _default_text(flag)
        new = FieldState(flag.name, text, False, "", "", added=True, error=self._check(flag.name, text))
        self.fields = [*self.fields, new]
        self._to_grid()
        self.recompute()
        return new

    def _check(self, name: str, text: str) -> str | None:
        """The CLI's one line for ``NAME=TEXT``; ``?`` (values left to a proposal) needs a flag whose type and
        default are known, as ``--add 'NAME=?'`` does."""
        if text.strip() != AUTO:
            return self.context.validate(name, text)
        try:
            auto_domains([name], self.context.flags)
        except HyperTunerError as exc:
            return one_line(str(exc))
        return None

    @property
    def auto(self) -> list[str]:
        """The fields given as ``?``: a proposal chooses their values (Propose values)."""
        return [f.name for f in self.fields if f.text.strip() == AUTO and not f.error]

    def remove_flag(self, name: str) -> None:
        """Take an added flag out again (the run's own hyperparameters stay, as with ``--from-locks``)."""
        self.fields = [f for f in self.fields if not (f.added and f.name == name)]
        self._to_grid()
        self.recompute()

    def additions(self) -> list[str]:
        """``NAME=TEXT`` of every changed or added field: the ``--add`` arguments."""
        return [f"{f.name}={f.text}" for f in self.fields if f.changed]

    @property
    def invalid(self) -> list[FieldState]:
        return [f for f in self.fields if f.error]

    # ---- the listing ------------------------------------------------------------------------------
    def recompute(self) -> None:
        """Plan the fields' batch and list it with the skips and stars (nothing when a field is invalid)."""
        self.problem = ""
        rows: list[ListingRow] = []
        if self.invalid:
            self.problem = f"fix {', '.join(f.name for f in self.invalid)} to see the batch"
        elif self.auto and self.proposed is None:
            self.problem = (f"{', '.join(self.auto)}: '?' leaves the values to a proposal; choose a source under "
                            "Propose values and press 'Use these proposals'")
        else:
            try:
                proposed = self.proposed
                plan = self.context.plan(self._spec(), proposed.rows if proposed is not None else None)
                count = len(plan.experiments)
                self.skip = {i for i in self.skip if i < count}
                self.applied = {i: why for i, why in self.applied.items() if i in self.skip}
                self.star = {i for i in self.star if i < count and i not in self.skip}
                self.row_resources = {i: n for i, n in self.row_resources.items() if i < count}
                rows = listing(plan, self.context.index, skip=self.skip, star=self.star,
                               skip_redundant=self.skip_redundant)
                self.scales = dict(plan.spec.scales)  # the checked spec's, as plan advises with
            except HyperTunerError as exc:
                self.problem = one_line(str(exc))
        self.rows = rows
        self.version += 1
        if self.advice is not None and self.advice_matches:
            self.advice = retotal(self.advice, [not r.skipped for r in rows], self._row_resources())

    def spec(self) -> SearchSpec:
        """The fields' search spec (the run's locks and values with the changed and added fields)."""
        return self._spec()

    @property
    def locked(self) -> list[str]:
        """The names of the locked fields."""
        return [f.name for f in self.fields if f.locked]

    # ---- a proposal's rows instead of the grid ---------------------------------------------------
    def use_proposal(self, batch: ProposedBatch) -> None:
        """List the proposal's rows instead of the fields' grid (skips and stars start afresh)."""
        if not batch.rows:
            raise HyperTunerError("proposals: none to use; the proposal made no rows")
        self.skip, self.star, self.applied, self.row_resources = set(), set(), {}, {}
        self.proposed = batch
        self.recompute()

    def back_to_grid(self) -> None:
        """List the fields' grid again."""
        if self.proposed is not None:
            self._to_grid()
            self.recompute()

    def _to_grid(self) -> None:
        if self.proposed is not None:
            self.proposed = None
            self.skip, self.star, self.applied, self.row_resources = set(), set(), {}, {}

    def _proposal_column(self, rows: Sequence[ListingRow]) -> Mapping[int, object]:
        reasons = self.proposed.reasons if self.proposed is not None else ()
        return {r.index: reasons[r.index] for r in rows if r.index < len(reasons)}

    def _spec(self) -> SearchSpec:
        base = SearchSpec.parse(self.base.mapping())
        auto = {flag_key(n) for n in self.auto}
        added = [a for a in self.additions() if flag_key(a.partition("=")[0]) not in auto]
        spec = _plan_cli.merge_specs(base, SearchSpec.from_assignments(added)) if added else base
        if not auto:
            return spec
        keep = [n for n in spec.params if flag_key(n) not in auto]  # a '?' field: its values come with the rows
        return SearchSpec({n: spec.params[n] for n in keep}, {n: spec.sources[n] for n in keep},
                          {n: spec.scales[n] for n in keep if n in spec.scales})

    def _redundant(self) -> set[int]:
        return {r.index for r in self.rows if r.status == "redundant"}

    def toggle_skip(self, index: int) -> None:
        """Skip a row, or bring a skipped one back (a redundant one too: "skip all redundant" then
        becomes the other redundant rows, skipped one by one)."""
        row = self.rows[index]
        if row.skipped:
            if index not in self.skip:  # skipped as redundant
                self.skip |= self._redundant()
                self.skip_redundant = False
            self.skip.discard(index)
        else:
            self.skip.add(index)
            self.star.discard(index)
        self.applied.pop(index, None)  # the user's choice now
        self.recompute()

    def toggle_star(self, index: int) -> None:
        """Star a row (bringing it back if skipped: a skipped row runs nothing to star), or unstar it."""
        if index in self.star:
            self.star.discard(index)
            self.recompute()
            return
        if self.rows[index].skipped:
            self.toggle_skip(index)
        self.star.add(index)
        self.recompute()

    def set_skip_redundant(self, on: bool) -> None:
        self.skip_redundant = on
        if on:
            self.skip -= self._redundant()
        self.recompute()

    def summary(self) -> str:
        """``12 experiments (8 new, 3 redundant, 1 similar); 3 skipped, 9 to queue``."""
        if not self.rows:
            return self.problem or "no experiments"
        n = {s: sum(r.status == s for r in self.rows) for s in ("new", "redundant", "similar")}
        skipped = sum(r.skipped for r in self.rows)
        starred = sum(r.starred for r in self.rows)
        text = ((f"proposed by {self.proposed.lineage.get('source', '?')}: " if self.proposed is not None else "")
                + f"{len(self.rows)} experiment{'s' if len(self.rows) != 1 else ''} ({n['new']} new, "
                f"{n['redundant']} redundant, {n['similar']} similar); {skipped} skipped, "
                f"{len(self.rows) - skipped} to queue")
        return text + (f", {starred} starred" if starred else "")

    def records(self) -> list[dict[str, Any]]:
        """The shown rows (at most :data:`MAX_ROWS_SHOWN`) as plain dicts, with the slot columns joined."""
        shown = self.rows[:MAX_ROWS_SHOWN]
        joined = {name: slot(shown) for name, slot in self.columns.items()}
        return [{"index": r.index, "row": r.row, "status": r.status, "skipped": r.skipped, "starred": r.starred,
                 "params": r.params, "command": r.command, "previous": r.previous,
                 "previous_runs": r.previous_runs, **{name: col.get(r.index) for name, col in joined.items()}}
                for r in shown]

    @property
    def hidden_rows(self) -> int:
        return max(0, len(self.rows) - MAX_ROWS_SHOWN)

    # ---- launch -----------------------------------------------------------------------------------
    @property
    def can_launch(self) -> bool:
        return (not self.invalid and not self.problem and not self.launching and not self.launched
                and not self.constraint_errors and not self.cap_problems
                and any(not r.skipped for r in self.rows))

    # ---- duration, cost, score, recommendation -----------------------------------------------------
    def _keys(self, rows: Sequence[ListingRow]) -> list[Any]:
        return [params_key("", r.params) for r in rows]

    @property
    def advice_matches(self) -> bool:
        """The advice is about the rows listed now (skips aside: they only change the totals)."""
        return self.advice is not None and self._advice_keys == self._keys(self.rows)

    def _advice_column(self, name: str, rows: Sequence[ListingRow]) -> Mapping[int, object]:
        advice = self.advice if self.advice_matches else None
        return advice_cells(advice, rows, self.applied)[name]

    def set_resource(self, name: str) -> None:
        if name not in {o.name for o in self.options}:
            raise HyperTunerError(f"resource: {one_line(repr(name), 60)} is not a resource option; choose one of "
                                  + ", ".join(o.name for o in self.options))
        self.resource = name

    def set_row_resource(self, index: int, name: str) -> None:
        """Run row ``index`` on option ``name`` instead of the batch's ("" or the batch's option: back to
        it); its cost and the totals follow at once (the recommendation when the advice is asked again)."""
        if not 0 <= index < len(self.rows):
            raise HyperTunerError(f"row resource: row {index + 1} is not listed; the listing has rows "
                                  f"1-{len(self.rows)}")
        if name and name not in {o.name for o in self.options}:
            raise HyperTunerError(f"row resource: row {index + 1}: {one_line(repr(name), 60)} is not a resource "
                                  "option; choose one of " + ", ".join(o.name for o in self.options))
        if name and name != self.resource:
            self.row_resources[index] = name
        else:
            self.row_resources.pop(index, None)
        self.recompute()

    def _row_resources(self) -> dict[int, str]:
        """The overrides that differ from the batch's option now."""
        return {i: n for i, n in self.row_resources.items() if n != self.resource}

    def set_constraint(self, field: str, text: str) -> str | None:
        """A constraint as typed; the CLI's one-line message when it does not parse (kept until fixed)."""
        if field not in CONSTRAINTS:
            raise HyperTunerError(f"constraint: {one_line(repr(field), 40)} is not one; give one of "
                                  + ", ".join(CONSTRAINTS))
        self.constraint_texts = self.constraint_texts._replace(**{field: text})
        _, self.constraint_errors = parse_constraints(self.constraint_texts)
        return self.constraint_errors.get(field)

    @property
    def cap_problems(self) -> list[str]:
        """The administrator's caps the rows to run exceed (from the latest advice about these rows)."""
        if self.advice is None or not self.advice_matches:
            return []
        option = self.advice.option
        totals = self.advice.combined or self.advice.totals[option.name]
        return cap_problems(totals, option, self.context.config.limits)

    def _advice_rows(self) -> list[ListingRow]:
        """The rows to advise on: with ``auto_apply``, the rows the recommendation skipped come back
        first, so that it can choose again among them."""
        if not self.auto_apply:
            return list(self.rows)
        return [r._replace(skipped=False) if r.index in self.applied else r for r in self.rows]

    def compute_advice(self) -> tuple[int, Advice | None, str]:
        """(version, advice or None, one-line error) for the rows listed now; safe off the session's
        thread (reads a copy of the rows). Nothing when a field or a constraint is invalid."""
        version, rows = self.version, self._advice_rows()
        constraints, errors = parse_constraints(self.constraint_texts)
        if not rows or errors:
            return version, None, ""
        try:
            return version, self.context.advise(rows, self.scales, resource=self.resource or None,
                                                constraints=constraints, row_resources=self._row_resources()), ""
        except HyperTunerError as exc:
            return version, None, one_line(str(exc))

    def take_advice(self, version: int, advice: Advice | None, error: str = "") -> bool:
        """Keep what :meth:`compute_advice` found (False when the listing changed since: ask again);
        with ``auto_apply``, skip the rows it leaves out."""
        if version != self.version:
            return False
        self.advice_error = error
        self.advice = advice
        self._advice_keys = self._keys(self.rows) if advice is not None else []
        if advice is not None and self.auto_apply:
            self._apply(advice)
        self.version += 1
        return True

    def refresh_advice(self) -> Advice | None:
        """Compute and keep the advice now (tests; the view does it in two steps, off the typing path)."""
        self.take_advice(*self.compute_advice())
        return self.advice

    def _apply(self, advice: Advice) -> None:
        mine = self.skip - set(self.applied)
        redundant = self._redundant() if self.skip_redundant else set()
        self.applied = {a.index: a.skip_reason or "skip" for a in advice.rows
                        if not a.recommended and a.index not in mine and a.index not in redundant}
        self.skip = mine | set(self.applied)
        self.star -= set(self.applied)
        keys = self._advice_keys
        self.recompute()
        self._advice_keys = keys

    def apply_recommendation(self) -> bool:
        """Skip the rows the recommendation leaves out (False: no advice about these rows yet)."""
        if self.advice is None or not self.advice_matches:
            return False
        mine = self.skip - set(self.applied)
        redundant = self._redundant() if self.skip_redundant else set()
        left = {a.index: a.skip_reason or "skip" for a in self.advice.rows
                if not a.recommended and a.index not in mine and a.index not in redundant}
        self.applied.update(left)
        self.skip |= set(left)
        self.star -= set(left)
        self.recompute()
        return True

    def set_auto_apply(self, on: bool) -> None:
        self.auto_apply = on
        if on:
            self.apply_recommendation()

    @property
    def recommendation_applied(self) -> bool:
        return bool(self.applied) or self.auto_apply

    def launch(self) -> str | None:
        """Queue the non-skipped rows as ``hypertuner run`` would; the new run id, or None (``launch_error``)."""
        if not self.can_launch:
            if self.launching:
                return None
            if self.problem or self.invalid:
                self.launch_error = "launch: " + self.problem
            elif self.constraint_errors:
                self.launch_error = "launch: " + next(iter(self.constraint_errors.values()))
            elif self.cap_problems:
                self.launch_error = f"launch: {self.cap_problems[0]}; or apply the recommendation"
            else:
                self.launch_error = "launch: every row is skipped; bring one back to launch"
            return None
        self.launching, self.launch_error = True, ""
        try:
            run = self.context.launch(
                self.run_id, self.additions(), skip=sorted(self.skip), star=sorted(self.star),
                skip_redundant=self.skip_redundant, expected=[r.params for r in self.rows],
                running=[r.params for r in self.rows if not r.skipped], resource=self.resource or None,
                constraints=self.constraint_texts if self.recommendation_applied else None,
                row_resources=self._row_resources(), proposed=self.proposed)
        except (HyperTunerError, OSError) as exc:
            self.launch_error = one_line(str(exc))
            self.recompute()
            return None
        finally:
            self.launching = False
        self.launched = run.run_id
        return run.run_id
