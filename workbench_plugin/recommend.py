"""Recommendations: score proposed experiments 0-10 from the project's results, then choose the
subset to run under a budget, a deadline and/or a cap on experiments.

Scoring (:func:`score_candidates`). With at least :data:`MIN_FINISHED` finished experiments whose
objective differs, a Gaussian process is fitted on them (parameters encoded as in
:mod:`workbench_plugin._surrogate`: numeric on their scale, normalised; categoricals one-hot; only
the dimensions that vary among finished experiments, the only ones it can learn from). It gives
each candidate an expected value ± uncertainty and its expected improvement (EI) over the best so
far. A new candidate scores::

    10 x (0.35 x quality  +  0.35 x EI / max EI of the batch  +  0.3 x coverage)

where quality (0..1) places the expected value between the worst (0) and the best (1) result so
far, and coverage (0..1) is credit for values and combinations no finished experiment tried. The
max EI is floored at 0.1 % of the results' range, so a batch where nothing is expected to improve
does not get inflated EI credit. A *similar* candidate (same settings, another snapshot or data,
or a failed try) scores half of that; a *redundant* one (already ran, same snapshot) scores 0.
With fewer finished experiments (or none that differ) the score is 10 x coverage, and ``basis``
says so.

Choosing (:func:`recommend`, in :mod:`workbench_plugin._selection`): by score, highest first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from workbench_plugin import _surrogate
from workbench_plugin._exceptions import SpecError
from workbench_plugin._selection import (
    Limits,
    Recommendation,
    apply_caps,
    parse_duration,
    parse_money,
    recommend,
)
from workbench_plugin.space import Value, format_value

if TYPE_CHECKING:
    from workbench_plugin.frames import RunFrames

__all__ = [
    "MIN_FINISHED", "Candidate", "Finished", "Limits", "Objective", "Recommendation", "Score", "ScoreReport",
    "apply_caps", "choose_objective", "finished_from_frames", "parse_duration", "parse_money", "recommend",
    "score_candidates",
]

#: Fewer finished experiments than this: no model, scores are coverage only.
MIN_FINISHED = 3
#: The most finished experiments a model is fitted on (a Gaussian process is cubic in them).
MAX_FIT = 250
#: score = 10 x (QUALITY_WEIGHT x quality + GAIN_WEIGHT x gain + the rest x coverage)
QUALITY_WEIGHT = 0.35
GAIN_WEIGHT = 0.35
SIMILAR_FACTOR = 0.5


class Objective(NamedTuple):
    metric: str
    goal: Literal["max", "min"]


class Finished(NamedTuple):
    """A finished experiment: its parameters and the final value of the objective's metric."""

    params: Mapping[str, Value]
    value: float


class Candidate(NamedTuple):
    """A proposed experiment, with its planning status and estimates (NaN: unknown)."""

    params: Mapping[str, Value]
    status: Literal["new", "redundant", "similar"]
    seconds: float
    cost: float
    #: the earlier experiment it repeats or resembles, and why it is similar ("snapshot differs", ...)
    repeats: str = ""
    why: str = ""


class Score(NamedTuple):
    value: float                 # 0..10, one decimal
    reason: str                  # one line
    expected: float | None       # the model's expected objective value; None without a model
    uncertainty: float | None    # its standard deviation
    coverage: float              # 0..1


class ScoreReport(NamedTuple):
    scores: list[Score]
    basis: str                   # what the scores were computed from, one line


# ---- the objective ------------------------------------------------------------------------------

_VALIDATION = {"val", "valid", "validation", "eval", "evaluation", "dev", "holdout"}
_TEST = {"test"}
_GOOD = {"acc", "accuracy", "score", "f1", "auc", "roc", "map", "r2", "precision", "recall", "top1", "acc1",
         "iou", "miou", "bleu", "rouge", "dice", "ndcg", "mcc", "kappa"}
_BAD = {"loss", "error", "err", "mse", "rmse", "mae", "nll", "perplexity", "ppl", "wer", "cer", "cost", "logloss"}


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return re.findall(r"[a-z]+\d*|\d+", spaced.lower())


def _goal(name: str) -> Literal["max", "min"]:
    words = set(_words(name))
    return "min" if words & _BAD and not words & _GOOD else "max"


