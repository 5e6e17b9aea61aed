"""``hypertuner plan/run --propose SOURCE``: the next batch's rows from a proposal source instead of
the grid of the fields.

The fields (``--from-locks``, ``--add``, ``NAME=VALUES``) then give the *domains*: a range is the
range proposals are drawn from (``lr=1e-4..1e-1 log 4``: floats on a log scale; ``batch_size=16..256
*2``: powers of two from 16), a list the choices, a lock or a single value stays as it is. The rows
still go through the listing (redundant / similar, durations, costs, scores, the recommendation).
With ``--budget``, ``--deadline`` or ``--max-experiments`` the number of rows is lowered until the
recommendation keeps them all, so that a fitted source spreads fewer values instead of losing some.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from workbench_plugin._exceptions import SpecError
from workbench_plugin.flags import flag_key, one_line

if TYPE_CHECKING:
    from workbench_plugin.batch import RowsFrom
    from workbench_plugin.flags import FlagSet
    from workbench_plugin.index import ProjectIndex
    from workbench_plugin.proposals import Domain, DrawnLine, Proposal
    from workbench_plugin.space import SearchSpec, Value

__all__ = ["AUTO", "DEFAULT_N", "ProposalRequest", "add_propose_arguments", "lineage_of_request", "print_proposal",
           "request_from_args", "split_auto", "auto_domains"]

#: Rows a proposal source gives when ``--n`` is not given.
DEFAULT_N = 8
_MAX_N = 1000
_MAX_SEED = 2**32 - 1
_MAX_CIRCLED = 10_000
_MAX_ITEMS = 50  # --family / --line / --circle arguments


def add_propose_arguments(p: argparse.ArgumentParser) -> None:
    from workbench_plugin.proposals import FAMILIES, SOURCES

    p.add_argument("--propose", metavar="SOURCE",
                   help=f"propose the rows instead of the grid of the values: {', '.join(SOURCES)} "
                        "(the values' ranges are then where proposals are drawn from)")
    p.add_argument("--n", metavar="N", help=f"how many rows to propose (default {DEFAULT_N})")
    p.add_argument("--seed", metavar="N", help="the random seed of the proposal source (default 0)")
    p.add_argument("--family", action="append", default=[], metavar="NAME=FAMILY",
                   help=f"--propose fit: the fitted family for NAME, one of {', '.join(FAMILIES)} "
                        "(default: the best by cross-validated error)")
    p.add_argument("--line", action="append", default=[], metavar="NAME=X,Y;X,Y...",
                   help="--propose fit: a trend line drawn over the metric against NAME (the page's drawing)")
    p.add_argument("--circle", action="append", default=[], metavar="NAME=ID,ID...",
                   help="--propose fit: fit NAME only on these experiments")


class ProposalRequest(NamedTuple):
    source: str
    n: int
    seed: int
    families: dict[str, str]
    lines: dict[str, DrawnLine]
    circled: dict[str, tuple[str, ...]]


def _count(option: str, text: Any, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    try:
        value = int(str(text).strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SpecError(f"{option}: {one_line(repr(str(text)), 40)} is not allowed; give a whole number "
                        f"from {low} to {high:,}")
    return value


def _pairs(option: str, texts: Sequence[str], example: str) -> list[tuple[str, str]]:
    if len(texts) > _MAX_ITEMS:
        raise SpecError(f"{option}: given {len(texts)} times; give at most {_MAX_ITEMS}")
    out = []
    for text in texts:
        name, sep, value = str(text).partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SpecError(f"{option}: {one_line(repr(str(text)), 60)} is not NAME=VALUE; as in '{option} {example}'")
        out.append((name.strip(), value.strip()))
    return out


def request_from_args(args: argparse.Namespace) -> ProposalRequest | None:
    """The proposal asked for on the command line (or by the page through ``args_for``), checked:
    one line naming the option for anything wrong; None without ``--propose``."""
    from workbench_plugin.proposals import FAMILIES, SOURCES
    from workbench_plugin.proposals._drawn import parse_line

    source = getattr(args, "propose", None)
    extras = [o for o, k in (("--n", "n"), ("--seed", "seed"), ("--family", "family"), ("--line", "line"),
                             ("--circle", "circle")) if getattr(args, k, None)]
    if source is None:
        if extras:
            raise SpecError(f"{extras[0]}: only with --propose SOURCE, as in '--propose fit {extras[0]} ...'")
        return None
    source = str(source).strip().lower()
    if source not in SOURCES:
        raise SpecError(f"--propose: {one_line(repr(str(args.propose)), 40)} is not a proposal source; "
                        f"use one of {', '.join(SOURCES)}")
    n = _count("--n", getattr(args, "n", None), DEFAULT_N, 1, _MAX_N)
    seed = _count("--seed", getattr(args, "seed", None), 0, 0, _MAX_SEED)
    families: dict[str, str] = {}
    for name, family in _pairs("--family", getattr(args, "family", None) or [], "lr=quadratic"):
        if family not in FAMILIES:
            raise SpecError(f"--family: {one_line(repr(family), 40)} for {one_line(name, 60)} is not a family; "
                            f"use one of {', '.join(FAMILIES)}")
        families[name] = family
    lines = {name: parse_line(text, field=f"--line {one_line(name, 60)}")
             for name, text in _pairs("--line", getattr(args, "line", None) or [], "lr=0.001,0.9;0.1,0.95")}
    circled: dict[str, tuple[str, ...]] = {}
    for name, text in _pairs("--circle", getattr(args, "circle", None) or [], "lr=ID,ID"):
        ids = tuple(dict.fromkeys(i.strip() for i in text.split(",") if i.strip()))
        if len(ids) > _MAX_CIRCLED or any(len(i) > 200 or not i.isprintable() for i in ids):
            raise SpecError(f"--circle: the experiments circled for {one_line(name, 60)} are not ids; give at most "
                            f"{_MAX_CIRCLED:,} experiment ids, as 'hypertuner status' prints them")
        circled[name] = ids
    if source != "fit" and (families or lines or circled):
        given = "--family" if families else "--line" if lines else "--circle"
        raise SpecError(f"{given}: only with --propose fit (a fitted function); {source} draws from the ranges")
    return ProposalRequest(source, n, seed, families, lines, circled)


def _by_spec_name(spec_names: Collection[str], given: Mapping[str, Any], option: str) -> dict[str, Any]:
    keys = {flag_key(n): n for n in spec_names}
    out = {}
    for name, value in given.items():
        if flag_key(name) not in keys:
            raise SpecError(f"{option}: {one_line(name, 60)} is not a hyperparameter of the batch; "
                            f"give one of {', '.join(sorted(spec_names))}")
        out[keys[flag_key(name)]] = value
    return out


#: ``--add NAME=?``: the proposal chooses NAME's values from the script's type and default (claim 1).
AUTO = "?"


def split_auto(added: Sequence[str], *, proposing: bool) -> tuple[list[str], list[str]]:
    """``--add`` arguments as (NAME=VALUES ones, names given as ``NAME=?``); ``?`` only with ``--propose``."""
    plain: list[str] = []
    auto: list[str] = []
    for text in added:
        name, sep, value = str(text).partition("=")
        if sep and value.strip() == AUTO:
            if not proposing:
                raise SpecError(f"--add: {one_line(repr(str(text)), 60)} leaves the values to a proposal; add "
                                "--propose SOURCE, or give the values, as in --add 'num_layers=1..4 +1'")
            auto.append(name.strip())
        else:
            plain.append(text)
    return plain, auto


def auto_domains(names: Sequence[str], flags: FlagSet | None, taken: Collection[str] = ()) -> dict[str, Domain]:
    """Domains for ``--add NAME=?`` flags, from their declared type and default, named as the script spells
    them; ``taken``: the names given values (one line if a ``?`` flag is among them)."""
    from workbench_plugin.proposals._domain import domain_for_new_flag, find_flag

    out: dict[str, Domain] = {}
    taken = {flag_key(n) for n in taken}
    for name in names:
        flag = find_flag(flags, name)
        if flag is None:
            why = "its flags are not known" if flags is None or not flags.known else "the script declares no such flag"
            raise SpecError(f"--add: {one_line(name, 60)}=? needs the flag's type and default, but {why}; give "
                            f"its values instead, as in --add '{one_line(name, 60)}=1..4 +1' ('hypertuner flags' "
                            "lists the flags)")
        if flag_key(name) in taken:
            raise SpecError(f"--add: {one_line(name, 60)}=? is also given values; give one or the other")
        domain = domain_for_new_flag(flag)
        out[domain.name] = domain
        taken.add(flag_key(name))
    return out


class Proposer:
    """The ``rows_from`` of :func:`~workbench_plugin.batch.plan_batch` for a request; keeps the Proposal."""

    def __init__(self, request: ProposalRequest, *, locked: Collection[str], metric: str | None, goal: str | None,
                 script: str, auto: Sequence[str] = ()) -> None:
        self.request, self.locked, self.metric, self.goal, self.script = request, locked, metric, goal, script
        self.auto = list(auto)  # --add NAME=?: values from the flag's type and default
        self.proposal: Proposal | None = None

    def __call__(self, spec: SearchSpec, flags: FlagSet | None, index: ProjectIndex) -> list[dict[str, Value]]:
        from workbench_plugin.proposals import propose
        from workbench_plugin.proposals._inputs import proposal_inputs

        r = self.request
        inputs = proposal_inputs(index, spec, locked=self.locked, flags=flags, metric=self.metric, goal=self.goal,
                                 script=self.script)
        if self.auto:
            inputs = inputs._replace(domains={**inputs.domains, **auto_domains(self.auto, flags, spec.params)})
        if r.source == "fit" and inputs.objective is None:
            raise SpecError("--propose fit: no metric was logged yet, so there is nothing to fit; run a batch "
                            "first, or use --propose random, lhs or sobol")
        names = list(inputs.domains)
        objective = inputs.objective
        self.proposal = propose(
            r.source, inputs.domains, inputs.observations, n=r.n,
            metric=objective.metric if objective else "", goal=objective.goal if objective else "max",
            seed=r.seed, family=_by_spec_name(names, r.families, "--family"),
            lines=_by_spec_name(names, r.lines, "--line"), circled=_by_spec_name(names, r.circled, "--circle"),
            health=inputs.health, experiments=inputs.experiments)
        return [dict(row) for row in self.proposal.rows]

    def rows_from(self) -> RowsFrom:
        return self


def lineage_of_request(request: ProposalRequest, proposal: Proposal | None) -> dict[str, Any]:
    """What a run launched from proposals records of them (``Run.extra["lineage"]["proposal"]``)."""
    from workbench_plugin.proposals._drawn import format_line

    out: dict[str, Any] = {"source": request.source, "n": request.n, "seed": request.seed}
    if request.families:
        out["families"] = dict(request.families)
    if request.lines:
        out["lines"] = {n: format_line(line) for n, line in request.lines.items()}
    if request.circled:
        out["circled"] = {n: list(ids) for n, ids in request.circled.items()}
    if proposal is not None:
        out["basis"] = proposal.basis
        if proposal.warnings:
            out["warnings"] = list(proposal.warnings)
    return out


def print_proposal(proposal: Proposal) -> None:
    """The proposal's basis, each fit's families ranked, and its warnings (rows' reasons are listed per row)."""
    print(f"proposed by {proposal.source}: {one_line(proposal.basis, 300)}")
    for report in proposal.fits:
        if report.message:
            print(f"  {one_line(report.hparam, 60)}: {one_line(report.message, 200)}")
            continue
        chosen = f" (a drawn line picked {report.chosen})" if report.chosen else ""
        print(f"  {one_line(report.hparam, 60)}: {one_line(report.basis, 200)}{chosen}")
        for curve in report.curves:
            if curve.ok:
                print(f"    {curve.family:9} cv error {curve.cv_rmse:.3g}: {one_line(curve.formula, 160)}")
            else:
                print(f"    {curve.family:9} not fitted: {one_line(curve.message, 160)}")
    for warning in proposal.warnings:
        print(f"  {one_line(warning, 200)}")
