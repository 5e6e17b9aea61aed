"""Proposal sources against random search and Optuna's TPE: experiments to a target, best after a budget.

    python bench/proposals.py [--tasks digits-mlp,wine-hgb] [--seeds 10] [--budget 40] [--batch 4] [--quick]

About 3 minutes on 2 shared cores the first time (training the two exhaustive grids: about 600
points), about 1 minute after (scores cached; the time is the sources': mostly fit's and gp's GP
fits). ``--quick``: the synthetic tasks, 3 seeds.

Tasks and their lattices: ``bench/_proposal_tasks.py`` (every lattice point is trained at most
once and cached; the exhaustive grid's best is computed once per task). The target is within 1 %
of that best (``--within``).

The simulated user, the same for every source (seeded per seed):

1. Batch 1: a grid of 4 values (3 on a lattice of fewer than 10) over the first hyperparameter,
   every other at the script's default. The grid's offset on the lattice depends on the seed.
2. The best value of it is locked and the second hyperparameter is added: for 2 batches the
   source proposes values of the added one (the others locked or at their defaults); then the
   second is locked at its best and the third added for 2 batches; then the user unlocks every
   hyperparameter and lets the source propose over all of them until the budget is spent.
3. Before each batch the locks are re-set to the values of the best experiment so far.

Each batch is ``propose(source, domains, observations, n=--batch, ...)`` with the domains built
from the user's ranges (``domains_from_spec(SearchSpec.parse(...), locked=..., flags=...)``, the
script declaring each lattice as its choices, so every source proposes lattice points) and the
observations of every experiment so far. A proposed row whose settings were already run (or that
repeats a row of its batch) is what the listing flags redundant: it costs no experiment, but the
batch slot is counted as *wasted* (a slot the source leaves empty, because the added
hyperparameter's few values have all been run, is not). A value off the lattice would be snapped
onto it and counted.
The budget counts experiments (distinct settings); a source that proposes nothing new for 3
batches in a row, or uses 4x the budget in slots, stops where it is.

Baselines, no user: ``random-search`` draws lattice points uniformly without replacement from
scratch; ``optuna-tpe`` is Optuna's ``TPESampler(seed)`` alone (ask/tell, one trial at a time,
each hyperparameter an ``IntDistribution`` over its lattice index: the lattices are geometric,
so that is its log scale), a repeat told its cached score and counted as a wasted slot.

Printed per task: the exhaustive grid (size, best, target, how many points reach it, time), then
per source the experiments to reach the target and to reach the grid's best itself (median and
IQR over seeds, counting every experiment including the first grid; ">B" when not reached within
the budget B, "k/10 not": seeds that did not), each median's ratio to random search's, the best
score after the budget (mean ± sd) and wasted slots per seed. The second target is there because
on both real tasks the user's first grid over the learning rate, at the script's defaults,
already comes within 1 % of the best on most seeds, so the first target says more about the
user's strategy than about the sources.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._proposal_tasks import (  # noqa: E402
    REAL_TASKS,
    SYNTHETIC_TASKS,
    TASKS,
    Evaluator,
    Task,
    default_cache_dir,
)
from workbench_plugin.flags import Flag, FlagSet  # noqa: E402
from workbench_plugin.proposals import (  # noqa: E402
    SOURCES,
    Observation,
    ProposalError,
    domains_from_spec,
    propose,
)
from workbench_plugin.space import SearchSpec, Value, format_value  # noqa: E402

__all__ = ["BASELINES", "Summary", "Trace", "compare", "optuna_tpe", "random_search", "simulate_user", "summarize"]

BASELINES = ("random-search", "optuna-tpe")
STAGE_BATCHES = 2  #: batches per added hyperparameter before the next is added
STUCK_BATCHES = 3  #: batches in a row without a new experiment before a source is stopped
SLOT_FACTOR = 4  #: a source stops after this many times the budget in slots


class Trace(NamedTuple):
    """One source on one seed."""

    source: str
    seed: int
    best: tuple[float, ...]  #: the best score after each new experiment
    wasted: int  #: batch slots that repeated a run experiment (or a row of the same batch)
    snapped: int  #: proposed values off the lattice, moved onto it
    errors: tuple[str, ...]  #: one line per batch the source refused
    log: tuple[str, ...] = ()  #: per batch: what was free and what was proposed (for --trace)

    def reached(self, target: float) -> float:
        """Experiments until the best reached ``target`` (inf: not within the budget)."""
        return next((float(i + 1) for i, b in enumerate(self.best) if b >= target), math.inf)


class Reach(NamedTuple):
    """Experiments to reach one target over the seeds (inf: not within the budget)."""

    median: float
    q1: float
    q3: float
    not_reached: int


class Summary(NamedTuple):
    source: str
    target: Reach  #: to within --within of the exhaustive grid's best
    top: Reach  #: to the exhaustive grid's best itself
    seeds: int
    best_mean: float  #: the best score after the budget
    best_sd: float
    wasted: float  #: per seed
    snapped: float  #: per seed
    experiments: float  #: mean experiments run (below the budget when a source stopped early)
    errors: tuple[str, ...]


# ---- the simulated user -----------------------------------------------------------------------------
def _flags(task: Task, evaluator: Evaluator) -> FlagSet:
    """The script's flags: each declares its lattice as its choices, and its default."""
    flags = []
    for p in task.params:
        values = evaluator.lattice[p.name]
        kind = "int" if all(isinstance(v, int) for v in values) else "float"
        flags.append(Flag.make(option_strings=(f"--{p.name}",), dest=p.name, type=kind, default=p.default,
                               default_known=True, choices=values))
    return FlagSet(flags=tuple(flags), source="ast")


