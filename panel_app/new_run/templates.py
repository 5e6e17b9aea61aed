"""The new-run page's HTML and table data (pure; no panel): every user- or script-given string escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import pandas as pd

from workbench_plugin.advice import Advice, format_seconds
from workbench_plugin.flags import one_line
from workbench_plugin.next_batch import AddableFlag
from workbench_plugin.planning import PreviousResult
from workbench_plugin.space import format_value

__all__ = ["ERROR_TEMPLATE", "NEW_RUN_CSS", "addable_html", "advice_html", "caps_html", "field_label",
           "listing_table", "previous_html", "title_html"]

_METRICS_SHOWN = 6
_PREVIOUS_SHOWN = 3
_WHY = {"same": "same snapshot and data"}

#: Skipped rows grey; the skip and star cells look clickable.
NEW_RUN_CSS = """
.tabulator-row.ht-skipped, .tabulator-row.ht-skipped .tabulator-cell { color: #9a9a9a; }
.tabulator-cell[tabulator-field='skip'], .tabulator-cell[tabulator-field='star'] { cursor: pointer; }
"""

ERROR_TEMPLATE = '<div class="ht-field-error" style="color:#b00020;font-size:12px">{}</div>'


def _e(text: object, limit: int = 200) -> str:
    return html.escape(one_line(str(text), limit))


def title_html(project: str, run_id: str) -> str:
    back = f'?run={html.escape(quote(run_id, safe=""))}'
    return (f'<h2 class="ht-new-run-title">New run <span style="font-weight:normal">— project {_e(project, 80)}, '
            f'from the locks of <a href="{back}">run {_e(run_id, 80)}</a></span></h2>')


def field_label(name: str, locked: bool, lock: str, added: bool) -> str:
    if locked:
        return f"{name} (locked: {one_line(lock, 60)})"
    return f"{name} (added)" if added else name


def addable_html(flags: Sequence[AddableFlag]) -> str:
    """The flags the menu offers, with type, default and help (all from the script: escaped)."""
    if not flags:
        return '<p class="ht-addable">No other flags found in the script.</p>'
    items = "".join(
        f"<li><code>{_e(a.option, 60)}</code> ({_e(a.type, 30)}, default {_e(a.default, 60)}"
        + (f"; one of {_e(', '.join(a.choices), 120)}" if a.choices else "") + ")"
        + (f": {_e(a.help)}" if a.help else "") + "</li>"
        for a in flags)
    return f'<ul class="ht-addable" style="margin:2px 0;font-size:12px">{items}</ul>'


def _number(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def _runs(n: int) -> str:
    return f"{n} previous run{'s' if n != 1 else ''}"


def previous_html(previous: Sequence[PreviousResult], runs: int) -> str:
    """``same setting found in N previous runs``, then each earlier result: a link opening it on its run
    page (``?experiment=ID`` selects it), its state and final metrics."""
    if not previous:
        return ""
    parts = [f"same setting found in {_runs(runs)}"]
    for p in previous[:_PREVIOUS_SHOWN]:
        metrics = ", ".join(f"{_e(k, 40)}={_e(_number(v), 20)}" for k, v in list(p.metrics.items())[:_METRICS_SHOWN])
        href = f'?experiment={html.escape(quote(p.experiment_id, safe=""))}'
        parts.append(f'<a href="{href}" target="_blank" rel="noopener">{_e(p.experiment_id, 80)}</a> '
                     f"{_e(p.state, 30)} ({_e(_WHY.get(p.why, p.why), 40)})" + (f": {metrics}" if metrics else ""))
    if len(previous) > _PREVIOUS_SHOWN:
        parts.append(f"and {len(previous) - _PREVIOUS_SHOWN} more")
    return "<br>".join(parts)


def _value(v: Any) -> str:
    return v if isinstance(v, str) else format_value(v)


def listing_table(records: Sequence[Mapping[str, Any]], extra: Sequence[str] = ()) -> pd.DataFrame:
    """The listing as the page's table: ``#``, status, skip and star toggles, the values, the slot
    columns (duration, cost, score...; one with no value in any row is left out), earlier results
    (HTML, escaped here), then the command (plain text: the table escapes it)."""
    names: list[str] = list(dict.fromkeys(k for r in records for k in r["params"]))
    extra = [c for c in extra if any(r.get(c) not in (None, "") for r in records)]
    data: dict[str, list[Any]] = {"#": [], "status": [], "skip": [], "star": []}
    for n in names:
        data[f"p:{n}"] = []
    data.update({**{f"x:{c}": [] for c in extra}, "previous": [], "command": []})
    for r in records:
        data["#"].append(r["row"])
        data["status"].append(r["status"])
        data["skip"].append("skipped ↺" if r["skipped"] else "skip")
        data["star"].append("★" if r["starred"] else "☆")
        for n in names:
            data[f"p:{n}"].append(_value(r["params"][n]) if n in r["params"] else "")
        data["previous"].append(previous_html(r["previous"], r["previous_runs"]))
        data["command"].append(r["command"])
        for c in extra:
            value = r.get(c)
            data[f"x:{c}"].append("" if value is None else str(value))
    frame = pd.DataFrame(data)
    return frame.rename(columns={k: k.split(":", 1)[1] for k in frame.columns if k[:2] in ("p:", "x:")})


def _money(value: float, currency: str) -> str:
    return f"{value:.2f} {_e(currency, 8)}"


def caps_html(max_budget: float, max_experiments: int, max_deadline_hours: float, currency: str) -> str:
    """The administrator's caps (config ``[limits]``), or that there are none."""
    caps = [f"budget {_money(max_budget, currency)}" if max_budget else "",
            f"{max_experiments} experiments" if max_experiments else "",
            f"wall time {format_seconds(max_deadline_hours * 3600)}" if max_deadline_hours else ""]
    shown = ", ".join(c for c in caps if c)
    return (f'<span class="ht-caps">administrator caps per batch: {shown}</span>' if shown
            else '<span class="ht-caps">no administrator caps</span>')


def advice_html(advice: Advice | None, *, current: bool, running: int, applied: bool,
                problems: Sequence[str], error: str) -> str:
    """Totals per resource option (count, compute, wall at its slots, money), the duration and score
    bases, the recommendation, notes and the caps exceeded; every string escaped."""
    if error:
        return f'<div class="ht-advice">{ERROR_TEMPLATE.format(_e(error, 300))}</div>'
    if advice is None:
        return '<div class="ht-advice"><i>pricing and scoring...</i></div>' if running else \
            '<div class="ht-advice"></div>'
    head = "" if current else "<i>(updating...)</i> "
    rows = []
    for o in advice.options:
        t = advice.totals[o.name]
        chosen = o.name == advice.option.name
        money = "free" if o.free else _money(t.money, t.currency)
        style = ' style="font-weight:bold"' if chosen else ""
        rows.append(f'<tr class="ht-total-{_e(o.name, 40)}"{style}><td>{_e(o.name, 40)}{" (chosen)" if chosen else ""}'
                    f"</td><td>{t.count}</td><td>{format_seconds(t.compute_seconds)}</td>"
                    f"<td>{format_seconds(t.wall_seconds)} at {max(1, o.slots)} slots</td><td>{money}</td>"
                    f"<td>{_e(o.description, 80)}</td></tr>")
    table = ('<table class="ht-totals" style="border-collapse:collapse;font-size:12px" cellpadding="3">'
             "<tr><th align=left>resource</th><th align=left>experiments</th><th align=left>compute</th>"
             "<th align=left>wall</th><th align=left>cost</th><th></th></tr>" + "".join(rows) + "</table>")
    if advice.overridden and advice.split is not None and advice.combined is not None:
        shares = [f"{_e(o.name, 40)} {advice.split[o.name].count} ({format_seconds(advice.split[o.name].wall_seconds)}"
                  f" wall, {'free' if o.free else _money(advice.split[o.name].money, o.currency)})"
                  for o in advice.options if o.name in advice.split]
        c = advice.combined
        table += (f'<div class="ht-split">as assigned per row: {"; ".join(shares)}; combined {c.count} experiments, '
                  f"{format_seconds(c.compute_seconds)} compute, {format_seconds(c.wall_seconds)} wall, "
                  f"{_money(c.money, c.currency)}</div>")
    what = f"{advice.objective.metric} ({advice.objective.goal})" if advice.objective else "coverage"
    kept = [a for a in advice.rows if a.recommended]
    t = advice.recommended_totals
    lim = advice.limits
    limits = [f"budget {lim.budget:g}" if lim.budget is not None else "",
              f"deadline {format_seconds(lim.deadline_seconds)}" if lim.deadline_seconds is not None else "",
              f"at most {lim.max_experiments}" if lim.max_experiments is not None else ""]
    within = ", ".join(x for x in limits if x) or "no limit"
    rec = (f"recommended ({within}): {len(kept)} row{'s' if len(kept) != 1 else ''}, "
           f"{format_seconds(t.wall_seconds)} wall"
           + ("" if advice.option.free and not advice.overridden else f", {_money(t.money, t.currency)}")
           + (f"; limited by the {_e(advice.binding, 40)}" if advice.binding else "")
           + ("; applied: the rows it leaves out are skipped" if applied else ""))
    lines = [f"{head}{table}",
             f'<div class="ht-duration-basis">duration: {_e(advice.duration_basis, 200)}</div>',
             f'<div class="ht-score-basis">scores 0-10 for {_e(what, 60)}: {_e(advice.score_basis, 300)}</div>',
             f'<div class="ht-recommended">{rec}</div>',
             *(f'<div class="ht-advice-note">note: {_e(n, 200)}</div>' for n in advice.notes),
             *(f'<div class="ht-over-cap" style="color:#b00020">over a cap: {_e(p, 200)}</div>' for p in problems)]
    return '<div class="ht-advice" style="font-size:12px">' + "".join(lines) + "</div>"
