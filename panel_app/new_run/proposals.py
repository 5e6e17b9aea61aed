"""The new-run page's proposals card (issue 12): values for the next batch from a proposal source.

No panel and no bokeh imports here. :class:`ProposalsModel` holds what the user chose (the source,
how many rows, the metric and its goal, the hyperparameter shown in the fit plot, the family
picked, a drawn trend line and lasso-circled experiments per hyperparameter) and the latest
:class:`Computed` result: the :class:`~workbench_plugin.proposals.Proposal`, or the one-line
ProposalError text shown where the proposals would be (never a wrong proposal). Computing reads the
project's finished experiments and fits, so it is split like the page's advice: :meth:`request`
(the session's thread), :meth:`compute` (any thread), :meth:`take` (the session's thread).

:meth:`fit_info` gives the plot plain arrays (``_get_*_info``); :meth:`view_state` /
:meth:`from_query` carry the choices in the page's URL (``?new=RUN&propose=fit&fit=lr&family=
quadratic&line=...&circle=...``), bounded and validated: a bad value is one line, the rest works.
:meth:`use` hands the rows to the listing (:meth:`NewRunModel.use_proposal`); Launch then queues
them as ``hypertuner run --propose SOURCE --n N`` would.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np
import param

from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.flags import flag_key, one_line
from workbench_plugin.proposals import FAMILIES, SOURCES, Domain, DrawnLine, FitReport, Health, Observation, Proposal

if TYPE_CHECKING:
    from panel_app.new_run.model import NewRunModel
    from workbench_plugin.memory import Note, ProjectMemory
    from workbench_plugin.space import SearchSpec

__all__ = ["MAX_CIRCLED", "MAX_LINE_POINTS", "MAX_N", "MAX_POINTS", "NOTE_KEY", "Computed", "FitInfo", "ProposalEngine",
           "ProposalRequest", "ProposalsModel", "ProposedBatch", "QUERY_KEYS", "parse_n"]

#: The most rows one proposal makes (the page's n).
MAX_N = 1000
#: The plot draws at most this many experiments of one hyperparameter (the most recent).
MAX_POINTS = 5000
#: A drawn line keeps at most this many points (DrawnLine's bound), evenly thinned.
MAX_LINE_POINTS = 500
#: The most experiments one lasso circles (and a link carries).
MAX_CIRCLED = 1000
#: The key of a note's view that holds this card's choices (the run page links such a note here).
NOTE_KEY = "proposals"
#: The URL query keys this card reads and writes.
QUERY_KEYS = ("propose", "n", "metric", "goal", "fit", "family", "line", "circle")
_MAX_TEXT = {"propose": 20, "n": 20, "metric": 200, "goal": 10, "fit": 200, "family": 40, "line": 20_000,
             "circle": 60_000}
_SHOWN = 60


class ProposedBatch(NamedTuple):
    """Rows a proposal source chose ("Use these proposals"), listed instead of the fields' grid and
    launched through ``hypertuner run --propose`` with the same arguments."""

    rows: tuple[dict[str, Any], ...]
    reasons: tuple[str, ...]  #: one line per row
    #: ``_plan_cli.args_for``'s proposal keywords: propose, n, seed, families, lines (format_line text), circled
    args: dict[str, Any]
    #: what the run's lineage records: source, metric, goal, hparam, family, line, circled, basis
    lineage: dict[str, Any]


class Inputs(Protocol):
    """What proposing reads from the project (``workbench_plugin.proposals.proposal_inputs``)."""

    @property
    def domains(self) -> Mapping[str, Domain]: ...
    @property
    def observations(self) -> Sequence[Observation]: ...
    @property
    def objective(self) -> Any: ...  # recommend.Objective | None
    @property
    def health(self) -> Mapping[str, Health]: ...
    @property
    def metrics(self) -> tuple[str, ...]: ...
    @property
    def experiments(self) -> Mapping[str, Mapping[str, Any]]: ...


class ProposalRequest(NamedTuple):
    """What the user asked for, taken on the session's thread."""

    spec: SearchSpec | None  #: None: a field is invalid (``problem`` says which)
    locked: tuple[str, ...]
    source: str
    n: int
    metric: str  #: "" = the recommendation's objective
    goal: str  #: "" = the objective's goal
    hparam: str  #: "" = the first numeric unlocked field
    families: dict[str, str]
    lines: dict[str, DrawnLine]
    circled: dict[str, tuple[str, ...]]
    seed: int = 0
    problem: str = ""  #: why nothing is proposed (a field or n), one line
    auto: tuple[str, ...] = ()  #: fields given as ``?``: their values come from the flag's type and default