def first_grid(task: Task, evaluator: Evaluator, seed: int) -> list[dict[str, Value]]:
    """Batch 1: every ``step``-th value of the first hyperparameter from a seeded offset, the rest at defaults."""
    first = task.params[0].name
    values = evaluator.lattice[first]
    k = 4 if len(values) >= 10 else 3
    step = max(1, (len(values) - 1) // (k - 1))
    start = int(np.random.default_rng(seed).integers(0, len(values) - step * (k - 1)))
    return [{**task.defaults, first: values[start + i * step]} for i in range(k)]


def _free_at(batch: int, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(free, locked) hyperparameters of batch ``batch`` after the first grid (0-based)."""
    stage = batch // STAGE_BATCHES + 1
    if stage >= len(names):
        return list(names), []
    return [names[stage]], list(names[:stage])


def simulate_user(task: Task, evaluator: Evaluator, source: str, seed: int, *, budget: int, batch: int,
                  keep_log: bool = False) -> Trace:
    """One seeded user letting ``source`` propose the batches after the first grid (see the docstring)."""
    names = [p.name for p in task.params]
    flags = _flags(task, evaluator)
    run: dict[str, tuple[dict[str, Value], float]] = {}
    best: list[float] = []
    wasted = snapped = stuck = slots = 0
    errors: list[str] = []
    log: list[str] = []

    def record(point: dict[str, Value]) -> None:
        score = evaluator(point)
        run[evaluator.key(point)] = (point, score)
        best.append(max(score, best[-1]) if best else score)

    for point in first_grid(task, evaluator, seed):
        record(point)
    b = 0
    while len(run) < budget and stuck < STUCK_BATCHES and slots < SLOT_FACTOR * budget:
        n = min(batch, budget - len(run))
        free, locked = _free_at(b, names)
        top, _ = max(run.values(), key=lambda ps: ps[1])
        spec = {name: task.params[i].spec if name in free else format_value(top[name] if name in locked
                                                                              else task.defaults[name])
                for i, name in enumerate(names)}
        domains = domains_from_spec(SearchSpec.parse(spec), locked=locked, flags=flags)
        observations = [Observation(f"e{i}", "bench", dict(p), s) for i, (p, s) in enumerate(run.values())]
        slots += n
        try:
            rows = propose(source, domains, observations, n=n, metric=task.metric, goal="max",
                           seed=seed * 1000 + b).rows
        except ProposalError as exc:
            errors.append(str(exc))
            rows = ()
        new = 0
        shown = []
        for row in rows[:n]:
            point, moved = evaluator.snap({**task.defaults, **row})
            snapped += moved
            if evaluator.key(point) in run:
                wasted += 1
                shown.append("=" + ",".join(format_value(point[f]) for f in free))
                continue
            record(point)
            new += 1
            shown.append(",".join(format_value(point[f]) for f in free) + f"->{run[evaluator.key(point)][1]:.4f}")
        stuck = 0 if new else stuck + 1
        if keep_log:
            held = " ".join(f"{name}={format_value(top[name])}" for name in locked)
            log.append(f"batch {b + 2}: free {','.join(free)} | locked {held or '-'} | "
                       f"{' '.join(shown) or 'nothing: ' + (errors[-1] if errors else '')}")
        b += 1
    return Trace(source, seed, tuple(best), wasted, snapped, tuple(errors), tuple(log))


# ---- baselines --------------------------------------------------------------------------------------
def random_search(task: Task, evaluator: Evaluator, seed: int, *, budget: int) -> Trace:
    """Lattice points uniformly at random without replacement, from scratch."""
    points = list(evaluator.grid())
    order = np.random.default_rng(seed).permutation(len(points))[:budget]
    best: list[float] = []
    for i in order:
        score = evaluator(points[int(i)])
        best.append(max(score, best[-1]) if best else score)
    return Trace("random-search", seed, tuple(best), 0, 0, ())


def optuna_tpe(task: Task, evaluator: Evaluator, seed: int, *, budget: int) -> Trace:
    """Optuna's TPE on its own: ask/tell over each hyperparameter's lattice index."""
    import optuna
    from optuna.distributions import BaseDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    dists: dict[str, BaseDistribution] = {name: IntDistribution(0, len(values) - 1)
                                          for name, values in evaluator.lattice.items()}
    seen: set[str] = set()
    best: list[float] = []
    wasted = 0
    for _ in range(SLOT_FACTOR * budget):
        if len(seen) >= budget:
            break
        trial = study.ask(dists)
        point = {name: evaluator.lattice[name][int(trial.params[name])] for name in dists}
        score = evaluator(point)
        key = evaluator.key(point)
        if key in seen:
            wasted += 1
        else:
            seen.add(key)
            best.append(max(score, best[-1]) if best else score)
        study.tell(trial, score)
    return Trace("optuna-tpe", seed, tuple(best), wasted, 0, ())


# ---- the table --------------------------------------------------------------------------------------
def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile that treats inf (not reached) as larger than everything."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi or xs[lo] == xs[hi]:
        return xs[lo]
    if math.isinf(xs[hi]):
        return math.inf
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _reach(traces: Sequence[Trace], target: float) -> Reach:
    reach = [t.reached(target) for t in traces]
    return Reach(_quantile(reach, 0.5), _quantile(reach, 0.25), _quantile(reach, 0.75),
                 sum(math.isinf(r) for r in reach))


def summarize(traces: Sequence[Trace], target: float, top: float | None = None) -> Summary:
    """``target``: the score to reach; ``top``: the exhaustive grid's best (default: ``target``)."""
    finals = np.array([t.best[-1] for t in traces])
    errors = tuple(dict.fromkeys(e for t in traces for e in t.errors))
    return Summary(traces[0].source, _reach(traces, target), _reach(traces, target if top is None else top),
                   len(traces), float(finals.mean()), float(finals.std(ddof=1)) if len(finals) > 1 else 0.0,
                   float(np.mean([t.wasted for t in traces])), float(np.mean([t.snapped for t in traces])),
                   float(np.mean([len(t.best) for t in traces])), errors)


def compare(task: Task, evaluator: Evaluator, sources: Sequence[str], seeds: Sequence[int], *, budget: int,
            batch: int, target: float, top: float | None = None,
            progress: Callable[[str], None] | None = None) -> list[Summary]:
    """Every source (module sources with the user, then the baselines) over ``seeds``; ``top``: the
    exhaustive grid's best."""
    from threadpoolctl import threadpool_limits

    out = []
    with threadpool_limits(1):  # one thread per fit: on a few shared cores, BLAS threads only wait
        for source in sources:
            t0 = time.perf_counter()
            if source == "random-search":
                traces = [random_search(task, evaluator, s, budget=budget) for s in seeds]
            elif source == "optuna-tpe":
                traces = [optuna_tpe(task, evaluator, s, budget=budget) for s in seeds]
            else:
                traces = [simulate_user(task, evaluator, source, s, budget=budget, batch=batch) for s in seeds]
            if progress:
                progress(f"  {source}: {time.perf_counter() - t0:.1f} s")
            out.append(summarize(traces, target, top))
    return out


def _count(x: float, budget: int) -> str:
    return f">{budget}" if math.isinf(x) else f"{x:g}"


def _ratio(r: Reach, base: Reach | None) -> str:
    if base is None or r is base:
        return "-"
    return f"{r.median / base.median:.2f}x" if math.isfinite(r.median) and math.isfinite(base.median) else "n/a"


def format_table(rows: Sequence[Summary], budget: int, within: float = 0.01) -> list[str]:
    """Header and one line per source (see the module's docstring)."""
    base = next((r for r in rows if r.source == "random-search"), None)
    lines = [f"  {'source':<14} {f'to within {within:.0%}: median [IQR]':<30} {'vs random':>9}  "
             f"{'to the best: median [IQR]':<30} {'vs random':>9}  {f'best after {budget}: mean ± sd':<27} "
             f"{'wasted/seed':>11}"]
    for r in rows:
        cells = []
        for reach, base_reach in ((r.target, base.target if base else None), (r.top, base.top if base else None)):
            text = f"{_count(reach.median, budget)} [{_count(reach.q1, budget)}–{_count(reach.q3, budget)}]"
            if reach.not_reached:
                text += f" {reach.not_reached}/{r.seeds} not"
            cells.append(f"{text:<30} {_ratio(reach, None if r is base else base_reach):>9}")
        lines.append(f"  {r.source:<14} {cells[0]}  {cells[1]}  {f'{r.best_mean:.4f} ± {r.best_sd:.4f}':<27} "
                     f"{r.wasted:>11.1f}")
    return lines


def verdicts(rows: Sequence[Summary], budget: int) -> list[str]:
    """Plain sentences: fit against random search, and where a TPE beats fit."""
    by = {r.source: r for r in rows}
    out = []
    fit, base = by.get("fit"), by.get("random-search")
    for label, pick in (("within the target", lambda r: r.target), ("to the grid's best", lambda r: r.top)):
        if fit and base:
            f, b = pick(fit).median, pick(base).median
            out.append(f"  {label}: fit {'needs fewer' if f < b else 'does NOT need fewer'} experiments than "
                       f"random search (median {_count(f, budget)} vs {_count(b, budget)})")
        for name in ("tpe", "optuna-tpe"):
            tpe = by.get(name)
            if fit and tpe and pick(tpe).median < pick(fit).median:
                what = "TPE (our module, with the user)" if name == "tpe" else "Optuna TPE on its own"
                out.append(f"  {label}: {what} beats fit (median {_count(pick(tpe).median, budget)} vs "
                           f"{_count(pick(fit).median, budget)} experiments)")
    for name in ("tpe", "optuna-tpe"):
        tpe = by.get(name)
        if fit and tpe and tpe.best_mean > fit.best_mean:
            what = "TPE (our module, with the user)" if name == "tpe" else "Optuna TPE on its own"
            out.append(f"  best after {budget}: {what} beats fit ({tpe.best_mean:.4f} vs {fit.best_mean:.4f})")
    for r in rows:
        if r.snapped:
            out.append(f"  {r.source}: {r.snapped:.1f} proposed values per seed were off the lattice and snapped")
        if r.experiments < budget:
            out.append(f"  {r.source}: stopped early (nothing new proposed), {r.experiments:.1f} experiments "
                       "per seed on average")
        for e in r.errors[:3]:
            out.append(f"  {r.source} refused a batch: {e}")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--tasks", default=",".join(t.name for t in REAL_TASKS),
                    help=f"comma-separated, of {', '.join(TASKS)}")
    ap.add_argument("--seeds", type=int, help="seeds per source (default 10; 3 with --quick)")
    ap.add_argument("--budget", type=int, default=40, help="experiments per seed")
    ap.add_argument("--batch", type=int, default=4, help="rows per batch")
    ap.add_argument("--within", type=float, default=0.01, help="target: within this fraction of the grid's best")
    ap.add_argument("--sources", default=",".join((*SOURCES, *BASELINES)))
    ap.add_argument("--quick", action="store_true", help="the synthetic tasks only, 3 seeds (under a minute)")
    ap.add_argument("--no-cache", action="store_true", help="train every point again (no JSON cache)")
    ap.add_argument("--trace", metavar="SOURCE", help="print each batch of SOURCE on the first seed")
    args = ap.parse_args(argv)
    names = [t.name for t in SYNTHETIC_TASKS] if args.quick else [n.strip() for n in args.tasks.split(",")]
    sources = [s.strip() for s in args.sources.split(",")]
    for what, given, allowed in (("--tasks", names, TASKS), ("--sources", sources, (*SOURCES, *BASELINES))):
        bad = [g for g in given if g not in allowed]
        if bad:
            ap.error(f"{what}: {bad[0]!r} is not known; use {', '.join(allowed)}")
    if args.seeds is None:
        args.seeds = 3 if args.quick else 10
    if args.seeds < 1 or args.budget < 5 or args.batch < 1:
        ap.error("--seeds must be >= 1, --budget >= 5 and --batch >= 1")
    seeds = list(range(args.seeds))
    for name in names:
        task = TASKS[name]
        evaluator = Evaluator(task, None if args.no_cache else default_cache_dir())
        t0 = time.perf_counter()
        grid_best, best = evaluator.exhaustive_best()
        grid_s = time.perf_counter() - t0
        target = best * (1 - args.within) if best > 0 else best * (1 + args.within)
        hits = sum(s >= target for s in evaluator.scores.values())
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in grid_best.items())
        print(f"{task.name}: {task.title}")
        print(f"  exhaustive grid: {evaluator.size} points, best {best:.4f} ({shown}); target {target:.4f} "
              f"(within {args.within:.0%}), reached by {hits} points ({hits / evaluator.size:.1%}); "
              f"grid {grid_s:.1f} s ({evaluator.trained} trained, {evaluator.seconds:.1f} s training, rest cached)")
        print(f"  {args.seeds} seeds, budget {args.budget} experiments, batches of {args.batch}", flush=True)
        if args.trace:
            for line in simulate_user(task, evaluator, args.trace, 0, budget=args.budget, batch=args.batch,
                                      keep_log=True).log:
                print(f"    {line}")
        t0 = time.perf_counter()
        rows = compare(task, evaluator, sources, seeds, budget=args.budget, batch=args.batch, target=target,
                       top=best, progress=lambda line: print(line, flush=True))
        for line in format_table(rows, args.budget, args.within) + verdicts(rows, args.budget):
            print(line)
        print(f"  sources: {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
