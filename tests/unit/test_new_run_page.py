"""The new-run page's model (issue 11): fields from locks, added flags, the CLI's messages, the live
listing with skip / star / skip all redundant, and a launch equal to ``hypertuner run``'s."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from panel_app.new_run.model import MAX_ROWS_SHOWN, NewRunContext, NewRunModel
from panel_app.new_run.templates import listing_table, previous_html
from tests.unit.test_cli import run_cli
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.batch import open_index, open_store
from workbench_plugin.config import load_config
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.next_batch import lineage_of
from workbench_plugin.project import find_project
from workbench_plugin.store import Store


def open_model(store_url: str, project_dir: Path, run_id: str, *, config_file: Path | None = None,
               **kw: object) -> NewRunModel:
    env = {"HYPERTUNER_CONFIG": str(config_file)} if config_file is not None else None
    config = load_config(env).with_(store_url=store_url)
    store = open_store(config)
    settings = find_project(project_dir)
    context = NewRunContext.open(config, store, settings, open_index(store, settings))
    return NewRunModel(context, run_id, **kw)  # type: ignore[arg-type]


def test_fields_come_from_the_locks_and_the_run(project_dir: Path, earlier: tuple[str, str]) -> None:
    model = open_model(*earlier[:1], project_dir, earlier[1])
    assert sorted((f.name, f.text, f.locked, f.error) for f in model.fields) == [
        ("epochs", "1", False, None), ("sleep", "0", False, None), ("x", "1", True, None)]
    assert [a.name for a in model.addable] == ["fail"]
    fail = model.addable[0]
    assert (fail.type, fail.default) == ("int", "0")
    # x=1 epochs=1 sleep=0 ran already, same snapshot: redundant, skipped by default
    assert [(r.status, r.skipped, r.previous_runs) for r in model.rows] == [("redundant", True, 1)]
    assert model.rows[0].previous[0].metrics["score"] == 10
    assert not model.can_launch  # every row skipped


def test_adding_a_flag_and_the_cli_messages(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                            earlier: tuple[str, str]) -> None:
    store, run_id = earlier
    model = open_model(store, project_dir, run_id)
    field = model.add_flag("fail")
    assert (field.text, field.added, field.error) == ("0", True, None)
    assert "fail" not in [a.name for a in model.addable]
    assert [r.status for r in model.rows] == ["redundant"]  # the first run left --fail at its default, 0
    for name, text in (("fail", "abc"), ("epochs", "1.5"), ("sleep", "1..5 *0")):
        model.set_text(name, text)
        message = model.field(name).error
        assert message is not None and message.startswith(f"{name}: ") and "\n" not in message
        code, _, err = run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--from-locks",
                               "--add", f"{name}={text}")
        assert code == 2 and err.strip() == f"hypertuner: error: {message}"
        assert model.rows == [] and not model.can_launch and name in model.problem
        assert model.launch() is None and "launch: " in model.launch_error
        model.set_text(name, model.field(name).original or "0")
    assert model.invalid == [] and model.rows
    model.remove_flag("fail")
    assert sorted(f.name for f in model.fields) == ["epochs", "sleep", "x"] and model.addable[0].name == "fail"


def test_skip_star_and_skip_all_redundant(project_dir: Path, earlier: tuple[str, str]) -> None:
    model = open_model(*earlier[:1], project_dir, earlier[1])
    model.set_text("epochs", "1,2")
    model.set_text("sleep", "0,0.01")
    assert [(r.status, r.skipped) for r in model.rows] == [
        ("redundant", True), ("new", False), ("new", False), ("new", False)]
    assert model.summary() == "4 experiments (3 new, 1 redundant, 0 similar); 1 skipped, 3 to queue"
    model.toggle_skip(2)
    assert [r.skipped for r in model.rows] == [True, False, True, False]
    model.toggle_skip(0)  # a redundant row brought back: skip-all-redundant gives way
    assert not model.skip_redundant and [r.skipped for r in model.rows] == [False, False, True, False]
    model.toggle_star(2)  # starring a skipped row brings it back
    assert [(r.skipped, r.starred) for r in model.rows][2] == (False, True)
    model.toggle_skip(2)
    assert [(r.skipped, r.starred) for r in model.rows][2] == (True, False)
    model.set_skip_redundant(True)
    assert [r.skipped for r in model.rows] == [True, False, True, False]
    model.set_skip_redundant(False)
    assert [r.skipped for r in model.rows] == [False, False, True, False]
    records = model.records()
    assert [r["row"] for r in records] == [1, 2, 3, 4] and model.hidden_rows == 0 and MAX_ROWS_SHOWN >= 1000


def test_slot_columns_join_on_the_row_index(project_dir: Path, earlier: tuple[str, str]) -> None:
    seen: list[int] = []

    def slot(rows: object) -> dict[int, object]:
        seen.extend(r.index for r in rows)  # type: ignore[attr-defined]
        return {r.index: f"est-{r.index}" for r in rows}  # type: ignore[attr-defined]

    model = open_model(*earlier[:1], project_dir, earlier[1], columns={"duration": slot})
    model.set_text("epochs", "1,2")
    assert [r["duration"] for r in model.records()] == ["est-0", "est-1"]
    table = listing_table(model.records(), ["duration"])
    assert list(table.columns)[:4] == ["#", "status", "skip", "star"] and "duration" in table.columns


def test_previous_results_are_escaped_and_link_to_the_experiment(project_dir: Path,
                                                                 earlier: tuple[str, str]) -> None:
    model = open_model(*earlier[:1], project_dir, earlier[1])
    row = model.rows[0]
    text = previous_html(row.previous, row.previous_runs)
    assert "same setting found in 1 previous run" in text
    assert f'href="?experiment={earlier[1]}-000"' in text and "succeeded" in text and "score=10" in text
    evil = [row.previous[0]._replace(state="<b>x</b>", metrics={"<img src=x>": 1.0})]
    assert "<b>x" not in previous_html(evil, 1) and "&lt;img" in previous_html(evil, 1)


def test_launch_queues_exactly_the_rows_not_skipped_with_lineage(project_dir: Path,
                                                                 earlier: tuple[str, str]) -> None:
    store_url, run_id = earlier
    model = open_model(store_url, project_dir, run_id)
    model.add_flag("fail")
    model.set_text("epochs", "1,2")
    model.set_text("fail", "0,1")
    model.toggle_skip(1)
    model.toggle_star(2)
    new_id = model.launch()
    assert new_id is not None and model.launched == new_id and model.launch_error == ""
    store = Store(store_url)
    run = store.read_run("tiny", new_id)
    params = [e.params for e in store.read_experiments("tiny", new_id)]
    # row 1 (epochs=1, fail=0, the default) already ran: skipped as redundant; row 2 skipped by hand
    assert params == [{"x": 1, "epochs": 2, "sleep": 0, "fail": 0}, {"x": 1, "epochs": 2, "sleep": 0, "fail": 1}]
    assert params == [r.params for r in model.rows if not r.skipped]
    lineage = lineage_of(run)
    assert lineage is not None and lineage.from_run == run_id and lineage.locks == {"x": "1"}
    assert [(s["row"], s["why"]) for s in lineage.skipped] == [(1, "redundant"), (2, "chosen")]
    assert [s["row"] for s in lineage.starred] == [3]
    assert model.launch() is None  # once


def test_nothing_is_queued_when_the_listing_is_stale(project_dir: Path, earlier: tuple[str, str]) -> None:
    store_url, run_id = earlier
    model = open_model(store_url, project_dir, run_id)
    model.set_text("epochs", "1,2")
    ProjectMemory(StoreMemory(Store(store_url), "tiny")).lock("x", run_id=run_id, low=2.0, high=2.0)
    before = Store(store_url).runs("tiny")
    assert model.launch() is None and "changed since the listing" in model.launch_error
    assert Store(store_url).runs("tiny") == before


# ---- duration, cost, score, recommendation (FIG 25D-25E) ------------------------------------------
PRICED = ('[resources.local]\nkind = "local"\n\n'
          '[resources.cloud]\nkind = "priced"\nslots = 4\nprice_per_hour = 36.0\ndescription = "cloud"\n')


@pytest.fixture
def priced(tmp_path: Path) -> Path:
    file = tmp_path / "priced.toml"
    file.write_text(PRICED)
    return file


def test_columns_and_totals_come_from_advise(project_dir: Path, earlier: tuple[str, str], priced: Path) -> None:
    from workbench_plugin.advice import Constraints, advise_from_index

    store_url, run_id = earlier
    model = open_model(store_url, project_dir, run_id, config_file=priced)
    assert [o.name for o in model.options] == ["local", "cloud"] and model.resource == "local"
    model.set_text("epochs", "1,2")
    model.set_skip_redundant(False)
    assert all(r["duration"] is None for r in model.records())  # not on the typing path
    model.set_resource("cloud")
    advice = model.refresh_advice()
    assert advice is not None and advice.option.name == "cloud"
    same = advise_from_index(model.rows, model.context.index, "train.py", options=model.options, resource="cloud",
                             constraints=Constraints(), admin=model.context.config.limits,
                             default_seconds=model.context.config.default_seconds)
    records = model.records()
    for record, a in zip(records, same.rows, strict=True):
        assert record["score"] == f"{a.score.value:.1f}" and record["reason"] == a.score.reason
        assert record["cost"] == f"{a.costs['cloud']:.2f} USD"
        assert record["duration"].startswith(f"{round(a.estimate.seconds)}s (")
    assert [r["recommendation"] for r in records] == ["skip: already ran", "recommended"]
    table = listing_table(records, list(model.columns))
    assert {"duration", "cost", "score", "reason", "recommendation"} <= set(table.columns)
    assert advice.totals["cloud"].count == 2 and advice.totals == same.totals

    # a skip re-totals at once, without a new fit
    before = advice.totals["cloud"]
    model.toggle_skip(0)
    after = model.advice.totals["cloud"]  # type: ignore[union-attr]
    assert (before.count, after.count) == (2, 1) and after.money < before.money
    assert after.compute_seconds < before.compute_seconds
    assert [r["duration"] is not None for r in model.records()] == [True, True]


def test_constraint_messages_are_the_clis(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                          earlier: tuple[str, str]) -> None:
    store, run_id = earlier
    model = open_model(store, project_dir, run_id)
    for field, flag, text in (("budget", "--budget", "lots"), ("deadline", "--deadline", "soon"),
                              ("max_experiments", "--max-experiments", "0")):
        message = model.set_constraint(field, text)
        assert message is not None and "\n" not in message
        code, _, err = run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--from-locks",
                               flag, text)
        assert code == 2 and err.strip() == f"hypertuner: error: {message}"
        assert not model.can_launch and model.constraint_errors[field] == message
        assert model.set_constraint(field, "") is None
    assert model.set_constraint("deadline", "30m") is None and model.set_constraint("budget", "$20") is None
    assert model.constraint_errors == {}


def test_apply_recommendation_skips_what_it_leaves_out(project_dir: Path, earlier: tuple[str, str]) -> None:
    model = open_model(*earlier[:1], project_dir, earlier[1])
    model.set_text("epochs", "2,3")
    model.set_text("sleep", "0,0.01")
    assert [r.skipped for r in model.rows] == [False] * 4
    model.set_constraint("max_experiments", "2")
    advice = model.refresh_advice()
    assert advice is not None and sum(a.recommended for a in advice.rows) == 2
    left = [a.index for a in advice.rows if not a.recommended]
    assert model.apply_recommendation()
    assert [r.index for r in model.rows if r.skipped] == left
    marks = [r["recommendation"] for r in model.records()]
    assert sorted(marks) == ["recommended", "recommended", "skip: over the cap of 2 experiments (applied)",
                             "skip: over the cap of 2 experiments (applied)"]
    assert model.advice is not None and model.advice.totals["local"].count == 2
    # automatically: a looser cap brings rows back, a tighter one skips more
    model.set_auto_apply(True)
    model.set_constraint("max_experiments", "3")
    model.refresh_advice()
    assert sum(not r.skipped for r in model.rows) == 3
    model.set_constraint("max_experiments", "1")
    model.refresh_advice()
    assert sum(not r.skipped for r in model.rows) == 1 and model.advice.totals["local"].count == 1


def test_caps_disable_launch_and_the_launch_records_the_resource(project_dir: Path, earlier: tuple[str, str],
                                                                 tmp_path: Path) -> None:
    store_url, run_id = earlier
    config = tmp_path / "capped.toml"
    config.write_text(PRICED + "\n[limits]\nmax_experiments = 2\n")
    model = open_model(store_url, project_dir, run_id, config_file=config)
    model.set_text("epochs", "2,3,4")
    model.set_resource("cloud")
    model.refresh_advice()
    assert model.cap_problems == ["3 experiments exceed limits.max_experiments = 2; select fewer experiments"]
    assert not model.can_launch and model.launch() is None and "limits.max_experiments" in model.launch_error
    assert model.apply_recommendation() and model.cap_problems == [] and model.can_launch
    new_id = model.launch()
    assert new_id is not None, model.launch_error
    store = Store(store_url)
    run = store.read_run("tiny", new_id)
    params = [e.params for e in store.read_experiments("tiny", new_id)]
    assert params == [r.params for r in model.rows if not r.skipped] and len(params) == 2
    assert run.extra["lineage"]["resource"] == "cloud"
    assert run.extra["lineage"]["recommendation"]["max_experiments"] is None


def test_the_view_shows_the_advice(project_dir: Path, earlier: tuple[str, str], priced: Path) -> None:
    from panel_app.new_run.view import NewRunPage

    model = open_model(*earlier[:1], project_dir, earlier[1], config_file=priced)
    model.set_text("epochs", "2,3")
    page = NewRunPage(model, project="tiny")  # no server session: the advice is computed at once
    page.resource_select.value = "cloud"
    page.constraint_inputs["budget"].value_input = "abc"
    assert "budget: &#x27;abc&#x27; is not an amount" in page.constraint_errors["budget"].object
    assert page.launch_button.disabled
    page.constraint_inputs["budget"].value_input = ""
    text = page.advice.object
    assert "cloud (chosen)" in text and "duration: " in text and "scores 0-10 for acc (max)" in text
    assert {"duration", "cost", "score", "recommendation"} <= set(page.table.value.columns)
    assert not page.launch_button.disabled


def test_a_lock_of_picked_labels_keeps_the_runs_numbers(project_dir: Path, earlier: tuple[str, str]) -> None:
    store_url, run_id = earlier
    # the run page locks a one-value hyperparameter from its picker, as labels
    ProjectMemory(StoreMemory(Store(store_url), "tiny")).lock("epochs", run_id=run_id, values=["1"])
    model = open_model(store_url, project_dir, run_id)
    assert model.field("epochs").locked and model.field("epochs").text == "1"
    assert [r.params["epochs"] for r in model.rows] == [1]


def test_a_row_on_another_resource_costs_on_it_and_launch_records_it(
    project_dir: Path, earlier: tuple[str, str], priced: Path,
) -> None:
    store_url, run_id = earlier
    model = open_model(store_url, project_dir, run_id, config_file=priced)
    model.set_text("epochs", "2,3")
    assert model.resource == "local"
    advice = model.refresh_advice()
    assert advice is not None and not advice.overridden
    assert [r["resource"] for r in model.records()] == ["local", "local"]
    assert advice.combined is not None and advice.combined.money == 0

    model.set_row_resource(1, "cloud")  # re-totalled at once, without a new fit
    assert model.row_resources == {1: "cloud"}
    advice = model.advice
    assert advice is not None and advice.overridden and advice.split is not None and advice.combined is not None
    cost = advice.rows[1].costs["cloud"]
    assert (advice.split["local"].count, advice.split["cloud"].count) == (1, 1)
    assert advice.split["cloud"].money == pytest.approx(cost) and advice.combined.money == pytest.approx(cost)
    records = model.records()
    assert [r["resource"] for r in records] == ["local", "cloud"]
    assert records[1]["cost"] == f"{cost:.2f} USD (cloud)" and records[0]["cost"] == "0.00 USD"
    table = listing_table(records, list(model.columns))
    assert list(table["resource"]) == ["local", "cloud"]
    # asked again: the same, through the core
    again = model.refresh_advice()
    assert again is not None and again.split == advice.split and [a.resource for a in again.rows] == ["local", "cloud"]
    with pytest.raises(HyperTunerError, match="row resource: row 2: 'gpu' is not a resource option"):
        model.set_row_resource(1, "gpu")

    new_id = model.launch()
    assert new_id is not None, model.launch_error
    run = Store(store_url).read_run("tiny", new_id)
    assert run.extra["lineage"]["resource"] == "local" and run.extra["lineage"]["row_resources"] == {"2": "cloud"}

    model.set_row_resource(1, "local")  # back to the batch's option
    assert model.row_resources == {}


def test_the_view_lists_a_resource_per_row(project_dir: Path, earlier: tuple[str, str], priced: Path) -> None:
    from panel_app.new_run.view import NewRunPage

    model = open_model(*earlier[:1], project_dir, earlier[1], config_file=priced)
    model.set_text("epochs", "2,3")
    page = NewRunPage(model, project="tiny")
    assert page.table.editors["resource"] == {"type": "list", "values": ["local", "cloud"]}
    assert page.table.editors["command"] is None
    page._on_edit(SimpleNamespace(column="resource", row=0, value="cloud"))
    assert model.row_resources == {0: "cloud"} and list(page.table.value["resource"])[0] == "cloud"
    assert "as assigned per row" in page.advice.object
