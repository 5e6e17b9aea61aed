"""Advice on a planned batch: durations, cost per resource option, scores, the recommended rows,
and the administrator's caps; through the pure function and through ``plan``/``run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_cli import run_cli
from workbench_plugin._exceptions import SpecError
from workbench_plugin.advice import Constraints, advise, format_seconds
from workbench_plugin.estimates import HistoryRow, ResourceOption
from workbench_plugin.next_batch import lineage_of
from workbench_plugin.planning import ListingRow
from workbench_plugin.recommend import Finished
from workbench_plugin.resources_config import Limits as AdminLimits
from workbench_plugin.store import Store

LOCAL = ResourceOption("local", "local", slots=2)
CLOUD = ResourceOption("cloud", "priced", slots=4, price_per_hour=3600.0)  # 1 per experiment-second


def rows(xs: list[float], epochs: int = 10) -> list[ListingRow]:
    return [ListingRow(i, {"x": x, "epochs": epochs}, [], f"python t.py --x {x}", "new", [], False, False)
            for i, x in enumerate(xs)]


def history(n: int = 12) -> list[HistoryRow]:
    """Durations 2 s per epoch; the same x values as the finished results."""
    return [HistoryRow(f"e{i}", "r0", "t.py", {"x": i / (n - 1), "epochs": 5 + i % 3}, "succeeded",
                       2.0 * (5 + i % 3), None, None) for i in range(n)]


def finished(n: int = 12) -> dict[str, list[Finished]]:
    """val_acc peaks at x = 0.6."""
    return {"val_acc": [Finished({"x": i / (n - 1), "epochs": 5 + i % 3}, 1 - (i / (n - 1) - 0.6) ** 2)
                        for i in range(n)]}


def test_durations_from_history_and_cost_per_option() -> None:
    advice = advise(rows([0.1, 0.5]), history(), finished(), options=[LOCAL, CLOUD])
    for a in advice.rows:
        assert a.estimate.seconds == pytest.approx(20.0, rel=0.1)  # 10 epochs at 2 s each
        assert a.costs["local"] == 0 and a.costs["cloud"] == pytest.approx(a.estimate.seconds)
    assert advice.totals["cloud"].count == 2 and advice.totals["cloud"].money == pytest.approx(
        sum(a.estimate.seconds for a in advice.rows))
    assert advice.option.name == "local" and advice.objective is not None and advice.objective.metric == "val_acc"


def test_a_budget_that_fits_exactly_k_rows_recommends_the_k_highest_scored() -> None:
    xs = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    free = advise(rows(xs), history(), finished(), options=[LOCAL, CLOUD], resource="cloud")
    per_row = free.rows[0].costs["cloud"]
    assert all(a.costs["cloud"] == pytest.approx(per_row) for a in free.rows)  # same epochs: equal costs
    advice = advise(rows(xs), history(), finished(), options=[LOCAL, CLOUD], resource="cloud",
                    constraints=Constraints(budget=per_row * 3 * 1.0001))
    kept = [a.index for a in advice.rows if a.recommended]
    best = sorted(range(len(xs)), key=lambda i: -advice.rows[i].score.value)[:3]
    assert sorted(kept) == sorted(best) and advice.binding == "budget"
    assert 3 in kept  # x = 0.6, the optimum, is among them
    assert {a.skip_reason for a in advice.rows if not a.recommended} == {"skip to stay within budget"}
    assert advice.recommended_totals.money == pytest.approx(per_row * 3)


def test_the_administrators_caps_bound_the_user_and_name_themselves() -> None:
    caps = AdminLimits(max_budget=10.0, max_experiments=2)
    with pytest.raises(SpecError, match="budget: 50 is over the administrator's cap of 10"):
        advise(rows([0.1]), history(), finished(), options=[LOCAL, CLOUD], resource="cloud",
               constraints=Constraints(budget=50), admin=caps)
    advice = advise(rows([0.1, 0.3, 0.5]), history(), finished(), options=[LOCAL], admin=caps)
    assert advice.limits.max_experiments == 2 and sum(a.recommended for a in advice.rows) == 2
    assert advice.problems == ["3 experiments exceed limits.max_experiments = 2; select fewer experiments"]
    assert advice.recommended_problems == []


def test_without_results_scores_are_coverage_and_durations_the_default() -> None:
    advice = advise(rows([0.1, 0.2]), [], {}, options=[LOCAL], default_seconds=90)
    assert advice.objective is None and "no metric logged yet" in advice.score_basis
    assert [a.estimate.seconds for a in advice.rows] == [90, 90] and "default" in advice.duration_basis
    with pytest.raises(SpecError, match="resource: 'gpu' is not a resource option; choose one of local"):
        advise(rows([0.1]), [], {}, options=[LOCAL], resource="gpu")


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (95, "1m35s"), (7300, "2h01m"), (float("nan"), "?")])
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


# ---- through the CLI ---------------------------------------------------------------------------------
@pytest.fixture
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "hypertuner.toml"
    config.write_text('[resources.cloud]\nkind = "priced"\nslots = 4\nprice_per_hour = 36.0\n'
                      '[limits]\nmax_experiments = 3\n')
    monkeypatch.setenv("HYPERTUNER_CONFIG", str(config))
    return config


def test_plan_lists_duration_cost_score_and_totals_per_option(
    capsys: pytest.CaptureFixture[str], project_dir: Path, earlier: tuple[str, str], priced: Path,
) -> None:
    store, _ = earlier
    base = ["--store", store, "plan", "--project", str(project_dir), "x=1,2,3,4", "epochs=1", "sleep=0"]
    code, out, err = run_cli(capsys, *base, "--resource", "cloud")
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("#"))
    assert all(column in header for column in ("duration", "cost", "score", "advice"))
    assert "on local: 4 experiments" in out and "on cloud (chosen): 4 experiments" in out and " USD" in out
    assert "recommended (at most 3): 2 of 4 rows" in out  # two rows repeat the finished run: score 0
    assert "over a cap: 4 experiments exceed limits.max_experiments = 3" in out
    data = json.loads(run_cli(capsys, *base, "--resource", "cloud", "--json")[1])
    assert {"duration_seconds", "costs", "score", "score_reason", "recommended", "advice"} <= set(data[0])
    assert data[0]["costs"]["cloud"] == pytest.approx(data[0]["duration_seconds"] * 0.01)
    assert [r["recommended"] for r in data] == [False, False, True, True]
    code, _, err = run_cli(capsys, *base, "--budget", "-3")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "budget" in err


def test_run_refuses_a_batch_over_the_caps_and_applies_the_recommendation(
    capsys: pytest.CaptureFixture[str], project_dir: Path, earlier: tuple[str, str], priced: Path,
) -> None:
    store, _ = earlier
    base = ["--store", store, "run", "--project", str(project_dir), "x=1,2,3,4", "epochs=1", "sleep=0"]
    code, _, err = run_cli(capsys, *base)
    assert code == 2 and "exceed limits.max_experiments = 3" in err and "--apply-recommendation" in err
    assert len(Store(store).runs("tiny")) == 1  # nothing queued
    before = set(Store(store).runs("tiny"))
    code, out, err = run_cli(capsys, *base, "--resource", "cloud", "--apply-recommendation")
    assert code == 0, err
    (new_id,) = set(Store(store).runs("tiny")) - before  # ids made in the same second do not sort by time
    assert [e.params["x"] for e in Store(store).read_experiments("tiny", new_id)] == [3, 4]
    run = Store(store).read_run("tiny", new_id)
    lineage = lineage_of(run)
    assert lineage is not None and [s["row"] for s in lineage.skipped] == [1, 2]
    assert run.extra["lineage"]["resource"] == "cloud"
    assert run.extra["lineage"]["recommendation"]["metric"] == "acc"


# ---- per-row resources -------------------------------------------------------------------------------
def test_a_row_moved_to_a_priced_option_costs_on_it_and_the_totals_split() -> None:
    advice = advise(rows([0.1, 0.5, 0.9]), history(), finished(), options=[LOCAL, CLOUD], row_resources={1: "cloud"})
    assert [a.resource for a in advice.rows] == ["local", "cloud", "local"] and advice.overridden
    assert advice.split is not None and advice.combined is not None
    local, cloud = advice.split["local"], advice.split["cloud"]
    assert (local.count, cloud.count) == (2, 1)
    assert local.money == 0 and cloud.money == pytest.approx(advice.rows[1].costs["cloud"])
    assert advice.combined.count == 3 and advice.combined.money == pytest.approx(cloud.money)
    assert advice.combined.wall_seconds == pytest.approx(max(local.wall_seconds, cloud.wall_seconds))
    assert advice.combined.compute_seconds == pytest.approx(local.compute_seconds + cloud.compute_seconds)
    assert advice.totals["cloud"].count == 3  # what-if: every row on each option, as before
    # the budget counts each row's own cost: only the row on cloud costs anything
    tight = advise(rows([0.1, 0.5, 0.9]), history(), finished(), options=[LOCAL, CLOUD], row_resources={1: "cloud"},
                   constraints=Constraints(budget=advice.rows[1].costs["cloud"] / 2))
    assert [a.recommended for a in tight.rows] == [True, False, True] and tight.binding == "budget"
    assert tight.recommended_totals.money == 0


def test_without_overrides_the_split_is_the_batch_option() -> None:
    advice = advise(rows([0.1, 0.5]), history(), finished(), options=[LOCAL, CLOUD], resource="cloud")
    assert advice.split == {"cloud": advice.totals["cloud"]} and advice.combined == advice.totals["cloud"]
    assert not advice.overridden and {a.resource for a in advice.rows} == {"cloud"}


@pytest.mark.parametrize(("given", "message"), [
    ({0: "gpu"}, "row resource: row 1: 'gpu' is not a resource option; choose one of local, cloud"),
    ({5: "cloud"}, "row resource: row 6 is not in the plan, which has rows 1-1"),
])
def test_a_bad_row_resource_is_one_line(given: dict[int, str], message: str) -> None:
    with pytest.raises(SpecError, match=message) as info:
        advise(rows([0.1]), [], {}, options=[LOCAL, CLOUD], row_resources=given)
    assert "\n" not in str(info.value)


def test_plan_prices_a_row_on_its_own_option_and_run_records_it(
    capsys: pytest.CaptureFixture[str], project_dir: Path, earlier: tuple[str, str], priced: Path,
) -> None:
    store, _ = earlier
    base = ["--store", store, "plan", "--project", str(project_dir), "x=1,2,3", "epochs=1", "sleep=0"]
    code, out, err = run_cli(capsys, *base, "--resource-row", "2=cloud")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("2 "))
    assert " USD (cloud)" in line
    assert "as assigned per row: local 2 (" in out and "cloud 1 (" in out and "combined 3 experiments" in out
    data = json.loads(run_cli(capsys, *base, "--resource-row", "2=cloud", "--json")[1])
    assert [r["resource"] for r in data] == ["local", "cloud", "local"]
    code, out, err = run_cli(capsys, *base)
    assert code == 0 and "as assigned per row" not in out and "(cloud)" not in out
    run = ["--store", store, "run", "--project", str(project_dir), "x=1,2,3", "epochs=1", "sleep=0"]
    before = set(Store(store).runs("tiny"))
    code, _, err = run_cli(capsys, *run, "--resource-row", "1,3=cloud", "--resource-row", "3=local")
    assert code == 0, err
    (new_id,) = set(Store(store).runs("tiny")) - before  # ids made in the same second do not sort by time
    lineage = Store(store).read_run("tiny", new_id).extra["lineage"]
    assert lineage["resource"] == "local" and lineage["row_resources"] == {"1": "cloud"}


@pytest.mark.parametrize(("given", "field"), [
    ("2", "'2' is not ROWS=NAME"),
    ("=cloud", "'=cloud' is not ROWS=NAME"),
    ("9=cloud", "row 9 is not in the plan, which has rows 1-3"),
    ("x=cloud", "'x' is not a row number"),
    ("2=gpu", "row 2: 'gpu' is not a resource option; choose one of local, cloud"),
])
def test_a_bad_resource_row_is_one_line_naming_the_option(
    capsys: pytest.CaptureFixture[str], project_dir: Path, earlier: tuple[str, str], priced: Path,
    given: str, field: str,
) -> None:
    store, _ = earlier
    code, _, err = run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "x=1,2,3", "epochs=1",
                           "sleep=0", "--resource-row", given)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.strip().startswith("--resource-row: ") or "--resource-row: " in err, err
    assert field in err, err


def test_args_for_passes_the_row_resources() -> None:
    from workbench_plugin._plan_cli import args_for, parse_row_resources

    args = args_for("r1", row_resources={2: "cloud", 0: "local"})
    assert args.resource_row == ["1=local", "3=cloud"]
    assert parse_row_resources(args.resource_row, 3) == {0: "local", 2: "cloud"}
    with pytest.raises(SpecError, match="--resource-row: given 101 times; give at most 100"):
        parse_row_resources(["1=a"] * 101, 3)