class ProposalEngine(Protocol):
    """Reads the project and proposes: the core's functions (:class:`CoreEngine`), or a test's."""

    def inputs(self, spec: SearchSpec, *, locked: Collection[str], metric: str | None,
               goal: str | None, auto: Sequence[str] = ()) -> Inputs: ...

    def propose(self, inputs: Inputs, request: ProposalRequest, *, metric: str, goal: str) -> Proposal: ...


class CoreEngine:
    """``proposal_inputs`` and ``propose`` over the page's project (what ``plan --propose`` calls)."""

    def __init__(self, new_run: NewRunModel) -> None:
        self.context = new_run.context

    def inputs(self, spec: SearchSpec, *, locked: Collection[str], metric: str | None,
               goal: str | None, auto: Sequence[str] = ()) -> Inputs:
        from workbench_plugin._propose_cli import auto_domains
        from workbench_plugin.proposals._inputs import proposal_inputs

        spec = self.context.check(spec).spec  # the script's spelling of each flag, as ``prepare`` proposes on
        inputs = proposal_inputs(self.context.index, spec, locked=locked, flags=self.context.flags, metric=metric,
                                 goal=goal, script=self.context.settings.script)
        if auto:  # fields given as '?', as --add 'NAME=?' does
            inputs = inputs._replace(domains={**inputs.domains, **auto_domains(auto, self.context.flags, spec.params)})
        return inputs

    def propose(self, inputs: Inputs, request: ProposalRequest, *, metric: str, goal: str) -> Proposal:
        from workbench_plugin.proposals import propose

        result: Proposal = propose(
            request.source, inputs.domains, inputs.observations, n=request.n, metric=metric, goal=goal,
            seed=request.seed, family=request.families or None, lines=request.lines or None,
            circled=request.circled or None, health=inputs.health, experiments=inputs.experiments)
        return result


class Computed(NamedTuple):
    """One computation's result, with what the card's menus offer."""

    proposal: Proposal | None
    error: str  #: one line where the proposals would be ("" with a proposal)
    metrics: tuple[str, ...] = ()
    metric: str = ""  #: the metric used
    goal: str = ""
    hparams: tuple[str, ...] = ()  #: the unlocked numeric fields (the plot's choices)
    hparam: str = ""  #: the one shown
    domains: dict[str, Domain] = {}
    observations: tuple[Observation, ...] = ()
    notes: tuple[str, ...] = ()  #: a chosen value that could not be used, one line each
    gen: int = 0
    n: int = 0  #: the rows asked for
    seed: int = 0


class FitInfo(NamedTuple):
    """Plain arrays for the fit plot (:meth:`ProposalsModel.fit_info`)."""

    hparam: str
    metric: str
    goal: str
    log: bool  #: a log x axis
    points: dict[str, list[Any]]  #: x, y, id, weight (0: left out of the fit)
    hidden: int  #: experiments not drawn (over MAX_POINTS: the most recent are drawn)
    #: per family, ranked: family, ok, message, x, mean, low, high, cv, formula, best, picked
    curves: list[dict[str, Any]]
    proposed: list[float]  #: the proposed values of the hyperparameter
    basis: str
    message: str  #: why there is no curve ("" when there is one)


def parse_n(text: str) -> int:
    """The card's n: a whole number 1..MAX_N, else a one-line ProposalError."""
    from workbench_plugin.proposals import ProposalError

    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_N:
        raise ProposalError(f"n: {one_line(repr(text), _SHOWN)} is not a count; give a whole number, 1 to {MAX_N}")
    return value


def _value_of(params: Mapping[str, Any], name: str) -> Any:
    key = flag_key(name)
    return next((v for k, v in params.items() if flag_key(k) == key), None)