def choose_objective(
    metric_names: Sequence[str], preferred: str | None = None, *, goal: str | None = None,
) -> Objective:
    """The metric to optimise. ``preferred`` must be one of ``metric_names``; without it, the first
    of: a validation accuracy/score (max), a validation loss/error (min), the same on test, any
    accuracy/score, any loss, then the first metric. The goal is guessed from the name (loss,
    error, mse, perplexity... are minimised) unless ``goal`` ("max" or "min") is given."""
    if goal is not None and goal not in ("max", "min"):
        raise SpecError(f"goal: {goal!r} is not a goal; use 'max' or 'min'")
    names = list(dict.fromkeys(metric_names))
    if preferred is not None:
        if preferred not in names:
            shown = ", ".join(n for n in names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
            raise SpecError(
                f"metric: {preferred[:80]!r} is not a metric of this project; choose one of {shown}" if names
                else f"metric: {preferred[:80]!r} is not a metric of this project; no metric was logged yet"
            )
        chosen = preferred
    elif not names:
        raise SpecError("metric: no metric was logged yet; recommendations need a finished experiment's metric")
    else:
        def rank(name: str) -> int:
            words = set(_words(name))
            checks = [words & _VALIDATION and words & _GOOD, words & _VALIDATION and words & _BAD,
                      words & _TEST and words & _GOOD, words & _TEST and words & _BAD, words & _GOOD, words & _BAD]
            return next((i for i, hit in enumerate(checks) if hit), len(checks))

        chosen = min(names, key=rank)  # min keeps the first of equals
    return Objective(chosen, "max" if goal == "max" else "min" if goal == "min" else _goal(chosen))


def _plain(value: Any) -> Value | None:
    """A frame cell as a parameter value; None for a missing one (NaN where a run lacked the flag)."""
    if hasattr(value, "item"):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, int | float | str) else None


def finished_from_frames(frames: Iterable[RunFrames], metric: str) -> list[Finished]:
    """The succeeded experiments of these runs that logged ``metric``, as :class:`Finished` rows."""
    rows = []
    for run in frames:
        df = run.experiments
        if metric not in df.columns or "state" not in df.columns:
            continue
        for record in df[df["state"] == "succeeded"].to_dict("records"):
            value = _plain(record[metric])
            if not isinstance(value, int | float) or not math.isfinite(value):
                continue
            params = {h: v for h in run.hparams if h in record and (v := _plain(record[h])) is not None}
            rows.append(Finished(params, float(value)))
    return rows


# ---- scores -------------------------------------------------------------------------------------

def _num(x: float) -> str:
    return f"{x:.3g}"


