"""A synthetic project in a real store: N experiments x E epochs, written through the Store API.

    python bench/synthetic.py STORE_DIR [--experiments 100000] [--epochs 100] [--seed 0]

One run (``experiments.json`` and ``run.json`` via :meth:`Store.write_run`), one terminal state
event per experiment (:meth:`Store.append_state`; the index supports nothing coarser), and
metric parts written in batches of ``--part-size`` experiments (one Parquet part per batch,
:meth:`Store.write_metrics_part`): ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` per
epoch (kind ``epoch``) plus one ``summary`` row per metric.

Hyperparameters: ``batch_size`` (categorical, 4 values), ``lr`` (log-spaced), ``num_epochs``
(integer) and ``dropout`` (float). The final losses have a basin in ``lr`` near 3e-3, grow with
dropout away from 0.2, improve with ``num_epochs``, and depend mildly on ``batch_size``, so the
scatter matrix shows structure.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench_plugin.store import Experiment, Run, Store  # noqa: E402

__all__ = ["SyntheticProject", "generate"]

BATCH_SIZES = (32, 64, 128, 256)
METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")


@dataclass(frozen=True)
class SyntheticProject:
    store: Store
    project: str
    run_id: str
    experiments: int
    epochs: int
    metric_rows: int
    seconds: dict[str, float]


def _params(n: int, epochs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "batch_size": rng.choice(np.array(BATCH_SIZES), n),
        "lr": np.round(10.0 ** rng.uniform(-4.5, -1.0, n), 7),
        "num_epochs": rng.choice(np.array([epochs // 4, epochs // 2, epochs]).clip(1), n),
        "dropout": np.round(rng.uniform(0.0, 0.6, n), 3),
    }


def _curves(p: dict[str, np.ndarray], epochs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-epoch metric values, shape (n, epochs) each."""
    n = len(p["lr"])
    bs = np.searchsorted(np.array(BATCH_SIZES), p["batch_size"])
    floor = (0.15 + 0.25 * (np.log10(p["lr"]) + 2.5) ** 2 + 0.8 * (p["dropout"] - 0.2) ** 2
             + 0.03 * np.abs(bs - 1.5) + rng.normal(0, 0.03, n)).clip(0.05)
    rate = 3.0 / p["num_epochs"] * (0.5 + 0.5 * bs / 3)
    t = np.arange(1, epochs + 1)[None, :]
    train = floor[:, None] * 0.9 + 2.0 * np.exp(-rate[:, None] * t)
    val = floor[:, None] + 2.0 * np.exp(-rate[:, None] * t * 0.9)
    noise = rng.normal(0, 0.01, (n, epochs))
    return {
        "train_loss": train + noise,
        "val_loss": val + noise * 1.5,
        "train_acc": (1.0 - train / 2.5 + noise).clip(0, 1),
        "val_acc": (1.0 - val / 2.5 - noise).clip(0, 1),
    }


