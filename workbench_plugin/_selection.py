"""Choosing the experiments to run under a budget, a deadline and a cap, and parsing those limits.

The rule is *greedy by score*: candidates are taken highest score first (ties: cheaper, then
earlier), and each is kept when the chosen set still fits every limit; one that does not fit is
skipped and the next is tried, so a cheaper, lower-scored experiment can still fill the rest of a
budget. We do not maximise the sum of scores (a knapsack): that would trade the best experiment for
two mediocre ones that cost as much, which is not what "recommended" means to a user, and score
per cost would favour cheap, uninformative experiments. With equal costs, a budget that fits
exactly k experiments gives the k highest-scored.

Wall time: the chosen experiments run in launch order on ``slots`` lanes, each starting on the
first lane free (list scheduling); the deadline bounds when the last one ends.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from workbench_plugin._exceptions import SpecError

if TYPE_CHECKING:
    from workbench_plugin.recommend import Candidate, Score

__all__ = ["Limits", "Recommendation", "apply_caps", "parse_duration", "parse_money", "recommend", "wall_time"]

MAX_LIMIT_CHARS = 64
_DURATION_PART = re.compile(r"(\d{1,9}(?:\.\d{1,9})?)\s*([dhms])")
_DURATION = re.compile(r"(?:\d{1,9}(?:\.\d{1,9})?\s*[dhms]\s*){1,4}")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PLAIN = re.compile(r"\d{1,15}(?:\.\d{1,9})?")
_MONEY = re.compile(r"[$€£]?\s*(\d{1,12}(?:\.\d{1,6})?)\s*(?:usd|eur|gbp)?", re.IGNORECASE)


class Recommendation(NamedTuple):
    include: list[bool]
    reasons: list[str | None]      # why a row is left out; None for a recommended row
    total_cost: float
    total_seconds: float            # the sum of the chosen experiments' durations
    wall_seconds: float             # when the last ends, at ``slots`` lanes
    binding: str | None             # "budget", "deadline" or "max_experiments": what left a row out


class Limits(NamedTuple):
    budget: float | None = None
    deadline_seconds: float | None = None
    max_experiments: int | None = None


def parse_duration(text: str, *, field: str = "deadline") -> float:
    """Seconds in ``30m``, ``2h``, ``1h30m``, ``1d``, ``90s``, ``1.5h`` or a plain ``45`` (seconds)."""
    shown = text[:MAX_LIMIT_CHARS] if isinstance(text, str) else text
    hint = f"{field}: {shown!r} is not a duration; give one like 30m, 2h or 1h30m"
    if not isinstance(text, str) or len(text) > MAX_LIMIT_CHARS:
        raise SpecError(hint)
    cleaned = text.strip().lower()
    if _PLAIN.fullmatch(cleaned):
        seconds = float(cleaned)
    elif _DURATION.fullmatch(cleaned):
        parts = _DURATION_PART.findall(cleaned)
        units = [u for _, u in parts]
        if len(set(units)) != len(units) or units != sorted(units, key="dhms".index):
            raise SpecError(hint)
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise SpecError(hint)
    if seconds <= 0:
        raise SpecError(f"{field}: {shown!r} is no time at all; give one like 30m, 2h or 1h30m")
    return seconds


def parse_money(text: str, *, field: str = "budget") -> float:
    """An amount such as ``20``, ``20.5`` or ``$20``; 0 or more."""
    shown = text[:MAX_LIMIT_CHARS] if isinstance(text, str) else text
    match = _MONEY.fullmatch(text.strip()) if isinstance(text, str) and len(text) <= MAX_LIMIT_CHARS else None
    if match is None:
        raise SpecError(f"{field}: {shown!r} is not an amount; give one like 20 or 20.5")
    return float(match.group(1))


def apply_caps(user: Limits, admin: Limits) -> Limits:
    """The limits to plan with: the user's, which may not exceed the administrator's caps; where
    the user set none, the administrator's cap applies."""
    def capped(field: str, mine: float | None, cap: float | None) -> float | None:
        if mine is not None and cap is not None and mine > cap:
            raise SpecError(f"{field}: {mine:g} is over the administrator's cap of {cap:g}; give {cap:g} or less")
        return mine if mine is not None else cap

    count = capped("max_experiments", user.max_experiments, admin.max_experiments)
    return Limits(
        capped("budget", user.budget, admin.budget),
        capped("deadline", user.deadline_seconds, admin.deadline_seconds),
        None if count is None else int(count),
    )