def _short(value: Value) -> str:
    text = format_value(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _explores(novelty: Mapping[str, float], params: Mapping[str, Value], fresh_combo: bool) -> str | None:
    names = [n for n, v in sorted(novelty.items(), key=lambda kv: -kv[1]) if v >= 0.5][:2]
    if not names:
        return "explores an untried combination of tried values" if fresh_combo else None
    shown = ", ".join(f"{n[:40]}={_short(params[n]) if n in params else '(unset)'}" for n in names)
    return f"explores {shown}, not tried before"


def _repeat_reason(cand: Candidate) -> str:
    if cand.status == "redundant":
        return f"repeats experiment {cand.repeats}: already ran" if cand.repeats else "already ran (same settings)"
    ref = f" {cand.repeats}" if cand.repeats else ""
    why = cand.why or "same settings, different snapshot or data"
    return f"repeats a similar experiment{ref} ({why})"


def _axes(columns: list[_surrogate.Column]) -> str:
    return ", ".join(f"{c.name} log" if c.kind == "log" else c.name for c in columns)


def score_candidates(
    finished: Sequence[Finished], candidates: Sequence[Candidate], objective: Objective, *,
    scales: Mapping[str, str] | None = None, seed: int = 0,
) -> ScoreReport:
    """Score each candidate 0-10 with a one-line reason (see the module's docstring)."""
    usable = [f for f in finished if isinstance(f.value, int | float) and math.isfinite(f.value)]
    if len(usable) > MAX_FIT:  # keep the best quarter and an even spread of the rest
        ranked = sorted(usable, key=lambda f: f.value, reverse=objective.goal == "max")
        top, rest = ranked[: MAX_FIT // 4], ranked[MAX_FIT // 4:]
        step = len(rest) / (MAX_FIT - len(top))
        fit_rows = top + [rest[int(i * step)] for i in range(MAX_FIT - len(top))]
    else:
        fit_rows = usable
    enc = _surrogate.encode([f.params for f in fit_rows], [c.params for c in candidates], scales)
    novelty = [_surrogate.value_novelty([f.params for f in fit_rows], c.params, enc.columns) for c in candidates]
    cover = _surrogate.coverage(enc, novelty)
    metric = objective.metric
    values = np.array([f.value for f in fit_rows], dtype=float)
    n = len(usable)
    shown_n = f"{len(fit_rows)} of {n}" if len(fit_rows) < n else f"{n}"

    fitted = enc.varying()
    why_not = None
    if n < MIN_FINISHED:
        why_not = f"too few finished experiments ({n}) to fit a model"
    elif not fitted.any():
        why_not = "no hyperparameter varies among the finished experiments"
    elif float(values.max() - values.min()) == 0.0:
        why_not = f"all {n} finished experiments have the same {metric} ({_num(float(values[0]))})"
    if why_not is not None:
        scores = []
        for cand, cov, nov in zip(candidates, cover, novelty, strict=True):
            raw = 10.0 * float(cov) * (SIMILAR_FACTOR if cand.status == "similar" else 1.0)
            if cand.status != "new":
                reason = _repeat_reason(cand)
            elif not fit_rows:
                reason = "no finished experiment yet: every value is untried"
            else:
                reason = _explores(nov, cand.params, bool(cov > 0)) or "all its values were tried"
            value = 0.0 if cand.status == "redundant" else round(raw, 1)
            scores.append(Score(value, reason, None, None, round(float(cov), 3)))
        return ScoreReport(scores, f"{why_not}; scores are coverage of untried values")

    axes = _axes([c for c in enc.columns if c.name in {d for d, f in zip(enc.dims, fitted, strict=True) if f}])
    basis = (
        f"Gaussian process on {shown_n} finished experiments ({axes}); score = expected {metric} "
        f"({objective.goal}) and its expected improvement + coverage of untried values"
    )
    if not candidates:
        return ScoreReport([], basis)
    sign = 1.0 if objective.goal == "max" else -1.0
    y = sign * values
    pred = _surrogate.fit_predict(enc.finished[:, fitted], y, enc.candidates[:, fitted], seed=seed)
    best, worst = float(y.max()), float(y.min())
    spread = best - worst
    ei = _surrogate.expected_improvement(pred.mean, pred.std, best)
    live = [i for i, c in enumerate(candidates) if c.status != "redundant"]
    top_ei = max([float(ei[i]) for i in live] + [1e-3 * spread])

    scores = []
    for i, cand in enumerate(candidates):
        mu, std = float(pred.mean[i]), float(pred.std[i])
        quality = min(1.0, max(0.0, (mu - worst) / spread))
        gain = float(ei[i]) / top_ei
        cov = float(cover[i])
        exploit = QUALITY_WEIGHT * quality + GAIN_WEIGHT * gain
        raw = 10.0 * (exploit + (1 - QUALITY_WEIGHT - GAIN_WEIGHT) * cov)
        expected = f"expected {metric} {_num(sign * mu)} ± {_num(std)} (best {_num(sign * best)})"
        if cand.status != "new":
            reason = _repeat_reason(cand)
            raw *= 0.0 if cand.status == "redundant" else SIMILAR_FACTOR
        elif ((1 - QUALITY_WEIGHT - GAIN_WEIGHT) * cov > exploit or max(novelty[i].values(), default=0) >= 0.5) and (
                text := _explores(novelty[i], cand.params, cov > 0)):  # a new value: the model extrapolates
            reason = f"{text}; {expected}"
        elif mu > best:
            reason = f"{expected}: likely improvement"
        elif best - mu <= 0.05 * spread:
            reason = f"close to the best {metric} so far ({expected})"
        elif gain >= 0.5:
            reason = f"{expected}: uncertain, may improve"
        else:
            reason = f"{expected}: unlikely to improve"
        scores.append(Score(round(min(10.0, max(0.0, raw)), 1), reason, sign * mu, std, round(cov, 3)))
    return ScoreReport(scores, basis)
