"""Recommendations: scores from a model fitted on finished experiments, and the subset chosen under
a budget, a deadline and a cap. Synthetic histories where the right answer is known."""

from __future__ import annotations

import math

import pytest

from workbench_plugin._exceptions import SpecError
from workbench_plugin.recommend import (
    Candidate,
    Finished,
    Limits,
    Objective,
    Score,
    apply_caps,
    choose_objective,
    finished_from_frames,
    parse_duration,
    parse_money,
    recommend,
    score_candidates,
)

ACC = Objective("val_acc", "max")


def quadratic(x: float) -> float:
    return 0.95 - 0.2 * (x - 0.3) ** 2


def quadratic_history() -> list[Finished]:
    return [Finished({"x": x / 2, "opt": "adam"}, quadratic(x / 2)) for x in range(-4, 5)]  # -2..2 step 0.5


def new(params: dict, seconds: float = 60.0, cost: float = 1.0) -> Candidate:
    return Candidate(params, "new", seconds, cost)


def scored(*values: float) -> list[Score]:
    return [Score(v, "r", None, None, 0.0) for v in values]


# ---- scores ---------------------------------------------------------------------------------------

def test_expected_improvement_ranks_near_the_optimum_above_far_points() -> None:
    near = [new({"x": 0.25, "opt": "adam"}), new({"x": 0.4, "opt": "adam"})]
    far = [new({"x": -1.75, "opt": "adam"}), new({"x": 1.75, "opt": "adam"})]
    report = score_candidates(quadratic_history(), near + far, ACC)
    got = [s.value for s in report.scores]
    assert min(got[:2]) > max(got[2:])
    assert all(0 <= v <= 10 and v == round(v, 1) for v in got)
    # the model learned the curve: expected values close to the truth, small uncertainty
    for cand, s in zip(near + far, report.scores, strict=True):
        assert s.expected is not None and s.uncertainty is not None
        assert abs(s.expected - quadratic(float(cand.params["x"]))) < 0.05
    assert report.scores[0].reason.endswith("(best 0.942): likely improvement")  # 0.25 is nearer 0.3 than 0.5 is
    assert "unlikely to improve" in report.scores[2].reason
    close = score_candidates(quadratic_history(), [new({"x": 0.55, "opt": "adam"})], ACC).scores[0]
    assert close.reason.startswith("close to the best val_acc so far (expected val_acc 0.9")
    assert report.basis.startswith("Gaussian process on 9 finished experiments (x)")
    assert "expected improvement" in report.basis
    assert all("\n" not in s.reason for s in report.scores)


def test_log_scale_is_shown_in_the_basis_and_used() -> None:
    history = [Finished({"lr": 10.0**-k}, 0.9 - 0.05 * abs(k - 3)) for k in range(1, 7)]
    report = score_candidates(history, [new({"lr": 10.0**-3.2}), new({"lr": 10.0**-5.8})], ACC, scales={"lr": "log"})
    assert "(lr log)" in report.basis
    assert report.scores[0].value > report.scores[1].value


def test_a_new_categorical_value_gets_coverage_credit_over_a_well_tried_one() -> None:
    history = [Finished({"x": x, "opt": opt}, 0.8 + 0.01 * x) for x in range(3) for opt in ("adam", "sgd")]
    tried, untried = new({"x": 1, "opt": "adam"}), new({"x": 1, "opt": "adamw"})
    report = score_candidates(history, [tried, untried], ACC)
    assert report.scores[1].coverage > report.scores[0].coverage
    assert report.scores[1].value > report.scores[0].value
    assert report.scores[1].reason.startswith("explores opt=adamw, not tried before")


def test_redundant_scores_zero_and_is_never_recommended_similar_is_halved() -> None:
    params = {"x": 0.5, "opt": "adam"}
    cands = [Candidate(params, "redundant", 60, 1, repeats="r1-003"), Candidate(params, "similar", 60, 1, "r1-003",
             "snapshot differs"), new(params | {"x": 0.25})]
    report = score_candidates(quadratic_history(), cands, ACC)
    assert report.scores[0].value == 0.0
    assert report.scores[0].reason == "repeats experiment r1-003: already ran"
    assert report.scores[1].reason == "repeats a similar experiment r1-003 (snapshot differs)"
    assert 0 < report.scores[1].value < report.scores[2].value
    rec = recommend(report.scores, cands)
    assert rec.include == [False, True, True]
    assert rec.reasons[0] == "skip: already ran"


def test_fewer_than_three_finished_fall_back_to_coverage() -> None:
    history = quadratic_history()[:2]
    cands = [new({"x": -2.0, "opt": "adam"}), new({"x": 2.0, "opt": "sgd"})]
    report = score_candidates(history, cands, ACC)
    assert report.basis == ("too few finished experiments (2) to fit a model; "
                            "scores are coverage of untried values")
    assert all(s.expected is None and s.uncertainty is None for s in report.scores)
    assert report.scores[0].value == 0.0 and report.scores[1].value > 5
    assert "explores" in report.scores[1].reason
    empty = score_candidates([], cands, ACC)
    assert [s.value for s in empty.scores] == [10.0, 10.0]
    assert empty.scores[0].reason == "no finished experiment yet: every value is untried"


