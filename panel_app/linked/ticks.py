"""Axis ticks whose labels do not collide in small plots (numpy-free, pure functions).

:func:`log_ticks` puts a log axis's ticks at decades (every 2nd, 3rd, ... when their labels do
not fit) or at a few round values inside one decade; :data:`LOG_TICKS_JS` is its browser twin,
the ticker of the axis, so a zoomed axis keeps the same rule (``tests/unit/test_axes.py`` runs
both on the same input). :func:`linear_tick_count` is how many ticks a linear axis is asked
for, :func:`category_stride` which categories are labelled. Label widths are estimated from
their characters (10 px font).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from panel_app.linked.axes import number_label

__all__ = [
    "LABEL_CHAR_PX",
    "LABEL_GAP_PX",
    "LABEL_LINE_PX",
    "LOG_TICKS_JS",
    "TickInfo",
    "category_stride",
    "linear_tick_count",
    "log_ticks",
]


class TickInfo(NamedTuple):
    """Where a log axis has its ticks (data units) and what they say."""

    ticks: tuple[float, ...]
    labels: tuple[str, ...]


#: Estimated width of a tick label's character at 10 px (pixels), and the space kept between
#: two labels; a vertical axis needs a line of height between its labels.
LABEL_CHAR_PX = 6.5
LABEL_GAP_PX = 10.0
LABEL_LINE_PX = 14.0
_NICE = (1.0, 2.0, 5.0)


def _fits(ticks: Sequence[float], labels: Sequence[str], lo: float, hi: float, pixels: float,
          vertical: bool, log: bool) -> bool:
    """Whether no two neighbouring labels of the ticks overlap on ``pixels`` of axis."""
    if hi <= lo:
        return len(ticks) <= 1
    pos = [((math.log10(t) if log else t) - lo) / (hi - lo) * pixels for t in ticks]
    for i in range(1, len(ticks)):
        need = LABEL_LINE_PX if vertical else \
            (len(labels[i - 1]) + len(labels[i])) / 2 * LABEL_CHAR_PX
        if pos[i] - pos[i - 1] < need + LABEL_GAP_PX:
            return False
    return True


def _decade(k: int) -> float:
    """10^k, parsed (as the browser twin does) rather than computed."""
    return float(f"1e{k}")


def _nice_ticks(a: float, b: float, count: int) -> list[float]:
    """Round values from ``a`` to ``b``, as Bokeh's ``BasicTicker`` places about ``count`` of
    them: the step of 1, 2 or 5 times 10^k whose number of ticks is nearest to ``count``."""
    span = b - a
    raw = span / max(count, 1)
    if raw <= 0 or not math.isfinite(raw):
        return [a]
    base = _decade(math.floor(math.log10(raw)))
    step = min((m * base for m in (*_NICE, 10.0)), key=lambda c: abs(count - span / c))
    first = math.ceil(a / step - 1e-9)
    return [float(f"{k * step:.12g}") for k in range(first, int(math.floor(b / step + 1e-9)) + 1)]


def log_ticks(start: float, end: float, pixels: float, *, vertical: bool = False) -> TickInfo:
    """Ticks for a log axis from ``start`` to ``end`` (data units) on ``pixels`` of screen whose
    labels do not collide: decades (every 2nd, 3rd, ... when they do not fit) when the axis
    spans a decade or more, else a few round values; the most that fit, at least one.
    :data:`LOG_TICKS_JS` is its browser twin (the ticker of a zoomed axis)."""
    if not (start > 0 and end > 0 and math.isfinite(start) and math.isfinite(end)):
        return TickInfo((), ())
    a, b = sorted((start, end))
    lo, hi = math.log10(a), math.log10(b)
    candidates: list[list[float]] = []
    first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    if last - first >= 1:  # two decades or more inside: decades, thinned
        for stride in (1, 2, 3, 5, 10, 20, 50, 100):
            start_k = first + (-first) % stride
            candidates.append([_decade(k) for k in range(start_k, last + 1, stride)])
    else:
        for count in (8, 6, 5, 4, 3, 2, 1):
            ticks = [t for t in _nice_ticks(a, b, count) if a <= t <= b]
            if ticks and ticks not in candidates:
                candidates.append(ticks)
    for ticks in candidates:
        labels = [number_label(t) for t in ticks]
        if ticks and _fits(ticks, labels, lo, hi, pixels, vertical, True):
            return TickInfo(tuple(ticks), tuple(labels))
    ticks = candidates[-1][:1] if candidates and candidates[-1] else \
        [_decade(math.floor((lo + hi) / 2 + 0.5))]
    return TickInfo(tuple(ticks), tuple(number_label(t) for t in ticks))


#: A JS function ``logTicks(start, end, pixels, vertical)``: the browser's twin of
#: :func:`log_ticks` (ticks only; their labels are :data:`NUMBER_JS`'s ``fmt``, which it needs).
LOG_TICKS_JS = (f"const LINE_PX = {LABEL_LINE_PX}, CHAR_PX = {LABEL_CHAR_PX}, GAP_PX = {LABEL_GAP_PX};"
                + """
