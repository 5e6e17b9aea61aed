"""Proposal domains, observations, the search modules and propose(): what a user sees in the rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench_plugin.flags import Flag, FlagSet
from workbench_plugin.frames import RunFrames
from workbench_plugin.proposals import (
    Domain,
    Observation,
    ProposalError,
    domain_for_new_flag,
    domains_from_spec,
    flag_default_values,
    from_unit,
    observations,
    param_value,
    propose,
    sample,
    snap,
    to_unit,
)
from workbench_plugin.proposals._search import search
from workbench_plugin.space import SearchSpec

SPEC = {"lr": "1e-4..1e-1 log 4", "batch_size": "16..256 *2", "opt": "adam,sgd", "epochs": "10"}
MODULES = ("random", "lhs", "sobol", "tpe", "gp")


def one_line(exc: pytest.ExceptionInfo[ProposalError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def inside(domain: Domain, value: object) -> bool:
    if domain.kind in ("fixed", "categorical"):
        return value in domain.choices
    assert domain.low is not None and domain.high is not None
    ok = isinstance(value, int | float) and domain.low <= value <= domain.high
    return ok and (domain.kind == "float" or isinstance(value, int))


def history_of(fn, domains, count: int, seed: int = 0) -> list[Observation]:
    """Finished experiments at random settings inside ``domains``, valued by ``fn(row)``."""
    rows = sample("random", domains, count, seed=seed + 1000)
    return [Observation(f"e{i}", "r1", row, float(fn(row))) for i, row in enumerate(rows)]


# ---- domains -------------------------------------------------------------------------------------
def test_domains_from_a_real_spec_keep_each_fields_scale_and_a_lock_is_exactly_its_values() -> None:
    spec = SearchSpec.parse(SPEC)
    free = domains_from_spec(spec)
    assert (free["lr"].kind, free["lr"].low, free["lr"].high, free["lr"].log) == ("float", 1e-4, 1e-1, True)
    assert (free["batch_size"].kind, free["batch_size"].ratio, free["batch_size"].log) == ("int", 2.0, True)
    assert (free["batch_size"].low, free["batch_size"].high) == (16, 256)
    assert free["opt"].kind == "categorical" and free["opt"].choices == ("adam", "sgd")
    assert free["epochs"].kind == "fixed" and free["epochs"].choices == (10,)
    assert "1e-4..1e-1 log 4" in free["lr"].origin
    assert not any(d.locked for d in free.values())

    locked = domains_from_spec(spec, locked=["lr", "batch-size"])  # either spelling of a flag
    assert locked["lr"].locked and locked["lr"].kind == "categorical"
    assert locked["lr"].choices == spec.params["lr"] and all(isinstance(v, float) for v in locked["lr"].choices)
    assert locked["batch_size"].choices == (16, 32, 64, 128, 256)
    assert not locked["opt"].locked


def test_a_linear_list_is_linear_and_a_wide_list_is_log() -> None:
    domains = domains_from_spec(SearchSpec.parse({"dropout": "0.1..0.5 +0.1", "wd": "1e-5,1e-3,1e-1"}))
    assert not domains["dropout"].log and domains["dropout"].ratio is None
    assert domains["wd"].log


def test_the_scripts_choices_and_default_restrict_a_numeric_domain() -> None:
    flags = FlagSet((Flag.make(option_strings=["--batch-size"], dest="batch_size", type="int", default=32,
                               default_known=True, choices=[8, 16, 48, 200, 512]),), source="ast")
    domains = domains_from_spec(SearchSpec.parse({"batch_size": "16..256 *2"}), flags=flags)
    bs = domains["batch_size"]
    assert bs.choices == (16, 48, 200) and bs.default == 32
    assert snap(bs, 90) == 48 and snap(bs, 100) == 200  # nearest on the log scale: sqrt(48 * 200) = 98
    assert {from_unit(bs, u) for u in np.linspace(0, 1, 50)} == {16, 48, 200}


# ---- snapping ------------------------------------------------------------------------------------
def test_snap_keeps_ints_ints_powers_of_two_on_the_lattice_and_floats_readable_inside_the_range() -> None:
    domains = domains_from_spec(SearchSpec.parse(SPEC))
    bs, lr = domains["batch_size"], domains["lr"]
    for x in np.linspace(0, 400, 81):
        value = snap(bs, float(x))
        assert isinstance(value, int) and value in (16, 32, 64, 128, 256)
    assert snap(bs, 45) == 32 and snap(bs, 46) == 64  # nearest in log: sqrt(32 * 64) = 45.25
    for x in (1e-7, 3.1622776601683794e-3, 0.123456, 5.0):
        value = snap(lr, x)
        assert isinstance(value, float) and 1e-4 <= value <= 1e-1
    assert snap(lr, 3.1622776601683794e-3) == 0.00316
    assert snap(lr, 0.0999999) == 0.1  # rounding never leaves the range
    ints = domains_from_spec(SearchSpec.parse({"layers": "1..9 +2"}))["layers"]
    assert snap(ints, 4.4) == 4 and snap(ints, 100) == 9 and isinstance(snap(ints, 2.0), int)
    assert snap(domains["epochs"], 99) == 10
    assert snap(domains["opt"], "sgd") == "sgd"
    with pytest.raises(ProposalError) as bad:
        snap(domains["opt"], "rmsprop")
    assert "opt" in one_line(bad) and "adam" in str(bad.value)
    with pytest.raises(ProposalError) as bad:
        snap(lr, "fast")
    assert one_line(bad).startswith("lr: value 'fast' is not a number")


def test_unit_coordinates_follow_the_domains_scale() -> None:
    domains = domains_from_spec(SearchSpec.parse(SPEC))
    lr = domains["lr"]
    assert to_unit(lr, 1e-4) == 0 and to_unit(lr, 1e-1) == 1
    assert to_unit(lr, 1e-2) == pytest.approx(2 / 3)  # log10: a third of the way per decade
    assert from_unit(lr, 2 / 3) == 0.01
    # every point of a lattice gets an equal slot
    counts = pd.Series([from_unit(domains["batch_size"], u) for u in (np.arange(1000) + 0.5) / 1000]).value_counts()
    assert sorted(counts.index) == [16, 32, 64, 128, 256] and set(counts) == {200}


# ---- a flag with no history -----------------------------------------------------------------------
def _flag(name: str, type_: str, default: object, **extra: object) -> Flag:
    return Flag.make(option_strings=[f"--{name}"], dest=name.replace("-", "_"), type=type_, default=default,
                     default_known=True, **extra)  # type: ignore[arg-type]


def test_a_new_int_flag_is_multiplicative_around_its_default() -> None:
    domain = domain_for_new_flag(_flag("hidden", "int", 32))
    assert (domain.kind, domain.low, domain.high, domain.ratio, domain.log) == ("int", 8, 128, 2.0, True)
    assert {from_unit(domain, u) for u in np.linspace(0, 1, 40)} == {8, 16, 32, 64, 128}
    assert "default 32" in domain.origin
    odd = domain_for_new_flag(_flag("trees", "int", 10))
    assert odd.low is not None and odd.high is not None and odd.low <= 10 <= odd.high and odd.kind == "int"


def test_a_new_learning_rate_is_log_spaced_and_a_probability_linear_in_0_1() -> None:
    lr = domain_for_new_flag(_flag("learning-rate", "float", 0.001))
    assert lr.log and lr.low == pytest.approx(1e-5) and lr.high == pytest.approx(0.1)
    assert "learning-rate-like" in lr.origin and "log-spaced" in lr.origin
    small = domain_for_new_flag(_flag("gamma", "float", 0.005))  # by value alone
    assert small.log
    drop = domain_for_new_flag(_flag("dropout", "float", 0.5))
    assert not drop.log and (drop.low, drop.high) == (0.05, 0.95) and "probability-like" in drop.origin
    temp = domain_for_new_flag(_flag("temperature", "float", 2.0))
    assert not temp.log and (temp.low, temp.high) == (1.0, 4.0)


def test_a_new_flag_without_a_range_asks_for_values() -> None:
    opt = domain_for_new_flag(_flag("optimizer", "str", "adam", choices=["adam", "sgd", "rmsprop"]))
    assert opt.kind == "categorical" and opt.choices == ("adam", "sgd", "rmsprop")
    cases = [
        Flag.make(option_strings=["--verbose"], dest="verbose", type="none", is_switch=True, action="store_true"),
        _flag("name", "str", "run"),
        Flag.make(option_strings=["--depth"], dest="depth", type="int"),
    ]
    for flag in cases:
        with pytest.raises(ProposalError) as bad:
            domain_for_new_flag(flag)
        assert "--add '" in one_line(bad) and flag.dest in str(bad.value)


# ---- observations ---------------------------------------------------------------------------------
def _run(run_id: str, rows: list[dict[str, object]], hparams: tuple[str, ...]) -> RunFrames:
    df = pd.DataFrame(rows)
    curves = pd.DataFrame(columns=["experiment_id", "epoch", "step", "name", "value"])
    return RunFrames(run_id, df, curves, hparams, ("val_acc",))


def test_observations_keep_ids_skip_unfinished_and_fill_the_scripts_defaults() -> None:
    old = _run("r1", [
        {"experiment_id": "a", "label": "#1", "state": "succeeded", "lr": 0.01, "val_acc": 0.9},
        {"experiment_id": "b", "label": "#2", "state": "failed", "lr": 0.1, "val_acc": 0.1},
        {"experiment_id": "c", "label": "#3", "state": "succeeded", "lr": 0.001, "val_acc": float("nan")},
    ], ("lr",))
    new = _run("r2", [
        {"experiment_id": "d", "label": "#1", "state": "succeeded", "lr": 0.01, "momentum": 0.5, "val_acc": 0.95},
    ], ("lr", "momentum"))
    flags = FlagSet((_flag("lr", "float", 0.1), _flag("momentum", "float", 0.9),
                     Flag.make(option_strings=["--verbose"], dest="verbose", type="none", is_switch=True,
                               default=False, default_known=True)), source="ast")
    defaults = flag_default_values(flags)
    assert defaults == {"lr": 0.1, "momentum": 0.9}
    found = observations([old, new], "val_acc", defaults=defaults)
    assert [(o.experiment_id, o.run_id, o.value) for o in found] == [("a", "r1", 0.9), ("d", "r2", 0.95)]
    assert found[0].params == {"lr": 0.01, "momentum": 0.9}  # ran before momentum was tuned: its default
    assert found[1].params == {"lr": 0.01, "momentum": 0.5}
    assert observations([old], "loss") == []


def test_param_value_reads_either_spelling() -> None:
    params = {"learning_rate": 0.1, "batch-size": 32}
    assert param_value(params, "learning-rate") == 0.1
    assert param_value(params, "batch_size") == 32
    assert param_value(params, "epochs") is None


# ---- search modules --------------------------------------------------------------------------------
def _peak(row: dict[str, object]) -> float:
    return -(math.log10(float(row["lr"])) + 2.5) ** 2 - 0.1 * (row["opt"] == "sgd")  # type: ignore[arg-type]


@pytest.mark.parametrize("module", MODULES)
def test_each_module_gives_n_distinct_new_rows_inside_the_domains_the_same_for_a_seed(module: str) -> None:
    domains = domains_from_spec(SearchSpec.parse(SPEC), locked=["opt"])
    history = history_of(_peak, domains, 12)
    rows = sample(module, domains, 10, seed=3, history=history, goal="max")
    assert len(rows) == 10
    keys = {tuple(sorted(r.items())) for r in rows}
    assert len(keys) == 10
    assert not keys & {tuple(sorted(o.params.items())) for o in history}
    for row in rows:
        assert set(row) == set(domains)
        assert all(inside(domains[name], value) for name, value in row.items()), row
        assert row["epochs"] == 10 and row["opt"] in ("adam", "sgd")
    assert sample(module, domains, 10, seed=3, history=history, goal="max") == rows


@pytest.mark.parametrize("module", MODULES)
def test_a_lock_to_one_value_is_never_changed(module: str) -> None:
    spec = SearchSpec.parse({**SPEC, "opt": "adam,sgd"}).with_fixed(opt="sgd")
    domains = domains_from_spec(spec, locked=["opt", "epochs"])
    history = history_of(_peak, domains, 6)
    assert {r["opt"] for r in sample(module, domains, 8, seed=1, history=history)} == {"sgd"}


def test_a_small_lattice_gives_what_is_left_and_says_so() -> None:
    domains = domains_from_spec(SearchSpec.parse({"batch_size": "16..64 *2", "opt": "adam,sgd"}))
    ran = [Observation("a", "r", {"batch_size": 16, "opt": "adam"}, 1.0),
           Observation("b", "r", {"batch_size": 64.0, "opt": "sgd"}, 2.0)]  # a frame may hold 64 as 64.0
    for module in MODULES:
        found = search(module, domains, 10, seed=0, history=ran)
        assert len(found.rows) == 4, module
        assert {(r["batch_size"], r["opt"]) for r in found.rows} == {(32, "adam"), (64, "adam"), (16, "sgd"),
                                                                    (32, "sgd")}
        assert "only 4 distinct new settings" in found.short


def test_tpe_seeded_with_the_history_proposes_nearer_the_optimum_than_random() -> None:
    domains = {"lr": Domain("lr", "float", 1e-6, 1.0, log=True)}

    def f(row: dict[str, object]) -> float:
        return -abs(math.log10(float(row["lr"])) + 2.5)  # type: ignore[arg-type]

    def distance(module: str, seed: int) -> float:
        history = history_of(f, domains, 25, seed=seed)
        rows = sample(module, domains, 8, seed=seed, history=history, goal="max")
        return float(np.mean([abs(math.log10(float(r["lr"])) + 2.5) for r in rows]))

    tpe = np.mean([distance("tpe", s) for s in range(5)])
    rand = np.mean([distance("random", s) for s in range(5)])
    assert tpe < 0.6 * rand, (tpe, rand)


def test_tpe_minimises_when_the_goal_is_min() -> None:
    domains = {"lr": Domain("lr", "float", 1e-6, 1.0, log=True)}
    history = history_of(lambda r: abs(math.log10(float(r["lr"])) + 5), domains, 25)
    rows = sample("tpe", domains, 8, seed=0, history=history, goal="min")
    assert np.mean([math.log10(float(r["lr"])) for r in rows]) < -3.5


def test_gp_needs_three_finished_experiments_inside_the_ranges() -> None:
    domains = domains_from_spec(SearchSpec.parse(SPEC))
    outside = Observation("z", "r", {"lr": 0.5, "batch_size": 16, "opt": "adam", "epochs": 10}, 0.1)
    history = history_of(_peak, domains, 2) + [outside]
    few = search("gp", domains, 4, history=history)
    assert few.source == "sobol" and "2 finished experiments" in few.fallback and few.left_out == 1
    assert few.rows == sample("sobol", domains, 4, history=history)
    enough = search("gp", domains, 4, history=history_of(_peak, domains, 8))
    assert enough.source == "gp" and enough.used == 8 and enough.fallback == ""
    assert all(s is not None and s[1] >= 0 and s[2] >= 0 for s in enough.stats)


def test_gp_first_pick_is_near_a_clear_optimum() -> None:
    domains = {"x": Domain("x", "float", 0.0, 10.0)}
    history = [Observation(f"e{i}", "r", {"x": float(x)}, -(x - 6.3) ** 2) for i, x in enumerate(range(0, 11, 2))]
    found = search("gp", domains, 1, history=history)
    assert abs(float(found.rows[0]["x"]) - 6.3) < 1.0


def test_search_refuses_an_unknown_module_or_goal_in_one_line() -> None:
    domains = domains_from_spec(SearchSpec.parse(SPEC))
    with pytest.raises(ProposalError) as bad:
        sample("grid", domains, 3)
    assert "random, lhs, sobol, tpe, gp" in one_line(bad)
    with pytest.raises(ProposalError) as bad:
        sample("random", domains, 3, goal="up")
    assert "max or min" in one_line(bad)


# ---- propose -------------------------------------------------------------------------------------
def _project() -> tuple[dict[str, Domain], list[Observation]]:
    domains = domains_from_spec(SearchSpec.parse(SPEC), locked=["epochs"])
    return domains, history_of(_peak, domains, 14)


@pytest.mark.parametrize("n", [0, -1, 1001, True, 2.5, "3"])
def test_propose_refuses_a_count_that_is_not_1_to_1000_in_one_line(n: object) -> None:
    domains, history = _project()
    with pytest.raises(ProposalError) as bad:
        propose("random", domains, history, n=n, metric="val_acc", goal="max")  # type: ignore[arg-type]
    assert one_line(bad).startswith("n: ") and "from 1 to 1,000" in str(bad.value)


def test_propose_refuses_an_unknown_source_or_goal_and_a_batch_with_nothing_to_vary() -> None:
    domains, history = _project()
    with pytest.raises(ProposalError) as bad:
        propose("grid", domains, history, n=4, metric="val_acc", goal="max")
    assert "'grid'" in one_line(bad) and "fit, random, lhs, sobol, tpe, gp" in str(bad.value)
    with pytest.raises(ProposalError) as bad:
        propose("random", domains, history, n=4, metric="val_acc", goal="best")
    assert "max or min" in one_line(bad)
    frozen = domains_from_spec(SearchSpec.parse(SPEC), locked=["lr", "batch_size", "opt"])
    for source in ("fit", "random", "tpe"):
        with pytest.raises(ProposalError) as bad:
            propose(source, frozen, history, n=4, metric="val_acc", goal="max")
        assert "every hyperparameter is locked or has one value" in one_line(bad)
        assert "--add 'num_layers=1..4 +1'" in str(bad.value)


def test_each_module_says_why_in_every_row_and_names_itself_in_the_basis() -> None:
    domains, history = _project()
    expected = {"random": "uniform over your ranges (seed 3)", "lhs": "Latin hypercube",
                "sobol": "Sobol", "tpe": "Optuna TPE (seeded with 14 finished experiments)",
                "gp": "(scikit-learn GP on 14 finished experiments)"}
    for module, why in expected.items():
        proposal = propose(module, domains, history, n=5, metric="val_acc", goal="max", seed=3)
        assert proposal.source == module and len(proposal.rows) == len(proposal.reasons) == 5
        assert all(why in reason for reason in proposal.reasons), (module, proposal.reasons)
        assert all(row["epochs"] == 10 for row in proposal.rows)
        assert proposal.basis and "\n" not in proposal.basis
    gp = propose("gp", domains, history, n=3, metric="val_acc", goal="max")
    assert "GaussianProcessRegressor" in gp.basis and "expected improvement" in gp.basis
    assert all(reason.startswith("expected val_acc ") and " ± " in reason and ", EI " in reason
               for reason in gp.reasons)


def test_gp_with_too_little_history_says_it_used_sobol() -> None:
    domains, history = _project()
    proposal = propose("gp", domains, history[:2], n=3, metric="val_acc", goal="max")
    assert proposal.source == "gp" and len(proposal.rows) == 3
    assert "Sobol" in proposal.basis and "fewer than the 3 a Gaussian process needs" in proposal.basis
    assert all("gp: 2 finished experiments" in reason for reason in proposal.reasons)


def test_a_proposal_from_a_small_lattice_says_fewer_rows_exist() -> None:
    domains = domains_from_spec(SearchSpec.parse({"batch_size": "16..64 *2", "opt": "adam,sgd"}))
    ran = [Observation("a", "r", {"batch_size": 16, "opt": "adam"}, 1.0)]
    proposal = propose("lhs", domains, ran, n=12, metric="val_acc", goal="max")
    assert len(proposal.rows) == 5 and "only 5 distinct new settings" in proposal.basis