def test_minimising_a_loss_prefers_the_low_region() -> None:
    history = [Finished({"x": x / 2}, 0.2 + (x / 2 - 1.0) ** 2) for x in range(-4, 5)]
    report = score_candidates(history, [new({"x": 1.1}), new({"x": -1.6})], Objective("val_loss", "min"))
    assert report.scores[0].value > report.scores[1].value
    assert report.scores[0].expected is not None and report.scores[0].expected < 0.4
    assert "(min)" in report.basis


def test_nan_results_are_ignored_and_equal_results_fall_back() -> None:
    history = [Finished({"x": x}, 0.5) for x in range(5)] + [Finished({"x": 9}, math.nan)]
    report = score_candidates(history, [new({"x": 2.5})], ACC)
    assert report.basis.startswith("all 5 finished experiments have the same val_acc (0.5)")


def test_a_long_history_is_subsampled_keeping_the_best(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench_plugin import recommend as module

    monkeypatch.setattr(module, "MAX_FIT", 8)
    history = [Finished({"x": x / 10}, quadratic(x / 10)) for x in range(-20, 21)]
    report = score_candidates(history, [new({"x": 0.35})], ACC)
    assert report.basis.startswith("Gaussian process on 8 of 41 finished experiments (x)")
    assert "best 0.95)" in report.scores[0].reason  # x = 0.3, the best, is among the rows fitted


def test_no_candidates_and_long_values_stay_one_short_line() -> None:
    assert score_candidates(quadratic_history(), [], ACC).scores == []
    assert recommend([], [], budget=1).include == []
    long = "w" * 500
    report = score_candidates(quadratic_history(), [new({"x": 0.3, "opt": long})], ACC)
    assert report.scores[0].reason.startswith(f"explores opt={'w' * 37}..., not tried before; expected val_acc")
    assert len(report.scores[0].reason) < 160


def test_scores_are_deterministic() -> None:
    cands = [new({"x": v / 10, "opt": o}) for v in range(-15, 20, 5) for o in ("adam", "sgd")]
    first = score_candidates(quadratic_history(), cands, ACC, seed=3)
    again = score_candidates(quadratic_history(), cands, ACC, seed=3)
    assert first == again


def test_finished_rows_from_frames_and_numbers_that_pandas_made_floats() -> None:
    import pandas as pd

    from workbench_plugin.frames import RunFrames

    wide = pd.DataFrame({
        "experiment_id": ["a", "b", "c", "d"], "label": ["#0", "#1", "#2", "#3"],
        "state": ["succeeded", "failed", "succeeded", "succeeded"],
        "batch": [32, 64, 64, None], "opt": ["adam", "sgd", "sgd", "adam"], "val_acc": [0.8, math.nan, 0.85, 0.7],
    })
    frames = RunFrames("r1", wide, pd.DataFrame(), ("batch", "opt"), ("val_acc",))
    rows = finished_from_frames([frames], "val_acc")
    assert rows == [Finished({"batch": 32.0, "opt": "adam"}, 0.8), Finished({"batch": 64.0, "opt": "sgd"}, 0.85),
                    Finished({"opt": "adam"}, 0.7)]
    assert finished_from_frames([frames], "val_loss") == []
    # 32.0 from the frame is the same value as a candidate's 32, even as a category
    report = score_candidates(rows, [new({"batch": 32, "opt": "adam"})], ACC, scales={"batch": "categorical"})
    assert report.scores[0].coverage == 0.0


# ---- the objective --------------------------------------------------------------------------------

@pytest.mark.parametrize(("names", "want"), [
    (["loss", "val_loss", "val_acc", "acc"], Objective("val_acc", "max")),
    (["train/loss", "val/accuracy"], Objective("val/accuracy", "max")),
    (["loss", "eval_loss"], Objective("eval_loss", "min")),
    (["loss", "val loss", "epoch_time"], Objective("val loss", "min")),
    (["test_acc", "loss"], Objective("test_acc", "max")),
    (["valAccuracy", "valLoss"], Objective("valAccuracy", "max")),
    (["throughput"], Objective("throughput", "max")),
])
def test_default_objective(names: list[str], want: Objective) -> None:
    assert choose_objective(names, None) == want


def test_preferred_objective_and_its_errors() -> None:
    assert choose_objective(["val_acc", "val_rmse"], "val_rmse") == Objective("val_rmse", "min")
    assert choose_objective(["val_acc", "val_rmse"], "val_acc", goal="min") == Objective("val_acc", "min")
    with pytest.raises(SpecError, match=r"^metric: 'f1' is not a metric of this project; choose one of val_acc, "
                                        r"val_rmse$"):
        choose_objective(["val_acc", "val_rmse"], "f1")
    with pytest.raises(SpecError, match="^metric: no metric was logged yet"):
        choose_objective([], None)
    with pytest.raises(SpecError, match="^goal: 'up' is not a goal; use 'max' or 'min'$"):
        choose_objective(["val_acc"], None, goal="up")


# ---- choosing under limits ------------------------------------------------------------------------

def test_a_budget_that_fits_exactly_k_recommends_the_k_highest_scored() -> None:
    scores = scored(3.0, 9.5, 1.0, 7.2, 8.8, 4.4)
    cands = [new({"i": i}, cost=2.5) for i in range(6)]
    rec = recommend(scores, cands, budget=7.5)
    assert rec.include == [False, True, False, True, True, False]
    assert rec.total_cost == 7.5 and rec.binding == "budget"
    assert rec.reasons[0] == "skip to stay within budget" and rec.reasons[1] is None
    # decimal costs that do not add up exactly in binary still fit
    tenths = recommend(scored(5, 5, 5, 5), [new({"i": i}, cost=0.1) for i in range(4)], budget=0.3)
    assert sum(tenths.include) == 3


def test_unequal_costs_are_greedy_by_score_and_fill_the_rest() -> None:
    scores = scored(9.0, 8.0, 2.0)
    cands = [new({"i": 0}, cost=6), new({"i": 1}, cost=6), new({"i": 2}, cost=4)]
    rec = recommend(scores, cands, budget=10)
    assert rec.include == [True, False, True]  # the best first; the cheaper one fills what is left
    assert rec.total_cost == 10


def test_deadline_with_two_slots() -> None:
    scores = scored(9, 8, 7, 6, 5)
    cands = [new({"i": i}, seconds=s) for i, s in enumerate([600, 600, 600, 300, 900])]
    rec = recommend(scores, cands, deadline_seconds=parse_duration("20m"), slots=2)
    # 0, 1 run side by side (10 min), then 2 and 3 share the next 10 min; 4 would end at 25 min
    assert rec.include == [True, True, True, True, False]
    assert rec.wall_seconds == 1200 and rec.total_seconds == 2100
    assert rec.reasons[4] == "skip to meet the deadline" and rec.binding == "deadline"
    one_lane = recommend(scores, cands, deadline_seconds=1200, slots=1)
    assert one_lane.include == [True, True, False, False, False]


def test_cap_on_experiments_and_user_skips() -> None:
    scores = scored(9, 8, 7, 6)
    cands = [new({"i": i}) for i in range(4)]
    rec = recommend(scores, cands, max_experiments=2, skipped=[True, False, False, False])
    assert rec.include == [False, True, True, False]
    assert rec.reasons == ["skipped by the user", None, None, "skip: over the cap of 2 experiments"]
    assert rec.binding == "max_experiments"
    free = recommend(scores, cands)
    assert free.include == [True] * 4 and free.binding is None and free.reasons == [None] * 4


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budget": -1}, r"^budget: -1 must be a number, 0 or more$"),
    ({"budget": math.nan}, r"^budget: nan must be"),
    ({"slots": 0}, r"^slots: 0 must be a whole number, 1 or more$"),
    ({"deadline_seconds": -5.0}, r"^deadline: -5.0 must be"),
    ({"max_experiments": 2.5}, r"^max_experiments: 2.5 is not a whole number"),
])
def test_bad_limits(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        recommend(scored(1), [new({})], **kwargs)


def test_a_budget_needs_cost_estimates() -> None:
    with pytest.raises(SpecError, match=r"^budget: experiment #0 has no cost estimate \(nan\)"):
        recommend(scored(1), [new({}, cost=math.nan)], budget=5)
    assert recommend(scored(1), [new({}, cost=math.nan)]).include == [True]


def test_admin_caps() -> None:
    admin = Limits(budget=20.0, deadline_seconds=None, max_experiments=8)
    assert apply_caps(Limits(budget=10.0), admin) == Limits(10.0, None, 8)
    with pytest.raises(SpecError, match=r"^max_experiments: 9 is over the administrator's cap of 8; give 8 or less$"):
        apply_caps(Limits(max_experiments=9), admin)


# ---- parsing limits -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1h 30m", 5400), ("90s", 90), ("45", 45), ("1.5h", 5400),
    ("1d", 86400), (" 2H ", 7200),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["3 weeks", "", "h", "30m1h", "1h1h", "-5m", "1e3", "0", "0m", "5" * 100, "1h30"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(SpecError, match=r"^deadline: '.{0,64}' is (not a duration|no time at all); "
                                        r"give one like 30m, 2h or 1h30m$"):
        parse_duration(text)


def test_parse_duration_message() -> None:
    with pytest.raises(SpecError) as err:
        parse_duration("3 weeks")
    assert str(err.value) == "deadline: '3 weeks' is not a duration; give one like 30m, 2h or 1h30m"


@pytest.mark.parametrize(("text", "amount"), [("20", 20.0), ("20.5", 20.5), ("$20", 20.0), ("0", 0.0),
                                                ("12 usd", 12.0)])
def test_parse_money(text: str, amount: float) -> None:
    assert parse_money(text) == amount


@pytest.mark.parametrize("text", ["-3", "twenty", "1e3", "nan", "inf", "", "2" * 80, "20,5"])
def test_parse_money_rejects(text: str) -> None:
    with pytest.raises(SpecError, match=r"^budget: '.{0,64}' is not an amount; give one like 20 or 20.5$"):
        parse_money(text)
