"""What the comparison page shows, as plain data: :func:`workbench_plugin.experiment_info.comparison_info`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench_plugin.experiment_info import (
    CompareError,
    compare_count_problem,
    comparison_info,
)
from workbench_plugin.frames import RunFrames


def frames(run: str, rows: list[dict[str, object]], hparams: tuple[str, ...], metrics: tuple[str, ...],
           epochs: int = 3) -> RunFrames:
    wide = pd.DataFrame([{"experiment_id": f"{run}-{i}", "label": f"#{i + 1}", "state": "succeeded", **r}
                         for i, r in enumerate(rows)])
    points = [{"experiment_id": f"{run}-{i}", "epoch": float(e), "step": math.nan, "name": m,
               "value": float(r[m]) + (epochs - e) * 0.1}  # type: ignore[arg-type]
              for i, r in enumerate(rows) for m in metrics for e in range(1, epochs + 1)]
    curves = pd.DataFrame(points, columns=["experiment_id", "epoch", "step", "name", "value"])
    return RunFrames(run, wide, curves, hparams, metrics)


RUN = frames("r1", [
    {"lr": 0.1, "batch": 32, "opt": "adam", "val_loss": 0.5, "val_acc": 0.9},
    {"lr": 0.01, "batch": 32, "opt": "adam", "val_loss": 0.3, "val_acc": 0.9},
    {"lr": 0.001, "batch": 32, "opt": "sgd", "val_loss": math.nan, "val_acc": 0.8},
    {"lr": 0.001, "batch": 32, "opt": "adam", "val_loss": 0.3, "val_acc": 0.7},
], ("lr", "batch", "opt"), ("val_loss", "val_acc"))


def test_experiments_in_the_given_order_with_label_and_state() -> None:
    info = comparison_info(RUN, ["r1-2", "r1-0", "r1-2"])  # a repeat is dropped
    assert [(e.experiment_id, e.label, e.state, e.run_id) for e in info.experiments] == [
        ("r1-2", "#3", "succeeded", "r1"), ("r1-0", "#1", "succeeded", "r1")]


def test_differing_hyperparameters_first_with_values_equal_ones_folded() -> None:
    info = comparison_info(RUN, ["r1-0", "r1-1", "r1-3"])
    assert [(h.name, h.values) for h in info.differing] == [("lr", (0.1, 0.01, 0.001))]
    assert [(h.name, h.values) for h in info.equal] == [("batch", (32, 32, 32)), ("opt", ("adam",) * 3)]
    info = comparison_info(RUN, ["r1-2", "r1-3"])
    assert [h.name for h in info.differing] == ["opt"]
    assert [h.name for h in info.equal] == ["lr", "batch"]


def test_best_per_row_by_goal_ties_all_best_and_nan_never() -> None:
    info = comparison_info(RUN, ["r1-0", "r1-1", "r1-2", "r1-3"])
    loss, acc = info.metrics
    assert (loss.name, loss.goal, loss.family) == ("val_loss", "min", "loss")
    assert math.isnan(loss.values[2])
    assert loss.best == (False, True, False, True)  # min, a tie, NaN never best
    assert (acc.goal, acc.best) == ("max", (True, True, False, False))


def test_a_metric_with_no_value_has_no_best() -> None:
    run = frames("r", [{"a": 1, "m_loss": math.nan}, {"a": 2, "m_loss": math.nan}], ("a",), ("m_loss",))
    assert comparison_info(run, ["r-0", "r-1"]).metrics[0].best == (False, False)


def test_curves_grouped_by_family_one_axis_each() -> None:
    info = comparison_info(RUN, ["r1-1", "r1-0"])
    assert [(f.family, f.metrics) for f in info.families] == [("loss", ("val_loss",)), ("score", ("val_acc",))]
    loss = info.families[0].curves
    assert [(c.experiment_id, c.metric, c.x_name) for c in loss] == [
        ("r1-1", "val_loss", "epoch"), ("r1-0", "val_loss", "epoch")]
    np.testing.assert_allclose(loss[1].x, [1, 2, 3])
    np.testing.assert_allclose(loss[1].y, [0.7, 0.6, 0.5])


def test_experiments_of_two_runs_unite_their_columns() -> None:
    other = frames("r2", [{"lr": 0.1, "batch": 32, "opt": "adam", "depth": 4, "val_loss": 0.2}],
                   ("lr", "depth", "batch", "opt"), ("val_loss",))
    info = comparison_info([RUN, other], ["r1-0", "r2-0"])
    assert [e.run_id for e in info.experiments] == ["r1", "r2"]
    assert [(h.name, h.values) for h in info.differing] == [("depth", (None, 4))]
    assert [h.name for h in info.equal] == ["lr", "batch", "opt"]
    loss, acc = info.metrics
    assert loss.best == (False, True)
    assert math.isnan(acc.values[1]) and acc.best == (True, False)


def test_extras_are_marked_smaller_best() -> None:
    info = comparison_info(RUN, ["r1-0", "r1-1"], extras={"duration (s)": {"r1-0": 12.0, "r1-1": 9.5},
                                                         "cost": {}})
    [duration] = info.extras  # a row with no value at all is left out
    assert duration.best == (False, True) and duration.goal == "min"


@pytest.mark.parametrize("count", [0, 1, 11, 14])
def test_too_few_or_too_many_refused_in_one_line(count: int) -> None:
    ids = [f"r1-{i}" for i in range(count)]
    with pytest.raises(CompareError) as caught:
        comparison_info(RUN, ids)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"compare: {count} experiment")
    assert "the comparison shows 2 to 10" in message
    assert isinstance(caught.value, ValueError)


def test_the_refusal_reads_as_the_issue_says() -> None:
    assert compare_count_problem(14) == ("compare: 14 experiments selected; the comparison shows 2 to 10 — "
                                         "narrow the selection (brush fewer points or filter the table)")
    assert compare_count_problem(1).startswith("compare: 1 experiment selected; the comparison shows 2 to 10 — ")
    assert compare_count_problem(2) == compare_count_problem(10) == ""


def test_an_unknown_id_is_one_line_naming_it() -> None:
    with pytest.raises(CompareError, match=r"^compare: 'r1-9' is not an experiment of run\(s\) 'r1'"):
        comparison_info(RUN, ["r1-0", "r1-9"])
