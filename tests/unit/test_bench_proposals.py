"""The proposals benchmark (bench/proposals.py) on a cheap synthetic task: every source in the table,
counts inside the budget, scores inside the task's range, and the simulated user's locks."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest

from bench._proposal_tasks import Evaluator, Param, Task
from bench.proposals import BASELINES, compare, first_grid, format_table, simulate_user, summarize
from workbench_plugin.proposals import SOURCES
from workbench_plugin.space import Value

BUDGET = 22
BATCH = 4


def _score(p: Mapping[str, Value]) -> float:
    lr = math.log10(float(p["lr"]))
    width = math.log2(float(p["width"]))
    return 0.2 + 0.7 * math.exp(-0.5 * (lr + 2.0) ** 2 - 0.3 * (width - 6) ** 2) * (1 - float(p["dropout"]) ** 2)


TASK = Task("tiny", "a smooth bowl", "score",
            (Param("lr", "1e-4..1 *4", 0.0016), Param("width", "8..256 *2", 32), Param("dropout", "0..0.6 +0.2", 0.4)),
            _score, (0.2, 0.9), "tiny")


@pytest.fixture(scope="module")
def table() -> tuple[Evaluator, float, list]:
    evaluator = Evaluator(TASK)
    _, best = evaluator.exhaustive_best()
    target = 0.99 * best
    rows = compare(TASK, evaluator, [*SOURCES, *BASELINES], [0, 1], budget=BUDGET, batch=BATCH, target=target,
                   top=best)
    return evaluator, best, rows


def test_every_source_is_in_the_table_with_counts_inside_the_budget(table: tuple[Evaluator, float, list]) -> None:
    evaluator, best, rows = table
    assert [r.source for r in rows] == [*SOURCES, *BASELINES]
    lines = format_table(rows, BUDGET)
    assert len(lines) == 1 + len(rows)
    for line, row in zip(lines[1:], rows, strict=True):
        assert line.split()[0] == row.source
        assert row.seeds == 2 and 0 < row.experiments <= BUDGET
        for reach in (row.target, row.top):
            assert 0 <= reach.not_reached <= 2
            for x in (reach.q1, reach.median, reach.q3):
                assert math.isinf(x) or 1 <= x <= BUDGET
            assert reach.q1 <= reach.median <= reach.q3
            assert reach.not_reached == 0 or math.isinf(reach.q3)
        # the grid's best is reached no sooner than within 1 % of it
        assert row.top.median >= row.target.median and row.top.not_reached >= row.target.not_reached
        lo, hi = TASK.bounds
        assert lo <= row.best_mean <= best <= hi
        assert row.wasted >= 0 and row.snapped == 0  # the domains carry the lattice: nothing to snap
    by = {r.source: r for r in rows}
    assert by["random-search"].wasted == 0
    assert by["random-search"].experiments == BUDGET


def test_the_user_grids_the_first_flag_then_locks_its_best_and_adds_the_second() -> None:
    ran: list[dict[str, Value]] = []

    def recording(p: Mapping[str, Value]) -> float:
        ran.append(dict(p))
        return _score(p)

    task = TASK._replace(score=recording)
    evaluator = Evaluator(task)
    trace = simulate_user(task, evaluator, "random", 3, budget=12, batch=BATCH)
    grid = first_grid(task, evaluator, 3)
    assert ran[:len(grid)] == grid
    assert {p["width"] for p in grid} == {32} and len({p["lr"] for p in grid}) == len(grid)
    best_lr = max(grid, key=_score)["lr"]
    added = ran[len(grid):len(grid) + BATCH]
    assert added and all(p["lr"] == best_lr and p["dropout"] == 0.4 for p in added)
    assert len({p["width"] for p in added}) == len(added)
    assert len(trace.best) == len(ran) <= 12
    assert list(trace.best) == sorted(trace.best)
    assert trace.best[-1] == max(_score(p) for p in ran)


def test_medians_count_a_seed_that_never_reached_the_target_as_beyond_the_budget() -> None:
    evaluator = Evaluator(TASK)
    traces = [simulate_user(TASK, evaluator, "random", s, budget=8, batch=BATCH) for s in (0, 1)]
    reachable = summarize(traces, target=-1.0)
    assert reachable.target.median == 1 and reachable.target.not_reached == 0
    never = summarize(traces, target=2.0)
    assert math.isinf(never.target.median) and never.target.not_reached == 2