def _recency(experiment_id: str) -> tuple[str, int]:
    """An experiment id's order in time: its run id (time-stamped), then its number."""
    run, _, number = experiment_id.rpartition("-")
    return (run, int(number)) if number.isdigit() else (experiment_id, -1)


def _thin(values: Sequence[float], keep: int) -> list[float]:
    if len(values) <= keep:
        return list(values)
    picks = np.linspace(0, len(values) - 1, keep).round().astype(int)
    return [values[i] for i in picks]


class ProposalsModel(param.Parameterized):
    """The card's choices and its latest result; views watch ``version``."""

    source: Any = param.Selector(objects=list(SOURCES), default="fit")
    n_text = param.String(default="12", doc="How many rows, as typed.")
    metric = param.String(default="", doc="'' = the metric the recommendation uses.")
    goal: Any = param.Selector(objects=["", "max", "min"], default="")
    hparam = param.String(default="", doc="The hyperparameter of the fit plot ('' = the first one).")
    problems = param.List(default=[], doc="One line per value (of a link) that could not be used.")
    version = param.Integer(default=0, doc="Bumped when a result is taken or a choice changed.")

    def __init__(self, new_run: NewRunModel, *, engine: ProposalEngine | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.new_run = new_run
        self.engine: ProposalEngine = engine if engine is not None else CoreEngine(new_run)
        self.families: dict[str, str] = {}  #: hyperparameter -> family picked (absent: the best ranked)
        self.lines: dict[str, DrawnLine] = {}
        self.circled: dict[str, tuple[str, ...]] = {}
        self.result = Computed(None, "proposals: not computed yet")
        self._gen = 0
        self._lock = threading.Lock()
        self._cache: tuple[Any, Inputs] | None = None

    # ---- choices ---------------------------------------------------------------------------------
    @property
    def shown(self) -> str:
        """The hyperparameter the plot shows (the result's, else the chosen one)."""
        return self.result.hparam or self.hparam

    @property
    def family(self) -> str | None:
        return self.families.get(self.shown)

    def pick_family(self, family: str | None) -> None:
        """Pick a family for the shown hyperparameter (None or "": the best ranked)."""
        from workbench_plugin.proposals import ProposalError

        if family and family not in FAMILIES:
            raise ProposalError(f"family: {one_line(repr(family), _SHOWN)} is not one; choose one of "
                                + ", ".join(FAMILIES))
        if family:
            self.families[self.shown] = family
        else:
            self.families.pop(self.shown, None)
        self.version += 1

    def set_line(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        """A line drawn over the plot (data coordinates, drawing order); fewer than 2 points: none."""
        pts = [(float(x), float(y)) for x, y in zip(xs, ys, strict=False)
               if np.isfinite(x) and np.isfinite(y)]
        if len(pts) < 2:
            self.lines.pop(self.shown, None)
        else:
            self.lines[self.shown] = DrawnLine(tuple(_thin([p[0] for p in pts], MAX_LINE_POINTS)),
                                               tuple(_thin([p[1] for p in pts], MAX_LINE_POINTS)))
        self.version += 1

    def set_circled(self, ids: Sequence[str]) -> None:
        """The experiments a lasso circled on the plot (none: the fit uses every point)."""
        kept = tuple(dict.fromkeys(str(i) for i in ids))[:MAX_CIRCLED]
        if kept:
            self.circled[self.shown] = kept
        else:
            self.circled.pop(self.shown, None)
        self.version += 1

    def clear_drawing(self) -> None:
        """Forget the line and the circle of the shown hyperparameter."""
        self.lines.pop(self.shown, None)
        self.circled.pop(self.shown, None)
        self.version += 1

    # ---- computing -------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The latest request's number (a result of an older one is not taken)."""
        return self._gen

    def request(self) -> ProposalRequest:
        """What to compute now (the session's thread)."""
        self._gen += 1
        nr = self.new_run
        spec, problem = None, ""
        if nr.invalid:
            problem = f"proposals: fix {', '.join(f.name for f in nr.invalid)} first"
        else:
            try:
                spec = nr.spec()
            except HyperTunerError as exc:
                problem = one_line(str(exc))
        n = 0
        try:
            n = parse_n(self.n_text)
        except HyperTunerError as exc:
            problem = problem or one_line(str(exc))
        return ProposalRequest(spec, tuple(nr.locked), self.source, n, self.metric, self.goal, self.hparam,
                               dict(self.families), dict(self.lines), dict(self.circled), problem=problem,
                               auto=tuple(nr.auto))

    def _inputs(self, req: ProposalRequest, metric: str | None, goal: str | None) -> Inputs:
        assert req.spec is not None
        key = (repr(sorted(req.spec.params.items())), req.locked, metric, goal, req.auto)
        with self._lock:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
        inputs = self.engine.inputs(req.spec, locked=req.locked, metric=metric, goal=goal, auto=req.auto)
        with self._lock:
            self._cache = (key, inputs)
        return inputs

    def compute(self, req: ProposalRequest | None = None) -> Computed:
        """The proposal for ``req`` (default: now), or the one-line reason there is none; any thread."""
        req = req if req is not None else self.request()
        gen = self._gen
        if req.problem or req.spec is None:
            return Computed(None, req.problem or "proposals: nothing to propose", gen=gen)
        notes: list[str] = []
        try:
            inputs = self._inputs(req, None, None)
            metrics = tuple(inputs.metrics)
            default = inputs.objective
            metric, goal = (default.metric, default.goal) if default is not None else ("", "")
            if req.metric and req.metric not in metrics:
                notes.append(f"metric: {one_line(repr(req.metric), _SHOWN)} is not a metric of the finished "
                             f"experiments; showing {metric or 'none'}")
            elif req.metric:
                metric = req.metric
            goal = req.goal or goal or "max"
            if not metric:
                return Computed(None, "metric: the project has no finished experiment with a metric yet; "
                                      "run a batch first", metrics=metrics, notes=tuple(notes), gen=gen)
            if (metric, goal) != ((default.metric, default.goal) if default is not None else ("", "")):
                inputs = self._inputs(req, metric, goal)
            hparams = tuple(n for n, d in inputs.domains.items() if d.numeric and not d.locked)
            hparam = req.hparam if req.hparam in hparams else (hparams[0] if hparams else "")
            if req.hparam and req.hparam != hparam:
                notes.append(f"fit: {one_line(repr(req.hparam), _SHOWN)} is not an unlocked numeric "
                             f"hyperparameter of the batch; showing {hparam or 'none'}")
            base = Computed(None, "", metrics, metric, goal, hparams, hparam, dict(inputs.domains),
                            tuple(inputs.observations), tuple(notes), gen, req.n, req.seed)
            proposal = self.engine.propose(inputs, req, metric=metric, goal=goal)
        except HyperTunerError as exc:
            if "base" in locals():
                return base._replace(error=one_line(str(exc)))
            return Computed(None, one_line(str(exc)), notes=tuple(notes), gen=gen)
        if not proposal.rows:
            why = proposal.basis or "proposals: none made"
            fit = next((f for f in proposal.fits if f.hparam == hparam), None)
            chosen = fit.curve(fit.chosen) if fit is not None and fit.chosen else None
            if chosen is not None and not chosen.ok and not req.families.get(hparam):
                why += (f"; your line is closest to the {chosen.family} family, which could not be fitted "
                        f"({chosen.message}); pick a family above or clear the drawing")
            return base._replace(proposal=None, error=one_line(why, 400))
        return base._replace(proposal=proposal)

    def take(self, result: Computed) -> bool:
        """Keep a result (False: the choices changed since it was asked for; ask again)."""
        if result.gen != self._gen:
            return False
        self.result = result
        if result.hparam:  # a chosen one that could not be used gives way (the note says so)
            self.hparam = result.hparam
        if result.metric and self.metric and self.metric not in result.metrics:
            self.metric = ""
        self.problems = list(dict.fromkeys([*self.problems, *result.notes]))
        self.version += 1
        return True

    def refresh(self) -> Computed:
        """Compute and keep now (tests; the view does it off the session's thread)."""
        self.take(self.compute())
        return self.result

    # ---- the plot --------------------------------------------------------------------------------
    def report(self) -> FitReport | None:
        """The fit behind the proposal for the shown hyperparameter, if any."""
        proposal = self.result.proposal
        if proposal is None:
            return None
        return next((f for f in proposal.fits if f.hparam == self.shown), None)

    def fit_info(self) -> FitInfo:
        """The scatter (the fit's points and weights, or the observations), each family's curve and
        band, and the proposed values, as plain lists."""
        r = self.result
        hparam = self.shown
        domain = r.domains.get(hparam)
        report = self.report()
        if report is not None:
            xs, ys, ids, ws = (list(map(float, report.xs)), list(map(float, report.ys)), list(report.ids),
                               list(map(float, report.weights)))
        else:
            pts = [(float(v), o.value, o.experiment_id) for o in r.observations
                   if isinstance(v := _value_of(o.params, hparam), int | float) and not isinstance(v, bool)]
            xs, ys, ids = [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]
            ws = [1.0] * len(pts)
        hidden = max(0, len(ids) - MAX_POINTS)
        if hidden:  # the most recent: experiment ids sort by run (time) then number
            keep = sorted(range(len(ids)), key=lambda i: _recency(ids[i]))[-MAX_POINTS:]
            xs, ys, ws = ([a[i] for i in keep] for a in (xs, ys, ws))
            ids = [ids[i] for i in keep]
        picked = self.family or (report.chosen if report is not None else "") or ""
        best = report.best.family if report is not None and report.best is not None else ""
        curves = []
        for c in report.curves if report is not None else ():
            curves.append({"family": c.family, "ok": c.ok, "message": c.message, "x": list(map(float, c.x)),
                           "mean": list(map(float, c.mean)), "low": list(map(float, c.low)),
                           "high": list(map(float, c.high)), "cv": float(c.cv_rmse), "formula": c.formula,
                           "best": c.family == best, "picked": c.family == (picked or best)})
        proposal = r.proposal
        proposed = [float(v) for row in (proposal.rows if proposal is not None else ())
                    if isinstance(v := _value_of(row, hparam), int | float) and not isinstance(v, bool)]
        message = report.message if report is not None else ""
        return FitInfo(hparam, r.metric, r.goal, bool(domain is not None and domain.log),
                       {"x": xs, "y": ys, "id": ids, "weight": ws}, hidden, curves, proposed,
                       report.basis if report is not None else (proposal.basis if proposal is not None else ""),
                       message)

    # ---- the URL ---------------------------------------------------------------------------------
    def view_state(self) -> dict[str, str]:
        """The card's choices as URL query values (only those set)."""
        from workbench_plugin.proposals import format_line

        state: dict[str, str] = {"propose": self.source, "n": self.n_text.strip()}
        if self.metric:
            state["metric"] = self.metric
        if self.goal:
            state["goal"] = self.goal
        hparam = self.shown
        if hparam:
            state["fit"] = hparam
            if hparam in self.families:
                state["family"] = self.families[hparam]
            if hparam in self.lines:
                state["line"] = format_line(self.lines[hparam])
            if hparam in self.circled:
                state["circle"] = ",".join(self.circled[hparam])
        return state

    def from_query(self, args: Mapping[str, Sequence[bytes | str]]) -> list[str]:
        """Apply a URL's choices; one line per value that could not be used (the rest are)."""
        from workbench_plugin.proposals import parse_line

        texts: dict[str, str] = {}
        problems: list[str] = []
        for key in QUERY_KEYS:
            raw = (args.get(key) or [b""])[0]
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            if len(text) > _MAX_TEXT[key]:
                problems.append(f"{key}: {len(text):,} characters; a link carries at most {_MAX_TEXT[key]:,}")
            elif text:
                texts[key] = text
        if "propose" in texts:
            if texts["propose"] in SOURCES:
                self.source = texts["propose"]
            else:
                problems.append(f"propose: {one_line(repr(texts['propose']), _SHOWN)} is not a source; choose "
                                "one of " + ", ".join(SOURCES))
        if "n" in texts:
            try:
                self.n_text = str(parse_n(texts["n"]))
            except HyperTunerError as exc:
                problems.append(one_line(str(exc)))
        if "goal" in texts:
            if texts["goal"] in ("max", "min"):
                self.goal = texts["goal"]
            else:
                problems.append(f"goal: {one_line(repr(texts['goal']), _SHOWN)} is not one; give max or min")
        if "metric" in texts:
            self.metric = one_line(texts["metric"])  # checked against the project's metrics when computed
        hparam = one_line(texts.get("fit", ""))
        if hparam:
            self.hparam = hparam
        for key in ("family", "line", "circle"):
            if key in texts and not hparam:
                problems.append(f"{key}: give fit=NAME with it (the hyperparameter it is about)")
                texts.pop(key)
        if "family" in texts:
            if texts["family"] in FAMILIES:
                self.families[hparam] = texts["family"]
            else:
                problems.append(f"family: {one_line(repr(texts['family']), _SHOWN)} is not one; choose one of "
                                + ", ".join(FAMILIES))
        if "line" in texts:
            try:
                self.lines[hparam] = parse_line(texts["line"], "line")
            except HyperTunerError as exc:
                problems.append(one_line(str(exc), 200))
        if "circle" in texts:
            ids = [i.strip() for i in texts["circle"].split(",") if i.strip()]
            bad = next((i for i in ids if len(i) > 100 or not i.isprintable()), None)
            if bad is not None or not ids:
                problems.append(f"circle: {one_line(repr(bad or texts['circle']), _SHOWN)} is not a list of "
                                "experiment ids; give them comma-separated, as in circle=RUN-000,RUN-003")
            elif len(ids) > MAX_CIRCLED:
                problems.append(f"circle: {len(ids):,} experiments; a link circles at most {MAX_CIRCLED:,}")
            else:
                self.circled[hparam] = tuple(dict.fromkeys(ids))
        self.problems = problems
        self.version += 1
        return problems

    # ---- notes -----------------------------------------------------------------------------------
    def _memory(self) -> ProjectMemory:
        from workbench_plugin.memory import ProjectMemory, StoreMemory

        context = self.new_run.context
        return ProjectMemory(StoreMemory(context.store, context.settings.name))

    def notes(self) -> list[Note]:
        """The run's notes written on this card (their view holds the card's choices), oldest first."""
        return [n for n in self._memory().notes(self.new_run.run_id) if isinstance(n.view.get(NOTE_KEY), dict)]

    def save_note(self, text: str, *, author: str | None = None) -> Note:
        """A note on the run this page starts from, keeping the card's choices (the drawing included), as
        the run page's notes keep its view; an empty or oversized text is a one-line ConfigError."""
        return self._memory().add_note(self.new_run.run_id, text, {NOTE_KEY: self.view_state()}, author=author)

    def open_note(self, note: Note) -> list[str]:
        """Restore the choices a note kept; one line per value that could not be used."""
        view = note.view.get(NOTE_KEY)
        if not isinstance(view, dict):
            return ["note: it keeps no proposals view"]
        return self.from_query({str(k): [str(v)] for k, v in view.items() if str(k) in QUERY_KEYS})

    # ---- to the listing --------------------------------------------------------------------------
    def batch(self) -> ProposedBatch | None:
        """The shown proposal as rows for the listing, with what launching and the lineage need."""
        from workbench_plugin.proposals import format_line

        proposal = self.result.proposal
        if proposal is None:
            return None
        r = self.result
        lines = {h: format_line(line) for h, line in self.lines.items()}
        families = dict(self.families)
        circled = {h: list(ids) for h, ids in self.circled.items()}
        args = {"propose": proposal.source, "n": r.n, "seed": r.seed,
                "families": families or None, "lines": lines or None, "circled": circled or None}
        if r.metric:
            args.update(metric=r.metric, goal=r.goal)
        lineage = {"source": proposal.source, "n": r.n, "seed": r.seed, "metric": r.metric, "goal": r.goal,
                   "hparam": r.hparam, "families": families, "lines": lines, "circled": circled,
                   "basis": proposal.basis}
        return ProposedBatch(tuple(dict(row) for row in proposal.rows), tuple(proposal.reasons), args, lineage)

    def use(self) -> bool:
        """List the shown proposal's rows (False: there is none)."""
        batch = self.batch()
        if batch is None:
            return False
        self.new_run.use_proposal(batch)
        return True
