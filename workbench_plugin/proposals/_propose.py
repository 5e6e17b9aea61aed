"""The one entry point every caller uses: :func:`propose` rows for the next batch from one source.

``fit`` (claims 1 and 7): for each unlocked numeric hyperparameter, the candidate families are fitted
to the metric over the finished experiments (:mod:`._fits`, guided by a drawn line or restricted to
circled points, :mod:`._drawn`) and the chosen fit proposes values around its optimum and where it
is unsure; a hyperparameter the project never varied (an added flag) gets values spread over its
range on its own scale, and the reason says so. Rows are the product of those values with the
unlocked categories, each lock and one-value field as given; the number of values per
hyperparameter is chosen so the product fits ``n``. When no fit can propose anything the answer is
a one-line :class:`ProposalError` (why), never a guess.

``random``, ``lhs``, ``sobol``, ``tpe``, ``gp`` (paper 6.2): :mod:`._search`.

With ``health`` (the flags of experiments' curves), the "avoid: ..." lines of :mod:`._health` are
the proposal's warnings, and a row inside an avoided region says so in its reason.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from workbench_plugin.flags import one_line
from workbench_plugin.proposals._domain import from_unit, is_number, snap, value_text
from workbench_plugin.proposals._observations import param_value
from workbench_plugin.proposals._search import Search, inside, row_key, search
from workbench_plugin.proposals._types import (
    SOURCES,
    Domain,
    DrawnLine,
    FitReport,
    Health,
    Observation,
    Proposal,
    ProposalError,
)
from workbench_plugin.space import Value

__all__ = ["MAX_N", "propose"]

#: The most rows one proposal may ask for.
MAX_N = 1000
_ADD_EXAMPLE = "--add 'num_layers=1..4 +1'"
_MODULES = {
    "random": ("uniform over your ranges", "numpy default_rng({seed}), uniform"),
    "lhs": ("Latin hypercube over your ranges", "scipy.stats.qmc.LatinHypercube (seed {seed})"),
    "sobol": ("scrambled Sobol point over your ranges", "scipy.stats.qmc.Sobol, scrambled (seed {seed})"),
}
_AVOID = re.compile(r"with (?P<name>.+) (?P<op>>=|<=) (?P<value>\S+) \w+$")


def _check(source: str, domains: Mapping[str, Domain], n: object, goal: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ProposalError(f"n: {one_line(repr(n), 40)} is not a count of rows; give a whole number from 1 to "
                            f"{MAX_N:,}")
    if source not in SOURCES:
        raise ProposalError(f"source: {one_line(repr(source), 40)} is not a proposal source; use one of "
                            f"{', '.join(SOURCES)}")
    if goal not in ("max", "min"):
        raise ProposalError(f"goal: {one_line(repr(goal), 40)} is not a goal; use max or min")
    if not any(d.kind != "fixed" and not d.locked for d in domains.values()):
        raise ProposalError("hyperparameters: every hyperparameter is locked or has one value; unlock one or add "
                            f"a flag, as in {_ADD_EXAMPLE}")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _axes(domains: Mapping[str, Domain]) -> str:
    def one(d: Domain) -> str:
        name = one_line(d.name, 40)
        if d.kind == "categorical":
            return f"{name} ({len(d.choices)} choices{', locked' if d.locked else ''})"
        if d.ratio:
            return f"{name} (*{value_text(d.ratio)})"
        return f"{name} (log)" if d.log else name

    shown = [one(d) for d in domains.values() if d.kind != "fixed"]
    return ", ".join(shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")


# ---- automated modules ----------------------------------------------------------------------------------
def _searched(source: str, domains: Mapping[str, Domain], observations: Sequence[Observation], n: int,
              metric: str, goal: str, seed: int) -> Proposal:
    found: Search = search(source, domains, n, seed=seed, history=observations, goal=goal)
    shown = one_line(metric, 60)
    left = f"; {_plural(found.left_out, 'finished experiment')} outside these ranges left out" if found.left_out else ""
    if found.source == "gp":
        where = f"scikit-learn GP on {_plural(found.used, 'finished experiment')}"
        reasons = [f"expected {shown} {s[0]:.3g} ± {s[1]:.2g}, EI {s[2]:.2g} ({where})" if s is not None else
                   f"uniform over your ranges (seed {seed}): the GP repeated settings" for s in found.stats]
        basis = (f"scikit-learn GaussianProcessRegressor (Matern 5/2 + white noise, seed {seed}) on "
                 f"{_plural(found.used, 'finished experiment')}{left}; 1024 scrambled Sobol candidates picked by "
                 "expected improvement, each pick believed at its predicted mean (kriging believer)")
    elif found.source == "tpe":
        seeded = f"seeded with {_plural(found.used, 'finished experiment')}"
        reasons = [f"Optuna TPE ({seeded})"] * len(found.rows)
        basis = (f"optuna.samplers.TPESampler (multivariate, constant liar, seed {seed}) asked {len(found.rows)} "
                 f"times, {seeded}{left}")
    else:
        why, module = _MODULES[found.source]
        reasons = [f"{why} (seed {seed})"] * len(found.rows)
        basis = f"{module.format(seed=seed)} over {_axes(domains)}{left}"
        if source == "gp":
            basis = f"{basis}, standing in for gp: {found.fallback}"
            reasons = [f"{r}; gp: {found.fallback}" for r in reasons]
    if found.fallback and found.source in ("tpe", "gp"):
        basis += f"; {found.fallback}"
    if found.short:
        basis += f"; {found.short}"
    return Proposal(source, tuple(found.rows), tuple(reasons), basis)


# ---- fitted functions ---------------------------------------------------------------------------------
def _budget(n: int, discrete: int, fitted: int) -> list[int]:
    """Values per fitted hyperparameter so that ``discrete`` x the product is at most ``n``."""
    if fitted == 0:
        return []
    room = max(n // max(discrete, 1), 1)
    counts = [max(1, int(math.floor(room ** (1 / fitted) + 1e-9)))] * fitted
    for i in range(fitted):  # hand out what is left, first hyperparameters first
        while math.prod(counts) // counts[i] * (counts[i] + 1) <= room:
            counts[i] += 1
            if fitted > 1:
                break
    return counts


def _varied(observations: Sequence[Observation], name: str) -> int:
    """How many distinct numeric values the project ran ``name`` at."""
    return len({float(v) for o in observations if is_number(v := param_value(o.params, name))})  # type: ignore[arg-type]


def _spread(domain: Domain, m: int, why: str) -> list[tuple[Value, str]]:
    low, high = value_text(domain.low or 0.0), value_text(domain.high or 0.0)
    scale = "on a log scale" if domain.log else "linearly"
    out: list[tuple[Value, str]] = []
    for i in range(m):
        value = from_unit(domain, (i + 0.5) / m if m > 1 else 0.5)
        if all(value != v for v, _ in out):
            out.append((value, f"no history for {one_line(domain.name, 60)} ({why}): "
                               f"spread over {low}..{high} {scale}"))
    return out


def _held(domain: Domain, observations: Sequence[Observation], goal: str, message: str) -> tuple[Value, str]:
    """An unfitted hyperparameter with history: held at the best finished experiment's value."""
    known = inside(observations, {domain.name: domain})[0]
    name = one_line(domain.name, 60)
    if known:
        best = max(known, key=lambda o: o.value if goal == "max" else -o.value)
        value = snap(domain, param_value(best.params, domain.name))  # type: ignore[arg-type]
        return value, f"{name} held at the best experiment's {value_text(value)} ({message})"
    value = snap(domain, domain.default) if domain.default is not None else from_unit(domain, 0.5)
    return value, f"{name} held at {value_text(value)} ({message})"


