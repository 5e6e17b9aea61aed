"""Digits demo: a small neural network on scikit-learn's bundled 8x8 digits, trained epoch by epoch.

    python train.py --batch_size 32 --num_epochs 12 --learning_rate 0.001 --alpha 0.0001

Every hyperparameter is a command-line flag. Each epoch the script shuffles the training split
(seeded), runs one pass of ``MLPClassifier.partial_fit`` and records the losses and accuracies
through the HyperTuner tracking SDK; at the end it records a summary and the validation
confusion matrix with the misclassified images. The data ship with scikit-learn: nothing is
downloaded. Outside HyperTuner the SDK warns once and the script runs as usual.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from workbench_plugin import tracking as ht

CLASSES = list(range(10))
SPLIT_SEED = 0  # fixed, so every experiment is scored on the same validation images
VALIDATION_FRACTION = 0.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--batch_size", type=int, default=32, help="mini-batch size (default 32)")
    ap.add_argument("--num_epochs", type=int, default=10, help="passes over the training split (default 10)")
    ap.add_argument("--learning_rate", type=float, default=0.001, help="Adam step size (default 0.001)")
    ap.add_argument("--hidden_units", type=int, default=64, help="units in the hidden layer (default 64)")
    ap.add_argument("--alpha", type=float, default=1e-4, help="L2 regularisation strength (default 1e-4)")
    ap.add_argument("--seed", type=int, default=0, help="weights and shuffling seed (default 0)")
    ap.add_argument("--epoch_delay", type=float, default=0.0, help="seconds to sleep per epoch, to watch live")
    args = ap.parse_args(argv)
    for name, ok, allowed in (
        ("batch_size", args.batch_size >= 1, ">= 1"),
        ("num_epochs", args.num_epochs >= 1, ">= 1"),
        ("learning_rate", args.learning_rate > 0, "> 0"),
        ("hidden_units", args.hidden_units >= 1, ">= 1"),
        ("alpha", args.alpha >= 0, ">= 0"),
        ("epoch_delay", args.epoch_delay >= 0, ">= 0"),
    ):
        if not ok:
            ap.error(f"--{name} must be {allowed}, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    digits = load_digits()
    images = digits.images.astype(np.int64)  # 8x8, values 0..16
    x = digits.data / 16.0
    idx_train, idx_val = train_test_split(
        np.arange(len(x)), test_size=VALIDATION_FRACTION, random_state=SPLIT_SEED, stratify=digits.target
    )
    x_train, y_train = x[idx_train], digits.target[idx_train]
    x_val, y_val = x[idx_val], digits.target[idx_val]

    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden_units,), alpha=args.alpha, learning_rate_init=args.learning_rate,
        batch_size=args.batch_size, shuffle=False, random_state=args.seed,
    )
    rng = np.random.default_rng(args.seed)
    fit_seconds = 0.0
    scores: dict[str, Any] = {}
    for epoch in range(1, args.num_epochs + 1):
        order = rng.permutation(len(x_train))
        start = time.perf_counter()
        model.partial_fit(x_train[order], y_train[order], classes=CLASSES)
        fit_seconds += time.perf_counter() - start
        scores = evaluate(model, x_train, y_train, x_val, y_val)
        ht.log(epoch=epoch, **scores)
        print(
            f"epoch {epoch}/{args.num_epochs} "
            + " ".join(f"{name}={value:.4f}" for name, value in scores.items()),
            flush=True,
        )
        if args.epoch_delay:
            time.sleep(args.epoch_delay)

    ht.summary(**scores, fit_seconds=fit_seconds)
    ht.log_confusion_matrix(y_val, model.predict(x_val), labels=CLASSES, examples=images[idx_val])
    print(f"done: val_acc={scores['val_acc']:.4f} fit_seconds={fit_seconds:.2f}", flush=True)
    return 0


def evaluate(
    model: MLPClassifier, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
) -> dict[str, Any]:
    p_train, p_val = model.predict_proba(x_train), model.predict_proba(x_val)
    return {
        "train_loss": float(log_loss(y_train, p_train, labels=CLASSES)),
        "val_loss": float(log_loss(y_val, p_val, labels=CLASSES)),
        "train_acc": float(np.mean(model.classes_[p_train.argmax(axis=1)] == y_train)),
        "val_acc": float(np.mean(model.classes_[p_val.argmax(axis=1)] == y_val)),
    }


if __name__ == "__main__":
    sys.exit(main())
