"""A trend line drawn or points circled over a metric-vs-hyperparameter plot (claim 17, paragraph 0117).

A drawn line picks the candidate family closest to its shape (lowest BIC among linear, log and
quadratic; a Gaussian process is never read from a line) and weights the fit toward the points
near it; a lasso keeps only the points inside it. A line travels in the view state and URL as
text, ``x1,y1;x2,y2;...`` (:func:`format_line` / :func:`parse_line`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from workbench_plugin.proposals._types import Domain, DrawnLine, ProposalError

__all__ = ["LINE_FAMILIES", "MAX_LINE_CHARS", "MAX_LINE_POINTS", "NEAR", "closest_family", "format_line",
           "inside_lasso", "line_weights", "parse_line"]

#: The families a drawn line can pick, simplest first (ties go to the simpler).
LINE_FAMILIES: tuple[str, ...] = ("linear", "log", "quadratic")
MAX_LINE_POINTS = 500
MAX_LINE_CHARS = 20_000
#: A point this far from the line (x over the domain's range on its scale, y over the points'
#: range) keeps weight exp(-1); the farthest keep :data:`MIN_WEIGHT`.
NEAR = 0.15
MIN_WEIGHT = 0.05
#: The drawing's precision, as a fraction of its height: residuals below it count as exact.
_PRECISION = 1e-3
_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")


def _show(text: str) -> str:
    """A bounded, quoted, one-line rendering of user text (repr escapes control characters)."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _log(domain: Domain) -> bool:
    return domain.log and (domain.low is None or domain.low > 0)


def _arrays(line: DrawnLine, domain: Domain) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(line.xs, dtype=float)
    ys = np.asarray(line.ys, dtype=float)
    if len(xs) != len(ys) or len(xs) < 2:
        raise ProposalError(f"line: {len(xs)} x and {len(ys)} y values; draw a line of at least 2 points")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise ProposalError("line: a point is not a finite number; draw the line again")
    if _log(domain) and (xs <= 0).any():
        raise ProposalError(f"line: drawn at {domain.name} <= 0 on a log scale; draw it where {domain.name} > 0")
    return xs, ys


def closest_family(line: DrawnLine, domain: Domain) -> str:
    """The family of :data:`LINE_FAMILIES` whose least-squares fit to the drawn points has the
    lowest BIC, on the domain's scale (a straight line picks linear, an arch quadratic)."""
    xs, ys = _arrays(line, domain)
    n = len(xs)
    height = float(np.ptp(ys)) or 1.0
    y = (ys - ys.mean()) / height
    floor = n * _PRECISION**2
    t = np.log10(xs) if _log(domain) else xs
    best, best_bic = "linear", math.inf
    for family in LINE_FAMILIES:
        if family == "log" and (xs <= 0).any():
            continue
        v = np.log10(xs) if family == "log" else (xs if family == "linear" else t)
        width = float(np.ptp(v))
        if width == 0:
            continue
        u = (v - v.mean()) / width
        cols = [np.ones(n), u] + ([u * u] if family == "quadratic" else [])
        a = np.column_stack(cols)
        if np.linalg.matrix_rank(a) < a.shape[1]:
            continue
        beta, *_ = np.linalg.lstsq(a, y, rcond=None)
        rss = max(float(np.sum((y - a @ beta) ** 2)), floor)
        bic = n * math.log(rss / n) + a.shape[1] * math.log(n)
        if bic < best_bic - 1e-9:
            best, best_bic = family, bic
    return best


