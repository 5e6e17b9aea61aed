"""Health flags at scale: :func:`workbench_plugin.proposals.health_of` over N experiments x E
epochs, against a plain pandas groupby over the same frame (the cheapest pass any per-experiment
computation makes).

    python bench/health.py [--experiments 10000 100000] [--epochs 30] [--repeat 3]
    python bench/health.py --calibrate      # the flag rates of the table in _health's docstring

The frame is built in memory as :attr:`workbench_plugin.frames.RunFrames.curves` is (categorical
``experiment_id`` and ``name``, sorted by experiment and time): ``train_loss``, ``val_loss``,
``train_acc`` and ``val_acc`` per epoch; 10 % of the experiments overfit (validation loss turns
up half-way), 10 % are noisy, 5 % diverge (the loss becomes NaN). Prints the best of
``--repeat`` times for each size, the baseline's, their ratio and the flag counts; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench_plugin.proposals import health_of  # noqa: E402

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")


def curves_frame(n: int, epochs: int, seed: int = 0) -> pd.DataFrame:
    """``n`` experiments x ``epochs`` x :data:`METRICS`, long, in time order."""
    rng = np.random.default_rng(seed)
    t = np.arange(epochs, dtype=np.float64)[None, :]
    rate = rng.uniform(0.1, 0.6, (n, 1))
    amp = rng.uniform(0.5, 2.0, (n, 1))
    kind = rng.random((n, 1))
    over = kind < 0.10
    noisy = (kind >= 0.10) & (kind < 0.20)
    diverge = (kind >= 0.20) & (kind < 0.25)
    noise = np.where(noisy, 0.15, 0.005) * amp
    train_loss = 0.1 + amp * np.exp(-rate * t) - 0.005 * t + rng.normal(0, 1, (n, epochs)) * noise * 0.3
    val_loss = 0.2 + amp * np.exp(-rate * t) + np.where(over & (t > epochs / 2), 0.03 * (t - epochs / 2), 0.0) \
        + rng.normal(0, 1, (n, epochs)) * noise
    val_loss = np.where(diverge & (t > epochs * 0.6), np.nan, val_loss)
    train_loss = np.where(diverge & (t > epochs * 0.6), np.nan, train_loss)
    train_acc = 1 - train_loss / 3
    val_acc = 1 - val_loss / 3
    values = np.stack([train_loss, val_loss, train_acc, val_acc], axis=2)  # n x epochs x metrics
    ids = [f"e{i:06d}" for i in range(n)]
    m = len(METRICS)
    return pd.DataFrame({
        "experiment_id": pd.Categorical.from_codes(np.repeat(np.arange(n), epochs * m), categories=ids),
        "epoch": np.tile(np.repeat(t[0], m), n),
        "step": np.full(n * epochs * m, np.nan),
        "name": pd.Categorical.from_codes(np.tile(np.arange(m), n * epochs), categories=list(METRICS)),
        "value": values.reshape(-1),
    })


def calibration_frame(kind: str, noise: float, n: int = 1000, epochs: int = 30, seed: int = 0) -> pd.DataFrame:
    """Clean decays (``kind="decay"``) or U-shaped validation losses (``"u"``) with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(epochs, dtype=np.float64)[None, :]
    rate, amp = rng.uniform(0.05, 1.5, (n, 1)), rng.uniform(0.5, 2.5, (n, 1))
    floor = rng.uniform(0.05, 0.5, (n, 1))
    train = 0.8 * floor + amp * np.exp(-rate * t) - (0.01 * amp * t if kind == "u" else 0.0)
    val = floor + amp * np.exp(-rate * t)
    if kind == "u":
        turn = rng.integers(8, 22, (n, 1))
        val = val + np.where(t > turn, 0.04 * amp * (t - turn), 0.0)
    val = val + rng.normal(0, 1, (n, epochs)) * noise * amp
    train = train + rng.normal(0, 1, (n, epochs)) * noise * amp * 0.3
    acc = 0.5 + 0.45 / (1 + np.exp(-(t - rng.uniform(2, 15, (n, 1))) * rng.uniform(0.2, 1.0, (n, 1))))
    acc = acc + rng.normal(0, 1, (n, epochs)) * noise * 0.45
    names = ("loss", "val_loss", "val_acc", "acc")
    values = np.stack([train, val, acc, 1 - train / 3], axis=2)
    return pd.DataFrame({
        "experiment_id": np.repeat([f"e{i}" for i in range(n)], epochs * len(names)),
        "epoch": np.tile(np.repeat(t[0], len(names)), n),
        "step": np.nan,
        "name": np.tile(names, n * epochs),
        "value": values.reshape(-1),
    })


def calibrate() -> None:
    print(f"{'curves':>14} {'noise':>6} {'overfitting':>11} {'noisy':>6}")
    for kind in ("decay", "u"):
        for noise in (0.005, 0.01, 0.02, 0.05, 0.1):
            health = health_of(calibration_frame(kind, noise))
            share = {f: np.mean([f in h.flags for h in health.values()]) for f in ("overfitting", "noisy")}
            print(f"{'clean decay' if kind == 'decay' else 'U-shaped val':>14} {noise:>6.1%} "
                  f"{share['overfitting']:>11.1%} {share['noisy']:>6.1%}")


def best_of(repeat: int, fn: object) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--calibrate", action="store_true", help="print flag rates on synthetic curves instead")
    args = ap.parse_args()
    if args.calibrate:
        calibrate()
        return
    print(f"{'experiments':>11} {'rows':>11} {'health_of s':>11} {'groupby s':>9} {'ratio':>6}  flags")
    for n in args.experiments:
        frame = curves_frame(n, args.epochs)
        base, _ = best_of(args.repeat, lambda f=frame: f.groupby(["experiment_id", "name"], observed=True)["value"]
                          .agg(["last", "std"]))
        took, health = best_of(args.repeat, lambda f=frame: health_of(f))
        counts = {f: sum(f in h.flags for h in health.values())  # type: ignore[attr-defined]
                  for f in ("overfitting", "noisy", "diverged")}
        shown = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        print(f"{n:>11,} {len(frame):>11,} {took:>11.2f} {base:>9.2f} {took / base:>6.1f}x  {shown}")


if __name__ == "__main__":
    main()
