"""Automated search modules (paper 6.2) over the user's domains: random, Latin hypercube, Sobol, TPE, GP.

Every module works in unit coordinates (:func:`~._domain.to_unit` / :func:`~._domain.from_unit`: each
hyperparameter on its own scale) and hands back snapped rows: ints stay ints, ``*2`` ranges stay on
their lattice, locks and one-value fields are never changed. A row that repeats another row or a
finished experiment's settings is dropped and replaced (a bounded number of tries; a small lattice
is enumerated), so a batch holds only new settings.

- ``random``: numpy's ``default_rng(seed)``, uniform over the ranges.
- ``lhs``: ``scipy.stats.qmc.LatinHypercube``; ``sobol``: scrambled ``scipy.stats.qmc.Sobol``
  drawn in powers of two (its balance properties), the first ``n`` kept.
- ``tpe``: Optuna's TPE (multivariate, constant liar) through ask/tell, seeded with every finished
  experiment inside the domains; the batch is asked before anything is told, so the asked trials
  are running and the constant liar spreads them.
- ``gp``: a scikit-learn Gaussian process (:mod:`workbench_plugin._surrogate`) on the finished
  experiments, 1024 Sobol candidates, picked one by one by expected improvement with the "kriging
  believer" (each pick joins the data at its predicted mean before the next). Optuna's GP sampler
  needs PyTorch, which is not shipped. With fewer than 3 finished experiments inside the domains it
  falls back to Sobol, and :attr:`Search.fallback` says so.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from workbench_plugin import _surrogate
from workbench_plugin._quiet import quiet
from workbench_plugin.flags import one_line
from workbench_plugin.proposals._domain import _discrete, from_unit, is_number, snap, to_unit
from workbench_plugin.proposals._observations import param_value
from workbench_plugin.proposals._types import SOURCES, Domain, Observation, ProposalError
from workbench_plugin.space import Value

__all__ = ["GP_MIN", "MAX_FIT", "Search", "inside", "row_key", "sample", "search"]

#: Fewer finished experiments inside the domains than this: ``gp`` falls back to ``sobol``.
GP_MIN = 3
#: The most finished experiments a GP is fitted on (the best quarter and an even spread of the rest).
MAX_FIT = 300
_CANDIDATES_LOG2 = 10  # 1024 Sobol candidates for gp
_MAX_ROUNDS = 20
_MAX_ENUMERATE = 100_000
#: The most unit points drawn to find new rows (per row asked, at least the minimum) before giving up.
_DRAW_BUDGET_PER_ROW = 32
_MIN_DRAW_BUDGET = 1024
_BELIEVER_REFITS = 64  # at most this many refits of the believer; bigger batches refit every few picks


class Search(NamedTuple):
    """What a module proposed, and on what."""

    source: str  #: the module that produced the rows ("sobol" when "gp" fell back)
    rows: list[dict[str, Value]]
    #: per row, the GP's (expected metric, its standard deviation, expected improvement); None for others
    stats: list[tuple[float, float, float] | None]
    used: int  #: finished experiments the module was seeded with (tpe, gp)
    left_out: int  #: finished experiments outside the domains, not used
    fallback: str = ""  #: why another module stood in ("" when none did)
    short: str = ""  #: why there are fewer than n rows ("" when there are n)


def _cell(value: object) -> tuple[str, Any]:
    return ("n", float(value)) if is_number(value) else ("s", str(value))  # type: ignore[arg-type]


def row_key(row: Mapping[str, Value], names: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """A row's identity over ``names``: numbers compare as numbers (32 == 32.0)."""
    return tuple(_cell(row.get(name)) for name in names)


def _inside_one(domain: Domain, value: Value | None) -> bool:
    if value is None:
        return False
    if domain.kind in ("fixed", "categorical"):
        return any(_cell(c) == _cell(value) for c in domain.choices)
    if not is_number(value):
        return False
    x, low, high = float(value), float(domain.low), float(domain.high)  # type: ignore[arg-type]
    tol = 1e-9 * max(abs(low), abs(high), 1e-300)
    if not low - tol <= x <= high + tol:
        return False
    if domain.kind == "int" and x != round(x):
        return False
    return not domain.choices or any(float(c) == x for c in domain.choices if is_number(c))