def _segment_distances(px: np.ndarray, py: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Each point's distance to the polyline through (lx, ly)."""
    if len(lx) == 1:
        return np.hypot(px - lx[0], py - ly[0])
    ax, ay, dx, dy = lx[:-1], ly[:-1], np.diff(lx), np.diff(ly)
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        s = ((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / length2
    s = np.clip(np.nan_to_num(s, nan=0.0), 0.0, 1.0)
    d = np.hypot(px[:, None] - (ax + s * dx), py[:, None] - (ay + s * dy))
    return np.asarray(d.min(axis=1), dtype=float)


def line_weights(line: DrawnLine, domain: Domain, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A weight per point: max(MIN_WEIGHT, exp(-(d/NEAR)^2)) for its distance d to the drawn line,
    x measured over the domain's range on its scale, y over the points' range."""
    lx, ly = _arrays(line, domain)
    px, py = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(px) == 0:
        return np.zeros(0)
    log = _log(domain)
    with np.errstate(invalid="ignore", divide="ignore"):
        pt = np.log10(px) if log else px
    lt = np.log10(lx) if log else lx
    if domain.low is not None and domain.high is not None and domain.high > domain.low:
        lo, hi = (math.log10(domain.low), math.log10(domain.high)) if log else (domain.low, domain.high)
    else:
        both = np.concatenate([pt[np.isfinite(pt)], lt])
        lo, hi = float(both.min()), float(both.max())
    width = (hi - lo) or 1.0
    height = float(np.ptp(py[np.isfinite(py)])) if np.isfinite(py).any() else 0.0
    height = height or float(np.ptp(ly)) or 1.0
    d = _segment_distances((pt - lo) / width, py / height, (lt - lo) / width, ly / height)
    d = np.where(np.isfinite(d), d, np.inf)
    return np.maximum(MIN_WEIGHT, np.exp(-((d / NEAR) ** 2)))


def inside_lasso(poly_xs: Sequence[float], poly_ys: Sequence[float], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Which points lie inside the closed polygon (even-odd rule), all in the same coordinates as
    the plot draws them (log10 of x on a log axis); fewer than 3 vertices circle nothing."""
    vx, vy = np.asarray(poly_xs, dtype=float), np.asarray(poly_ys, dtype=float)
    px, py = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    inside = np.zeros(px.shape, dtype=bool)
    if len(vx) < 3 or len(vx) != len(vy):
        return inside
    x1, y1 = vx[:, None], vy[:, None]
    x2, y2 = np.roll(vx, -1)[:, None], np.roll(vy, -1)[:, None]
    crosses = (y1 > py) != (y2 > py)
    with np.errstate(invalid="ignore", divide="ignore"):
        at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
    hits = crosses & (px < at)
    return np.asarray(hits.sum(axis=0) % 2 == 1, dtype=bool).reshape(px.shape)


def format_line(line: DrawnLine) -> str:
    """``x1,y1;x2,y2;...`` with each number as Python's repr (exact round trip)."""
    xs, ys = _arrays(line, Domain("line", "float"))
    if len(xs) > MAX_LINE_POINTS:
        raise ProposalError(f"line: {len(xs)} points; a drawn line may have at most {MAX_LINE_POINTS}")
    return ";".join(f"{float(x)!r},{float(y)!r}" for x, y in zip(xs, ys, strict=True))


def parse_line(text: str, field: str = "line") -> DrawnLine:
    """The line :func:`format_line` wrote; a one-line :class:`ProposalError` naming ``field`` otherwise."""
    if not isinstance(text, str):
        raise ProposalError(f"{field}: {type(text).__name__} is not a drawn line; give text 'x1,y1;x2,y2;...'")
    if len(text) > MAX_LINE_CHARS:
        raise ProposalError(f"{field}: {len(text):,} characters; a drawn line is at most {MAX_LINE_CHARS:,}")
    pairs = text.split(";")
    if len(pairs) > MAX_LINE_POINTS:
        raise ProposalError(f"{field}: {len(pairs)} points; a drawn line may have at most {MAX_LINE_POINTS}")
    if len(pairs) < 2:
        raise ProposalError(f"{field}: {_show(text)} has {len(pairs)} point; a line needs at least 2, "
                            "as in '0.001,0.9;0.01,0.95'")
    xs: list[float] = []
    ys: list[float] = []
    for k, pair in enumerate(pairs, 1):
        parts = pair.split(",")
        if len(parts) != 2 or not all(_NUMBER.fullmatch(p) for p in parts):
            raise ProposalError(f"{field}: point {k} {_show(pair)} is not 'x,y' with two numbers, "
                                "as in '0.001,0.9'")
        x, y = float(parts[0]), float(parts[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ProposalError(f"{field}: point {k} {_show(pair)} is not finite; give finite numbers")
        xs.append(x)
        ys.append(y)
    return DrawnLine(tuple(xs), tuple(ys))
