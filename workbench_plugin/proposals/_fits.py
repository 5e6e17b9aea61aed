"""Fitted functions (claim 7, paragraph 0117): the metric against one hyperparameter, fitted by each
candidate family over the finished experiments, ranked by leave-one-out error, each drawn as a
curve with its 95 % band; the chosen fit proposes values at its optimum, around it, and where it
is unsure.

Points: the finished experiments with this hyperparameter. Other hyperparameters fixed or locked
in the next batch are held (only experiments at those values are kept) when enough remain;
otherwise the ones that vary enter the fits as covariates, and curves are drawn at the best
experiment's values of them. A drawn line weights points near it; circled points are the only
ones fitted.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Literal, cast

import numpy as np

from workbench_plugin.flags import flag_key
from workbench_plugin.proposals._domain import snap
from workbench_plugin.proposals._drawn import closest_family, line_weights
from workbench_plugin.proposals._families import NO_COVARIATES, Covariates, Design, fit_family, variable
from workbench_plugin.proposals._observations import param_value
from workbench_plugin.proposals._types import FAMILIES, Domain, DrawnLine, FitCurve, FitReport, Observation
from workbench_plugin.proposals._types import ProposalError as ProposalError
from workbench_plugin.space import Value, format_value

__all__ = ["GRID_POINTS", "fit_families", "propose_values"]

#: Points on each curve's grid.
GRID_POINTS = 200
#: A family within this fraction of a simpler family's error loses to it.
SIMPLER_WITHIN = 0.02
#: Other hyperparameters are held at their locked values only when this many experiments remain
#: (max(4, the quadratic's 3 parameters + 2)), with at least 3 values of the fitted one.
_HOLD_MIN = 5
_EMPTY = np.zeros(0)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def _same(a: object, b: object) -> bool:
    if _is_number(a) and _is_number(b):
        return math.isclose(float(cast(float, a)), float(cast(float, b)), rel_tol=1e-9, abs_tol=1e-12)
    return a is not None and b is not None and format_value(a) == format_value(b)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return format_value(v)


def _log_scale(domain: Domain) -> bool:
    return domain.log and (domain.low is None or domain.low > 0)


def _no_fit(domain: Domain, metric: str, goal: str, message: str, *, xs: np.ndarray = _EMPTY,
            ys: np.ndarray = _EMPTY, ids: tuple[str, ...] = (), weights: np.ndarray = _EMPTY,
            held: dict[str, Value] | None = None, basis: str = "", chosen: str = "") -> FitReport:
    curves = tuple(FitCurve(f, False, message, _EMPTY, _EMPTY, _EMPTY, _EMPTY, math.nan, "", None, None)
                   for f in FAMILIES)
    return FitReport(domain.name, metric, cast(Literal["max", "min"], goal), curves, xs, ys, ids, weights,
                     held or {}, (), basis or message, message, chosen)


def _held(domains: Mapping[str, Domain] | None, name: str) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for other in (domains or {}).values():
        if flag_key(other.name) == flag_key(name):
            continue
        if (other.kind == "fixed" or other.locked) and len(other.choices) == 1:
            out[other.name] = other.choices[0]
    return out


def _covariates(points: Sequence[Observation], active: np.ndarray, best: int, name: str, skip: Collection[str],
                domains: Mapping[str, Domain] | None) -> Covariates:
    """The other hyperparameters that vary among the active points, as columns."""
    chosen = [p for p, a in zip(points, active, strict=True) if a]
    keys = {flag_key(name), *(flag_key(s) for s in skip)}
    names = sorted({k for o in chosen for k in o.params if flag_key(k) not in keys}, key=flag_key)
    by_key = {flag_key(d.name): d for d in (domains or {}).values()}
    labels: list[str] = []
    cols: list[np.ndarray] = []
    gp_cols: list[np.ndarray] = []
    seen: set[str] = set()
    shown: list[str] = []
    for cov in names:
        if flag_key(cov) in seen:
            continue
        seen.add(flag_key(cov))
        values = [param_value(o.params, cov) for o in chosen]
        shown.append(f"{cov}={_fmt(values[best])}")
        if all(_is_number(v) for v in values):
            nums = np.array([float(cast(float, v)) for v in values])
            dom = by_key.get(flag_key(cov))
            log = bool(dom and dom.log) and bool((nums > 0).all())
            z = np.log10(nums) if log else nums
            if np.ptp(z) == 0:
                shown.pop()
                continue
            labels.append(f"log10({cov})" if log else cov)
            cols.append(z)
            gp_cols.append((z - z.min()) / np.ptp(z))
            continue
        texts = ["(none)" if v is None else format_value(v) for v in values]
        cats = sorted(set(texts))
        if len(cats) < 2:
            shown.pop()
            continue
        for c in cats[1:]:
            labels.append(f"[{cov}={c}]")
            cols.append(np.array([t == c for t in texts], dtype=float))
        gp_cols.extend(np.array([t == c for t in texts], dtype=float) * math.sqrt(0.5) for c in cats)
    if not labels:
        return NO_COVARIATES
    rows, gp_rows = np.column_stack(cols), np.column_stack(gp_cols)
    centers = rows.mean(axis=0)
    scales = np.where(np.ptp(rows, axis=0) > 0, np.ptp(rows, axis=0) / 2, 1.0)
    return Covariates(tuple(labels), rows, rows[best], centers, scales, gp_rows, gp_rows[best],
                      ", ".join(shown), tuple(v.partition("=")[0] for v in shown))


def _no_worse(simple: np.ndarray, best: np.ndarray, w: np.ndarray) -> bool:
    """The simpler family's squared leave-one-out errors exceed the best's by less than one
    standard error of their (weighted, paired) mean difference."""
    d = simple**2 - best**2
    mean = float(np.sum(w * d) / np.sum(w))
    se = math.sqrt(float(np.sum(w * (d - mean) ** 2) / np.sum(w)) / max(len(d) - 1, 1))
    return mean <= se


def _rank(fits: list[FitCurve], errors: Mapping[str, np.ndarray], w: np.ndarray) -> list[FitCurve]:
    """By leave-one-out error; a family loses to a simpler one whose error is within
    :data:`SIMPLER_WITHIN` of it or not worse by one standard error (the one-standard-error rule)."""
    left = [c for c in fits if c.ok]
    ranked: list[FitCurve] = []
    while left:
        best = min(left, key=lambda c: c.cv_rmse)
        simpler = [c for c in left if c.cv_rmse <= best.cv_rmse * (1 + SIMPLER_WITHIN) + 1e-15
                   or _no_worse(errors[c.family], errors[best.family], w)]
        pick = min(simpler, key=lambda c: FAMILIES.index(c.family))
        ranked.append(pick)
        left.remove(pick)
    return ranked + [c for c in fits if not c.ok]


def _grid(domain: Domain, x: np.ndarray) -> np.ndarray:
    lo = domain.low if domain.low is not None else float(x.min())
    hi = domain.high if domain.high is not None else float(x.max())
    if hi <= lo:
        lo, hi = float(x.min()), float(x.max())
    if _log_scale(domain) and lo > 0:
        return np.logspace(math.log10(lo), math.log10(hi), GRID_POINTS)
    return np.linspace(lo, hi, GRID_POINTS)


def fit_families(
    observations: Sequence[Observation], domain: Domain, *, metric: str, goal: str,
    domains: Mapping[str, Domain] | None = None, only: Collection[str] | None = None, line: DrawnLine | None = None,
) -> FitReport:
    """Every family of :data:`FAMILIES` fitted to ``metric`` against ``domain``'s hyperparameter,
    best first; ``report.message`` says in one line why nothing could be fitted."""
    if goal not in ("max", "min"):
        raise ProposalError(f"goal: {goal!r} is not allowed; give 'max' or 'min'")
    name = domain.name
    chosen = closest_family(line, domain) if line is not None else ""
    if domain.kind == "categorical":
        return _no_fit(domain, metric, goal, f"{name}: a categorical hyperparameter; a fit needs a numeric one "
                                             "(an int or float range)", chosen=chosen)
    if not observations:
        return _no_fit(domain, metric, goal, f"{metric}: no finished experiment has a value; nothing to fit",
                       chosen=chosen)
    finite = [o for o in observations if _is_number(o.value)]
    if not finite:
        return _no_fit(domain, metric, goal, f"{metric}: every finished experiment's value is NaN or infinite; "
                                             "nothing to fit", chosen=chosen)
    log = _log_scale(domain)
    with_x = [o for o in finite if _is_number(param_value(o.params, name))]
    points = [o for o in with_x if not log or float(cast(float, param_value(o.params, name))) > 0]
    if not points:
        why = " above 0 (its scale is log)" if with_x else ""
        return _no_fit(domain, metric, goal, f"{name}: no finished experiment with a value of {metric} ran with "
                                             f"{name}{why}; nothing to fit", chosen=chosen)
    notes: list[str] = []
    if len(points) < len(with_x):
        notes.append(f"{len(with_x) - len(points)} with {name} <= 0 left out (log scale)")
    held = _held(domains, name)
    if held:
        kept = [o for o in points if all(_same(param_value(o.params, h), v) for h, v in held.items())]
        distinct = len({float(cast(float, param_value(o.params, name))) for o in kept})
        text = ", ".join(f"{h}={_fmt(v)}" for h, v in held.items())
        if len(kept) >= _HOLD_MIN and distinct >= 3:
            points = kept
            notes.insert(0, f"with {text} (held)")
        else:
            notes.insert(0, f"{text} not held: only {len(kept)} experiments there, {distinct} values of {name}")
            held = {}
    xs = np.array([float(cast(float, param_value(o.params, name))) for o in points])
    ys = np.array([float(o.value) for o in points])
    ids = tuple(o.experiment_id for o in points)
    weights = np.ones(len(points))
    if only is not None:
        circled = set(only)
        weights *= np.array([i in circled for i in ids], dtype=float)
    if line is not None:
        weights *= line_weights(line, domain, xs, ys)
        notes.append(f"weighted toward the drawn line (closest family: {chosen})")
    active = weights > 0

    def stop(message: str) -> FitReport:
        return _no_fit(domain, metric, goal, message, xs=xs, ys=ys, ids=ids, weights=weights, held=held,
                       chosen=chosen)

    if not active.any():
        return stop(f"{name}: none of the circled experiments is among the {len(xs)} points of {metric}; "
                    "circle points on the plot")
    values = np.unique(xs[active])
    if len(values) == 1:
        who = "circled" if only is not None else "finished"
        return stop(f"{name}: every {who} experiment ran with {name}={_fmt(values[0])}; "
                    "try at least 3 values before a fit")
    ya = ys[active]
    best = int(np.argmax(ya) if goal == "max" else np.argmin(ya))
    cov = _covariates(points, active, best, name, held, domains)
    grid = _grid(domain, xs[active])
    span = (math.log10(grid[0]), math.log10(grid[-1])) if log else (float(grid[0]), float(grid[-1]))
    design = Design(name, metric, log, xs[active], ya, weights[active], grid, span, cov)
    fits: list[FitCurve] = []
    errors: dict[str, np.ndarray] = {}
    for family in FAMILIES:
        f = fit_family(family, design)
        errors[family] = f.errors
        if not f.ok:
            fits.append(FitCurve(family, False, f.message, _EMPTY, _EMPTY, _EMPTY, _EMPTY, math.nan, "", None, None))
            continue
        k = int(np.argmax(f.mean) if goal == "max" else np.argmin(f.mean))
        fits.append(FitCurve(family, True, "", grid, f.mean, f.low, f.high, f.cv_rmse, f.formula,
                             float(grid[k]), float(f.mean[k])))
    curves = tuple(_rank(fits, errors, design.w))
    n = int(active.sum())
    basis = f"{n} finished experiment{'s' if n != 1 else ''}"
    if only is not None:
        basis = f"{n} of {len(xs)} finished experiments (circled)"
    basis += f" {notes[0]}" if held else ""
    rest = notes[1:] if held else notes
    if cov.labels:
        rest.append(f"covariates {', '.join(cov.names)}, curves at the best experiment's {cov.at_text}")
    cv = "weighted leave-one-out error" if (weights[active] != 1).any() else "leave-one-out error"
    basis = "; ".join([basis, *rest, f"ranked by {cv}"])
    message = ""
    if not any(c.ok for c in curves):
        message = f"{name}: no family could be fitted to {metric} ({curves[0].message})"
    return FitReport(name, metric, cast(Literal["max", "min"], goal), curves, xs, ys, ids, weights, held,
                     cov.names, basis, message, chosen)


# ---- proposals ------------------------------------------------------------------------------------
def _to_t(domain: Domain, x: np.ndarray) -> np.ndarray:
    return np.log10(x) if _log_scale(domain) else np.asarray(x, dtype=float)


def propose_values(report: FitReport, domain: Domain, n: int, *, family: str | None = None,
                   ) -> list[tuple[Value, str]]:
    """Up to ``n`` distinct values of ``domain`` from one fit of ``report`` (``family``, else the
    family a drawn line picked, else the best): its optimum, values bracketing it, then where the
    fit is unsure (an upper-confidence-bound pick, kept apart). Each with its reason; [] when
    nothing is fitted."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ProposalError(f"n: {n!r} is not a count; give a whole number, 1 or more")
    if family is not None and family not in FAMILIES:
        raise ProposalError(f"family: {family!r} is not one of {', '.join(FAMILIES)}")
    curve = report.curve(family or report.chosen) if (family or report.chosen) else report.best
    fallback = ""
    if family is None and report.chosen and (curve is None or not curve.ok) and report.best is not None:
        # the drawn line's family could not be fitted: the best fitted one, and the reason says so
        curve = report.best
        fallback = f" (your line is closest to {report.chosen}, which could not be fitted here)"
    if curve is None or not curve.ok or not domain.numeric or report.message:
        return []
    sign = 1.0 if report.goal == "max" else -1.0
    half = (curve.high - curve.low) / 2
    t_grid = _to_t(domain, curve.x)
    k = int(np.argmax(sign * curve.mean))
    opt = snap(domain, float(curve.x[k]))
    cands = {opt}
    for x in curve.x:
        cands.add(snap(domain, float(x)))
    values = sorted(cands, key=float)
    t = _to_t(domain, np.array([float(v) for v in values]))
    mean, band = np.interp(t, t_grid, curve.mean), np.interp(t, t_grid, half)
    span = float(t_grid[-1] - t_grid[0]) or 1.0
    i_opt = values.index(opt)
    label = "Gaussian-process" if curve.family == "gp" else curve.family
    design_var = variable(curve.family, _scale_only(report, domain))
    model = f"the {label} fit in {design_var}"

    def at(i: int) -> str:
        return f"{report.metric} {mean[i]:.3g} ± {band[i]:.2g} at {domain.name}={_fmt(values[i])}"

    picks: list[int] = [i_opt]
    reasons = [f"optimum of {model}{fallback}: {at(i_opt)}"]
    inward = min(max(k + (len(curve.x) // 10) * (1 if k == 0 else -1), 0), len(curve.x) - 1)
    still = sign * (curve.mean[k] - curve.mean[inward]) > 1e-9 * (abs(float(curve.mean[k])) + 1.0)
    edge = k in (0, len(curve.x) - 1) and still
    if edge:
        way = "rises" if report.goal == "max" else "falls"
        end = "upper" if k == len(curve.x) - 1 else "lower"
        reasons[0] += f"; the fit still {way} at the {end} end of your range; consider widening it"
    gap = sign * (curve.mean[k] - curve.mean)
    near = gap <= half[k]
    lo_i, hi_i = k, k
    while lo_i > 0 and near[lo_i - 1]:
        lo_i -= 1
    while hi_i < len(near) - 1 and near[hi_i + 1]:
        hi_i += 1
    delta = min(max(t_grid[k] - t_grid[lo_i], t_grid[hi_i] - t_grid[k], span / 10), span / 4)
    t_opt = t[i_opt]
    if not edge:
        targets = [t_opt - delta, t_opt + delta]
        targets.sort(key=lambda tt: -float(np.interp(tt, t_grid, half)))  # the less certain side first
    else:
        way_in = -1.0 if k == len(curve.x) - 1 else 1.0
        targets = [t_opt + way_in * delta / 2, t_opt + way_in * delta]
    for target in targets:
        if len(picks) >= n:
            break
        side = np.sign(target - t_opt)
        options = [i for i in range(len(values)) if i not in picks and np.sign(t[i] - t_opt) == side]
        if options:
            i = min(options, key=lambda j: abs(t[j] - target))
            picks.append(i)
            reasons.append(f"brackets the optimum of {model}: {at(i)}")
    score = sign * (mean - mean[i_opt]) + band  # upper confidence bound, relative to the optimum
    apart = span / (2 * (n + 1))
    while len(picks) < min(n, len(values)):
        free = [i for i in range(len(values)) if i not in picks and min(abs(t[i] - t[j]) for j in picks) >= apart]
        if not free:
            apart /= 2
            if apart < span * 1e-9:
                free = [i for i in range(len(values)) if i not in picks]
            else:
                continue
        i = max(free, key=lambda j: (score[j], -abs(t[j] - t_opt)))
        picks.append(i)
        reasons.append(f"uncertain: {at(i)} ({model})")
    return [(values[i], r) for i, r in zip(picks, reasons, strict=True)]


def _scale_only(report: FitReport, domain: Domain) -> Design:
    return Design(report.hparam, report.metric, _log_scale(domain), _EMPTY, _EMPTY, _EMPTY, _EMPTY, (0.0, 1.0),
                  NO_COVARIATES)
