"""Duration and cost estimates: synthetic histories where the answer is known."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from engines.base import EngineBase, Resources
from engines.resource_manager import ClusterResources, QueueResources
from workbench_plugin._exceptions import EngineError
from workbench_plugin.config import load_config
from workbench_plugin.estimates import (
    DurationEstimate,
    HistoryRow,
    ResourceOption,
    batch_totals,
    cost,
    estimate_durations,
    history_from_index,
    list_schedule,
    resource_options,
)
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import USAGE_EVENT
from workbench_plugin.store import Experiment, Run, Store


def rows(items: list[tuple[dict[str, Any], float]], usage: tuple[float, float] | None = None) -> list[HistoryRow]:
    """History rows from (params, seconds); ``usage`` = (vcores, MB) held, per second."""
    return [HistoryRow(f"r-{i}", "r", "train.py", params, "succeeded", seconds,
                       None if usage is None else usage[0] * seconds, None if usage is None else usage[1] * seconds)
            for i, (params, seconds) in enumerate(items)]


def relative_error(estimate: DurationEstimate, truth: float) -> float:
    return abs(estimate.seconds - truth) / truth


# ---- durations -----------------------------------------------------------------------------
def test_durations_linear_in_epochs_are_predicted_within_ten_percent() -> None:
    """The issue's acceptance test: durations linear in epochs (with a start-up cost)."""
    truth = {e: 12.0 + 4.5 * e for e in range(1, 61)}
    history = rows([({"epochs": e, "lr": 0.01}, truth[e]) for e in (1, 2, 5, 10, 20, 30)])
    proposed = [{"epochs": e, "lr": 0.01} for e in (3, 7, 15, 25, 40, 60)]
    got = estimate_durations(history, proposed, default_seconds=60)
    for estimate, p in zip(got, proposed, strict=True):
        assert relative_error(estimate, truth[p["epochs"]]) < 0.10
        assert estimate.low <= truth[p["epochs"]] <= estimate.high
        assert estimate.basis == "history" and estimate.n == 6
    assert got[0].basis_text == "fitted on 6 earlier experiments (seconds ~ epochs)"


def test_two_numeric_params_with_noise() -> None:
    rng = random.Random(7)

    def truth(e: float, n: float) -> float:
        return 5 + 0.002 * e * n

    history = rows([({"epochs": e, "rows": n}, truth(e, n) * rng.uniform(0.93, 1.07))
                    for e, n in ((rng.choice([1, 2, 5, 10, 20]), rng.choice([1000, 4000, 16000])) for _ in range(40))])
    proposed = [{"epochs": 8, "rows": 4000}, {"epochs": 15, "rows": 16000}, {"epochs": 3, "rows": 1000}]
    got = estimate_durations(history, proposed, default_seconds=60)
    for estimate, p in zip(got, proposed, strict=True):
        assert relative_error(estimate, truth(p["epochs"], p["rows"])) < 0.10
        assert estimate.low < estimate.seconds < estimate.high
    assert "epochs" in got[0].basis_text and "rows" in got[0].basis_text
    # the noise shows in the range: wider than the 5 % floor alone would make it
    assert got[0].high / got[0].seconds > 1.06


def test_extrapolation_stays_sane_and_the_range_widens() -> None:
    history = rows([({"epochs": e}, 10.0 + 3 * e) for e in (2, 4, 6, 8, 10)])
    inside, far, below = estimate_durations(history, [{"epochs": 5}, {"epochs": 50}, {"epochs": 0}],
                                            default_seconds=60)
    assert relative_error(far, 160.0) < 0.10
    assert (far.high - far.low) / far.seconds > (inside.high - inside.low) / inside.seconds
    assert below.seconds > 0 and below.low > 0  # going down never gives a negative duration


def test_categorical_values_scale_and_weight_the_fit() -> None:
    rng = random.Random(3)
    items = []
    for _ in range(30):
        e, opt = rng.choice([1, 2, 4, 8, 16]), rng.choice(["adam", "sgd"])
        items.append(({"epochs": e, "optimizer": opt}, (4 + 3 * e) * (1.5 if opt == "adam" else 1.0)))
    got = estimate_durations(rows(items), [{"epochs": 10, "optimizer": "adam"}, {"epochs": 10, "optimizer": "sgd"}],
                             default_seconds=60)
    assert relative_error(got[0], 51.0) < 0.10 and relative_error(got[1], 34.0) < 0.10
    assert "same optimizer counts more" in got[0].basis_text