def inside(history: Sequence[Observation], domains: Mapping[str, Domain]) -> tuple[list[Observation], int]:
    """The observations whose every hyperparameter lies inside its domain (a fixed one: equal to its value),
    and how many were left out."""
    kept = [o for o in history if all(_inside_one(d, param_value(o.params, n)) for n, d in domains.items())]
    return kept, len(history) - len(kept)


# ---- rows from unit coordinates -----------------------------------------------------------------------
class _Rows:
    """Distinct new rows: never a repeat of each other nor of a finished experiment's settings."""

    def __init__(self, domains: Mapping[str, Domain], history: Sequence[Observation]) -> None:
        self.domains = domains
        self.names = list(domains)
        self.varying = [n for n, d in domains.items() if d.kind != "fixed"]
        self.fixed = {n: snap(d, 0.0) for n, d in domains.items() if d.kind == "fixed"}
        self.seen: set[tuple[tuple[str, Any], ...]] = set()
        for obs in history:
            values = {n: param_value(obs.params, n) for n in self.names}
            if all(v is not None for v in values.values()):
                self.seen.add(row_key(values, self.names))  # type: ignore[arg-type]
        self.rows: list[dict[str, Value]] = []

    def row(self, values: Mapping[str, Value]) -> dict[str, Value]:
        return {n: self.fixed[n] if n in self.fixed else values[n] for n in self.names}

    def from_units(self, u: np.ndarray) -> dict[str, Value]:
        return self.row({n: from_unit(self.domains[n], float(x)) for n, x in zip(self.varying, u, strict=True)})

    def add(self, row: dict[str, Value]) -> bool:
        key = row_key(row, self.names)
        if key in self.seen:
            return False
        self.seen.add(key)
        self.rows.append(row)
        return True

    def space_size(self) -> int | None:
        """How many distinct rows the domains hold, None when a float range makes them countless."""
        size = 1
        for name in self.varying:
            options = self.options(self.domains[name])
            if options is None:
                return None
            size *= len(options)
        return size

    @staticmethod
    def options(domain: Domain) -> list[Value] | None:
        if domain.kind == "categorical":
            return list(domain.choices)
        found = _discrete(domain)
        if found is not None:
            return found
        if domain.kind == "int" and domain.low is not None and domain.high is not None:
            lo, hi = math.ceil(domain.low), math.floor(domain.high)
            if hi - lo < _MAX_ENUMERATE:
                return list(range(lo, hi + 1))
        return None

    def enumerate_rest(self, n: int, rng: np.random.Generator) -> None:
        """Top up from every remaining combination, in a seeded random order (a small space)."""
        size = self.space_size()
        if size is None or size > _MAX_ENUMERATE:
            return
        options = [self.options(self.domains[name]) or [] for name in self.varying]
        combos = list(itertools.product(*options))
        for i in rng.permutation(len(combos)):
            if len(self.rows) >= n:
                return
            self.add(self.row(dict(zip(self.varying, combos[int(i)], strict=True))))

    def short(self, n: int) -> str:
        if len(self.rows) >= n:
            return ""
        size = self.space_size()
        if size is not None and size <= _MAX_ENUMERATE:
            return (f"only {len(self.rows)} distinct new settings exist in these ranges ({size:,} in all, "
                    "the rest already ran); widen a range to get more")
        return f"only {len(self.rows)} distinct new settings found in repeated draws; widen a range"


def _fill(rows: _Rows, n: int, draw: Callable[[int], np.ndarray], seed: int) -> None:
    if not rows.varying:
        rows.add(rows.row({}))
        return
    drawn, budget = 0, max(_DRAW_BUDGET_PER_ROW * n, _MIN_DRAW_BUDGET)
    for _ in range(_MAX_ROUNDS):
        missing = n - len(rows.rows)
        if missing <= 0 or drawn >= budget:
            break
        points = draw(missing)
        drawn += len(points)
        for u in points:
            rows.add(rows.from_units(u))
            if len(rows.rows) >= n:
                return
    rows.enumerate_rest(n, np.random.default_rng(seed))


