"""The duration model behind :func:`workbench_plugin.estimates.estimate_durations`.

For one proposed experiment, from earlier experiments of the same script (seconds each):

1. **Weights.** A row counts 1 when every non-numeric hyperparameter (and every numeric one the
   history never varied) equals the proposal's, and :data:`MISMATCH_WEIGHT` less per one that
   differs (same optimizer counts more).
2. **Terms.** Numeric hyperparameters that are numbers in every row, vary in history and are a
   number in the proposal; plus, for each non-numeric hyperparameter on which rows differ, an
   indicator "same value as the proposal" (so a slower optimizer shifts the estimate without
   biasing the slope the others share). Terms are kept, strongest correlation first, while
   ``rows >= terms + 2`` (the intercept counts), and only with at least :data:`MIN_FIT_ROWS` rows.
3. **Two fits, weighted least squares**: linear (``seconds ~ 1 + x``; durations grow about
   linearly with epochs and data size), the same with products of pairs of terms (``epochs x
   rows``; when rows suffice) and a power law (``log seconds ~ 1 + log x``, when every
   value is positive). Each is scored by its leave-one-out relative error (closed form, from the
   hat matrix); the better one is used, unless the weighted median of the rows scores as well
   (then the basis is the median: a fit must earn its place).
4. **Range.** ``seconds / (1 + h)`` to ``seconds * (1 + h)`` with
   ``h = Z * max(sigma, REL_FLOOR) * sqrt(1 + leverage)``: sigma is the weighted RMS of the
   leave-one-out relative errors, and the leverage of the proposal grows as it leaves the
   history's range, so extrapolation widens the range. A linear fit's estimate never goes below a
   tenth of the shortest row (extrapolating down stays positive).

Too few rows for any term: the weighted median, its 10-90 % weighted quantiles widened to at
least ``1 ± 0.5/sqrt(n)`` (doubled when the proposal lies outside what history covers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Fit", "MIN_FIT_ROWS", "MISMATCH_WEIGHT", "REL_FLOOR", "Z", "fit_for", "is_number", "norm"]

#: The weight of a row per non-numeric hyperparameter that differs from the proposal's.
MISMATCH_WEIGHT = 0.25
#: Fewer rows than this: no fit, the (weighted) median.
MIN_FIT_ROWS = 3
#: The range is about a 90 % one (z of a normal distribution).
Z = 1.645
#: The smallest relative spread a fit claims (no history predicts better than this).
REL_FLOOR = 0.05
_MISSING = ("<missing>",)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def norm(value: Any) -> Any:
    """A value as compared: numbers as floats (1 == 1.0), everything else as its string."""
    return float(value) if is_number(value) else ("<missing>",) if value is _MISSING else str(value)


class Fit(NamedTuple):
    """One estimate before usage and labels: seconds, range, how it was made."""

    seconds: float
    low: float
    high: float
    basis: str            # "history" | "run median"
    terms: tuple[str, ...]  # the fit's terms: numeric hyperparameters (and products of them, "epochs×n")
    power_law: bool
    weighted_by: tuple[str, ...]  # non-numeric hyperparameters on which rows differ from the proposal


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients, the inverse of X'WX and the leverages of the rows."""
    xtwx = x.T @ (x * w[:, None])
    inv = np.linalg.pinv(xtwx)
    beta = inv @ (x.T @ (w * y))
    leverage = np.einsum("ij,jk,ik->i", x, inv, x) * w
    return beta, inv, leverage