def test_categorical_only_history_is_a_weighted_median() -> None:
    history = rows([({"optimizer": "adam"}, 100.0)] * 3 + [({"optimizer": "sgd"}, 50.0)] * 4)
    adam, sgd = estimate_durations(history, [{"optimizer": "adam"}, {"optimizer": "sgd"}], default_seconds=60)
    assert adam.basis == sgd.basis == "run median"
    assert adam.seconds == pytest.approx(100.0) and sgd.seconds == pytest.approx(50.0)
    assert adam.basis_text == "median of 7 experiments of this project; same optimizer counts more"


def test_one_row_is_its_median_with_a_wide_range() -> None:
    (got,) = estimate_durations(rows([({"epochs": 10}, 80.0)]), [{"epochs": 10}], default_seconds=60)
    assert got.basis == "run median" and got.seconds == 80.0 and got.n == 1
    assert got.basis_text == "median of 1 experiment of this project"
    assert got.low < 60 and got.high > 110


def test_no_history_uses_the_configured_default() -> None:
    got = estimate_durations([], [{"epochs": 1}, {"epochs": 2}], default_seconds=90)
    assert [g.basis for g in got] == ["default", "default"]
    assert got[0].seconds == 90 and got[0].low < 90 < got[0].high and got[0].n == 0
    assert got[0].basis_text == "no history; the configured default of 90 s (estimates.default_seconds)"
    # rows without a duration are no history either
    unknown = [HistoryRow("r-0", "r", "train.py", {"epochs": 1}, "succeeded", None, None, None)]
    assert estimate_durations(unknown, [{"epochs": 1}], default_seconds=90)[0].basis == "default"


def test_noise_without_a_trend_falls_back_to_the_median() -> None:
    rng = random.Random(11)
    history = rows([({"seed": s}, 100 * rng.uniform(0.8, 1.2)) for s in range(12)])
    (got,) = estimate_durations(history, [{"seed": 40}], default_seconds=60)
    assert got.basis == "run median" and relative_error(got, 100.0) < 0.15


def test_hostile_names_are_bounded_in_the_basis_text() -> None:
    name = "<script>" + "x" * 200
    history = rows([({name: e}, 10.0 * e) for e in (1, 2, 3, 4, 5)])
    (got,) = estimate_durations(history, [{name: 6}], default_seconds=60)
    assert got.basis == "history" and len(got.basis_text) < 120 and "xxxxx" * 10 not in got.basis_text


def test_usage_comes_from_history_per_second() -> None:
    history = rows([({"epochs": e}, 20.0 * e) for e in (1, 2, 3, 4)], usage=(2.0, 3072.0))
    (got,) = estimate_durations(history, [{"epochs": 5}], default_seconds=60)
    assert got.vcore_seconds == pytest.approx(2 * got.seconds) and got.mb_seconds == pytest.approx(3072 * got.seconds)


# ---- cost and totals -----------------------------------------------------------------------
def estimate(seconds: float, vcore_seconds: float | None = None, mb_seconds: float | None = None) -> DurationEstimate:
    return DurationEstimate(seconds, seconds, seconds, "history", "", 1, vcore_seconds, mb_seconds)


def test_cost_from_usage_or_from_the_options_per_experiment_resources() -> None:
    onprem = ResourceOption("onprem", "yarn", slots=4, vcores_per_experiment=2, memory_mb_per_experiment=2048,
                            price_per_vcore_hour=0.02, price_per_gb_hour=0.005, queue="default")
    # no usage known: 2 vcores and 2 GB for 1 h
    assert cost(estimate(3600), onprem) == pytest.approx(2 * 0.02 + 2 * 0.005)
    # usage known: 1 vcore-hour and 4 GB-hours
    assert cost(estimate(3600, 3600.0, 4 * 1024 * 3600.0), onprem) == pytest.approx(0.02 + 4 * 0.005)
    cloud = ResourceOption("cloud", "priced", slots=16, price_per_hour=0.40)
    assert cost(estimate(1800), cloud) == pytest.approx(0.20)
    assert cost(estimate(1800), ResourceOption("local")) == 0


def test_batch_totals_schedule_onto_slots() -> None:
    estimates = [estimate(s) for s in (60, 60, 60, 60, 120, 30)]
    option = ResourceOption("cloud", "priced", slots=2, price_per_hour=3.6, currency="EUR")
    totals = batch_totals(estimates, option, [True, True, True, True, True, False])
    assert totals.count == 5 and totals.compute_seconds == 360 and totals.currency == "EUR"
    assert totals.wall_seconds == 180  # LPT: 120+60 | 60+60+60
    assert totals.money == pytest.approx(360 / 3600 * 3.6)
    assert batch_totals(estimates, option, [False] * 6).wall_seconds == 0
    assert list_schedule([10, 10, 10], 8) == 10 and list_schedule([7, 5, 4, 3, 3, 2], 3) == 9  # LPT, not the best (8)
    with pytest.raises(ValueError, match="include: 1 flags for 6 estimates"):
        batch_totals(estimates, option, [True])


