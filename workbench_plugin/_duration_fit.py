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

__all__ = ["Fit", "History", "MIN_FIT_ROWS", "MISMATCH_WEIGHT", "REL_FLOOR", "Z", "is_number", "norm"]

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


class _Solved(NamedTuple):
    """A fit for one pattern of proposals (same terms, same non-numeric values): what predicts."""

    w: np.ndarray
    weighted_by: tuple[str, ...]
    power: bool = False
    beta: np.ndarray | None = None   # None: the median
    inv: np.ndarray | None = None
    rms: float = 0.0
    used: tuple[str, ...] = ()
    indicators: int = 0
    label: tuple[str, ...] = ()
    scale: float = 1.0
    pairs: tuple[tuple[int, int], ...] = ()
    products: bool = False


class History:
    """Earlier experiments' ``params`` and ``seconds`` (all > 0), prepared once for many proposals:
    proposals with the same terms and the same non-numeric values share one fit."""

    def __init__(self, params: Sequence[Mapping[str, Any]], seconds: np.ndarray) -> None:
        self.params, self.seconds, self.n = params, seconds, len(params)
        self.names = sorted({name for row in params for name in row})
        self.norms = {name: [norm(row.get(name, _MISSING)) for row in params] for name in self.names}
        self.sets = {name: set(values) for name, values in self.norms.items()}
        self.numeric = {name: np.array([float(row[name]) for row in params]) for name in self.names
                        if all(is_number(row.get(name, _MISSING)) for row in params) and len(self.sets[name]) > 1}
        self._matches: dict[tuple[str, Any], np.ndarray] = {}
        self._solved: dict[Any, _Solved] = {}

    def _match(self, name: str, value: Any) -> np.ndarray:
        key = (name, value)
        if key not in self._matches:
            column = self.norms.get(name, [norm(_MISSING)] * self.n)
            self._matches[key] = np.array([v == value for v in column], dtype=bool)
        return self._matches[key]

    def fit(self, proposal: Mapping[str, Any]) -> Fit:
        """The estimate for ``proposal``."""
        numeric: list[str] = []
        categorical: list[tuple[str, Any]] = []
        outside = False  # the proposal lies beyond what history covers (a wider range for a median)
        for name in sorted(set(self.names) | set(proposal)):
            value = proposal.get(name, _MISSING)
            if name in self.numeric and is_number(value):
                numeric.append(name)
                column = self.numeric[name]
                outside = outside or not column.min() <= value <= column.max()
                continue
            categorical.append((name, norm(value)))
            outside = outside or (value is not _MISSING and norm(value) not in self.sets.get(name, ()))
        x0_num = np.array([float(proposal[name]) for name in numeric])
        key = (tuple(numeric), tuple(categorical), bool((x0_num > 0).all()))
        if key not in self._solved:
            self._solved[key] = self._solve(numeric, categorical, key[2])
        return self._predict(self._solved[key], proposal, outside)

    def _solve(self, numeric: list[str], categorical: list[tuple[str, Any]], positive: bool) -> _Solved:
        n, seconds = self.n, self.seconds
        matches = {name: self._match(name, value) for name, value in categorical}
        w = np.ones(n)
        for match in matches.values():
            w = np.where(match, w, w * MISMATCH_WEIGHT)
        weighted_by = tuple(name for name, match in matches.items() if not match.all())
        median = _Solved(w, weighted_by)
        if n < MIN_FIT_ROWS:
            return median
        indicators = [name for name in weighted_by if match_some(matches[name])]
        # strongest terms first (|weighted correlation| with seconds), indicators after them
        terms = sorted(numeric, key=lambda name: -_abs_corr(self.numeric[name], seconds, w)) + indicators
        while terms and n < len(terms) + 3:  # rows >= coefficients (terms + intercept) + 2
            terms.pop()
        used = tuple(t for t in terms if t in self.numeric and t in numeric)
        if not used:
            return median
        ind = [t for t in terms if t not in used]
        x_num = np.column_stack([self.numeric[name] for name in used])
        x_ind = np.column_stack([matches[name].astype(float) for name in ind]) if ind else np.empty((n, 0))
        # each candidate: (power law, X, y, label, factor on the linear prediction, indicator columns,
        # with products)
        candidates: list[tuple[bool, np.ndarray, np.ndarray, tuple[str, ...], float, int, bool]] = []
        lin_x, lin_y, factor, lin_ind = np.column_stack([np.ones(n), x_num, x_ind]), seconds, 1.0, len(ind)
        with np.errstate(all="ignore"):
            if (x_num > 0).all() and positive:
                log_x = np.column_stack([np.ones(n), np.log(x_num), x_ind])
                candidates.append((True, log_x, np.log(seconds), used, 1.0, len(ind), False))
                if ind:  # a categorical value scales durations (adam 1.5x sgd): its factor from the power law
                    gamma = _wls(log_x, np.log(seconds), w)[0][-len(ind):]
                    lin_x, lin_y, lin_ind = np.column_stack([np.ones(n), x_num]), seconds / np.exp(x_ind @ gamma), 0
                    factor = float(np.exp(np.sum(gamma)))
            candidates.append((False, lin_x, lin_y, used, factor, lin_ind, False))
            pairs = tuple((i, j) for i in range(min(len(used), 3)) for j in range(i + 1, min(len(used), 3)))
            if pairs and n >= lin_x.shape[1] + len(pairs) + 2:  # products: seconds ~ epochs x data size
                products = np.column_stack([x_num[:, i] * x_num[:, j] for i, j in pairs])
                candidates.append((False, np.column_stack([lin_x, products]), lin_y,
                                   used + tuple(f"{used[i]}×{used[j]}" for i, j in pairs), factor, lin_ind, True))
            best: tuple[float, _Solved] | None = None
            for power, x, y, label, scale, columns, with_products in candidates:
                if not (np.isfinite(x).all() and np.isfinite(y).all() and math.isfinite(scale)):
                    continue
                score, rms, beta, inv = _loo(x, y, w, power)
                if math.isfinite(score) and (best is None or score < best[0] - 1e-12):
                    best = (score, _Solved(w, weighted_by, power, beta, inv, rms, used, columns, label, scale, pairs,
                                           with_products))
        if best is None:
            return median
        middle = _weighted_quantile(seconds, w, 0.5)
        median_score = float(np.sum(w * np.abs(middle - seconds) / seconds) / np.sum(w))
        return median if best[0] >= median_score else best[1]

    def _predict(self, solved: _Solved, proposal: Mapping[str, Any], outside: bool) -> Fit:
        if solved.beta is None or solved.inv is None:
            return _median_fit(self.seconds, solved.w, outside, solved.weighted_by)
        x0_num = np.array([float(proposal[name]) for name in solved.used])
        with np.errstate(all="ignore"):
            parts = [[1.0], np.log(x0_num) if solved.power else x0_num, np.ones(solved.indicators)]
            if solved.products:
                parts.append([x0_num[i] * x0_num[j] for i, j in solved.pairs])
            x0 = np.concatenate(parts)
            raw = float(x0 @ solved.beta)
            leverage = max(float(x0 @ solved.inv @ x0), 0.0)
        if not (math.isfinite(raw) and math.isfinite(leverage)):
            return _median_fit(self.seconds, solved.w, True, solved.weighted_by)
        floor = float(self.seconds.min()) / 10  # going down never gives a negative duration
        estimate = math.exp(min(raw, 700.0)) if solved.power else max(raw * solved.scale, floor)
        half = min(Z * max(solved.rms, REL_FLOOR) * math.sqrt(1 + leverage), 1e6)
        return Fit(estimate, estimate / (1 + half), estimate * (1 + half), "history", solved.label, solved.power,
                   solved.weighted_by)


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