def generate(root: str, *, experiments: int = 100_000, epochs: int = 100, project: str = "synthetic",
             part_size: int = 1000, seed: int = 0, states: bool = True,
             log: bool = False) -> SyntheticProject:
    """Write the project and return where it is; ``seconds`` says how long each step took."""
    rng = np.random.default_rng(seed)
    store = Store(root)
    store.create_project(project, str(Path(root, "src")))
    run_id = Store.new_run_id()
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    params = _params(experiments, epochs, rng)
    ids = [f"{run_id}-{i}" for i in range(experiments)]
    rows = []
    for i in range(experiments):
        values = {"batch_size": int(params["batch_size"][i]), "lr": float(params["lr"][i]),
                  "num_epochs": int(params["num_epochs"][i]), "dropout": float(params["dropout"][i])}
        argv = [f"--{k}={v}" for k, v in values.items()]
        rows.append(Experiment(experiment_id=ids[i], run_id=run_id, index=i, params=values, argv=argv))
    run = Run(
        run_id=run_id, project=project, created=time.time(), author=getpass.getuser(),
        script="train.py", interpreter="python", flag_style="--name=value",
        spec={"batch_size": "32,64,128,256", "lr": "1e-4.5..1e-1 log",
              "num_epochs": f"{epochs // 4},{epochs // 2},{epochs}", "dropout": "0..0.6"},
        scales={"lr": "log"}, snapshot_id="synthetic", data_id="", engine="local",
        n_experiments=experiments, note="synthetic (bench/synthetic.py)",
    )
    store.write_run(run, rows)
    seconds["experiments.json + run.json"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    metric_rows = 0
    start = time.time() - 3600.0
    for lo in range(0, experiments, part_size):
        hi = min(experiments, lo + part_size)
        sub = {k: v[lo:hi] for k, v in params.items()}
        curves = _curves(sub, epochs, rng)
        n = hi - lo
        # rows ordered (experiment, metric, epoch); epoch curves then one summary per metric
        exp_ids = np.array(ids[lo:hi], dtype=object)
        k = len(METRICS)
        per_exp = k * (epochs + 1)
        eid = np.repeat(exp_ids, per_exp)
        epoch_block = np.concatenate([np.arange(1, epochs + 1), [epochs]])
        epoch = np.tile(epoch_block, n * k)
        kind = np.tile(np.array(["epoch"] * epochs + ["summary"], dtype=object), n * k)
        name = np.tile(np.repeat(np.array(METRICS, dtype=object), epochs + 1), n)
        stacked = np.stack([np.concatenate([curves[m], curves[m][:, -1:]], axis=1) for m in METRICS],
                           axis=1)  # (n, k, epochs + 1)
        value = stacked.reshape(-1)
        times = start + lo + np.tile(np.concatenate([np.arange(epochs), [epochs]]) * 0.5, n * k)
        part = {
            "experiment_id": eid, "kind": kind, "epoch": epoch, "step": epoch,
            "time": times, "name": name, "value": value,
            "source": np.full(len(value), "synthetic", dtype=object),
        }
        store.write_metrics_part(project, run_id, ids[lo], 0, part)
        metric_rows += len(value)
        if log and (lo // part_size) % 10 == 0:
            print(f"  metrics: {hi}/{experiments} experiments", flush=True)
    seconds["metric parts"] = time.perf_counter() - t0

    if states:
        t0 = time.perf_counter()
        final = np.where(rng.random(experiments) < 0.03, "failed", "succeeded")
        folder = store.fs.local_path(f"{store.run_dir(project, run_id)}/states")
        if folder is None:
            for i, exp_id in enumerate(ids):
                store.append_state(project, run_id, exp_id, str(final[i]), engine_id=f"local:{i}")
        else:  # the same files append_state writes, without a temporary name each (a million take minutes)
            os.makedirs(folder, exist_ok=True)
            t = time.time()
            for i, exp_id in enumerate(ids):
                record = {"experiment_id": exp_id, "state": str(final[i]), "time": t + i * 1e-3,
                          "engine_id": f"local:{i}"}
                name = f"{exp_id}~{time.time_ns():020d}~{secrets.token_hex(3)}.json"
                with open(os.path.join(folder, name), "xb") as fh:
                    fh.write(json.dumps(record, separators=(",", ":")).encode())
        seconds["state events"] = time.perf_counter() - t0
    return SyntheticProject(store, project, run_id, experiments, epochs, metric_rows, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", help="store folder (created; must not hold the project yet)")
    ap.add_argument("--experiments", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--part-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    sp = generate(args.store, experiments=args.experiments, epochs=args.epochs,
                  part_size=args.part_size, seed=args.seed, log=True)
    total = time.perf_counter() - t0
    print(f"synthetic project {sp.project!r}, run {sp.run_id}: {sp.experiments} experiments x "
          f"{sp.epochs} epochs, {sp.metric_rows:,} metric rows in {total:.1f} s")
    for step, s in sp.seconds.items():
        print(f"  {step:<28} {s:7.1f} s")


if __name__ == "__main__":
    main()
