"""Routing a session's URL to a page, without a server: :func:`panel_app.server.route_of`."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest

from panel_app.server import MAX_IDS, MAX_PARAM_CHARS, Route, make_page, route_of
from tests.unit.test_cli import run_cli
from workbench_plugin.index import ProjectIndex
from workbench_plugin.memory import encode_view
from workbench_plugin.store import Store

RUNS = {
    "20260101-0900": ["20260101-0900-0", "20260101-0900-1", "20260101-0900-2"],
    "20260102-1000": ["20260102-1000-0", "20260102-1000-1"],
}
LATEST = "20260102-1000"


def args(**values: str) -> dict[str, list[bytes]]:
    """Session arguments as Tornado gives them: a list of bytes per name."""
    return {k: [v.encode()] for k, v in values.items()}


def test_no_arguments_show_the_latest_run() -> None:
    assert route_of({}, RUNS) == Route(LATEST)


def test_no_runs_route_nowhere() -> None:
    assert route_of(args(run="x", experiment="x-1"), {}).run_id is None
    assert route_of({}, {}) == Route(None)


def test_run_shows_that_run_and_an_unknown_one_the_latest_without_an_error() -> None:
    assert route_of(args(run="20260101-0900"), RUNS) == Route("20260101-0900")
    assert route_of(args(run="nope"), RUNS) == Route(LATEST)
    assert route_of(args(run=""), RUNS) == Route(LATEST)


def test_experiment_shows_its_page() -> None:
    route = route_of(args(experiment="20260101-0900-2"), RUNS)
    assert route == Route("20260101-0900", select=("20260101-0900-2",), experiment="20260101-0900-2")
    # a compare link is no experiment page
    assert route_of(args(compare="20260101-0900-2"), RUNS).experiment == ""


def test_compare_serves_the_compare_page_in_link_order() -> None:
    route = route_of(args(compare="20260101-0900-2, 20260101-0900-0,20260101-0900-2,"), RUNS)
    ids = ("20260101-0900-2", "20260101-0900-0")
    assert route == Route("20260101-0900", select=ids, compare=ids)


def test_compare_takes_experiments_of_several_runs_of_the_project() -> None:
    route = route_of(args(compare="20260101-0900-0,20260102-1000-1"), RUNS)
    assert route.compare == ("20260101-0900-0", "20260102-1000-1") and route.problems == ()
    assert route.run_id == "20260101-0900"  # the first one's run: where "back" leads


@pytest.mark.parametrize(("ids", "count"), [
    (["20260101-0900-1"], 1),
    ([f"20260101-0900-{i % 3}" if i < 3 else f"20260101-0900-{i}" for i in range(11)], 11),
])
def test_compare_of_one_or_more_than_ten_is_one_line_and_the_run_page(ids: list[str], count: int) -> None:
    runs = {"20260101-0900": [f"20260101-0900-{i}" for i in range(12)], "20260102-1000": ["20260102-1000-0"]}
    route = route_of(args(compare=",".join(ids)), runs)
    assert route.compare == ()
    [problem] = route.problems
    assert problem.startswith(f"compare: {count} experiment")
    assert "the comparison shows 2 to 10" in problem and "\n" not in problem
    assert route.run_id == "20260101-0900" and route.select == tuple(dict.fromkeys(ids))


def test_a_refused_compare_selects_only_the_experiments_of_the_run_shown() -> None:
    route = route_of(args(compare=",".join(["20260101-0900-0", *(f"20260102-1000-{i}" for i in range(10))])),
                     {"20260101-0900": ["20260101-0900-0"], "20260102-1000": [f"20260102-1000-{i}" for i in range(10)]})
    assert route.run_id == "20260101-0900" and route.select == ("20260101-0900-0",)
    assert route.problems[0].startswith("compare: 11 experiments selected")


@pytest.mark.parametrize(("values", "message"), [
    (dict(experiment="nodash"), "experiment: 'nodash' is not an experiment id (they read <run id>-<number>)"),
    (dict(experiment="20260103-0000-1"), "experiment: '20260103-0000-1': the project has no run '20260103-0000'"),
    (dict(experiment="20260101-0900-9"), "experiment: '20260101-0900-9' is not an experiment of run '20260101-0900'"),
    (dict(compare="20260101-0900-0,<b>x</b>"), "compare: '<b>x</b>' is not an experiment id"),
    (dict(compare=" , ,"), "compare=' , ,': no experiment id; use compare=<run id>-<number>"),
])
def test_a_bad_id_is_one_line_naming_it_and_the_latest_run(values: dict[str, str], message: str) -> None:
    route = route_of(args(**values), RUNS)
    assert route.run_id == LATEST and route.select == () and route.experiment == ""
    [problem] = route.problems
    assert problem.startswith(message), problem
    assert "\n" not in problem


def test_parameters_are_bounded() -> None:
    long_id = "r-" + "1" * MAX_PARAM_CHARS
    route = route_of(args(experiment=long_id), RUNS)
    assert route.run_id == LATEST
    assert route.problems == (f"experiment: {len(long_id):,} characters; a link carries at most 2,000",)
    many = ",".join(f"20260101-0900-{i}" for i in range(MAX_IDS + 1))
    assert route_of(args(compare=many), RUNS).problems == ("compare: 51 experiments; a link compares at most 50",)
    shown = route_of(args(experiment="x" * 500), RUNS).problems[0]
    assert len(shown) < 150  # an id is shown cut short


def test_the_first_of_experiment_compare_run_decides() -> None:
    route = route_of(args(run="20260102-1000", compare="20260101-0900-1", experiment="20260101-0900-0"), RUNS)
    assert route == Route("20260101-0900", select=("20260101-0900-0",), experiment="20260101-0900-0")
    route = route_of(args(run="20260102-1000", compare="20260101-0900-1,20260101-0900-0"), RUNS)
    assert route.run_id == "20260101-0900" and route.compare == ("20260101-0900-1", "20260101-0900-0")


def test_the_view_rides_along_and_a_bad_token_is_one_line() -> None:
    view = {"chart": "lines", "selection": {"ids": ["#2"]}}
    route = route_of(args(experiment="20260101-0900-1", view=encode_view(view)), RUNS)
    assert route == Route("20260101-0900", select=("20260101-0900-1",), view=view, experiment="20260101-0900-1")
    route = route_of(args(view="%%%", experiment="20260101-0900-9"), RUNS)
    assert route.run_id == LATEST and route.view == {}
    assert route.problems[0].startswith("view='%%%': not a view token")
    assert route.problems[1].startswith("experiment: '20260101-0900-9' is not an experiment")


def test_string_arguments_work_too() -> None:
    assert route_of({"experiment": ["20260102-1000-1"]}, RUNS).select == ("20260102-1000-1",)


def test_experiment_page_and_its_full_log(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                          tmp_path: Path) -> None:
    """``?experiment=ID`` is the experiment page, ``&log=stdout`` the whole log, escaped; an
    unknown id is one line on the latest run page."""
    store = Store(str(tmp_path / "s"))
    store.create_project("tiny", str(project_dir))
    code, out, err = run_cli(capsys, "--store", store.url, "run", "--project", str(project_dir), "x=1", "epochs=2")
    assert code == 0, out + err
    index = ProjectIndex(store, "tiny")
    page = make_page(index)
    index.refresh()
    eid = index.entry(store.runs("tiny")[0]).experiments[0].experiment_id
    shown = texts(page(args(experiment=eid)))
    assert "ht-exp-header" in shown and f"<code>{eid}</code>" in shown and "epoch 2 done" in shown
    log = texts(page(args(experiment=eid, log="stdout")))
    assert "ht-full-log" in log and "epoch 1 done\nepoch 2 done" in log
    assert "use log=stdout or log=stderr" in texts(page(args(experiment=eid, log="<b>")))
    bad = texts(page(args(experiment="nonsense")))
    assert "is not an experiment id" in html.unescape(bad) and "ht-exp-header" not in bad and "ht-run-header" in bad


def texts(viewable: Any) -> str:
    """Every HTML text of a Panel layout, concatenated."""
    import panel as pn

    return "\n".join(str(p.object) for p in viewable.select(pn.pane.HTML))
