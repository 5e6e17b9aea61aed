"""Overfitting, noise and divergence flags from experiments' curves (paper 6.1), and the
"avoid: ..." warnings they give the next batch.

Metric names are read by words (:func:`workbench_plugin.recommend._words`: ``valLoss`` and
``val_loss`` are both "val loss"). A *validation* metric has a word val, valid, validation,
eval, evaluation, dev, holdout or test; a *loss* has loss, error, err, mse, rmse, mae, nll,
perplexity, ... (and no accuracy word); an *accuracy* has acc, accuracy, score, f1, auc, ...
A *training* loss (accuracy) is a loss (accuracy) without a validation word: ``loss``,
``train_loss``, ``training_loss``. Per experiment the best-named one of each is used
(validation before test, ``loss`` before other loss words, the shorter name first).

Each metric's points are ordered by epoch; a curve without epochs (per-step logging) by step.

* **overfitting**: the validation loss rose ``patience`` (default 3) times in a row, each rise
  strictly more than 0.1 % of the curve's range and all of them together by more than 4 swings
  (the noise, below: a noisy plateau rises three times in a row by chance), while the training
  loss fell over the same epochs (its value at the last of them below its value at the epoch
  before the first). The mirror counts too: the validation accuracy fell ``patience`` times in
  a row while the training accuracy rose. The training curve is read at the same epochs (or
  steps); when one of the two has epochs and the other only steps, at the same moments (the
  curves frame is in time order per experiment). The longest such stretch is reported, the
  latest of equals: "val_loss rose for 4 epochs (epochs 6-9) while loss fell".
* **noisy**: a validation metric (or an experiment's only metric) with at least 6 finite points
  whose epoch-to-epoch change swings more than 3x its mean change and more than 5 % of the
  curve's range. The swing is the noise's share of the change, measured robustly from the
  change of the change: 1.4826 x the median absolute deviation of the second differences /
  sqrt(3) (for white noise of standard deviation s on a smooth trend, s x sqrt(2): the standard
  deviation of the change). The plain standard deviation of the change counts a fast early drop
  as noise: it flagged 57 % of clean exponential decays over 30 epochs.
* Measured on 1,000 synthetic experiments of 30 epochs each (``python bench/health.py
  --calibrate``: exponential losses with random rates 0.05-1.5, logistic accuracies; the
  U-shaped validation loss turns up by 4 % of its amplitude per epoch after a random epoch 8-21
  while the training loss keeps falling; noise as a share of the curve's amplitude):

  ============================  ======  ======  ======  ======  ======
  noise                          0.5 %    1 %     2 %     5 %    10 %
  ============================  ======  ======  ======  ======  ======
  overfitting, clean decay       0.1 %   0.1 %   0.3 %   0.8 %   0.6 %
  overfitting, U-shaped val      100 %   100 %    99 %    41 %     9 %
  noisy, clean decay               0 %     0 %     0 %    20 %    97 %
  noisy, U-shaped val              0 %     0 %     2 %    85 %   100 %
  ============================  ======  ======  ======  ======  ======

  (noise that large hides a slow turn: the noisy flag says so instead). "val_acc changes swing
  ±0.04 per epoch (3.5x its mean change)".
* **diverged**: a loss (training or validation) became NaN or infinite ("loss became NaN at
  epoch 7"), or exceeded 10x its first finite value when that was positive ("loss reached 12x
  its first value at epoch 5"); for an experiment without any loss, every metric has a
  non-finite value ("every metric became NaN or inf (val_acc at epoch 4)").

Running experiments are flagged from their curves so far. Everything is columnar (numpy, and
pandas only where a median or an as-of join needs it): ``bench/health.py`` times 100,000
experiments x 30 epochs.

:func:`avoid_warnings` turns flags into warnings for the next batch: for a numeric
hyperparameter, a threshold ``t`` among the experiments' values such that of the experiments
with a value ``>= t`` (or ``<= t``) at least 60 % and at least 2 diverged (then: overfitted),
while of the others at most 40 % did (and there is at least one other):
"avoid: 3 of 4 experiments with lr >= 0.1 diverged".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from workbench_plugin.flags import flag_key, one_line
from workbench_plugin.proposals._types import Domain, Health, ProposalError
from workbench_plugin.recommend import _BAD, _GOOD, _TEST, _VALIDATION, _words
from workbench_plugin.space import Value, format_value

__all__ = ["AVOID_MIN", "AVOID_SHARE", "EXPLODE_FACTOR", "NOISE_MIN_POINTS", "NOISE_RANGE_SHARE",
           "NOISE_RATIO", "avoid_warnings", "health_of"]

#: A loss that exceeds this many times its first (positive) value has exploded.
EXPLODE_FACTOR = 10.0
#: Noisy: at least this many finite points, a swing above this many times the mean change and
#: above this share of the curve's range.
NOISE_MIN_POINTS = 6
NOISE_RATIO = 3.0
NOISE_RANGE_SHARE = 0.05
#: A rise counts when above this share of the curve's range; the rises of a stretch together
#: must exceed this many swings (4: see the table in the docstring).
RISE_TOLERANCE = 1e-3
RISE_NOISE = 4.0
#: avoid_warnings: share and count of flagged experiments beyond a threshold, and the most
#: share among the others.
AVOID_SHARE = 0.6
AVOID_MIN = 2
AVOID_OTHERS = 0.4
AVOID_MAX_LINES = 3

_FLAGS = ("overfitting", "noisy", "diverged")
_VAL_WORDS = _VALIDATION | _TEST
_NAME_CHARS = 60


class _Kinds(NamedTuple):
    """Per distinct metric name (its code): what it is, and its rank among its kind (lower first)."""

    val_loss: np.ndarray  # bool
    train_loss: np.ndarray
    val_acc: np.ndarray
    train_acc: np.ndarray
    val: np.ndarray
    loss: np.ndarray
    rank: np.ndarray  # int64


def _kinds(names: list[str]) -> _Kinds:
    rows = []
    for name in map(str, names):
        words = set(_words(name))
        is_val = bool(words & _VAL_WORDS)
        is_loss = bool(words & _BAD) and not words & _GOOD
        is_acc = bool(words & _GOOD) and not words & _BAD
        rows.append((is_val, is_loss, is_acc, (not words & _VALIDATION, "loss" not in words and "acc" not in words,
                                               len(name), name)))
    order = sorted(range(len(rows)), key=lambda i: rows[i][3])
    rank = np.empty(len(rows), np.int64)
    rank[order] = np.arange(len(rows))
    val = np.array([r[0] for r in rows], bool)
    loss = np.array([r[1] for r in rows], bool)
    acc = np.array([r[2] for r in rows], bool)
    return _Kinds(val & loss, ~val & loss, val & acc, ~val & acc, val, loss, rank)


class _Series(NamedTuple):
    """Points sorted by series (experiment x name) then time; per-series arrays indexed by seg."""

    seg: np.ndarray  # per point: its series
    x: np.ndarray  # per point: epoch, or step, or position (the series' unit)
    pos: np.ndarray  # per point: its position in the experiment's rows (time order)
    value: np.ndarray
    exp: np.ndarray  # per series: experiment code
    name: np.ndarray  # per series: name code
    unit: np.ndarray  # per series: 0 epoch, 1 step, 2 point
    start: np.ndarray  # per series: first point
    stop: np.ndarray  # per series: one past the last point


def _segments(seg_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.flatnonzero(np.r_[True, seg_sorted[1:] != seg_sorted[:-1]]) if len(seg_sorted) \
        else np.empty(0, np.int64)
    return starts, np.r_[starts[1:], len(seg_sorted)].astype(np.int64)


def _series(curves: pd.DataFrame, exp: np.ndarray, name: np.ndarray, n_names: int) -> _Series:
    n = len(exp)
    value = pd.to_numeric(curves["value"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    # position in the experiment's rows: the frame is in time order per experiment
    by_exp = None if n < 2 or bool((exp[1:] >= exp[:-1]).all()) else np.argsort(exp, kind="stable")
    starts, stops = _segments(exp if by_exp is None else exp[by_exp])
    pos = np.arange(n, dtype=np.float64) - np.repeat(starts, stops - starts)
    if by_exp is not None:
        pos[by_exp] = pos.copy()
    code = exp * n_names + name
    small = n == 0 or int(code.max()) < 2**31 - 1
    order = np.argsort(code.astype(np.int32) if small else code, kind="stable")  # int32: a radix sort
    code_s = code[order]
    seg_start, seg_stop = _segments(code_s)
    sizes = seg_stop - seg_start
    seg = np.repeat(np.arange(len(seg_start)), sizes)

    def column(col: str) -> np.ndarray:
        if col not in curves:
            return np.full(n, np.nan)
        return pd.to_numeric(curves[col], errors="coerce").to_numpy(np.float64, na_value=np.nan)[order]

    ep, st = column("epoch"), column("step")
    has_epoch = np.add.reduceat(np.isfinite(ep), seg_start) == sizes if n else np.empty(0, bool)
    if has_epoch.all():
        unit = np.zeros(len(seg_start), np.int64)
        x = ep
    else:
        has_step = np.add.reduceat(np.isfinite(st), seg_start) == sizes
        unit = np.where(has_epoch, 0, np.where(has_step, 1, 2))
        unit_row = unit[seg]
        x = np.where(unit_row == 0, ep, np.where(unit_row == 1, st, pos[order]))
    rows = order
    if n > 1:  # x out of order within a series, or equal x with steps out of order: sort
        down = np.flatnonzero(x[1:] < x[:-1])
        equal = np.flatnonzero(x[1:] == x[:-1])
        equal = equal[seg[equal] == seg[equal + 1]]
        tie = np.where(unit[seg] == 0, np.nan_to_num(st, nan=0.0), 0.0) if len(equal) else np.zeros(n)
        if (seg[down] == seg[down + 1]).any() or (tie[equal + 1] < tie[equal]).any():
            again = np.lexsort((pos[order], tie, x, seg))
            rows, x = order[again], x[again]
    return _Series(seg, x, pos[rows], value[rows], code_s[seg_start] // n_names, code_s[seg_start] % n_names,
                   unit, seg_start, seg_stop)


def _finite(s: _Series) -> _Series:
    """The same series with only finite values (series without any keep no points)."""
    keep = np.isfinite(s.value)
    seg = s.seg[keep]
    counts = np.bincount(seg, minlength=len(s.exp))
    stop = np.cumsum(counts)
    return _Series(seg, s.x[keep], s.pos[keep], s.value[keep], s.exp, s.name, s.unit, stop - counts, stop)


def _swing(s: _Series, needed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per series (finite points): count, mean change, swing (where ``needed``: NaN elsewhere), range."""
    n_seg = len(s.exp)
    counts = s.stop - s.start
    ok = counts > 0
    first = np.full(n_seg, np.nan)
    last = np.full(n_seg, np.nan)
    first[ok], last[ok] = s.value[s.start[ok]], s.value[s.stop[ok] - 1]
    mean = np.where(counts > 1, (last - first) / np.maximum(counts - 1, 1), np.nan)
    span = np.full(n_seg, np.nan)
    if len(s.value):
        span[ok] = np.maximum.reduceat(s.value, s.start[ok]) - np.minimum.reduceat(s.value, s.start[ok])
    swing = np.full(n_seg, np.nan)
    v = s.value
    if len(v) > 2:
        same = (s.seg[2:] == s.seg[:-2]) & needed[s.seg[2:]]
        d2 = (v[2:] - 2 * v[1:-1] + v[:-2])[same]
        seg = s.seg[2:][same]
        center = pd.Series(d2).groupby(seg).median()
        mad = pd.Series(np.abs(d2 - center.reindex(seg).to_numpy())).groupby(seg).median()
        swing[mad.index.to_numpy()] = 1.4826 * mad.to_numpy() / math.sqrt(3.0)
    return counts, mean, swing, span