def _fitted(domains: Mapping[str, Domain], observations: Sequence[Observation], n: int, metric: str, goal: str,
            family: Mapping[str, str], lines: Mapping[str, DrawnLine],
            circled: Mapping[str, Collection[str]]) -> Proposal:
    from workbench_plugin.proposals._fits import fit_families, propose_values

    if not observations:  # nothing to fit: spreading values is what the search modules are for
        raise ProposalError(f"fit: {one_line(metric, 60) or 'the metric'}: no finished experiment has a value, so "
                            "there is nothing to fit; spread values with --propose sobol, lhs or random first")
    fit_names = [name for name, d in domains.items() if d.numeric and not d.locked]
    categories = [d for d in domains.values() if d.kind == "categorical"]
    discrete = math.prod(len(d.choices) for d in categories)
    if discrete > n:
        shown = " x ".join(f"{one_line(d.name, 40)} {len(d.choices)}" for d in categories[:6])
        raise ProposalError(f"n: {n} rows cannot hold every combination of the categories and locked values "
                            f"({discrete:,}: {shown}); give --n {discrete} or more, or lock fewer values")
    counts = dict(zip(fit_names, _budget(n, discrete, len(fit_names)), strict=True))
    per: dict[str, list[tuple[Value, str]]] = {}
    reports: list[FitReport] = []
    used: list[str] = []
    messages: list[str] = []
    got: set[str] = set()  # hyperparameters with proposed values (not merely held)
    for name in fit_names:
        domain = domains[name]
        line = lines.get(name)
        report = fit_families(observations, domain, metric=metric, goal=goal, domains=domains,
                              only=circled.get(name), line=line)
        reports.append(report)
        chosen = family.get(name)  # else the drawn line's family (report.chosen) where it could be fitted
        # more values than the batch needs, best first: the ones already run are left out below
        more = counts[name] + max(counts[name], _SPARE)
        values = [] if report.message else propose_values(report, domain, more, family=chosen)
        snapped: dict[tuple[str, object], tuple[Value, str]] = {}
        for v, why in values:
            value = snap(domain, v)
            snapped.setdefault(row_key({name: value}, [name])[0], (value, why))
        values = list(snapped.values())
        if values:
            drawn = report.curve(report.chosen) if report.chosen else None
            curve = report.curve(chosen) if chosen else drawn if drawn is not None and drawn.ok else report.best
            used.append(f"{one_line(name, 60)}: {curve.family if curve else 'best'} fit ({report.basis})")
            got.add(name)
        elif _varied(observations, name) < 2:
            ran = [pv for o in observations if is_number(pv := param_value(o.params, name)) and pv is not None]
            why = f"every finished experiment ran it at {value_text(ran[0])}" if ran else \
                "no finished experiment ran it"
            values = _spread(domain, counts[name], why) + _spread(domain, counts[name] + 1, why)
            used.append(f"{one_line(name, 60)}: spread ({one_line(domain.origin, 120) or 'its range'})")
            got.add(name)
        else:
            message = report.message or f"{one_line(name, 60)}: no fit proposed a value"
            messages.append(message)
            values = [_held(domain, observations, goal, message)]
        per[name] = values
    if fit_names and not got:
        raise ProposalError(one_line(messages[0] if messages else "fit: no hyperparameter could be proposed", 300))
    axes: list[list[tuple[str, Value, str]]] = []
    for name, domain in domains.items():
        if name in per:
            axes.append([(name, v, why) for v, why in per[name]])
        elif domain.kind == "categorical":
            axes.append([(name, c, "" if domain.locked else f"{one_line(name, 60)}={value_text(c)} (each of your "
                          "choices)") for c in domain.choices])
        else:
            axes.append([(name, snap(domain, 0.0), "")])
    rows, texts, repeats = _new_rows(axes, domains, observations, n, discrete)
    if not rows:
        raise ProposalError(f"fit: every setting the fits propose was already run ({repeats:,}); widen a range, "
                            "unlock a value, or let a search module explore (--propose tpe)")
    basis = (f"{one_line(metric, 60)} fitted over {_plural(len(observations), 'finished experiment')}: "
             + ("; ".join(used + messages) if used or messages else "categories only")
             + (f"; {_plural(repeats, 'setting')} already run left out" if repeats else ""))
    return Proposal("fit", tuple(rows), tuple(texts), basis, fits=tuple(reports))


