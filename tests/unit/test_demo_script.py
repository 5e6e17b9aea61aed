"""The digits demo script, run as HyperTuner runs it: a subprocess with a tracking directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "workbench_plugin" / "demo" / "digits" / "train.py"
VALIDATION_SIZE = 360  # 20% of scikit-learn's 1,797 digits
METRICS = {"train_loss", "val_loss", "train_acc", "val_acc"}


def run_demo(tmp_path: Path, *args: str, track: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    if track is not None:
        env["HYPERTUNER_TRACKING_DIR"] = str(track)
        env["HYPERTUNER_EXPERIMENT_ID"] = "e-demo"
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, cwd=tmp_path, text=True, capture_output=True, timeout=300,
    )


def test_demo_records_epochs_summary_and_confusion_matrix(tmp_path: Path) -> None:
    track = tmp_path / "track"
    track.mkdir()
    proc = run_demo(tmp_path, "--num_epochs", "3", "--batch_size", "64", "--seed", "1", track=track)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no warnings: sklearn noise is silenced, the SDK is active

    raw = (track / "metrics.jsonl").read_text()
    assert raw.endswith("\n")
    records = [json.loads(line) for line in raw.splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    for r in epochs:
        assert set(r["metrics"]) == METRICS
        assert all(isinstance(v, float) for v in r["metrics"].values())
        assert 0.0 <= r["metrics"]["val_acc"] <= 1.0
    assert epochs[-1]["metrics"]["train_loss"] < epochs[0]["metrics"]["train_loss"]
    (summary,) = [r for r in records if r["kind"] == "summary"]
    assert set(summary["metrics"]) == METRICS | {"fit_seconds"}
    assert summary["metrics"]["val_acc"] == epochs[-1]["metrics"]["val_acc"]

    cm = json.loads((track / "artifacts" / "confusion_matrix.json").read_text())
    assert cm["labels"] == list(range(10))
    assert len(cm["matrix"]) == 10 and all(len(row) == 10 for row in cm["matrix"])
    assert sum(map(sum, cm["matrix"])) == VALIDATION_SIZE
    wrong = VALIDATION_SIZE - sum(cm["matrix"][i][i] for i in range(10))
    assert len(cm["misclassified"]) == wrong > 0
    for entry in cm["misclassified"]:
        assert entry["true"] != entry["pred"]
        image = entry["example"]
        assert len(image) == 8 and all(len(row) == 8 for row in image)
        assert all(isinstance(v, int) and 0 <= v <= 16 for row in image for v in row)

    lines = proc.stdout.splitlines()
    assert lines[0].startswith("epoch 1/3 train_loss=")


def test_demo_runs_outside_hypertuner_with_one_warning(tmp_path: Path) -> None:
    proc = run_demo(tmp_path, "--num_epochs", "2", track=None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("HYPERTUNER_TRACKING_DIR is not set") == 1
    assert "epoch 2/2" in proc.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--num_epochs", "0"], ["--batch_size", "x"]])
def test_demo_rejects_bad_flags(tmp_path: Path, args: list[str]) -> None:
    proc = run_demo(tmp_path, *args, track=None)
    assert proc.returncode == 2
    assert args[0] in proc.stderr.strip().splitlines()[-1]
