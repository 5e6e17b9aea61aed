"""Fitted-function proposals: the right family for a known shape, proposals around its optimum on
the hyperparameter's own scale, held locks, drawn lines and circles, and bad input."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from workbench_plugin.proposals import (
    Domain,
    DrawnLine,
    Observation,
    ProposalError,
    closest_family,
    fit_families,
    format_line,
    inside_lasso,
    line_weights,
    parse_line,
    propose_values,
)

LR = Domain("lr", "float", 1e-4, 1e-1, log=True, origin="your range 1e-4..1e-1 log")
OPT = 3e-3


def quadratic(x: float) -> float:
    return 0.95 - 0.02 * (math.log10(x) - math.log10(OPT)) ** 2


def observe(fn: Callable[[float], float], xs: Sequence[float], *, name: str = "lr", noise: float = 0.002,
            seed: int = 0, extra: dict[str, object] | None = None) -> list[Observation]:
    rng = np.random.default_rng(seed)
    return [Observation(f"e{i}", "r1", {name: x, **(extra or {})}, fn(x) + float(rng.normal(0, noise)))  # type: ignore[dict-item]
            for i, x in enumerate(xs)]


LR_VALUES = [float(v) for v in np.repeat(np.logspace(-4, -1, 7), 2)]


def test_quadratic_in_log_lr_ranks_first_and_proposals_bracket_its_optimum() -> None:
    report = fit_families(observe(quadratic, LR_VALUES), LR, metric="val_acc", goal="max")
    assert report.message == ""
    assert report.curves[0].family == "quadratic"
    best = report.best
    assert best is not None and best.best_x is not None
    assert abs(math.log10(best.best_x) - math.log10(OPT)) < 0.15
    assert len(best.x) == 200 and (best.low <= best.mean).all() and (best.mean <= best.high).all()
    assert "log10(lr)^2" in best.formula and best.formula.startswith("val_acc = ")
    values = propose_values(report, LR, 5)
    xs = [float(v) for v, _ in values]
    assert len(set(xs)) == 5 and all(1e-4 <= x <= 1e-1 for x in xs)
    assert min(xs) < OPT < max(xs)
    assert abs(math.log10(xs[0]) - math.log10(OPT)) < 0.15
    assert values[0][1].startswith("optimum of the quadratic fit in log10(lr): val_acc 0.95")
    assert any(r.startswith("brackets the optimum") for _, r in values)
    assert all("quadratic fit" in r for _, r in values)


def test_cv_ranks_the_worse_families_last_and_the_failed_ones_after() -> None:
    report = fit_families(observe(quadratic, LR_VALUES), LR, metric="val_acc", goal="max")
    errors = {c.family: c.cv_rmse for c in report.curves}
    # linear in lr and linear in log10(lr) cannot follow an arch: their error is many times the noise
    assert errors["linear"] > 3 * errors["quadratic"] and errors["log"] > 3 * errors["quadratic"]
    assert [c.family for c in report.curves][-2:] in (["linear", "log"], ["log", "linear"])


def test_log_shaped_metric_picks_the_log_family_and_an_int_domain_gets_ints() -> None:
    trees = Domain("n_trees", "int", 1, 1000)
    xs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    obs = observe(lambda x: 0.5 + 0.1 * math.log10(x), xs, name="n_trees", noise=0.005)
    report = fit_families(obs, trees, metric="score", goal="max")
    assert report.curves[0].family == "log"
    assert "log10(n_trees)" in report.curves[0].formula
    values = propose_values(report, trees, 4)
    assert values and all(type(v) is int and 1 <= v <= 1000 for v, _ in values)
    assert len({v for v, _ in values}) == len(values)
    assert values[0][0] == 1000  # still rising at the top of the range
    assert "still rises at the upper end of your range; consider widening it" in values[0][1]


def test_monotone_linear_metric_picks_linear_and_stays_inside_the_range() -> None:
    dropout = Domain("dropout", "float", 0.0, 0.5)
    obs = observe(lambda x: 0.2 + 0.3 * x, list(np.linspace(0, 0.5, 12)), name="dropout", noise=0.004, seed=3)
    report = fit_families(obs, dropout, metric="val_loss", goal="min")
    assert report.curves[0].family == "linear"
    log_curve = report.curve("log")
    assert log_curve is not None and not log_curve.ok and "dropout > 0" in log_curve.message
    values = propose_values(report, dropout, 3)
    assert values[0][0] == 0.0 and "still falls at the lower end" in values[0][1]
    assert all(0.0 <= float(v) <= 0.5 for v, _ in values)


def test_a_times_two_domain_stays_on_its_lattice() -> None:
    batch = Domain("batch_size", "int", 16, 256, log=True, ratio=2.0)
    xs = [16, 16, 32, 32, 64, 64, 128, 128, 256, 256]
    obs = observe(lambda x: 0.9 - 0.01 * (math.log2(x) - 6) ** 2, xs, name="batch_size", noise=0.001)
    report = fit_families(obs, batch, metric="val_acc", goal="max")
    values = propose_values(report, batch, 8)
    got = [v for v, _ in values]
    assert got[0] == 64
    assert set(got) <= {16, 32, 64, 128, 256} and len(set(got)) == len(got) == 5  # no padding
    assert all(type(v) is int for v in got)


def test_a_named_family_proposes_from_that_family() -> None:
    report = fit_families(observe(quadratic, LR_VALUES), LR, metric="val_acc", goal="max")
    values = propose_values(report, LR, 2, family="linear")
    assert "the linear fit in lr" in values[0][1]
    assert values[0][0] == pytest.approx(1e-4)  # the straight line's best end
    with pytest.raises(ProposalError, match="family: 'cubic' is not one of linear, log, quadratic, gp"):
        propose_values(report, LR, 2, family="cubic")


# ---- held locks and covariates --------------------------------------------------------------------
def _two_batch_sizes(n_at_32: int) -> list[Observation]:
    obs = observe(quadratic, LR_VALUES[:n_at_32], extra={"batch_size": 32}, seed=1)
    # at batch_size 128 the best lr is ten times higher and the metric lower
    shifted = observe(lambda x: quadratic(x / 10) - 0.05, LR_VALUES, extra={"batch_size": 128}, seed=2)
    return obs + [o._replace(experiment_id=f"b{o.experiment_id}") for o in shifted]


def test_a_locked_hyperparameter_filters_the_points_and_is_never_proposed() -> None:
    domains = {"lr": LR, "batch_size": Domain("batch_size", "fixed", choices=(32,), locked=True)}
    report = fit_families(_two_batch_sizes(14), LR, metric="val_acc", goal="max", domains=domains)
    assert report.held == {"batch_size": 32}
    assert report.covariates == ()
    assert len(report.ids) == 14 and all(not i.startswith("b") for i in report.ids)
    assert "with batch_size=32 (held)" in report.basis
    best = report.best
    assert best is not None and best.best_x is not None and abs(math.log10(best.best_x) - math.log10(OPT)) < 0.2
    assert all(isinstance(v, float) for v, _ in propose_values(report, LR, 4))


def test_too_few_points_at_the_locked_value_enter_it_as_a_covariate() -> None:
    domains = {"lr": LR, "batch_size": Domain("batch_size", "fixed", choices=(32,), locked=True)}
    report = fit_families(_two_batch_sizes(3), LR, metric="val_acc", goal="max", domains=domains)
    assert report.held == {}
    assert report.covariates == ("batch_size",)
    assert len(report.ids) == 17
    assert "not held: only 3 experiments" in report.basis and "covariates batch_size" in report.basis
    formulas = [c.formula for c in report.curves if c.ok]
    assert len(formulas) == 4 and all("batch_size" in f for f in formulas)
    # drawn at the best experiment's batch_size (32): the optimum stays near 3e-3, not 3e-2
    best = report.best
    assert best is not None and best.best_x is not None and abs(math.log10(best.best_x) - math.log10(OPT)) < 0.4


# ---- drawn lines and circles ----------------------------------------------------------------------
def test_a_parabola_shaped_line_picks_quadratic_and_a_straight_one_linear() -> None:
    t = np.linspace(-4, -1, 40)
    arch = DrawnLine(tuple(10**t), tuple(0.9 - 0.05 * (t + 2.5) ** 2))
    straight = DrawnLine((1e-4, 1e-1), (0.8, 0.9))
    wobbly = DrawnLine(tuple(np.linspace(0, 0.5, 30)), tuple(0.2 + 0.3 * np.linspace(0, 0.5, 30)
                                                              + 0.002 * np.sin(np.arange(30))))
    assert closest_family(arch, LR) == "quadratic"
    assert closest_family(straight, Domain("dropout", "float", 0.0, 0.5)) == "linear"
    assert closest_family(wobbly, Domain("dropout", "float", 0.0, 0.5)) == "linear"
    logline = DrawnLine(tuple(np.linspace(1, 1000, 50)), tuple(np.log10(np.linspace(1, 1000, 50))))
    assert closest_family(logline, Domain("n_trees", "int", 1, 1000)) == "log"


def test_a_drawn_line_weights_the_fit_and_chooses_its_family() -> None:
    obs = observe(quadratic, LR_VALUES)
    xs = np.array(LR_VALUES)
    line = DrawnLine((1e-4, 1e-1), (0.90, 0.95))  # a straight rise: the user believes in linear
    report = fit_families(obs, LR, metric="val_acc", goal="max", line=line)
    assert report.chosen == "linear"
    assert report.weights.min() >= 0.05 and report.weights.max() <= 1 and np.ptp(report.weights) > 0.5
    assert "weighted" in report.basis
    assert "the linear fit" in propose_values(report, LR, 3)[0][1]
    weights = line_weights(line, LR, xs, np.array([o.value for o in obs]))
    np.testing.assert_allclose(weights, report.weights)
    on_line = line_weights(line, LR, np.array([10**-2.5]), np.array([0.925]))
    far = line_weights(line, LR, np.array([10**-2.5]), np.array([0.0]))
    assert on_line[0] == pytest.approx(1.0) and far[0] == pytest.approx(0.05)


def test_circled_points_restrict_the_fit() -> None:
    obs = observe(quadratic, LR_VALUES)
    full = fit_families(obs, LR, metric="val_acc", goal="max")
    left_half = [o.experiment_id for o in obs if float(o.params["lr"]) <= 2e-3]
    circled = fit_families(obs, LR, metric="val_acc", goal="max", only=left_half)
    assert list(circled.weights) == [1.0 if i in left_half else 0.0 for i in circled.ids]
    assert circled.basis.startswith("6 of 14 finished experiments (circled)")
    a, b = full.curve("linear"), circled.curve("linear")
    assert a is not None and b is not None and a.ok and b.ok
    assert not np.allclose(a.mean, b.mean)
    assert b.formula != a.formula
    # the rising left half alone says "higher lr is better"
    assert b.mean[-1] > b.mean[0] and b.best_x == pytest.approx(1e-1)


def test_inside_lasso_even_odd() -> None:
    square = ([0, 1, 1, 0], [0, 0, 1, 1])
    pts = inside_lasso(*square, np.array([0.5, 1.5, -0.1, 0.99]), np.array([0.5, 0.5, 0.5, 0.01]))
    assert pts.tolist() == [True, False, False, True]
    u_shape = ([0, 3, 3, 2, 2, 1, 1, 0], [0, 0, 3, 3, 1, 1, 3, 3])  # the notch (1..2, 1..3) is outside
    assert inside_lasso(*u_shape, np.array([1.5, 0.5, 2.5, 1.5]), np.array([2, 2, 2, 0.5])).tolist() == [
        False, True, True, True]
    assert not inside_lasso([0, 1], [0, 1], np.array([0.5]), np.array([0.5])).any()


# ---- the line codec -------------------------------------------------------------------------------
def test_line_text_round_trips() -> None:
    line = DrawnLine((1e-4, 0.1 + 0.2, 3.0), (0.91, -1e-300, 2.5e10))
    text = format_line(line)
    assert parse_line(text) == line
    assert format_line(parse_line(text)) == text
    assert parse_line(" 1 , 2 ;3,4") == DrawnLine((1.0, 3.0), (2.0, 4.0))


@pytest.mark.parametrize(("text", "match"), [
    ("1,2", "has 1 point; a line needs at least 2"),
    ("1,2;3", "point 2 '3' is not 'x,y'"),
    ("1,2;nan,4", "point 2 'nan,4' is not 'x,y'"),
    ("1,2;1e999,4", "point 2 '1e999,4' is not finite"),
    ("1,2;0x10,4", "is not 'x,y'"),
    ("1,2;1_0,4", "is not 'x,y'"),
    (";".join(["1,2"] * 501), "501 points; a drawn line may have at most 500"),
    ("1," * 10_001, "20,002 characters; a drawn line is at most 20,000"),
    ("1,2;\n<b>x</b>,3", r"point 2 '\\n<b>x</b>,3' is not"),
])
def test_bad_line_text_is_one_line_naming_the_field(text: str, match: str) -> None:
    with pytest.raises(ProposalError, match=match) as err:
        parse_line(text, field="lr_line")
    assert str(err.value).startswith("lr_line: ") and "\n" not in str(err.value)


# ---- bad input: a message and no proposal ---------------------------------------------------------
def test_fewer_points_than_parameters() -> None:
    three = fit_families(observe(quadratic, [1e-4, 1e-3, 1e-2]), LR, metric="val_acc", goal="max")
    quad = three.curve("quadratic")
    assert quad is not None and not quad.ok
    assert quad.message == "quadratic: 3 points for 3 parameters; needs at least 4 finished experiments"
    assert [c.family for c in three.curves if c.ok] != []  # the line still fits
    two = fit_families(observe(quadratic, [1e-4, 1e-2]), LR, metric="val_acc", goal="max")
    assert two.message.startswith("lr: no family could be fitted to val_acc (")
    assert "needs at least 3 finished experiments" in two.message and "\n" not in two.message
    assert not any(c.ok for c in two.curves)
    assert propose_values(two, LR, 4) == []


def test_all_nan_metric() -> None:
    obs = observe(lambda x: math.nan, LR_VALUES)
    report = fit_families(obs, LR, metric="val_acc", goal="max")
    assert report.message == "val_acc: every finished experiment's value is NaN or infinite; nothing to fit"
    assert propose_values(report, LR, 4) == []
    empty = fit_families([], LR, metric="val_acc", goal="max")
    assert empty.message == "val_acc: no finished experiment has a value; nothing to fit"
    assert propose_values(empty, LR, 4) == []


def test_one_distinct_value() -> None:
    report = fit_families(observe(quadratic, [0.01] * 6), LR, metric="val_acc", goal="max")
    assert report.message == "lr: every finished experiment ran with lr=0.01; try at least 3 values before a fit"
    assert not any(c.ok for c in report.curves)
    assert propose_values(report, LR, 4) == []


def test_bad_arguments_are_one_line_errors() -> None:
    report = fit_families(observe(quadratic, LR_VALUES), LR, metric="val_acc", goal="max")
    with pytest.raises(ProposalError, match="n: 0 is not a count"):
        propose_values(report, LR, 0)
    with pytest.raises(ProposalError, match="goal: 'best' is not allowed"):
        fit_families([], LR, metric="val_acc", goal="best")