#: Values a fitted hyperparameter offers beyond its share of the batch, in case its best ones already ran.
_SPARE = 4
#: The most combinations of the fitted values looked at (best first) for rows not run before.
_MAX_COMBOS = 20_000


def _new_rows(axes: Sequence[Sequence[tuple[str, Value, str]]], domains: Mapping[str, Domain],
              observations: Sequence[Observation], n: int,
              discrete: int) -> tuple[list[dict[str, Value]], list[str], int]:
    """Up to ``n`` rows from the per-hyperparameter values (each axis best first): combinations in order
    of the sum of their values' ranks (the fits' optimum together first, then one value moved at a time),
    leaving out settings a finished experiment already ran; and how many were left out. With categories
    or locked sets (``discrete`` > 1) every combination of them comes with each fitted setting."""
    names = list(domains)
    ran = {row_key(o.params, names) for o in observations}
    fitted = [i for i, axis in enumerate(axes) if axis and axis[0][0] in domains and domains[axis[0][0]].numeric
              and not domains[axis[0][0]].locked]
    ranked = sorted(itertools.islice(itertools.product(*(range(len(a)) for a in axes)), _MAX_COMBOS),
                    key=lambda idx: (sum(idx[i] for i in fitted), idx))
    rows: list[dict[str, Value]] = []
    texts: list[str] = []
    seen: set[tuple[tuple[str, Any], ...]] = set()
    repeats = 0
    for idx in ranked:
        if len(rows) >= n:
            break
        cells = [axes[a][i] for a, i in enumerate(idx)]
        row = {name: value for name, value, _ in cells}
        key = row_key(row, names)
        if key in seen:
            continue
        seen.add(key)
        if key in ran:
            repeats += 1
            continue
        rows.append(row)
        texts.append("; ".join(why for _, _, why in cells if why) or "your fixed values")
    return rows, texts, repeats