def _text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def _at(unit: int, x: float) -> str:
    return f"{('epoch', 'step', 'point')[unit]} {_text(x)}"


def _name(names: list[str], code: int) -> str:
    return names[code]


def _pick(s: _Series, kinds: _Kinds, which: np.ndarray, n_exp: int) -> np.ndarray:
    """Per experiment, its best-ranked series of the names ``which`` with a finite point (-1: none)."""
    cand = np.flatnonzero(which[s.name] & (s.stop > s.start))
    best = np.full(n_exp, -1, np.int64)
    if len(cand):
        ranked = cand[np.lexsort((kinds.rank[s.name[cand]], s.exp[cand]))]
        firsts = np.r_[True, s.exp[ranked][1:] != s.exp[ranked][:-1]]
        best[s.exp[ranked[firsts]]] = ranked[firsts]
    return best


def _value_at(s: _Series, series: np.ndarray, when: np.ndarray, on: str) -> np.ndarray:
    """The value of each series at (the last point at or before) ``when``, on x or pos; NaN if none."""
    wanted = np.zeros(len(s.exp), bool)
    wanted[series] = True
    rows = np.flatnonzero(wanted[s.seg])
    right = pd.DataFrame({"seg": s.seg[rows], "t": (s.x if on == "x" else s.pos)[rows],
                          "v": s.value[rows]}).sort_values("t", kind="stable")
    left = pd.DataFrame({"seg": series, "t": when.astype(np.float64), "i": np.arange(len(series))})
    joined = pd.merge_asof(left.sort_values("t", kind="stable"), right, on="t", by="seg")
    out = np.full(len(series), np.nan)
    out[joined["i"].to_numpy()] = joined["v"].to_numpy(np.float64, na_value=np.nan)
    return out


