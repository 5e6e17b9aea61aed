"""The new-run page's proposals card (issue 12): its choices and their checks, the result (a proposal
or one line, never a wrong proposal), the plot's arrays, the URL round trip (a drawn line and circled
experiments included), and "Use these proposals" listing exactly the proposal's rows."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest

from panel_app.new_run.model import PROPOSAL_COLUMN, NewRunModel
from panel_app.new_run.proposals import MAX_POINTS, ProposalRequest, ProposalsModel
from tests.unit.test_new_run_page import open_model
from workbench_plugin.proposals import (
    Domain,
    DrawnLine,
    FitCurve,
    FitReport,
    Health,
    Observation,
    Proposal,
    ProposalError,
)
from workbench_plugin.recommend import Objective
from workbench_plugin.space import SearchSpec, Value


class Inputs(NamedTuple):
    domains: dict[str, Domain]
    observations: list[Observation]
    objective: Objective | None
    health: dict[str, Health]
    metrics: tuple[str, ...]


def _curve(family: str, cv: float, ok: bool = True) -> FitCurve:
    x = np.linspace(1, 8, 5)
    return FitCurve(family, ok, "" if ok else "fewer points than parameters", x, 10 - (x - 4) ** 2 / 4,
                    9 - (x - 4) ** 2 / 4, 11 - (x - 4) ** 2 / 4, cv if ok else float("nan"),
                    f"score = {family}(epochs)", 4.0 if ok else None, 10.0 if ok else None)


class Engine:
    """The project's inputs as the page reads them, and a proposal that follows the request: epochs
    from 2 (from 5 with a drawn line; from the family picked's rank otherwise), x as locked, sleep 0.
    Stands in for ``proposal_inputs``/``propose`` in this unit test of the card alone."""

    def __init__(self, points: int = 3) -> None:
        self.calls: list[tuple[str, str, ProposalRequest]] = []
        self.points = points

    def inputs(self, spec: SearchSpec, *, locked: Collection[str], metric: str | None,
               goal: str | None, auto: Collection[str] = ()) -> Inputs:
        domains = {"x": Domain("x", "fixed", choices=(1,), locked=True),
                   "epochs": Domain("epochs", "int", 1, 8, origin="your range"),
                   "sleep": Domain("sleep", "float", 0.0, 1.0), "opt": Domain("opt", "categorical",
                                                                                choices=("a", "b"))}
        obs = [Observation(f"r1-{i:03d}", "r1", {"x": 1, "epochs": i + 1, "sleep": 0}, 10 - (i - 3) ** 2 / 4)
               for i in range(self.points)]
        return Inputs(domains, obs, Objective("score", "max"), {}, ("score", "loss"))

    def propose(self, inputs: Any, request: ProposalRequest, *, metric: str, goal: str) -> Proposal:
        self.calls.append((metric, goal, request))
        if request.source == "fit" and len(inputs.observations) < 3:
            raise ProposalError("fit: epochs has 2 finished experiments; a fit needs at least 3")
        start = 5 if request.lines.get("epochs") else 2 + (request.families.get("epochs") == "linear")
        rows: tuple[dict[str, Value], ...] = tuple({"x": 1, "epochs": start + i, "sleep": 0} for i in range(request.n))
        obs = inputs.observations
        report = FitReport("epochs", metric, "max", (_curve("quadratic", 0.1), _curve("linear", 0.5),
                                                     _curve("gp", 0.0, ok=False)),
                           np.array([o.params["epochs"] for o in obs], float), np.array([o.value for o in obs]),
                           tuple(o.experiment_id for o in obs), np.ones(len(obs)), {"x": 1}, (), "basis line")
        return Proposal(request.source, rows, tuple(f"<b>row</b> {i}" for i in range(request.n)),
                        f"{request.source} on {metric}", (report,) if request.source == "fit" else ())


def card(store: str, project_dir: Path, run_id: str, engine: Engine | None = None) -> ProposalsModel:
    model = open_model(store, project_dir, run_id)
    return ProposalsModel(model, engine=engine or Engine())


def test_defaults_the_recommendations_objective_and_the_first_numeric_unlocked_field(
        project_dir: Path, earlier: tuple[str, str]) -> None:
    engine = Engine()
    m = card(*earlier[:1], project_dir, earlier[1], engine)
    assert (m.source, m.n_text, m.metric, m.family) == ("fit", "12", "", None)
    r = m.refresh()
    assert r.error == "" and r.proposal is not None and len(r.proposal.rows) == 12
    assert (r.metric, r.goal, r.hparams, r.hparam, m.hparam) == ("score", "max", ("epochs", "sleep"), "epochs",
                                                                 "epochs")
    assert engine.calls[-1][:2] == ("score", "max")
    assert all(row["x"] == 1 for row in r.proposal.rows)  # the lock


@pytest.mark.parametrize("text", ["0", "abc", "1001", "-3", "2.5", ""])
def test_n_outside_1_to_1000_is_one_line_and_no_proposal(project_dir: Path, earlier: tuple[str, str],
                                                          text: str) -> None:
    m = card(*earlier[:1], project_dir, earlier[1])
    m.n_text = text
    r = m.refresh()
    assert r.proposal is None and r.error.startswith("n: ") and "1 to 1000" in r.error and "\n" not in r.error
    m.n_text = "1000"
    assert m.refresh().proposal is not None


def test_metric_and_hparam_not_in_the_project_say_so_and_the_default_is_used(
        project_dir: Path, earlier: tuple[str, str]) -> None:
    engine = Engine()
    m = card(*earlier[:1], project_dir, earlier[1], engine)
    m.metric, m.hparam = "nope", "x"  # x is locked: not a hyperparameter to fit
    r = m.refresh()
    assert r.proposal is not None and (r.metric, r.hparam) == ("score", "epochs")
    assert [n.split(":")[0] for n in r.notes] == ["metric", "fit"] and len(m.problems) == 2
    assert (m.metric, m.hparam) == ("", "epochs")
    m.metric, m.goal = "loss", "min"
    r = m.refresh()
    assert (r.metric, r.goal, r.notes) == ("loss", "min", ()) and engine.calls[-1][:2] == ("loss", "min")


def test_a_proposal_error_is_one_line_where_the_proposals_would_be(project_dir: Path,
                                                                   earlier: tuple[str, str]) -> None:
    m = card(*earlier[:1], project_dir, earlier[1], Engine(points=2))
    r = m.refresh()
    assert r.proposal is None and r.error == "fit: epochs has 2 finished experiments; a fit needs at least 3"
    assert m.batch() is None and not m.use()
    m.source = "random"  # the others need no fit
    assert m.refresh().proposal is not None


def test_a_field_in_error_gives_no_proposal(project_dir: Path, earlier: tuple[str, str]) -> None:
    m = card(*earlier[:1], project_dir, earlier[1])
    m.new_run.set_text("epochs", "abc")
    r = m.refresh()
    assert r.proposal is None and r.error == "proposals: fix epochs first"


def test_fit_info_points_curves_ranked_and_the_proposed_values(project_dir: Path,
                                                               earlier: tuple[str, str]) -> None:
    m = card(*earlier[:1], project_dir, earlier[1])
    m.n_text = "3"
    m.refresh()
    info = m.fit_info()
    assert (info.hparam, info.metric, info.log, info.hidden) == ("epochs", "score", False, 0)
    assert info.points["id"] == ["r1-000", "r1-001", "r1-002"] and info.points["x"] == [1.0, 2.0, 3.0]
    assert [(c["family"], c["ok"], c["best"], c["picked"]) for c in info.curves] == [
        ("quadratic", True, True, True), ("linear", True, False, False), ("gp", False, False, False)]
    assert info.proposed == [2.0, 3.0, 4.0] and info.basis == "basis line"
    m.pick_family("linear")
    m.refresh()
    info = m.fit_info()
    assert [c["picked"] for c in info.curves] == [False, True, False] and info.proposed == [3.0, 4.0, 5.0]
    with pytest.raises(ProposalError, match=r"^family: 'cubic' is not one; choose one of linear, log, quadratic"):
        m.pick_family("cubic")
    m.source = "random"  # no fit: the observations are the points
    m.refresh()
    info = m.fit_info()
    assert info.curves == [] and info.points["x"] == [1.0, 2.0, 3.0]


def test_the_plot_draws_the_most_recent_points(project_dir: Path, earlier: tuple[str, str]) -> None:
    m = card(*earlier[:1], project_dir, earlier[1], Engine(points=MAX_POINTS + 7))
    m.source = "random"
    m.refresh()
    info = m.fit_info()
    assert info.hidden == 7 and len(info.points["id"]) == MAX_POINTS
    assert info.points["id"][0] == "r1-007" and info.points["id"][-1] == f"r1-{MAX_POINTS + 6:03d}"


def test_a_drawn_line_and_circled_points_change_the_proposal_and_round_trip_the_url(
        project_dir: Path, earlier: tuple[str, str]) -> None:
    engine = Engine()
    m = card(*earlier[:1], project_dir, earlier[1], engine)
    m.n_text = "4"
    before = m.refresh().proposal
    m.set_line([1.0, 2.5, 4.0, 6.0, float("nan")], [7.0, 9.5, 10.0, 8.0, 1.0])
    m.set_circled(["r1-000", "r1-002", "r1-000"])
    after = m.refresh().proposal
    assert before is not None and after is not None and after.rows != before.rows
    req = engine.calls[-1][2]
    assert req.lines == {"epochs": DrawnLine((1.0, 2.5, 4.0, 6.0), (7.0, 9.5, 10.0, 8.0))}
    assert req.circled == {"epochs": ("r1-000", "r1-002")}
    m.pick_family("quadratic")
    state = m.view_state()
    assert {k: state[k] for k in ("propose", "n", "fit", "family", "circle")} == {
        "propose": "fit", "n": "4", "fit": "epochs", "family": "quadratic", "circle": "r1-000,r1-002"}

    again = card(*earlier[:1], project_dir, earlier[1])
    assert again.from_query({k: [v.encode()] for k, v in state.items()}) == []
    assert again.view_state() == state
    assert (again.lines, again.circled, again.families) == (m.lines, m.circled, m.families)
    m.clear_drawing()
    again_rows = m.refresh().proposal
    assert again_rows is not None and again_rows.rows == before.rows and "line" not in m.view_state()


@pytest.mark.parametrize(("key", "value", "start"), [
    ("line", "not a line", "line: "), ("line", "x" * 20_001, "line: 20,001 characters"),
    ("circle", ",,,", "circle: "), ("circle", "a\x00b", "circle: "), ("propose", "<script>", "propose: '<script>'"),
    ("n", "0", "n: '0' is not a count"), ("family", "cubic", "family: 'cubic'"), ("goal", "up", "goal: 'up'")])
def test_a_malformed_value_in_the_url_is_one_line_and_the_rest_works(
        project_dir: Path, earlier: tuple[str, str], key: str, value: str, start: str) -> None:
    m = card(*earlier[:1], project_dir, earlier[1])
    args = {"propose": [b"random"], "n": [b"3"], "fit": [b"sleep"], key: [value.encode()]}
    problems = m.from_query(args)
    assert len(problems) == 1 and problems[0].startswith(start) and "\n" not in problems[0]
    assert len(problems[0]) < 300
    r = m.refresh()
    assert r.proposal is not None and r.hparam == "sleep"
    assert len(r.proposal.rows) == (3 if key != "n" else 12)
    assert r.proposal.source == ("random" if key != "propose" else "fit")


def test_a_line_without_fit_says_which_hyperparameter_is_missing(project_dir: Path,
                                                                 earlier: tuple[str, str]) -> None:
    m = card(*earlier[:1], project_dir, earlier[1])
    assert m.from_query({"circle": ["r1-000"]}) == [
        "circle: give fit=NAME with it (the hyperparameter it is about)"]


def test_use_puts_the_proposals_rows_in_the_listing_with_their_reasons(project_dir: Path,
                                                                       earlier: tuple[str, str]) -> None:
    m = card(*earlier[:1], project_dir, earlier[1])
    nr: NewRunModel = m.new_run
    grid = [r.params for r in nr.rows]
    m.n_text = "3"
    m.set_line([1.0, 3.0], [5.0, 9.0])
    proposal = m.refresh().proposal
    assert proposal is not None and m.use()
    assert [r.params for r in nr.rows] == [dict(row) for row in proposal.rows]
    assert nr.proposed is not None and nr.proposed.args["propose"] == "fit" and nr.proposed.args["n"] == 3
    assert nr.proposed.lineage["lines"] and nr.proposed.lineage["source"] == "fit"
    records = nr.records()
    assert [r[PROPOSAL_COLUMN] for r in records] == list(proposal.reasons)
    assert nr.summary().startswith("proposed by fit: 3 experiments (3 new")
    nr.toggle_skip(1)
    assert [r.skipped for r in nr.rows] == [False, True, False] and nr.proposed is not None
    nr.back_to_grid()
    assert [r.params for r in nr.rows] == grid and nr.proposed is None
    m.use()
    nr.set_text("sleep", "0,0.5")  # a field changed: the grid of the fields again
    assert nr.proposed is None and len(nr.rows) == 2


def test_the_card_escapes_draws_and_sends_a_drawing_and_a_lasso_to_the_model(
        project_dir: Path, earlier: tuple[str, str]) -> None:
    from panel_app.new_run.proposals_view import ProposalsCard

    m = card(*earlier[:1], project_dir, earlier[1])
    m.n_text = "3"
    view = ProposalsCard(m, on_use=lambda: None)
    view.schedule(0)  # no server session: now
    assert "&lt;b&gt;row&lt;/b&gt; 0" in view.table.object and "<b>row" not in view.table.object
    assert view.points.data["id"] == ["r1-000", "r1-001", "r1-002"] and view.marks.data["x"] == [2.0, 3.0, 4.0]
    assert view.curves["quadratic"].data["x"] and not view.curves["gp"].data["x"]
    assert (view.hparam.options, view.hparam.value, view.metric.value) == (["epochs", "sleep"], "epochs", "score")
    view.sent.data = {"xs": [[1.0, 2.0, 3.0]], "ys": [[8.0, 9.0, 9.5]]}  # as the browser sends a stroke
    view.schedule(0)
    assert m.lines["epochs"].xs == (1.0, 2.0, 3.0) and view.marks.data["x"] == [5.0, 6.0, 7.0]
    view.points.selected.indices = [0, 2]  # a lasso
    assert m.circled == {"epochs": ("r1-000", "r1-002")}
    view.family.value = "linear"
    assert m.family == "linear"
    view.clear.clicks += 1
    assert m.lines == {} and m.circled == {} and view.drawn.data["xs"] == []
    m.source = "random"
    view.schedule(0)
    assert all(not s.data["x"] for s in view.curves.values()) and view.points.data["id"]


def test_launch_queues_the_proposed_rows_as_run_propose_would(project_dir: Path, earlier: tuple[str, str]) -> None:
    """The real proposal_inputs and propose (no stand-in): the rows launched are the proposal's, and the
    run's lineage records it."""
    from workbench_plugin.store import Store

    store, run_id = earlier
    nr = open_model(store, project_dir, run_id)
    m = ProposalsModel(nr)
    nr.set_text("sleep", "0..0.03 +0.01")  # a range: the domain sobol draws from
    m.source, m.n_text = "sobol", "3"
    proposal = m.refresh().proposal
    assert proposal is not None and len(proposal.rows) == 3 and m.use()
    assert all(0 <= float(r["sleep"]) <= 0.03 and r["x"] == 1 for r in proposal.rows)  # x stays locked
    launched = nr.launch()
    assert launched, nr.launch_error
    experiments = Store(store).read_experiments("tiny", launched)
    assert [e.params for e in experiments] == [dict(r) for r in proposal.rows]
    lineage = Store(store).read_run("tiny", launched).extra["lineage"]
    assert lineage["proposal"]["source"] == "sobol" and lineage["proposal"]["basis"] == proposal.basis


def test_a_note_keeps_the_cards_choices_and_the_run_page_links_it_here(project_dir: Path,
                                                                       earlier: tuple[str, str]) -> None:
    import html
    from types import SimpleNamespace

    from panel_app.run_page.notes import NotesPanel
    from workbench_plugin._exceptions import ConfigError
    from workbench_plugin.memory import ProjectMemory, StoreMemory
    from workbench_plugin.store import Store

    store, run_id = earlier
    m = card(store, project_dir, run_id)
    m.n_text, m.hparam = "3", "epochs"
    m.pick_family("linear")
    m.set_line([1.0, 3.0, 6.0], [5.0, 9.0, 6.0])
    m.set_circled([f"{run_id}-000"])
    kept = m.view_state()
    note = m.save_note("peak <b>near</b> 4", author="ann")
    with pytest.raises(ConfigError, match="note: the text is empty"):
        m.save_note("  ")

    again = card(store, project_dir, run_id)  # another session: the note brings the drawing back
    assert [n.text for n in again.notes()] == ["peak <b>near</b> 4"]
    assert again.open_note(again.notes()[0]) == [] and again.view_state() == kept

    # on the run page the note is a link to this card with the same choices, its text escaped
    memory = ProjectMemory(StoreMemory(Store(store), "tiny"))
    panel = NotesPanel(SimpleNamespace(run_frames=SimpleNamespace(run_id=run_id, experiments=pd.DataFrame())),  # type: ignore[arg-type]
                       memory,
                       author=None, on_error=lambda _m: None, on_open=lambda _v: None)
    (link,) = [o.object for o in panel.listing.objects if "ht-note-proposals" in str(getattr(o, "object", ""))]
    assert "peak &lt;b&gt;near&lt;/b&gt; 4" in link and "<b>near" not in link
    href = html.unescape(link.split('href="', 1)[1].split('"', 1)[0])
    from urllib.parse import parse_qsl

    assert dict(parse_qsl(href.lstrip("?"))) == {"new": run_id, **kept}
    assert note.view["proposals"] == kept


def test_a_field_left_to_the_proposal_gets_values_from_the_flags_type_and_default(
        project_dir: Path, earlier: tuple[str, str]) -> None:
    """'?' in a field (as --add 'NAME=?'): no grid until a proposal is used; then its rows, and Launch
    queues them as run --propose would."""
    from workbench_plugin.store import Store

    store, run_id = earlier
    nr = open_model(store, project_dir, run_id)
    nr.set_text("epochs", "?")
    assert nr.field("epochs").error is None and nr.auto == ["epochs"]
    assert not nr.rows and "epochs: '?' leaves the values to a proposal" in nr.problem and not nr.can_launch
    nr.set_text("sleep", "?")  # a float flag with default 0.0: no range to propose around
    assert "sleep" in (nr.field("sleep").error or "")
    nr.set_text("sleep", "0")
    m = ProposalsModel(nr)
    m.n_text = "4"
    proposal = m.refresh().proposal
    assert proposal is not None, m.result.error
    epochs = sorted({int(r["epochs"]) for r in proposal.rows})  # an int, default 3: multiplicative around it
    assert len(epochs) >= 2 and all(1 <= e <= 12 for e in epochs)
    assert all("no history for epochs" in why for why in proposal.reasons)
    assert m.use() and [r.params for r in nr.rows] == [dict(r) for r in proposal.rows]
    launched = nr.launch()
    assert launched, nr.launch_error
    assert [e.params for e in Store(store).read_experiments("tiny", launched)] == [dict(r) for r in proposal.rows]
