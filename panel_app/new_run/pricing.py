"""The new-run page's duration, cost, score and recommendation (issue 11, FIG 25D-25E): plain data.

What the page shows is what ``hypertuner plan`` prints, from the same functions:
:func:`workbench_plugin.advice.advise_from_index` for the rows, and the CLI's own parsers
(``recommend.parse_money``/``parse_duration``, ``_plan_cli.parse_count``) for the constraints typed
on the page, so a bad value gets the CLI's one-line message. No panel imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from workbench_plugin import _plan_cli
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.advice import Advice, Constraints, format_seconds
from workbench_plugin.advice import retotal as _retotal
from workbench_plugin.flags import one_line
from workbench_plugin.recommend import parse_duration, parse_money

if TYPE_CHECKING:
    from workbench_plugin.planning import ListingRow

__all__ = ["ADVICE_COLUMNS", "CONSTRAINTS", "ConstraintTexts", "advice_cells", "parse_constraints",
           "retotal"]

#: The constraint fields, in order, as the CLI names them.
CONSTRAINTS = ("budget", "deadline", "max_experiments")
#: The listing's columns from the advice (``cost`` only when an option used is priced; ``resource``:
#: the option each row runs on, the batch's unless overridden on the row).
ADVICE_COLUMNS = ("resource", "duration", "cost", "score", "recommendation", "reason")


class ConstraintTexts(NamedTuple):
    """The constraints as typed ("" for none)."""

    budget: str = ""
    deadline: str = ""
    max_experiments: str = ""

    def given(self, field: str) -> str | None:
        text = getattr(self, field).strip()
        return text or None


def _parse(field: str, text: str) -> float | int:
    if field == "budget":
        return parse_money(text)
    if field == "deadline":
        return parse_duration(text)
    return _plan_cli.parse_count(text)


def parse_constraints(texts: ConstraintTexts) -> tuple[Constraints, dict[str, str]]:
    """The constraints, and the CLI's one-line message for each field that does not parse."""
    values: dict[str, float | int | None] = {}
    errors: dict[str, str] = {}
    for field in CONSTRAINTS:
        text = texts.given(field)
        values[field] = None
        if text is None:
            continue
        try:
            values[field] = _parse(field, text)
        except HyperTunerError as exc:
            errors[field] = one_line(str(exc))
    count = values["max_experiments"]
    return Constraints(budget=values["budget"], deadline_seconds=values["deadline"],
                       max_experiments=None if count is None else int(count)), errors


def retotal(advice: Advice, running: Sequence[bool], row_resources: Mapping[int, str] | None = None) -> Advice:
    """``advice`` with its totals over the ``running`` rows (a skip changes no estimate: no refit);
    ``row_resources`` given, the rows' options as these (see :func:`workbench_plugin.advice.retotal`)."""
    return _retotal(advice, running, row_resources)


def advice_cells(advice: Advice | None, rows: Sequence[ListingRow],
                 applied: Mapping[int, str]) -> dict[str, dict[int, object]]:
    """Per column of :data:`ADVICE_COLUMNS`: {ListingRow.index: text} (nothing when ``advice`` is None).

    ``applied``: rows the page skipped when the recommendation was applied, with the reason then."""
    out: dict[str, dict[int, object]] = {c: {} for c in ADVICE_COLUMNS}
    if advice is None:
        return out
    by_index = {a.index: a for a in advice.rows}
    used = {a.resource or advice.option.name for a in advice.rows} | {advice.option.name}
    priced = any(not o.free for o in advice.options if o.name in used)
    for r in rows:
        a = by_index.get(r.index)
        if a is None:
            continue
        e = a.estimate
        out["duration"][r.index] = f"{format_seconds(e.seconds)} ({format_seconds(e.low)}-{format_seconds(e.high)})"
        name = a.resource or advice.option.name
        out["resource"][r.index] = name
        option = next((o for o in advice.options if o.name == name), advice.option)
        if priced:
            mine = "" if name == advice.option.name else f" ({name})"
            out["cost"][r.index] = f"{a.costs[name]:.2f} {option.currency}{mine}"
        out["score"][r.index] = f"{a.score.value:.1f}"
        out["reason"][r.index] = one_line(a.score.reason, 160)
        if r.index in applied:
            mark = f"{applied[r.index]} (applied)"
        elif a.recommended:
            mark = "recommended"
        elif r.skipped:
            mark = ""
        else:
            mark = a.skip_reason or "skip"
        out["recommendation"][r.index] = mark
    return out