const logTicks = (start, end, pixels, vertical) => {
  if (!(start > 0 && end > 0 && Number.isFinite(start) && Number.isFinite(end))) { return []; }
  const a = Math.min(start, end), b = Math.max(start, end);
  const lo = Math.log10(a), hi = Math.log10(b);
  const decade = (k) => Number(`1e${k}`);
  const nice = (count) => {
    const span = b - a, raw = span / Math.max(count, 1);
    if (!(raw > 0) || !Number.isFinite(raw)) { return [a]; }
    const base = decade(Math.floor(Math.log10(raw)));
    let step = null, err = Infinity;
    for (const m of [1, 2, 5, 10]) {
      const c = m * base, e = Math.abs(count - span / c);
      if (e < err) { err = e; step = c; }
    }
    const out = [];
    for (let k = Math.ceil(a / step - 1e-9); k <= Math.floor(b / step + 1e-9); k++) {
      out.push(Number((k * step).toPrecision(12)));
    }
    return out;
  };
  const fits = (ticks) => {
    if (hi <= lo) { return ticks.length <= 1; }
    const labels = ticks.map(fmt);
    const pos = ticks.map((t) => (Math.log10(t) - lo) / (hi - lo) * pixels);
    for (let i = 1; i < ticks.length; i++) {
      const need = vertical ? LINE_PX : (labels[i - 1].length + labels[i].length) / 2 * CHAR_PX;
      if (pos[i] - pos[i - 1] < need + GAP_PX) { return false; }
    }
    return true;
  };
  const candidates = [];
  const first = Math.ceil(lo - 1e-9), last = Math.floor(hi + 1e-9);
  if (last - first >= 1) {
    for (const stride of [1, 2, 3, 5, 10, 20, 50, 100]) {
      const ticks = [];
      for (let k = first + (((-first) % stride) + stride) % stride; k <= last; k += stride) {
        ticks.push(decade(k));
      }
      candidates.push(ticks);
    }
  } else {
    for (const count of [8, 6, 5, 4, 3, 2, 1]) {
      const ticks = nice(count).filter((t) => a <= t && t <= b);
      const key = JSON.stringify(ticks);
      if (ticks.length && !candidates.some((c) => JSON.stringify(c) === key)) { candidates.push(ticks); }
    }
  }
  for (const ticks of candidates) {
    if (ticks.length && fits(ticks)) { return ticks; }
  }
  const lastc = candidates.length ? candidates[candidates.length - 1] : [];
  return lastc.length ? lastc.slice(0, 1) : [decade(Math.floor((lo + hi) / 2 + 0.5))];
};
""")


def category_stride(labels: Sequence[str], pixels: float) -> int:
    """Label every how-many-th category of a categorical axis of ``pixels`` so that no two
    labels collide (1: all of them)."""
    n = len(labels)
    if n <= 1 or pixels <= 0:
        return 1
    widest = max(len(label) for label in labels) * LABEL_CHAR_PX + LABEL_GAP_PX
    slot = pixels / n  # the categories are evenly spaced
    return max(1, math.ceil(widest / slot))


def linear_tick_count(start: float, end: float, pixels: float, *, vertical: bool = False) -> int:
    """How many ticks a linear axis from ``start`` to ``end`` can label on ``pixels`` without
    collisions (what Bokeh's ticker is asked for): the most of 2..8 whose round values fit."""
    a, b = sorted((float(start), float(end)))
    if not (math.isfinite(a) and math.isfinite(b)) or b <= a:
        return 2
    for count in (8, 7, 6, 5, 4, 3):
        ticks = [t for t in _nice_ticks(a, b, count) if a <= t <= b]
        if _fits(ticks, [number_label(t) for t in ticks], a, b, pixels, vertical, False):
            return count
    return 2