def _overfitting(s: _Series, kinds: _Kinds, names: list[str], swing: np.ndarray, span: np.ndarray,
                 n_exp: int, patience: int, sign: float) -> dict[int, str]:
    """Per experiment code, the reason it overfits (validation loss up, sign +1; accuracy down, -1)."""
    val = _pick(s, kinds, kinds.val_loss if sign > 0 else kinds.val_acc, n_exp)
    train = _pick(s, kinds, kinds.train_loss if sign > 0 else kinds.train_acc, n_exp)
    both = (val >= 0) & (train >= 0)
    if not both.any():
        return {}
    chosen = np.zeros(len(s.exp), bool)
    chosen[val[both]] = True
    rows = np.flatnonzero(chosen[s.seg])
    seg, v = s.seg[rows], s.value[rows]
    up = np.zeros(len(rows), bool)
    if len(rows) > 1:
        tol = RISE_TOLERANCE * np.nan_to_num(span[seg[1:]])
        up[1:] = (seg[1:] == seg[:-1]) & (sign * (v[1:] - v[:-1]) > tol)
    edges = np.diff(np.r_[0, up.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = ends - starts >= patience
    a, b, length = starts[long] - 1, ends[long] - 1, (ends - starts)[long]
    vseg = seg[a]
    rise = sign * (v[b] - v[a])
    real = rise > RISE_NOISE * np.nan_to_num(swing[vseg])
    a, b, length, vseg = a[real], b[real], length[real], vseg[real]
    if not len(a):
        return {}
    exp = s.exp[vseg]
    tseg = train[exp]
    same_unit = s.unit[vseg] == s.unit[tseg]
    t_a, t_b = np.full(len(a), np.nan), np.full(len(a), np.nan)
    for on, part in (("x", same_unit), ("pos", ~same_unit)):
        if part.any():
            src = s.x if on == "x" else s.pos
            t_a[part] = _value_at(s, tseg[part], src[rows[a[part]]], on)
            t_b[part] = _value_at(s, tseg[part], src[rows[b[part]]], on)
    fell = sign * (t_b - t_a) < 0
    found = pd.DataFrame({"exp": exp, "len": length, "b": b, "a": a, "vseg": vseg, "tseg": tseg})[fell]
    found = found.sort_values(["exp", "len", "b"], kind="stable").drop_duplicates("exp", keep="last")
    verb, other = ("rose", "fell") if sign > 0 else ("fell", "rose")
    out: dict[int, str] = {}
    for e, n, bi, ai, vs, ts in found.itertuples(index=False):
        unit = int(s.unit[vs])
        first, end = _text(s.x[rows[ai + 1]]), _text(s.x[rows[bi]])
        span_text = f"{('epochs', 'steps', 'points')[unit]} {first}-{end}"
        how = f"for {n} epochs" if unit == 0 else f"{n} times in a row"
        out[int(e)] = (f"{_name(names, s.name[vs])} {verb} {how} ({span_text}) while "
                       f"{_name(names, s.name[ts])} {other}")
    return out


def _noisy(s: _Series, kinds: _Kinds, names: list[str], counts: np.ndarray, mean: np.ndarray,
           swing: np.ndarray, span: np.ndarray, n_exp: int) -> dict[int, str]:
    per_exp = np.bincount(s.exp, minlength=n_exp)
    eligible = kinds.val[s.name] | (per_exp[s.exp] == 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        noisy = eligible & (counts >= NOISE_MIN_POINTS) & (swing > NOISE_RATIO * np.abs(mean)) \
            & (swing > NOISE_RANGE_SHARE * span)
        share = np.where(noisy, swing / np.where(span > 0, span, np.inf), -1.0)
    cand = np.flatnonzero(noisy)
    if not len(cand):
        return {}
    cand = cand[np.lexsort((-share[cand], s.exp[cand]))]
    cand = cand[np.r_[True, s.exp[cand][1:] != s.exp[cand][:-1]]]
    out: dict[int, str] = {}
    for g in cand:
        unit = ("epoch", "step", "point")[int(s.unit[g])]
        ratio = swing[g] / abs(mean[g]) if mean[g] else math.inf
        times = f"{ratio:.2g}x its mean change" if math.isfinite(ratio) else "its mean change is 0"
        out[int(s.exp[g])] = f"{_name(names, s.name[g])} changes swing ±{swing[g]:.2g} per {unit} ({times})"
    return out


def _bad_value(v: float) -> str:
    return "NaN" if math.isnan(v) else "inf" if v > 0 else "-inf"


def _first_per_curve(rows: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """The first of ``rows`` (sorted point positions) in each curve segment."""
    if not len(rows):
        return rows
    return rows[np.r_[True, seg[rows][1:] != seg[rows][:-1]]]


def _diverged(s: _Series, f: _Series, kinds: _Kinds, names: list[str], n_exp: int) -> dict[int, str]:
    """``s``: every point; ``f``: the finite ones."""
    events = []  # (exp, x-order key, rank, reason)
    bad = ~np.isfinite(s.value)
    lossy = kinds.loss[s.name]
    for r in _first_per_curve(np.flatnonzero(bad & lossy[s.seg]), s.seg):
        g = s.seg[r]
        events.append((s.exp[g], s.pos[r], kinds.rank[s.name[g]],
                       f"{_name(names, s.name[g])} became {_bad_value(s.value[r])} at "
                       f"{_at(int(s.unit[g]), s.x[r])}"))
    ok = (f.stop > f.start) & lossy
    base = np.full(len(f.exp), np.nan)
    base[ok] = f.value[f.start[ok]]
    with np.errstate(invalid="ignore"):
        high = (base[f.seg] > 0) & (f.value > EXPLODE_FACTOR * base[f.seg])
    for r in _first_per_curve(np.flatnonzero(high), f.seg):
        g = f.seg[r]
        with np.errstate(over="ignore"):  # a first value near zero (subnormal): the ratio is inf
            ratio = f.value[r] / base[g]
        events.append((f.exp[g], f.pos[r], kinds.rank[f.name[g]],
                       f"{_name(names, f.name[g])} reached {ratio:.3g}x its first value "
                       f"at {_at(int(f.unit[g]), f.x[r])}"))
    # no loss at all: every metric non-finite somewhere
    has_loss = np.bincount(s.exp[lossy], minlength=n_exp) > 0
    seg_bad = np.bincount(s.seg[bad], minlength=len(s.exp)) > 0
    all_bad = np.bincount(s.exp, weights=(~seg_bad).astype(np.float64), minlength=n_exp) == 0
    every = all_bad & ~has_loss & (np.bincount(s.exp, minlength=n_exp) > 0)
    rows = np.flatnonzero(bad & every[s.exp[s.seg]])
    if len(rows):  # per series its first non-finite point; per experiment the latest of those
        rows = rows[np.r_[True, s.seg[rows][1:] != s.seg[rows][:-1]]]
        rows = rows[np.lexsort((s.pos[rows], s.exp[s.seg[rows]]))]
        exps = s.exp[s.seg[rows]]
        for r in rows[np.r_[exps[1:] != exps[:-1], True]]:
            g = s.seg[r]
            events.append((s.exp[g], s.pos[r], 0, f"every metric became NaN or inf ({_name(names, s.name[g])} "
                                                  f"at {_at(int(s.unit[g]), s.x[r])})"))
    out: dict[int, str] = {}
    for e, _, _, reason in sorted(events, key=lambda t: (t[0], t[1], t[2])):
        out.setdefault(int(e), reason)
    return out


def health_of(curves: pd.DataFrame, *, patience: int = 3) -> dict[str, Health]:
    """The flags of every experiment with curves (``experiment_id``, ``epoch``, ``step``,
    ``name``, ``value``: :attr:`workbench_plugin.frames.RunFrames.curves`), by experiment id;
    a healthy experiment has no flags. The rules are in this module's docstring."""
    if isinstance(patience, bool) or not isinstance(patience, int | np.integer) or patience < 1:
        raise ProposalError(f"patience: {patience!r} is not a count of epochs; give a whole number, 1 or more")
    missing = [c for c in ("experiment_id", "name", "value") if c not in curves]
    if missing:
        raise ProposalError(f"curves: no column {missing[0]!r}; curves need experiment_id, epoch, step, "
                            "name and value")
    if curves.empty:
        return {}
    exp_codes, exp_ids = pd.factorize(curves["experiment_id"], sort=False)
    name_codes, names = pd.factorize(curves["name"], sort=False)
    keep = (exp_codes >= 0) & (name_codes >= 0)
    if not keep.all():
        curves, exp_codes, name_codes = curves[keep], exp_codes[keep], name_codes[keep]
    n_exp = len(exp_ids)
    labels = [one_line(str(name), _NAME_CHARS) for name in names]
    kinds = _kinds([str(name) for name in names])
    s = _series(curves, exp_codes.astype(np.int64), name_codes.astype(np.int64), max(len(names), 1))
    f = _finite(s)
    # the noise of validation curves and only metrics (what the noisy and overfitting rules read)
    counts, mean, swing, span = _swing(f, kinds.val[f.name] | (np.bincount(f.exp, minlength=n_exp)[f.exp] == 1))
    reasons: dict[str, dict[int, str]] = {
        "overfitting": {**_overfitting(f, kinds, labels, swing, span, n_exp, patience, -1.0),
                        **_overfitting(f, kinds, labels, swing, span, n_exp, patience, 1.0)},
        "noisy": _noisy(f, kinds, labels, counts, mean, swing, span, n_exp),
        "diverged": _diverged(s, f, kinds, labels, n_exp),
    }
    out: dict[str, Health] = {}
    flagged = set().union(*(r.keys() for r in reasons.values()))
    for e, eid in enumerate(map(str, exp_ids)):
        if e in flagged:
            hit = [flag for flag in _FLAGS if e in reasons[flag]]
            out[eid] = Health(eid, tuple(hit), tuple(reasons[flag][e] for flag in hit))
        else:
            out[eid] = Health(eid, (), ())
    return out


# ---- avoid warnings --------------------------------------------------------------------------
def _number(value: Value | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _lookup(params: Mapping[str, Value], name: str) -> Value | None:
    if name in params:
        return params[name]
    key = flag_key(name)
    return next((v for k, v in params.items() if flag_key(k) == key), None)


def _best_threshold(values: np.ndarray, bad: np.ndarray) -> tuple[float, str, int, int, float] | None:
    """The most telling ``value >= t`` or ``<= t``: (t, op, flagged beyond, count beyond, score)."""
    best: tuple[float, str, int, int, float] | None = None
    total_bad, total = int(bad.sum()), len(values)
    for t in np.unique(values):
        for op, inside in ((">=", values >= t), ("<=", values <= t)):
            n_in = int(inside.sum())
            c_in = int(bad[inside].sum())
            n_out, c_out = total - n_in, total_bad - c_in
            if n_out < 1 or c_in < AVOID_MIN or c_in < AVOID_SHARE * n_in or c_out > AVOID_OTHERS * n_out:
                continue
            score = c_in / n_in - c_out / n_out
            if best is None or (score, c_in) > (best[4], best[2]):
                best = (float(t), op, c_in, n_in, score)
    return best


def avoid_warnings(health: Mapping[str, Health], params: Mapping[str, Mapping[str, Value]],
                   domains: Mapping[str, Domain]) -> list[str]:
    """Up to 3 lines such as "avoid: 3 of 4 experiments with lr >= 0.1 diverged", most telling
    first (divergence before overfitting): see this module's docstring for the rule."""
    found: list[tuple[int, float, int, str]] = []
    ids = [eid for eid in health if eid in params]
    for domain in domains.values():
        if not domain.numeric:
            continue
        pairs = [(eid, _number(_lookup(params[eid], domain.name))) for eid in ids]
        known = [(eid, x) for eid, x in pairs if x is not None]
        if len(known) < AVOID_MIN + 1:
            continue
        values = np.array([x for _, x in known])
        for priority, (flag, verb) in enumerate((("diverged", "diverged"), ("overfitting", "overfitted"))):
            bad = np.array([flag in health[eid].flags for eid, _ in known])
            hit = _best_threshold(values, bad)
            if hit is None:
                continue
            t, op, c_in, n_in, score = hit
            shown = format_value(int(t) if domain.kind == "int" and t.is_integer() else t)
            found.append((priority, -score, -c_in, f"avoid: {c_in} of {n_in} experiments with "
                                                    f"{one_line(domain.name, _NAME_CHARS)} {op} {shown} {verb}"))
    found.sort(key=lambda f: f[:3])
    return [line for *_, line in found[:AVOID_MAX_LINES]]
