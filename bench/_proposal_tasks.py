"""The tasks of ``bench/proposals.py``: what is tuned, on which lattice, and the cache of its scores.

Each hyperparameter of a task is a user's range in the spec grammar (``1e-4..1 *2``), and its
values are the task's *lattice*: the product of the ranges is the exhaustive grid, every proposal
is snapped onto it, and each lattice point is trained at most once in the whole benchmark (scores
are kept in memory and in a JSON file per task under the system's temporary folder, keyed by the
task's settings, so a second run trains nothing).

Real tasks (scikit-learn, bundled data, no downloads):

* ``digits-mlp``: ``MLPClassifier`` on ``load_digits`` (pixels / 16), one hidden layer, Adam,
  5 iterations (a short training budget per experiment); score: mean 3-fold stratified CV
  accuracy. 14 x 5 x 6 = 420 points. (At 20 iterations a fifth of the lattice is within 1 % of
  the best, so every method reaches the target in a handful of experiments and nothing is measured.)
* ``wine-hgb``: ``HistGradientBoostingClassifier`` on ``load_wine``, 30 boosting iterations, no
  early stopping; score: mean 3-fold stratified CV accuracy. 7 x 5 x 5 = 175 points.
  (``load_breast_cancer`` was tried: a third of its lattice is within 1 % of the best.)

Synthetic tasks (``--quick`` and the smoke test): smooth functions with a known optimum, in [0, 1].
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from workbench_plugin.space import SearchSpec, Value, format_value

__all__ = ["REAL_TASKS", "SYNTHETIC_TASKS", "TASKS", "Evaluator", "Param", "Task", "default_cache_dir"]

#: folds and seed of every cross-validation (fixed: a lattice point has one score)
FOLDS = 3
CV_SEED = 0


class Param(NamedTuple):
    name: str
    spec: str  #: the user's full range in the spec grammar; its values are the lattice
    default: Value  #: the script's default, on the lattice (used until the user adds the flag)


class Task(NamedTuple):
    name: str
    title: str  #: one line: model, data, score
    metric: str
    params: tuple[Param, ...]  #: in the order the simulated user adds them
    score: Callable[[Mapping[str, Value]], float]
    bounds: tuple[float, float]  #: the range a score can take
    key: str  #: names the settings that change a score (the cache file's name)

    def lattice(self) -> dict[str, tuple[Value, ...]]:
        """Every hyperparameter's lattice values, in the user's order."""
        return dict(SearchSpec.parse({p.name: p.spec for p in self.params}).params)

    @property
    def defaults(self) -> dict[str, Value]:
        return {p.name: p.default for p in self.params}


# ---- real tasks ----------------------------------------------------------------------------------
@functools.cache
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits, load_wine

    if name == "digits":
        x, y = load_digits(return_X_y=True)
        return x / 16.0, y
    x, y = load_wine(return_X_y=True)
    return x, y


def _cv_accuracy(make: Callable[[], object], data: str) -> float:
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    x, y = _data(data)
    scores = []
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=CV_SEED).split(x, y):
        model = clone(make())
        # one thread: on a few shared cores, OpenMP/BLAS threads only wait on each other
        with warnings.catch_warnings(), threadpool_limits(1):  # few iterations on purpose: a small budget
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow at the largest learning rates
            model.fit(x[train], y[train])
            scores.append(float(model.score(x[test], y[test])))
    return float(np.mean(scores))


def _digits_mlp(p: Mapping[str, Value]) -> float:
    from sklearn.neural_network import MLPClassifier

    return _cv_accuracy(lambda: MLPClassifier(
        hidden_layer_sizes=(int(p["hidden_width"]),), learning_rate_init=float(p["learning_rate_init"]),
        alpha=float(p["alpha"]), max_iter=5, random_state=0), "digits")


def _wine_hgb(p: Mapping[str, Value]) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return _cv_accuracy(lambda: HistGradientBoostingClassifier(
        learning_rate=float(p["learning_rate"]), max_leaf_nodes=int(p["max_leaf_nodes"]),
        l2_regularization=float(p["l2_regularization"]), max_iter=30, early_stopping=False,
        random_state=0), "wine")


REAL_TASKS: tuple[Task, ...] = (
    Task("digits-mlp", "MLPClassifier on load_digits, 5 iterations; mean 3-fold CV accuracy", "cv_accuracy",
         (Param("learning_rate_init", "1e-4..1 *2", 0.0008),  # sklearn's 0.001, on the lattice
          Param("hidden_width", "16..256 *2", 128),  # sklearn's 100
          Param("alpha", "1e-6..1e-1 *10", 0.0001)),
         _digits_mlp, (0.0, 1.0), "digits-mlp-it5-cv3-s0"),
    Task("wine-hgb", "HistGradientBoostingClassifier on load_wine, 30 iterations; mean 3-fold CV accuracy",
         "cv_accuracy",
         (Param("learning_rate", "0.01..1 *2", 0.08),  # sklearn's 0.1
          Param("max_leaf_nodes", "4..64 *2", 32),  # sklearn's 31
          Param("l2_regularization", "1e-3..10 *10", 0.001)),  # sklearn's 0, not on a log lattice
         _wine_hgb, (0.0, 1.0), "wine-hgb-it30-cv3-s0"),
)


# ---- synthetic tasks -----------------------------------------------------------------------------
def _bowl(p: Mapping[str, Value]) -> float:
    """A log-quadratic bowl in the learning rate whose centre moves with the width, times a dropout term."""
    width = math.log2(float(p["width"]))
    centre = -2.3 + 0.25 * (width - 6.0)
    lr = math.log10(float(p["lr"]))
    dropout = float(p["dropout"])
    return math.exp(-0.5 * ((lr - centre) / 0.8) ** 2 - 0.5 * ((width - 7.0) / 2.0) ** 2) * (1 - (dropout - 0.2) ** 2)


def _ridge(p: Mapping[str, Value]) -> float:
    """Saturating in the number of trees, a peak in the depth, flat-ish in the rate until it is too high."""
    trees = float(p["trees"])
    depth = float(p["depth"])
    rate = float(p["rate"])
    return (1 - math.exp(-trees / 60)) * math.exp(-0.5 * ((depth - 6) / 2.5) ** 2) / (1 + (rate / 0.3) ** 2)


SYNTHETIC_TASKS: tuple[Task, ...] = (
    Task("synthetic-bowl", "log-quadratic bowl (lr x width interaction) x dropout; known optimum", "score",
         (Param("lr", "1e-4..1 *2", 0.0008), Param("width", "8..512 *2", 64), Param("dropout", "0..0.6 +0.1", 0.5)),
         _bowl, (0.0, 1.0), "synthetic-bowl-v1"),
    Task("synthetic-ridge", "saturating trees x peaked depth x rate; known optimum", "score",
         (Param("depth", "1..12 +1", 3), Param("trees", "10..640 *2", 20), Param("rate", "0.01..1.28 *2", 0.64)),
         _ridge, (0.0, 1.0), "synthetic-ridge-v1"),
)

TASKS: dict[str, Task] = {t.name: t for t in (*REAL_TASKS, *SYNTHETIC_TASKS)}


# ---- the lattice and its cache -------------------------------------------------------------------
def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "hypertuner-bench-proposals"


class Evaluator:
    """A task's scores on its lattice: each point trained at most once, then read from memory."""

    def __init__(self, task: Task, cache_dir: Path | None = None) -> None:
        self.task = task
        self.lattice = task.lattice()
        self.names = tuple(self.lattice)
        self.scores: dict[str, float] = {}
        self.trained = 0  #: points trained by this process
        self.seconds = 0.0  #: time spent training them
        self.path = cache_dir / f"{task.key}.json" if cache_dir is not None else None
        if self.path is not None and self.path.is_file():
            loaded = json.loads(self.path.read_text())
            if isinstance(loaded, dict):
                self.scores = {str(k): float(v) for k, v in loaded.items()
                               if isinstance(v, int | float) and math.isfinite(v)}

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.lattice.values())

    def key(self, point: Mapping[str, Value]) -> str:
        return ";".join(f"{n}={format_value(point[n])}" for n in self.names)

    def snap(self, point: Mapping[str, Value]) -> tuple[dict[str, Value], bool]:
        """The lattice point nearest ``point`` (log-nearest for positive values), and whether it moved."""
        out: dict[str, Value] = {}
        moved = False
        for name in self.names:
            values = self.lattice[name]
            nums = np.array([float(v) for v in values])
            x = float(point[name])
            dist = np.abs(np.log(nums) - math.log(x)) if nums.min() > 0 and x > 0 else np.abs(nums - x)
            out[name] = values[int(np.argmin(dist))]
            moved = moved or not math.isclose(float(out[name]), x, rel_tol=1e-9, abs_tol=1e-12)
        return out, moved

    def __call__(self, point: Mapping[str, Value]) -> float:
        key = self.key(point)
        if key not in self.scores:
            t0 = time.perf_counter()
            self.scores[key] = float(self.task.score(point))
            self.seconds += time.perf_counter() - t0
            self.trained += 1
        return self.scores[key]

    def grid(self) -> Iterator[dict[str, Value]]:
        """Every lattice point, first hyperparameter varying slowest."""
        for combo in itertools.product(*self.lattice.values()):
            yield dict(zip(self.names, combo, strict=True))

    def exhaustive_best(self) -> tuple[dict[str, Value], float]:
        """The best point of the exhaustive grid (trains what the cache lacks, then saves it)."""
        best_point, best = {}, -math.inf
        for point in self.grid():
            score = self(point)
            if score > best:
                best_point, best = point, score
        self.save()
        return best_point, best

    def save(self) -> None:
        if self.path is not None and self.trained:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.scores, indent=0, sort_keys=True))
            tmp.replace(self.path)