def wall_time(seconds: Sequence[float], slots: int) -> float:
    """When the last of ``seconds`` ends, run in order on ``slots`` lanes (list scheduling)."""
    lanes = [0.0] * min(slots, max(1, len(seconds)))
    for s in seconds:
        heapq.heappush(lanes, heapq.heappop(lanes) + s)
    return max(lanes)


def _check_limit(field: str, value: float | None, *, integer: bool = False) -> None:
    if value is None:
        return
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise SpecError(f"{field}: {value!r} is not a whole number; give a count such as 8")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise SpecError(f"{field}: {value!r} must be a number, 0 or more")


def _fits(total: float, limit: float) -> bool:
    return total <= limit + 1e-9 * max(1.0, abs(limit))  # 0.1 + 0.1 + 0.1 fits a budget of 0.3


def recommend(
    scores: Sequence[Score], candidates: Sequence[Candidate], *, budget: float | None = None,
    deadline_seconds: float | None = None, max_experiments: int | None = None, slots: int = 1,
    skipped: Sequence[bool] | None = None,
) -> Recommendation:
    """The highest-scored subset within the limits (see the module's docstring). User-skipped rows
    stay skipped; redundant rows and rows scored 0 are never recommended."""
    _check_limit("budget", budget)
    _check_limit("deadline", deadline_seconds)
    _check_limit("max_experiments", max_experiments, integer=True)
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise SpecError(f"slots: {slots!r} must be a whole number, 1 or more")
    skipped = list(skipped) if skipped is not None else [False] * len(candidates)
    if not len(scores) == len(candidates) == len(skipped):
        raise ValueError(f"recommend: {len(scores)} scores, {len(candidates)} candidates, {len(skipped)} skips")
    for i, cand in enumerate(candidates):
        for field, limit, estimate in (("budget", budget, cand.cost), ("deadline", deadline_seconds, cand.seconds)):
            if limit is not None and not (math.isfinite(estimate) and estimate >= 0):
                what = "cost" if field == "budget" else "duration"
                raise SpecError(f"{field}: experiment #{i} has no {what} estimate ({estimate!r}); "
                                f"set the resource option's {'prices' if field == 'budget' else 'durations'} "
                                f"or drop the {field}")

    reasons: list[str | None] = [None] * len(candidates)
    eligible = []
    for i, (score, cand) in enumerate(zip(scores, candidates, strict=True)):
        if skipped[i]:
            reasons[i] = "skipped by the user"
        elif cand.status == "redundant":
            reasons[i] = "skip: already ran"
        elif score.value <= 0:
            reasons[i] = "skip: score 0"
        else:
            eligible.append(i)
    eligible.sort(key=lambda i: (-scores[i].value, candidates[i].cost if math.isfinite(candidates[i].cost)
                                 else math.inf, i))
    chosen: list[int] = []
    cost = 0.0
    binding = None
    for i in eligible:
        cand = candidates[i]
        why = None
        if max_experiments is not None and len(chosen) + 1 > max_experiments:
            why, name = f"skip: over the cap of {max_experiments} experiments", "max_experiments"
        elif budget is not None and not _fits(cost + cand.cost, budget):
            why, name = "skip to stay within budget", "budget"
        elif deadline_seconds is not None and not _fits(
                wall_time([candidates[j].seconds for j in sorted([*chosen, i])], slots), deadline_seconds):
            why, name = "skip to meet the deadline", "deadline"
        if why is not None:
            reasons[i] = why
            binding = binding or name
            continue
        chosen.append(i)
        cost += cand.cost
    chosen.sort()
    include = [False] * len(candidates)
    for i in chosen:
        include[i] = True
    durations = [candidates[i].seconds for i in chosen]
    return Recommendation(
        include, reasons, sum(candidates[i].cost for i in chosen), sum(durations),
        wall_time(durations, slots) if durations else 0.0, binding,
    )
