"""The numbers behind recommendations: parameters encoded as points, a Gaussian process fitted on
finished experiments, expected improvement, and coverage of values not tried yet.

Pure numpy (scikit-learn imported when a model is fitted). :mod:`workbench_plugin.recommend`
turns these numbers into scores and reasons.

Encoding: a parameter whose values are all numbers is numeric, on a log10 axis when its scale is
``log`` and every value is positive, else linear; it is normalised to [0, 1] over the values seen
(finished and candidates). Any other parameter is categorical, one-hot with each dimension scaled
by 1/sqrt(2), so that two different categories are at distance 1, like the two ends of a numeric
range. A parameter missing from a row (added after some experiments ran) is its own category; for
a numeric one the row sits mid-range and an indicator dimension says it is missing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from workbench_plugin._quiet import quiet
from workbench_plugin.space import format_value

__all__ = ["Column", "Encoding", "Prediction", "coverage", "encode", "expected_improvement", "fit_gp", "fit_predict",
           "predict"]

#: A numeric value this far (on the normalised axis) from every tried value counts as fully new.
NOVEL_DISTANCE = 0.25
_MISSING = object()


class Column(NamedTuple):
    name: str
    kind: str            # "linear", "log" or "categorical"
    categories: tuple[str, ...] = ()   # categorical: the one-hot order (see _key; "" = missing)
    low: float = 0.0     # numeric: the range on the scale's axis
    high: float = 1.0


class Encoding(NamedTuple):
    columns: list[Column]       # only parameters that vary over finished + candidates
    finished: np.ndarray        # (n_finished, n_dims)
    candidates: np.ndarray      # (n_candidates, n_dims)
    dims: list[str]             # the column each dimension belongs to

    def varying(self) -> np.ndarray:
        """A mask of the dimensions that vary among finished rows: the only ones a model can learn."""
        if len(self.finished) == 0:
            return np.zeros(len(self.dims), dtype=bool)
        return np.asarray(np.ptp(self.finished, axis=0) > 0, dtype=bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _key(value: Any) -> str:
    """A value's identity for categories: its argv text, except that numbers compare as numbers
    (a frame column with a gap holds 32 as 32.0)."""
    if value is _MISSING:
        return ""
    return repr(float(value)) if _is_number(value) else format_value(value)


def _column(name: str, values: list[Any], scale: str | None) -> Column | None:
    present = [v for v in values if v is not _MISSING]
    if present and all(_is_number(v) for v in present) and scale != "categorical":
        log = scale == "log" and all(float(v) > 0 for v in present)
        axis = [math.log10(float(v)) if log else float(v) for v in present]
        low, high = min(axis), max(axis)
        if high == low and len(present) == len(values):
            return None
        return Column(name, "log" if log else "linear", (), low, high)
    texts = sorted({_key(v) for v in values})
    return Column(name, "categorical", tuple(texts)) if len(texts) > 1 else None


def _encode_row(params: Mapping[str, Any], columns: list[Column]) -> list[float]:
    row: list[float] = []
    for col in columns:
        value = params.get(col.name, _MISSING)
        if col.kind == "categorical":
            text = _key(value)
            row.extend(math.sqrt(0.5) if c == text else 0.0 for c in col.categories)
            continue
        span = col.high - col.low
        if value is _MISSING:
            row.extend((0.5, 1.0))
            continue
        axis = math.log10(float(value)) if col.kind == "log" else float(value)
        row.append((axis - col.low) / span if span > 0 else 0.5)
        row.append(0.0)
    return row


def encode(
    finished: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]],
    scales: Mapping[str, str] | None = None,
) -> Encoding:
    """Encode both sets of parameters on the same columns (see the module's docstring)."""
    rows = [*finished, *candidates]
    names = sorted({name for params in rows for name in params})
    columns = []
    for name in names:
        col = _column(name, [p.get(name, _MISSING) for p in rows], (scales or {}).get(name))
        if col is not None:
            columns.append(col)
    # The indicator dimension of a numeric column is kept only where a value is missing somewhere.
    def matrix(part: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.array([_encode_row(p, columns) for p in part], dtype=float).reshape(len(part), -1)

    all_rows = matrix(rows)
    keep = np.ones(all_rows.shape[1], dtype=bool)
    dim = 0
    dims: list[str] = []
    for col in columns:
        if col.kind == "categorical":
            dims.extend([col.name] * len(col.categories))
            dim += len(col.categories)
        else:
            dims.extend([col.name] * 2)
            keep[dim + 1] = bool(all_rows[:, dim + 1].any()) if len(rows) else False
            dim += 2
    all_rows = all_rows[:, keep]
    kept = [name for name, k in zip(dims, keep, strict=True) if k]
    return Encoding(columns, all_rows[: len(finished)], all_rows[len(finished):], kept)


def value_novelty(
    finished: Sequence[Mapping[str, Any]], params: Mapping[str, Any], columns: list[Column],
) -> dict[str, float]:
    """Per varying parameter, how new the candidate's value is: 1 for a category (or a numeric
    value at least :data:`NOVEL_DISTANCE` away on its axis) no finished experiment tried, 0 for a
    tried one."""
    out: dict[str, float] = {}
    for col in columns:
        tried = [p.get(col.name, _MISSING) for p in finished]
        mine = params.get(col.name, _MISSING)
        if col.kind == "categorical" or mine is _MISSING:
            out[col.name] = 0.0 if _key(mine) in {_key(t) for t in tried} else 1.0
            continue
        span = (col.high - col.low) or 1.0
        axis = (lambda v: math.log10(float(v))) if col.kind == "log" else float
        nums = [axis(t) for t in tried if t is not _MISSING and _is_number(t)]
        if not nums:
            out[col.name] = 1.0
            continue
        gap = min(abs(axis(mine) - t) for t in nums) / span
        out[col.name] = min(1.0, gap / NOVEL_DISTANCE)
    return out


def coverage(enc: Encoding, novelty: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Coverage per candidate, 0..1: 0.7 x its most novel value + 0.3 x how far the whole
    combination is from the nearest finished experiment (distance / sqrt(parameters), capped at 1)."""
    m = len(enc.candidates)
    most = np.array([max(n.values(), default=0.0) for n in novelty], dtype=float).reshape(m)
    if len(enc.finished) == 0:
        combo = np.ones(m)
    elif not enc.columns:
        combo = np.zeros(m)
    else:
        from scipy.spatial.distance import cdist

        nearest = np.zeros(m)
        for start in range(0, m, 1024):  # bounded memory: 1024 x finished distances at a time
            nearest[start:start + 1024] = cdist(enc.candidates[start:start + 1024], enc.finished).min(axis=1)
        combo = np.minimum(1.0, nearest / math.sqrt(len(enc.columns)))
    return np.asarray(0.7 * most + 0.3 * combo, dtype=float)


class Prediction(NamedTuple):
    mean: np.ndarray     # in the units of the fitted y
    std: np.ndarray


def fit_gp(x: np.ndarray, y: np.ndarray, *, seed: int = 0, kernel: Any = None) -> Any:
    """A fitted Gaussian process (constant x Matern 5/2 with one length per dimension, plus white
    noise; y normalised) on ``x, y``. Deterministic for a given seed. With ``kernel`` (a fitted
    model's ``kernel_``), that kernel is kept as it is: no optimisation, just the refit on new data."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    if kernel is None:
        dims = x.shape[1]
        kernel = (
            ConstantKernel(1.0, (1e-3, 1e3))
            * Matern(length_scale=np.full(dims, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5)
            + WhiteKernel(noise_level=1e-2, noise_level_bounds=(1e-6, 1.0))
        )
        model = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, n_restarts_optimizer=1, random_state=np.random.RandomState(seed),
        )
    else:
        model = GaussianProcessRegressor(kernel=kernel, normalize_y=True, optimizer=None)
    with quiet(ConvergenceWarning):  # bounds reached with few points are expected; the fit is still usable
        model.fit(x, y)
    return model


def predict(model: Any, x_new: np.ndarray) -> Prediction:
    """A fitted model's mean and standard deviation at ``x_new``."""
    from sklearn.exceptions import ConvergenceWarning

    with quiet(ConvergenceWarning):
        mean, std = model.predict(x_new, return_std=True)
    return Prediction(np.asarray(mean, dtype=float), np.maximum(np.asarray(std, dtype=float), 0.0))


def fit_predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, *, seed: int = 0) -> Prediction:
    """Fit a Gaussian process (:func:`fit_gp`) on ``x, y`` and predict at ``x_new``."""
    return predict(fit_gp(x, y, seed=seed), x_new)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """E[max(f - best, 0)] for f ~ N(mean, std) (maximising)."""
    from scipy.stats import norm

    gain = mean - best
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, gain / std, 0.0)
    ei = np.where(std > 0, gain * norm.cdf(z) + std * norm.pdf(z), np.maximum(gain, 0.0))
    return np.maximum(np.asarray(ei, dtype=float), 0.0)
