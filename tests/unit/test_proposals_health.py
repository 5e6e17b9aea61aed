"""Health flags from curves (overfitting, noisy, diverged) and the "avoid: ..." warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from workbench_plugin.proposals import Domain, Health, ProposalError, avoid_warnings, health_of

EPOCHS = 30
Curve = Sequence[float] | np.ndarray


def long_frame(curves: Mapping[str, Mapping[str, Curve]], *, steps: bool = False) -> pd.DataFrame:
    """experiment -> metric -> values per epoch (or per step of 100), in time order."""
    rows = []
    for eid, metrics in curves.items():
        n = max(len(v) for v in metrics.values())
        for i in range(n):
            for name, values in metrics.items():
                if i < len(values):
                    epoch, step = (np.nan, 100.0 * i) if steps else (float(i), np.nan)
                    rows.append((eid, epoch, step, name, float(values[i])))
    return pd.DataFrame(rows, columns=["experiment_id", "epoch", "step", "name", "value"])


def decay(rng: np.random.Generator, noise: float, *, epochs: int = EPOCHS, rate: float | None = None,
          start: float = 2.0, floor: float = 0.2) -> np.ndarray:
    """A loss decaying exponentially from ``start`` to ``floor``, with noise a share of the amplitude."""
    t = np.arange(epochs)
    r = rng.uniform(0.08, 1.2) if rate is None else rate
    return floor + (start - floor) * np.exp(-r * t) + rng.normal(0, noise * (start - floor), epochs)


def accuracy(rng: np.random.Generator, noise: float, epochs: int = EPOCHS) -> np.ndarray:
    t = np.arange(epochs)
    return 0.5 + 0.45 / (1 + np.exp(-(t - rng.uniform(2, 12)) * rng.uniform(0.3, 1.0))) \
        + rng.normal(0, noise * 0.45, epochs)


def healthy_run(seed: int, noise: float = 0.01) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(20):
        train = decay(rng, noise * 0.3, floor=0.1)
        out[f"e{i}"] = {"loss": train, "val_loss": decay(rng, noise), "acc": 1 - train / 3,
                        "val_acc": accuracy(rng, noise)}
    return out


def overfit_curves(rng: np.random.Generator, noise: float = 0.01, turn: int = 12) -> dict[str, np.ndarray]:
    t = np.arange(EPOCHS)
    train = decay(rng, noise * 0.3, rate=0.3, floor=0.3) - 0.01 * t  # keeps falling
    val = decay(rng, noise, rate=0.3) + np.where(t > turn, 0.05 * (t - turn), 0.0)
    return {"loss": train, "val_loss": val}


# ---- overfitting -------------------------------------------------------------------------------
def test_a_validation_loss_that_turns_up_while_the_training_loss_falls_is_overfitting() -> None:
    rng = np.random.default_rng(1)
    health = health_of(long_frame({f"e{i}": overfit_curves(rng, turn=8 + i) for i in range(10)}))
    assert all(h.flags == ("overfitting",) for h in health.values()), health
    reason = health["e0"].reasons[0]
    assert reason.startswith("val_loss rose for ") and reason.endswith("while loss fell")


def test_the_reason_names_the_epochs_the_validation_loss_rose() -> None:
    val = [1.0, 0.8, 0.6, 0.5, 0.45, 0.44, 0.46, 0.5, 0.55, 0.6]
    train = [1.0, 0.7, 0.5, 0.4, 0.35, 0.3, 0.27, 0.25, 0.23, 0.21]
    health = health_of(long_frame({"a": {"loss": train, "val_loss": val}}))
    assert health["a"] == Health("a", ("overfitting",),
                                 ("val_loss rose for 4 epochs (epochs 6-9) while loss fell",))


def test_patience_is_the_number_of_rises_in_a_row() -> None:
    val = [1.0, 0.8, 0.6, 0.5, 0.45, 0.44, 0.46, 0.5]  # rose twice so far (a running experiment)
    train = [1.0, 0.7, 0.5, 0.4, 0.35, 0.3, 0.27, 0.25]
    frame = long_frame({"a": {"loss": train, "val_loss": val}})
    assert health_of(frame)["a"].flags == ()
    assert health_of(frame, patience=2)["a"].reasons == ("val_loss rose for 2 epochs (epochs 6-7) while loss fell",)


def test_a_validation_loss_rising_with_the_training_loss_is_not_overfitting() -> None:
    up = [0.5, 0.4, 0.35, 0.3, 0.32, 0.35, 0.4, 0.46, 0.5, 0.55]
    health = health_of(long_frame({"a": {"loss": [v * 0.9 for v in up], "val_loss": up}}))
    assert "overfitting" not in health["a"].flags


def test_validation_accuracy_falling_while_training_accuracy_rises_is_overfitting() -> None:
    val = [0.5, 0.7, 0.8, 0.85, 0.86, 0.86, 0.86, 0.86, 0.86, 0.84, 0.82, 0.8, 0.78]
    train = [0.5, 0.72, 0.83, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98]
    health = health_of(long_frame({"a": {"train_accuracy": train, "val_acc": val}}))
    assert health["a"].reasons == ("val_acc fell for 4 epochs (epochs 9-12) while train_accuracy rose",)


def test_step_only_curves_are_read_in_step_order() -> None:
    val = [1.0, 0.8, 0.6, 0.5, 0.45, 0.44, 0.46, 0.5, 0.55, 0.6]
    train = [1.0, 0.7, 0.5, 0.4, 0.35, 0.3, 0.27, 0.25, 0.23, 0.21]
    frame = long_frame({"a": {"train_loss": train, "eval_loss": val}}, steps=True)
    shuffled = frame.sample(frac=1.0, random_state=0)  # out of order: sorted by step again
    for f in (frame, shuffled):
        assert health_of(f)["a"].reasons == (
            "eval_loss rose 4 times in a row (steps 600-900) while train_loss fell",)


def test_a_training_loss_per_step_is_compared_with_a_validation_loss_per_epoch_in_time_order() -> None:
    rows = []
    val = [1.0, 0.8, 0.6, 0.55, 0.6, 0.66, 0.7]
    for epoch, v in enumerate(val):
        for k in range(5):
            step = epoch * 5 + k
            rows.append(("a", np.nan, float(step), "loss", 1.0 / (1 + 0.2 * step)))
        rows.append(("a", float(epoch), np.nan, "val_loss", v))
    frame = pd.DataFrame(rows, columns=["experiment_id", "epoch", "step", "name", "value"])
    assert health_of(frame)["a"].reasons == ("val_loss rose for 3 epochs (epochs 4-6) while loss fell",)


# ---- healthy curves are not flagged --------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_clean_training_curves_get_no_flag(seed: int) -> None:
    health = health_of(long_frame(healthy_run(seed, noise=0.01)))
    assert len(health) == 20
    assert {eid: h.reasons for eid, h in health.items() if h.flags} == {}


def test_a_loss_that_drops_fast_then_stays_flat_is_not_noisy() -> None:
    rng = np.random.default_rng(3)
    frame = long_frame({f"e{i}": {"val_loss": decay(rng, 0.005, rate=rate)}
                        for i, rate in enumerate((0.8, 1.0, 1.5, 2.0))})
    assert [h.flags for h in health_of(frame).values()] == [()] * 4


# ---- noisy -------------------------------------------------------------------------------------
def test_a_validation_metric_swinging_from_epoch_to_epoch_is_noisy() -> None:
    rng = np.random.default_rng(4)
    curves = {f"e{i}": {"loss": decay(rng, 0.003, floor=0.1), "val_acc": accuracy(rng, 0.12)} for i in range(20)}
    health = health_of(long_frame(curves))
    assert all("noisy" in h.flags for h in health.values())
    reason = health["e0"].reasons[health["e0"].flags.index("noisy")]
    assert reason.startswith("val_acc changes swing ±") and "per epoch (" in reason
    assert reason.endswith("x its mean change)")


def test_noise_is_read_on_validation_metrics_or_the_only_metric() -> None:
    rng = np.random.default_rng(5)
    jumpy = decay(rng, 0.15)
    health = health_of(long_frame({"train only": {"loss": jumpy, "val_loss": decay(rng, 0.002)},
                                   "only metric": {"loss": jumpy}}))
    assert health["train only"].flags == ()
    assert health["only metric"].flags == ("noisy",)


def test_fewer_than_six_points_are_never_noisy() -> None:
    health = health_of(long_frame({"a": {"val_acc": [0.5, 0.9, 0.4, 0.95, 0.3]}}))
    assert health["a"].flags == ()


# ---- diverged ----------------------------------------------------------------------------------
def test_a_loss_that_becomes_nan_diverged() -> None:
    loss = [2.0, 1.5, 1.2, 1.0, 0.9, 0.85, 0.8, np.nan, np.nan]
    health = health_of(long_frame({"a": {"loss": loss, "val_acc": [0.5] * 9}}))
    assert health["a"] == Health("a", ("diverged",), ("loss became NaN at epoch 7",))


def test_a_loss_that_explodes_diverged() -> None:
    loss = [1.0, 0.9, 1.5, 4.0, 9.0, 12.0, 30.0]
    health = health_of(long_frame({"a": {"loss": loss}}))
    assert health["a"].flags == ("diverged",)
    assert health["a"].reasons == ("loss reached 12x its first value at epoch 5",)


def test_a_loss_from_a_subnormal_first_value_diverged_without_an_overflow() -> None:
    health = health_of(long_frame({"a": {"val_loss": [2.2e-311, 1.0]}}))
    assert health["a"].reasons == ("val_loss reached infx its first value at epoch 1",)


def test_an_infinite_validation_loss_per_step_diverged() -> None:
    val = [1.0, 0.8, 0.7, np.inf]
    health = health_of(long_frame({"a": {"val_loss": val}}, steps=True))
    assert health["a"].reasons == ("val_loss became inf at step 300",)


def test_without_a_loss_only_every_metric_non_finite_is_divergence() -> None:
    some = {"val_acc": [0.5, 0.6, np.nan], "f1": [0.4, 0.5, 0.55]}
    every = {"val_acc": [0.5, np.nan, np.nan], "f1": [0.4, 0.5, np.nan]}
    health = health_of(long_frame({"some": some, "every": every}))
    assert health["some"].flags == ()
    assert health["every"].reasons == ("every metric became NaN or inf (f1 at epoch 2)",)


def test_a_metric_name_from_a_script_stays_on_one_line_in_a_reason() -> None:
    name = "loss\n<b>x</b>" + "y" * 200
    health = health_of(long_frame({"a": {name: [1.0, 0.5, np.nan]}}))
    (reason,) = health["a"].reasons
    assert "\n" not in reason and len(reason) < 120


def test_bad_arguments_are_one_line_errors() -> None:
    frame = long_frame({"a": {"loss": [1.0, 0.5]}})
    with pytest.raises(ProposalError, match="patience: 0 is not a count"):
        health_of(frame, patience=0)
    with pytest.raises(ProposalError, match="no column 'value'"):
        health_of(frame.drop(columns="value"))
    assert health_of(frame.iloc[:0]) == {}


# ---- avoid warnings ----------------------------------------------------------------------------
LR = Domain("lr", "float", 1e-4, 1.0, log=True)


def health_by(flags: Mapping[str, tuple[str, ...]]) -> dict[str, Health]:
    return {eid: Health(eid, f, tuple(f"{x} because" for x in f)) for eid, f in flags.items()}


def test_avoid_names_the_threshold_beyond_which_experiments_diverged() -> None:
    lrs = {"a": 0.001, "b": 0.003, "c": 0.01, "d": 0.03, "e": 0.1, "f": 0.3, "g": 0.5, "h": 1.0}
    flags = {"e": ("diverged",), "f": ("diverged",), "h": ("diverged",)}
    health = health_by({eid: flags.get(eid, ()) for eid in lrs})
    params = {eid: {"lr": v, "batch": 32} for eid, v in lrs.items()}
    assert avoid_warnings(health, params, {"lr": LR}) == ["avoid: 3 of 4 experiments with lr >= 0.1 diverged"]


def test_avoid_needs_sixty_percent_and_two_experiments_beyond_the_threshold() -> None:
    lrs = dict(zip("abcdefgh", (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2), strict=True))
    params = {eid: {"lr": v} for eid, v in lrs.items()}

    def warnings(flagged: str) -> list[str]:
        health = health_by({eid: ("diverged",) if eid in flagged else () for eid in lrs})
        return avoid_warnings(health, params, {"lr": LR})

    assert warnings("h") == []  # one experiment is not a pattern
    assert warnings("dh") == []  # 2 of 5 (>= 0.01), 2 of 4, 1 of 2 (>= 0.1): never 60 %
    assert warnings("dfh") == ["avoid: 3 of 5 experiments with lr >= 0.01 diverged"]  # 60 % is enough
    assert warnings("gh") == ["avoid: 2 of 2 experiments with lr >= 0.1 diverged"]
    assert warnings("abdgh") == []  # diverged over the whole range: lr is not the reason


def test_avoid_reads_either_spelling_and_ints_stay_ints() -> None:
    layers = {"a": 1, "b": 2, "c": 4, "d": 8, "e": 16}
    flags = {"a": ("overfitting",), "b": ("overfitting",)}
    health = health_by({eid: flags.get(eid, ()) for eid in layers})
    params = {eid: {"--num-layers": v} for eid, v in layers.items()}
    domain = Domain("num_layers", "int", 1, 16)
    assert avoid_warnings(health, params, {"num_layers": domain}) == [
        "avoid: 2 of 2 experiments with num_layers <= 2 overfitted"]


def test_avoid_puts_divergence_first_and_says_at_most_three_things() -> None:
    rng = np.random.default_rng(0)
    names = [f"p{i}" for i in range(5)]
    params = {f"e{j}": {n: float(j) for n in names} for j in range(10)}
    flags = {f"e{j}": ("overfitting",) if j < 3 else ("diverged",) if j >= 7 else () for j in range(10)}
    domains = {n: Domain(n, "float", 0.0, 9.0) for n in rng.permutation(names)}
    lines = avoid_warnings(health_by(flags), params, domains)
    assert len(lines) == 3
    assert all(line.endswith(">= 7.0 diverged") for line in lines)
    fewer = avoid_warnings(health_by(flags), params, {"p0": domains["p0"]})
    assert fewer == ["avoid: 3 of 3 experiments with p0 >= 7.0 diverged",
                     "avoid: 3 of 3 experiments with p0 <= 2.0 overfitted"]


def test_avoid_skips_categories_and_experiments_without_the_value() -> None:
    health = health_by({"a": ("diverged",), "b": ("diverged",), "c": (), "d": ()})
    params = {"a": {"opt": "sgd"}, "b": {"opt": "sgd"}, "c": {"opt": "adam"}, "d": {"opt": "adam"}}
    assert avoid_warnings(health, params, {"opt": Domain("opt", "categorical", choices=("sgd", "adam"))}) == []
    assert avoid_warnings(health, params, {"lr": LR}) == []