def _sobol_draw(d: int, seed: int, first: int) -> Callable[[int], np.ndarray]:
    from scipy.stats import qmc

    engine = qmc.Sobol(d, scramble=True, rng=seed)

    def draw(missing: int) -> np.ndarray:
        if engine.num_generated == 0:  # the first 2^m points, of which the first `first` are kept
            return engine.random_base2(max(0, math.ceil(math.log2(max(first, 1)))))[:first]
        return engine.random_base2(int(math.log2(engine.num_generated)))  # doubles: stays balanced

    return draw


def _space_filling(source: str, rows: _Rows, n: int, seed: int) -> None:
    d = max(len(rows.varying), 1)
    if source == "random":
        rng = np.random.default_rng(seed)
        _fill(rows, n, lambda m: rng.random((max(m, 1), d)), seed)
    elif source == "lhs":
        from scipy.stats import qmc

        engine = qmc.LatinHypercube(d, rng=seed)
        _fill(rows, n, lambda m: engine.random(max(m, 1)), seed)
    else:
        _fill(rows, n, _sobol_draw(d, seed, n), seed)


# ---- model-based --------------------------------------------------------------------------------------
def _distribution(domain: Domain) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if domain.kind == "categorical" or domain.choices:
        return CategoricalDistribution(list(domain.choices))
    low, high = float(domain.low), float(domain.high)  # type: ignore[arg-type]
    if domain.kind == "int":
        return IntDistribution(math.ceil(low), math.floor(high), log=domain.log and low >= 1)
    return FloatDistribution(low, high, log=domain.log and low > 0)


def _external(domain: Domain, value: Value) -> Value:
    if domain.kind == "categorical" or domain.choices:
        return next(c for c in domain.choices if _cell(c) == _cell(value))
    return int(round(float(value))) if domain.kind == "int" else float(value)


def _tpe(rows: _Rows, n: int, seed: int, used: Sequence[Observation], goal: str) -> None:
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with quiet(optuna.exceptions.ExperimentalWarning):
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
            study = optuna.create_study(direction="maximize" if goal == "max" else "minimize", sampler=sampler)
            dists = {name: _distribution(rows.domains[name]) for name in rows.varying}
            for obs in used:
                params = {name: _external(rows.domains[name], param_value(obs.params, name))  # type: ignore[arg-type]
                          for name in rows.varying}
                study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=obs.value))
            for _ in range(4 * n + 20):
                if len(rows.rows) >= n:
                    break
                trial = study.ask(dists)
                rows.add(rows.row({name: snap(rows.domains[name], trial.params[name]) for name in rows.varying}))
    finally:
        optuna.logging.set_verbosity(previous)


def _encode(rows: _Rows, row: Mapping[str, Value]) -> list[float]:
    out: list[float] = []
    for name in rows.varying:
        domain = rows.domains[name]
        if domain.kind == "categorical":
            out.extend(math.sqrt(0.5) if _cell(c) == _cell(row[name]) else 0.0 for c in domain.choices)
        else:
            out.append(to_unit(domain, row[name]))
    return out