# ---- resource options ----------------------------------------------------------------------
class FakeYarnEngine(EngineBase):
    name = "spark"

    def __init__(self, cluster: ClusterResources | None = None, error: Exception | None = None) -> None:
        self.cluster, self.error = cluster, error

    def resources(self) -> Resources:
        if self.error is not None:
            raise self.error
        return Resources(engine="spark", where="http://rm:8088", slots=8, cluster=self.cluster)


def yarn_config(tmp_path: Path) -> Any:
    file = tmp_path / "c.toml"
    file.write_text('[engine]\nslots = 3\n[resources.onprem]\nkind = "yarn"\nqueue = "ml"\nslots = 5\n'
                    'vcores_per_experiment = 2\nmemory_mb_per_experiment = 2048\nprice_per_vcore_hour = 0.02\n'
                    '[resources.cloud]\nkind = "priced"\nslots = 16\nprice_per_hour = 0.40\n')
    return load_config({"HYPERTUNER_CONFIG": str(file)})


def test_yarn_slots_come_from_the_queues_free_capacity(tmp_path: Path) -> None:
    config = yarn_config(tmp_path)
    queue = QueueResources("root.ml", 50.0, 25.0, 50.0, 1, 0)  # half the cluster at most, a quarter used
    cluster = ClusterResources(total_mb=65536, total_vcores=32, available_mb=40960, available_vcores=20,
                               active_nodes=4, apps_running=1, apps_pending=0, queues=(queue,))
    local, onprem, cloud = resource_options(config, FakeYarnEngine(cluster))
    assert local.slots == 3 and local.free
    assert onprem.slots == 4 and onprem.note == ""  # 25 % free: 8 vcores / 2, 16384 MB / 2048 -> 4
    assert cloud.slots == 16


def test_yarn_slots_fall_back_to_the_configured_ones(tmp_path: Path) -> None:
    config = yarn_config(tmp_path)
    engine = FakeYarnEngine(error=EngineError("YARN ResourceManager at http://rm:8088 is unreachable (timed out)"))
    onprem = resource_options(config, engine)[1]
    assert onprem.slots == 5 and "unreachable" in onprem.note and "configured 5 slots" in onprem.note
    assert "no engine" in resource_options(config, None)[1].note
    assert "not on YARN" in resource_options(config, FakeYarnEngine(None))[1].note
    full = ClusterResources(total_mb=4096, total_vcores=4, available_mb=0, available_vcores=0, active_nodes=1,
                            apps_running=4, apps_pending=2, queues=(QueueResources("root.ml", 100, 100, 100, 4, 2),))
    busy = resource_options(config, FakeYarnEngine(full))[1]
    assert busy.slots == 1 and "no free capacity" in busy.note


# ---- history from a real store -------------------------------------------------------------
def test_history_from_index_reads_succeeded_experiments_of_the_script(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    store.create_project("p", "/somewhere")

    def write(script: str, n: int) -> Run:
        run_id = store.new_run_id()
        run = Run(run_id=run_id, project="p", created=1.0, author="me", script=script, interpreter="",
                  flag_style="space", spec={"epochs": "1,2,3"}, scales={}, snapshot_id="s1", data_id="d1",
                  engine="spark", n_experiments=n)
        store.write_run(run, [Experiment(f"{run_id}-{i}", run_id, i, {"epochs": i + 1}, []) for i in range(n)])
        return run

    run, other = write("train.py", 3), write("other.py", 1)
    ids = [f"{run.run_id}-{i}" for i in range(3)]
    store.append_state("p", run.run_id, ids[0], "running")
    store.append_state("p", run.run_id, ids[0], "succeeded", duration=12.5, cpu_seconds=11.0)
    store.append_state("p", run.run_id, ids[0], USAGE_EVENT, vcore_seconds=30, memory_mb_seconds=40960,
                       yarn_elapsed_s=15.0)
    store.append_state("p", run.run_id, ids[1], "succeeded", duration=25.0)
    store.append_state("p", run.run_id, ids[2], "failed", duration=3.0)
    store.append_state("p", other.run_id, f"{other.run_id}-0", "succeeded", duration=99.0)
    index = ProjectIndex(store, "p")
    index.refresh()
    history = history_from_index(index, "train.py")
    assert [(h.experiment_id, h.params, h.seconds, h.vcore_seconds, h.mb_seconds) for h in history] == [
        (ids[0], {"epochs": 1}, 12.5, 30.0, 40960.0), (ids[1], {"epochs": 2}, 25.0, None, None)]
    assert all(h.state == "succeeded" and h.script == "train.py" and h.run_id == run.run_id for h in history)
    assert history_from_index(index, "missing.py") == []
