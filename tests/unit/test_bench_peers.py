"""bench/peers.py's pure parts: the sweep is deterministic and has the promised shape, and the
stores it is written into hold the same numbers (HyperTuner's and Optuna's always, optuna being a
product dependency; MLflow's where the ``bench`` extra is installed)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bench import peers
from bench._peers_sweep import (
    CURVES,
    FINALS,
    HPARAMS,
    figures_of,
    make_sweep,
    read_hypertuner,
    read_mlflow,
    read_optuna,
    write_hypertuner,
    write_mlflow,
    write_optuna,
)


def test_sweep_is_deterministic_and_shaped():
    a, b, other = make_sweep(40, epochs=6, seed=3), make_sweep(40, epochs=6, seed=3), make_sweep(40, epochs=6, seed=4)
    assert set(a.params) == set(HPARAMS) and set(a.finals) == set(FINALS) and set(a.curves) == set(CURVES)
    assert all(a.curves[c].shape == (40, 6) for c in CURVES)
    assert all(a.params[h].shape == (40,) and a.finals[m].shape == (40,) for h in HPARAMS for m in FINALS)
    assert figures_of(a) == figures_of(b)
    assert figures_of(a) != figures_of(other)
    assert np.isfinite(np.stack([a.finals[m] for m in FINALS])).all()


def test_sweep_rejects_an_empty_size():
    with pytest.raises(ValueError, match="n=0"):
        make_sweep(0)


def test_hypertuner_and_optuna_hold_the_same_numbers(tmp_path):
    sweep = make_sweep(120, epochs=5, seed=1)
    write_hypertuner(sweep, str(tmp_path / "ht"))
    write_optuna(sweep, str(tmp_path / "optuna.journal"))
    want = figures_of(sweep)
    assert read_hypertuner(str(tmp_path / "ht")) == want
    assert read_optuna(str(tmp_path / "optuna.journal")) == want


@pytest.mark.filterwarnings("ignore")  # MLflow's own deprecation noise about its file store
def test_mlflow_holds_the_same_numbers_or_the_bench_says_how_to_install_it(tmp_path, monkeypatch):
    if importlib.util.find_spec("mlflow") is None:  # the optional bench extra (CI does not install it)
        monkeypatch.setattr("sys.argv", ["bench/peers.py", "--runs", "10"])
        with pytest.raises(SystemExit) as exc:
            peers.main()
        message = str(exc.value)
        assert "mlflow" in message and "pip install -e '.[bench]'" in message and "\n" not in message
        return
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # restored after: the bench sets it too
    sweep = make_sweep(30, epochs=4, seed=2)
    write_mlflow(sweep, str(tmp_path / "mlruns"))
    assert read_mlflow(str(tmp_path / "mlruns")) == figures_of(sweep)


def test_a_missing_peer_fails_in_one_line_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setitem(peers.PEERS, "no_such_peer_module_ht", "no-such-peer")
    monkeypatch.setattr("sys.argv", ["bench/peers.py", "--runs", "10"])
    with pytest.raises(SystemExit) as exc:
        peers.main()
    message = str(exc.value)
    assert "no-such-peer not installed" in message and "pip install -e '.[bench]'" in message
    assert "\n" not in message