def _capped(used: Sequence[Observation], goal: str) -> list[Observation]:
    if len(used) <= MAX_FIT:
        return list(used)
    ranked = sorted(used, key=lambda o: o.value, reverse=goal == "max")
    top, rest = ranked[: MAX_FIT // 4], ranked[MAX_FIT // 4:]
    step = len(rest) / (MAX_FIT - len(top))
    return top + [rest[int(i * step)] for i in range(MAX_FIT - len(top))]


def _gp(rows: _Rows, n: int, seed: int, used: Sequence[Observation], goal: str) -> list[tuple[float, float, float]]:
    from scipy.stats import qmc

    sign = 1.0 if goal == "max" else -1.0
    fit_rows = _capped(used, goal)
    x = np.array([_encode(rows, {k: param_value(o.params, k) for k in rows.varying}) for o in fit_rows])  # type: ignore[misc]
    y = np.array([sign * o.value for o in fit_rows], dtype=float)
    engine = qmc.Sobol(len(rows.varying), scramble=True, rng=seed)
    candidates: list[dict[str, Value]] = []
    keys = set(rows.seen)
    for u in engine.random_base2(_CANDIDATES_LOG2):
        row = rows.from_units(u)
        key = row_key(row, rows.names)
        if key not in keys:
            keys.add(key)
            candidates.append(row)
    xc = np.array([_encode(rows, c) for c in candidates]).reshape(len(candidates), x.shape[1])
    model = _surrogate.fit_gp(x, y, seed=seed)
    every = max(1, math.ceil(n / _BELIEVER_REFITS))
    stats: list[tuple[float, float, float]] = []
    left = np.ones(len(candidates), dtype=bool)
    picks = 0
    while picks < n and left.any():
        index = np.flatnonzero(left)
        pred = _surrogate.predict(model, xc[index])
        ei = _surrogate.expected_improvement(pred.mean, pred.std, float(y.max()))
        best = int(np.lexsort((-pred.mean, -ei))[0])
        chosen = int(index[best])
        left[chosen] = False
        rows.add(candidates[chosen])
        stats.append((sign * float(pred.mean[best]), float(pred.std[best]), float(ei[best])))
        picks += 1
        x = np.vstack([x, xc[chosen]])
        y = np.append(y, pred.mean[best])  # the kriging believer: the pick "observed" at its prediction
        if picks % every == 0 and picks < n:
            model = _surrogate.fit_gp(x, y, kernel=model.kernel_)
    return stats


# ---- the entry points -----------------------------------------------------------------------------------
def search(source: str, domains: Mapping[str, Domain], n: int, *, seed: int = 0,
           history: Sequence[Observation] = (), goal: str = "max") -> Search:
    """``n`` new rows from module ``source`` (random|lhs|sobol|tpe|gp), with what they were based on."""
    automated = [s for s in SOURCES if s != "fit"]
    if source not in automated:
        raise ProposalError(f"source: {one_line(source, 40)!r} is not a search module; use one of "
                            f"{', '.join(automated)}")
    if goal not in ("max", "min"):
        raise ProposalError(f"goal: {one_line(goal, 40)!r} is not a goal; use max or min")
    used, left_out = inside(history, domains)
    rows = _Rows(domains, history)
    stats: list[tuple[float, float, float] | None] = []
    fallback = ""
    if source == "gp" and len(used) < GP_MIN:
        fallback = (f"{len(used)} finished experiment{'s' if len(used) != 1 else ''} inside these ranges, "
                    f"fewer than the {GP_MIN} a Gaussian process needs; Sobol points instead")
        source = "sobol"
    if source == "gp" and rows.varying:
        stats = list(_gp(rows, n, seed, used, goal))
    elif source == "tpe" and rows.varying:
        _tpe(rows, n, seed, used, goal)
    if source in ("random", "lhs", "sobol") or len(rows.rows) < n:
        before = len(rows.rows)
        _space_filling("random" if source in ("tpe", "gp") else source, rows, n, seed)
        if source in ("tpe", "gp") and len(rows.rows) > before:
            fallback = f"{len(rows.rows) - before} row(s) drawn uniformly: the model repeated settings"
    stats += [None] * (len(rows.rows) - len(stats))
    return Search(source, rows.rows[:n], stats[:n], len(used) if source in ("tpe", "gp") else 0, left_out,
                  fallback, rows.short(n))


def sample(source: str, domains: Mapping[str, Domain], n: int, *, seed: int = 0,
           history: Sequence[Observation] = (), goal: str = "max") -> list[dict[str, Value]]:
    """``n`` new rows over ``domains`` from module ``source`` (see the module's docstring); fewer when the
    domains hold fewer new settings."""
    return search(source, domains, n, seed=seed, history=history, goal=goal).rows
