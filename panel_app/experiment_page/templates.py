"""The experiment page's HTML, in one place: every recorded string is escaped here.

Class names tests and users' styles find: ``ht-exp-header``, ``ht-exp-state``, ``ht-exp-command``,
``ht-exp-params``, ``ht-exp-snapshot``, ``ht-exp-engine``, ``ht-exp-cost``, ``ht-log-tail``,
``ht-log-<stream>``, ``ht-full-log``, ``ht-health-<flag>``, ``ht-problem``.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from urllib.parse import quote

from panel_app.palette import STATE_COLORS
from panel_app.run_page.templates import HEALTH_COLORS
from workbench_plugin._table import fmt
from workbench_plugin.experiment_info import ExperimentHeader, LogPart
from workbench_plugin.lifecycle import State
from workbench_plugin.proposals import Health

__all__ = ["full_log_html", "header_html", "log_href", "log_tail_html", "not_applicable_html", "problem_html"]

_E = html.escape
_SNAPSHOT_SHOWN = 30


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(value, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h {minutes:02d}m {seconds:04.1f}s" if hours else (
        f"{minutes}m {seconds:04.1f}s" if minutes else f"{seconds:.1f} s")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def log_href(experiment_id: str, stream: str) -> str:
    return f"?experiment={quote(experiment_id, safe='')}&log={stream}"


def problem_html(line: str) -> str:
    """One escaped line where a view (or the page) would be."""
    return f'<div class="ht-problem" style="color:{STATE_COLORS[State.FAILED]}">{_E(line)}</div>'


def not_applicable_html(line: str) -> str:
    """One escaped, muted line where a view would be that this experiment gives nothing to draw
    (no such artifact or metric): not a failure, so not in the failure colour."""
    return f'<div class="ht-not-applicable" style="color:#666">{_E(line)}</div>'


def _health_html(health: Health | None) -> str:
    if health is None or not health.flags:
        return ""
    return "".join(
        f'<span class="ht-health ht-health-{_E(flag)}" title="{_E(reason)}" style="display:inline-block;'
        f'padding:0 7px;margin-left:6px;border-radius:7px;color:#fff;font-size:12px;'
        f'background:{HEALTH_COLORS.get(flag, "#9e9e9e")}">{_E(flag)}</span>'
        for flag, reason in zip(health.flags, health.reasons, strict=True))


def _row(name: str, value: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    th = '<th style="text-align:left;padding-right:12px;vertical-align:top">'
    return f"<tr{attr}>{th}{name}</th><td>{value}</td></tr>"


def header_html(h: ExperimentHeader, *, health: Health | None = None, problems: Sequence[str] = ()) -> str:
    """The header: state, command, hyperparameters, snapshot, data, who/when, engine, usage, cost."""
    color = STATE_COLORS.get(h.state, "#9e9e9e")
    state = (f'<span class="ht-exp-state" style="display:inline-block;padding:1px 9px;border-radius:9px;'
             f'color:#fff;background:{color}">{_E(h.state)}</span>')
    reason = f' <span class="ht-exp-reason">{_E(h.reason)}</span>' if h.reason else ""
    said = bool(h.killed_by) and f"stop asked by {h.killed_by}" in (h.reason or "")  # the fold named them
    killed = (f' <span class="ht-exp-killed-by">(stop asked by {_E(h.killed_by)})</span>'
              if h.killed_by and not said else "")
    params = ", ".join(f"<b>{_E(k)}</b>={_E(fmt(v))}" for k, v in h.params.items()) or "none"
    files = "".join(f"<li><code>{_E(p)}</code> {_size(s)}</li>" for p, s in h.snapshot_files[:_SNAPSHOT_SHOWN])
    more = h.snapshot_file_count - min(len(h.snapshot_files), _SNAPSHOT_SHOWN)
    files += f"<li>... and {more} more</li>" if more > 0 else ""
    snapshot = (f"<code>{_E(h.snapshot_id)}</code> ({h.snapshot_file_count} files)"
                + (f'<details><summary>files</summary><ul style="margin:0">{files}</ul></details>' if files else ""))
    data = "none (no file over the snapshot's size limit)"
    if h.data_refs:
        data = ("; ".join(f"<code>{_E(p)}</code> {_size(s)}" for p, s in h.data_refs)
                + f" (data id <code>{_E(h.data_id)}</code>)")
    engine_id = _E(h.engine_id) or "-"
    if h.engine_link:
        engine_id = f'<a href="{_E(h.engine_link)}" target="_blank" rel="noopener">{engine_id}</a>'
    usage = "-"
    if h.vcore_seconds is not None or h.mb_seconds is not None:
        usage = (f"{fmt(h.vcore_seconds) if h.vcore_seconds is not None else '-'} vcore-seconds, "
                 f"{fmt(h.mb_seconds) if h.mb_seconds is not None else '-'} MB-seconds")
    cost = "-" if h.cost is None else f"{h.cost:.4f} {_E(h.currency)}"
    shown_problems = "".join(problem_html(p) for p in problems if p)
    return (
        f'<div class="ht-exp-header" style="font-size:13px">'
        f'<div style="font-size:16px;line-height:30px"><b>Experiment</b> <code>{_E(h.experiment_id)}</code> '
        f'({_E(h.label)} of run <a href="?run={quote(h.run_id, safe="")}">{_E(h.run_id)}</a>) {state}{reason}'
        f"{killed}{_health_html(health)}</div>{shown_problems}"
        '<table style="border-collapse:collapse">'
        + _row("script", f"<code>{_E(h.script)}</code>")
        + _row("command", f"<code>{_E(h.command)}</code>", "ht-exp-command")
        + _row("hyperparameters", params, "ht-exp-params")
        + _row("snapshot", snapshot, "ht-exp-snapshot")
        + _row("data", data, "ht-exp-data")
        + _row("launched", f"by {_E(h.author) or '-'} at {_when(h.created)}")
        + _row("engine", f"{_E(h.engine)} {engine_id}", "ht-exp-engine")
        + _row("started", _when(h.started))
        + _row("duration", _seconds(h.duration), "ht-exp-duration")
        + _row("usage", usage, "ht-exp-usage")
        + _row("cost", f"{cost} <span style='color:#777'>({_E(h.cost_basis)})</span>", "ht-exp-cost")
        + "</table></div>"
    )


def log_tail_html(experiment_id: str, stream: str, part: LogPart) -> str:
    """The last lines of a log, with a link to all of it."""
    what = ("all" if part.shown_lines == part.total_lines else f"last {part.shown_lines} of") + \
        f" {part.total_lines} lines"
    body = _E(part.text) if part.text else "(empty)"
    return (f'<div class="ht-log-tail ht-log-{stream}"><b>{stream}</b> ({what}, '
            f'<a href="{_E(log_href(experiment_id, stream))}" target="_blank">full log</a>)'
            f'<pre style="max-height:260px;overflow:auto;background:#f6f6f6;padding:4px;margin:2px 0;'
            f'font-size:11px">{body}</pre></div>')


def full_log_html(experiment_id: str, stream: str, part: LogPart) -> str:
    """A whole log page (its end when over the bound)."""
    note = "" if part.whole else (f"<p>showing the last {_size(part.shown_bytes)} ({part.shown_lines:,} lines) "
                                  f"of {_size(part.total_bytes)} ({part.total_lines:,} lines)</p>")
    return (f'<div class="ht-full-log"><h3>{stream} of experiment <a href="?experiment='
            f'{quote(experiment_id, safe="")}">{_E(experiment_id)}</a></h3>{note}'
            f'<pre style="font-size:12px;white-space:pre-wrap">{_E(part.text)}</pre></div>')
