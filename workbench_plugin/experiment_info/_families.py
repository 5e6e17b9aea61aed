"""Metric families: the metrics that may share a y axis.

Losses and errors (unbounded, smaller is better), scores in [0, 1] (accuracy, F1, AUC...),
times, learning rates, and everything else; a plot of one experiment's curves or of several
experiments' curves draws one y axis per family, so loss and accuracy never share one.
"""

from __future__ import annotations

import re
from typing import Literal

from workbench_plugin.recommend import _BAD, _GOOD, _goal, _words

__all__ = ["FAMILIES", "metric_family", "metric_goal"]

#: The families, in the order their axes are drawn.
FAMILIES = ("loss", "score", "time", "rate", "other")

_TIME = {"second", "seconds", "sec", "secs", "s", "time", "duration", "ms", "minutes", "hours"}
_RATE = {"lr", "rate"}
#: Minimised although no loss: clustering and model-selection criteria.
_LOWER = {"inertia", "distortion", "bic", "aic", "regret", "latency"}


def metric_family(name: str) -> str:
    """The family of metric ``name``: one of :data:`FAMILIES` (``val_loss`` -> loss,
    ``val_acc`` -> score, ``fit_seconds`` -> time, ``lr`` -> rate, ``grad_norm`` -> other)."""
    words = set(_words(name))
    if words & _TIME and not words & (_GOOD | _BAD):
        return "time"
    if words & _BAD and not words & _GOOD:
        return "loss"
    if words & _GOOD:
        return "score"
    if words & _RATE or re.fullmatch(r"(learning_?rate|lr)(_.*)?", name.lower()):
        return "rate"
    return "other"


def metric_goal(name: str) -> Literal["max", "min"]:
    """Whether larger ("max") or smaller ("min") is better, guessed from the name as the
    recommendation does (loss, error, mse, perplexity... are minimised)."""
    if metric_family(name) == "time" or set(_words(name)) & _LOWER:
        return "min"
    return _goal(name)
