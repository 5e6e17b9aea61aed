"""The demo's k-means and binary-classifier scripts, run as HyperTuner runs them (a subprocess with
a tracking directory): the artifacts they record are what the elbow and ROC/PR views read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench_plugin.demo import DEMO_SCRIPTS
from workbench_plugin.experiment_info import cell_examples, confusion_info, elbow_info, roc_info
from workbench_plugin.flags import flags_from_source
from workbench_plugin.tracking import ENV_DIR, ENV_EXPERIMENT, read_records

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "workbench_plugin" / "demo" / "digits"


def run(script: str, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    track = tmp_path / "track"
    track.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env[ENV_DIR], env[ENV_EXPERIMENT] = str(track), "e-demo"
    proc = subprocess.run([sys.executable, str(DEMO / script), *args], env=env, cwd=tmp_path, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc, track


def test_kmeans_records_a_curve_with_a_sensible_elbow(tmp_path: Path) -> None:
    _, track = run("kmeans.py", tmp_path, "--max_k", "10", "--seed", "1")
    raw = (track / "artifacts" / "curve_k.json").read_bytes()
    info = elbow_info(raw, artifact="curve_k.json")
    assert (info.x_name, info.metric, info.metrics) == ("k", "inertia", ["inertia", "silhouette"])
    assert info.x.tolist() == list(range(1, 11))
    assert (info.curve, info.direction) == ("convex", "decreasing")
    assert info.knee is not None and 3 <= info.knee <= 8, info
    silhouette = elbow_info(raw, "silhouette")
    assert silhouette.x[0] == 2  # no silhouette for one cluster
    records, _ = read_records(track / "metrics.jsonl")
    (summary,) = [r for r in records if r.kind == "summary"]
    assert set(summary.metrics) == {"inertia", "best_silhouette", "best_silhouette_k"}


def test_binary_records_scores_and_a_confusion_matrix_of_rows(tmp_path: Path) -> None:
    proc, track = run("binary.py", tmp_path, "--C", "0.5")
    info = roc_info((track / "artifacts" / "scores.json").read_bytes())
    assert info.labels == ["benign", "malignant"]
    assert info.auc > 0.95 and info.average_precision > 0.9
    assert 0.3 < info.positive_rate < 0.45  # 212 of 569 are malignant
    cm = confusion_info((track / "artifacts" / "confusion_matrix.json").read_bytes())
    assert cm.labels == ["malignant", "benign"] and cm.kind == "row"
    assert cm.counts.sum() == info.n == 171
    worst = cm.largest_off_diagonal()
    assert worst is not None
    cell = cell_examples(cm, cm.index_of(worst.true), cm.index_of(worst.pred))
    assert len(cell.examples) == worst.samples
    assert set(cell.examples[0].value) == {"mean radius", "mean texture", "mean concavity", "worst area"}
    assert "val_auc=" in proc.stdout


@pytest.mark.parametrize(("script", "flags"), [
    ("kmeans.py", {"max_k", "seed", "n_init"}),
    ("binary.py", {"C", "max_iter"}),
])
def test_the_new_scripts_flags_are_discovered(script: str, flags: set[str]) -> None:
    assert script in DEMO_SCRIPTS
    found = flags_from_source((DEMO / script).read_bytes(), script)
    assert found.known and set(found.names()) == flags


@pytest.mark.parametrize(("script", "args"), [("kmeans.py", ["--max_k", "1"]), ("binary.py", ["--C", "0"])])
def test_bad_flags_are_one_line(tmp_path: Path, script: str, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(DEMO / script), *args], env=env, cwd=tmp_path, text=True,
                          capture_output=True, timeout=120)
    assert proc.returncode == 2 and args[0] in proc.stderr.strip().splitlines()[-1]