# ---- health ---------------------------------------------------------------------------------------------
def _avoided(row: Mapping[str, Value], warning: str, domains: Mapping[str, Domain]) -> bool:
    match = _AVOID.search(warning)
    if match is None:
        return False
    names = [n for n in domains if n == match["name"] or one_line(n, 40) == match["name"]]
    try:
        bound = float(match["value"])
    except ValueError:
        return False
    for name in names:
        value = row.get(name)
        if is_number(value):
            x = float(value)  # type: ignore[arg-type]
            return x >= bound if match["op"] == ">=" else x <= bound
    return False


def _with_health(proposal: Proposal, health: Mapping[str, Health], experiments: Mapping[str, Mapping[str, Value]],
                 domains: Mapping[str, Domain]) -> Proposal:
    from workbench_plugin.proposals._health import avoid_warnings

    warnings = tuple(avoid_warnings(health, experiments, domains))
    reasons = list(proposal.reasons)
    for i, row in enumerate(proposal.rows):
        hits = [w.removeprefix("avoid: ") for w in warnings if _avoided(row, w, domains)]
        if hits:
            reasons[i] = f"{reasons[i]}; avoid? {'; '.join(hits)}"
    return proposal._replace(reasons=tuple(reasons), warnings=warnings)


def propose(source: str, domains: Mapping[str, Domain], observations: Sequence[Observation], *, n: int,
            metric: str, goal: str, seed: int = 0, family: Mapping[str, str] | None = None,
            lines: Mapping[str, DrawnLine] | None = None, circled: Mapping[str, Collection[str]] | None = None,
            health: Mapping[str, Health] | None = None,
            experiments: Mapping[str, Mapping[str, Value]] | None = None) -> Proposal:
    """Up to ``n`` rows for the next batch from ``source`` (see the module's docstring).

    ``family``, ``lines`` and ``circled`` (by hyperparameter) steer a ``fit``: the family to use, a
    line the user drew, the experiments the user circled. ``health`` (by experiment) adds the "avoid"
    warnings; ``experiments`` gives the settings of the experiments ``health`` covers (running and
    failed ones too), by default the observations' own.
    """
    _check(source, domains, n, goal)
    if source == "fit":
        proposal = _fitted(domains, observations, n, metric, goal, family or {}, lines or {}, circled or {})
    else:
        proposal = _searched(source, domains, observations, n, metric, goal, seed)
    if health:
        params = experiments if experiments is not None else {o.experiment_id: o.params for o in observations}
        proposal = _with_health(proposal, health, params, domains)
    return proposal