def _loo(x: np.ndarray, y: np.ndarray, w: np.ndarray, power: bool) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Fit, then leave-one-out: (weighted mean |relative error|, weighted RMS of it, beta, inverse)."""
    beta, inv, leverage = _wls(x, y, w)
    residual = y - x @ beta
    ok = leverage < 0.999
    if not ok.any():
        return math.inf, math.inf, beta, inv
    held_out = y[ok] - residual[ok] / (1 - leverage[ok])  # what the row's prediction is without it
    truth = np.exp(y[ok]) if power else y[ok]
    guess = np.exp(np.clip(held_out, -50, 50)) if power else held_out
    relative = np.abs(guess - truth) / truth
    weights = w[ok]
    mean = float(np.sum(weights * relative) / np.sum(weights))
    rms = float(math.sqrt(np.sum(weights * relative**2) / np.sum(weights)))
    return mean, rms, beta, inv


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cumulative = (np.cumsum(w) - 0.5 * w) / np.sum(w)
    return float(np.interp(q, cumulative, v))


def _median_fit(y: np.ndarray, w: np.ndarray, outside: bool, weighted_by: tuple[str, ...]) -> Fit:
    median = _weighted_quantile(y, w, 0.5)
    spread = 0.5 / math.sqrt(len(y)) * (2 if outside else 1)
    low = min(_weighted_quantile(y, w, 0.1), median / (1 + spread))
    high = max(_weighted_quantile(y, w, 0.9), median * (1 + spread))
    return Fit(median, low, high, "run median", (), False, weighted_by)


def fit_for(params: Sequence[Mapping[str, Any]], seconds: np.ndarray, proposal: Mapping[str, Any]) -> Fit:
    """The estimate for ``proposal`` from rows ``params`` that took ``seconds`` (all > 0)."""
    n = len(params)
    names = sorted({name for row in params for name in row} | set(proposal))
    numeric: list[str] = []
    categorical: list[str] = []
    outside = False  # the proposal lies beyond what history covers (a wider range for a median)
    for name in names:
        column = [row.get(name, _MISSING) for row in params]
        value = proposal.get(name, _MISSING)
        if all(is_number(v) for v in column) and is_number(value) and len(set(column)) > 1:
            numeric.append(name)
            outside = outside or not min(column) <= value <= max(column)
            continue
        categorical.append(name)
        outside = outside or (value is not _MISSING and norm(value) not in {norm(v) for v in column})
    matches = {name: np.array([norm(row.get(name, _MISSING)) == norm(proposal.get(name, _MISSING))
                               for row in params]) for name in categorical}
    w = np.ones(n)
    for match in matches.values():
        w = np.where(match, w, w * MISMATCH_WEIGHT)
    weighted_by = tuple(name for name, match in matches.items() if not match.all())
    indicators = [name for name in weighted_by if match_some(matches[name])]
    if n < MIN_FIT_ROWS:
        return _median_fit(seconds, w, outside, weighted_by)
    # strongest terms first (|weighted correlation| with seconds), indicators after them
    numeric.sort(key=lambda name: -_abs_corr(np.array([float(row[name]) for row in params]), seconds, w))
    terms = numeric + indicators
    while terms and n < len(terms) + 3:  # rows >= coefficients (terms + intercept) + 2
        terms.pop()
    used = [t for t in terms if t in numeric]
    if not used:
        return _median_fit(seconds, w, outside, weighted_by)
    ind = [t for t in terms if t not in numeric]
    x_num = np.array([[float(row[name]) for name in used] for row in params])
    x_ind = np.array([[1.0 if m else 0.0 for m in (matches[name][i] for name in ind)] for i in range(n)]).reshape(n, -1)
    x0_num = np.array([float(proposal[name]) for name in used])
    ones0 = np.ones(len(ind))
    # each candidate: (power law, X, y, x0, label, factor on the linear prediction)
    candidates: list[tuple[bool, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...], float]] = []
    lin_x, lin_x0 = np.column_stack([np.ones(n), x_num, x_ind]), np.concatenate([[1.0], x0_num, ones0])
    lin_y, factor = seconds, 1.0
    if (x_num > 0).all() and (x0_num > 0).all():
        log_x = np.column_stack([np.ones(n), np.log(x_num), x_ind])
        log_x0 = np.concatenate([[1.0], np.log(x0_num), ones0])
        candidates.append((True, log_x, np.log(seconds), log_x0, tuple(used), 1.0))
        if ind:  # a categorical value scales durations (adam 1.5x sgd): its factor from the power law
            gamma = _wls(log_x, np.log(seconds), w)[0][-len(ind):]
            lin_x, lin_x0 = np.column_stack([np.ones(n), x_num]), np.concatenate([[1.0], x0_num])
            lin_y, factor = seconds / np.exp(x_ind @ gamma), float(np.exp(np.sum(gamma)))
    candidates.append((False, lin_x, lin_y, lin_x0, tuple(used), factor))
    pairs = [(i, j) for i in range(min(len(used), 3)) for j in range(i + 1, min(len(used), 3))]
    if pairs and n >= lin_x.shape[1] + len(pairs) + 2:  # products: seconds ~ epochs x data size
        products = np.column_stack([x_num[:, i] * x_num[:, j] for i, j in pairs])
        candidates.append((False, np.column_stack([lin_x, products]), lin_y,
                           np.concatenate([lin_x0, [x0_num[i] * x0_num[j] for i, j in pairs]]),
                           tuple(used) + tuple(f"{used[i]}×{used[j]}" for i, j in pairs), factor))
    best = None
    for power, x, y, x0, label, scale in candidates:
        score, rms, beta, inv = _loo(x, y, w, power)
        if best is None or score < best[0] - 1e-12:
            best = (score, rms, beta, inv, power, x0, label, scale)
    assert best is not None
    score, rms, beta, inv, power, x0, label, scale = best
    median = _weighted_quantile(seconds, w, 0.5)
    median_score = float(np.sum(w * np.abs(median - seconds) / seconds) / np.sum(w))
    if not math.isfinite(score) or score >= median_score:
        return _median_fit(seconds, w, outside, weighted_by)
    raw = float(x0 @ beta)
    estimate = math.exp(min(raw, 700.0)) if power else max(raw * scale, float(seconds.min()) / 10)
    leverage = max(float(x0 @ inv @ x0), 0.0)
    half = Z * max(rms, REL_FLOOR) * math.sqrt(1 + leverage)
    return Fit(estimate, estimate / (1 + half), estimate * (1 + half), "history", label, power, weighted_by)


def match_some(match: np.ndarray) -> bool:
    """Some rows match and some do not (an indicator column that is not constant)."""
    return bool(match.any() and not match.all())


def _abs_corr(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    sx = math.sqrt(float(np.average((x - mx) ** 2, weights=w)))
    sy = math.sqrt(float(np.average((y - my) ** 2, weights=w)))
    if sx == 0 or sy == 0:
        return 0.0
    return abs(float(np.average((x - mx) * (y - my), weights=w)) / (sx * sy))
