"""The compare page's HTML, in one place (each pane is its own shadow root: every table carries
:data:`COMPARE_CSS`): every user- or script-given string (ids, labels,
hyperparameter and metric names and values, artifact names, errors) is escaped here.

Class names tests and users' styles find: ``ht-compare-header``, ``ht-compare-col`` (an
experiment's column head, linking its page), ``ht-hparams``, ``ht-differ`` (a differing
hyperparameter's row), ``ht-equal`` (an equal one's, shown when unfolded), ``ht-metrics``,
``ht-best`` (the best value of a row), ``ht-artifacts``, ``ht-error``; on the run page
``ht-compare`` (the Compare link, ``ht-compare-off`` while it cannot compare).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from panel_app.palette import PALETTE, STATE_COLORS
from workbench_plugin.experiment_info import (
    MAX_COMPARED,
    MIN_COMPARED,
    ComparedExperiment,
    HparamRow,
    MetricRow,
    compare_count_problem,
)

__all__ = [
    "COMPARE_CSS",
    "artifacts_html",
    "colour_of",
    "compare_header_html",
    "compare_href",
    "compare_link_html",
    "hparams_html",
    "metrics_html",
]

COMPARE_CSS = """<style>
.ht-cmp{border-collapse:collapse;font-size:13px;margin:4px 0}
.ht-cmp th,.ht-cmp td{border-bottom:1px solid #e4e4e4;padding:3px 10px;text-align:left;vertical-align:top}
.ht-cmp th.ht-rowname{font-weight:normal;color:#333;min-width:140px}
.ht-cmp tr.ht-differ td,.ht-cmp tr.ht-differ th{background:#fff6d6}
.ht-cmp tr.ht-differ th.ht-rowname{font-weight:bold}
.ht-cmp tr.ht-equal td,.ht-cmp tr.ht-equal th{color:#666}
.ht-cmp td.ht-best{font-weight:bold;background:#e3f4e1}
.ht-cmp .ht-swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.ht-cmp .ht-state{display:inline-block;color:#fff;border-radius:7px;padding:0 6px;font-size:11px;
  font-weight:normal;margin-left:4px}
.ht-cmp .ht-run{color:#888;font-weight:normal;font-size:11px}
.ht-cmp .ht-section{background:#f4f4f4;font-size:12px;color:#444}
</style>"""


def colour_of(position: int) -> str:
    """The colour of the experiment at ``position`` of the comparison (as in every figure)."""
    return PALETTE[position % len(PALETTE)]


def _href(key: str, value: str) -> str:
    return html.escape(f"?{key}={quote(value, safe=',')}")


def compare_href(ids: Sequence[str]) -> str:
    """The link (query) of a comparison of ``ids``."""
    return "?compare=" + quote(",".join(ids), safe=",")


def _value(value: Any) -> str:
    if value is None:
        return '<span style="color:#aaa">—</span>'
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    return html.escape(str(value))


def _head(experiments: Sequence[ComparedExperiment], first: str) -> str:
    cells = "".join(
        f'<th class="ht-compare-col"><span class="ht-swatch" style="background:{colour_of(i)}"></span>'
        f'<a href="{_href("experiment", e.experiment_id)}" title="open the experiment page">'
        f"{html.escape(e.label)}</a> "
        f'<span class="ht-state" style="background:{STATE_COLORS.get(e.state, "#9e9e9e")}">'
        f"{html.escape(e.state)}</span><br><span class=\"ht-run\">{html.escape(e.experiment_id)}</span></th>"
        for i, e in enumerate(experiments))
    return f"<thead><tr><th>{first}</th>{cells}</tr></thead>"


def compare_header_html(experiments: Sequence[ComparedExperiment], problems: Sequence[str]) -> str:
    """The page's title line: how many are compared, from which runs (links back), problems."""
    runs = list(dict.fromkeys(e.run_id for e in experiments))
    links = ", ".join(f'<a href="{_href("run", r)}">{html.escape(r)}</a>' for r in runs)
    said = "; ".join(p for p in problems if p)
    error = (f' <span class="ht-error" style="color:{STATE_COLORS["failed"]}">{html.escape(said)}</span>'
             if said else "")
    return (f'<div class="ht-compare-header" style="font-size:15px;line-height:30px">'
            f"<b>Comparing {len(experiments)} experiments</b> of run{'s' if len(runs) > 1 else ''} "
            f"{links}{error}</div>")


def hparams_html(experiments: Sequence[ComparedExperiment], differing: Sequence[HparamRow],
                 equal: Sequence[HparamRow], *, folded: bool) -> str:
    """Differing hyperparameters first (highlighted), then the equal ones unless ``folded``."""
    rows = [f'<tr class="ht-differ"><th class="ht-rowname">{html.escape(h.name)}</th>'
            + "".join(f"<td>{_value(v)}</td>" for v in h.values) + "</tr>" for h in differing]
    if not differing:
        rows.append(f'<tr><td class="ht-section" colspan="{len(experiments) + 1}">'
                    "No hyperparameter differs.</td></tr>")
    if equal:
        noun = "hyperparameter" if len(equal) == 1 else "hyperparameters"
        state = "folded" if folded else "shown"
        rows.append(f'<tr><td class="ht-section ht-equal-count" colspan="{len(experiments) + 1}">'
                    f"{len(equal)} equal {noun} ({state})</td></tr>")
        if not folded:
            rows += [f'<tr class="ht-equal"><th class="ht-rowname">{html.escape(h.name)}</th>'
                     + "".join(f"<td>{_value(v)}</td>" for v in h.values) + "</tr>" for h in equal]
    return (f'{COMPARE_CSS}<table class="ht-cmp ht-hparams">{_head(experiments, "Hyperparameters")}'
            f"<tbody>{''.join(rows)}</tbody></table>")


def metrics_html(experiments: Sequence[ComparedExperiment], metrics: Sequence[MetricRow],
                 extras: Sequence[MetricRow] = ()) -> str:
    """Final metrics (and duration...), the best of each row bold with class ``ht-best``."""
    def row(m: MetricRow) -> str:
        cells = "".join(
            f'<td class="ht-best" title="best ({m.goal})"><b>{_value(v)}</b></td>' if best else f"<td>{_value(v)}</td>"
            for v, best in zip(m.values, m.best, strict=True))
        arrow = "↑" if m.goal == "max" else "↓"
        return (f'<tr><th class="ht-rowname" title="{"larger" if m.goal == "max" else "smaller"} is better">'
                f'{html.escape(m.name)} <span style="color:#999">{arrow}</span></th>{cells}</tr>')

    body = "".join(row(m) for m in (*metrics, *extras))
    if not metrics:
        body = (f'<tr><td class="ht-section" colspan="{len(experiments) + 1}">No metric logged yet.</td></tr>'
                + body)
    head = _head(experiments, "Final metrics")
    return f'{COMPARE_CSS}<table class="ht-cmp ht-metrics">{head}<tbody>{body}</tbody></table>'


def artifacts_html(experiments: Sequence[ComparedExperiment], artifacts: Mapping[str, Sequence[str] | str]) -> str:
    """Each experiment's artifact names, side by side (a string: the one line why not listed)."""
    def cell(e: ComparedExperiment) -> str:
        names = artifacts.get(e.experiment_id, ())
        if isinstance(names, str):
            return f'<td class="ht-error">{html.escape(names)}</td>'
        if not names:
            return '<td style="color:#999">none</td>'
        return "<td>" + "<br>".join(f"<code>{html.escape(n)}</code>" for n in names) + "</td>"

    return (f'{COMPARE_CSS}<table class="ht-cmp ht-artifacts">{_head(experiments, "Artifacts")}<tbody><tr><th></th>'
            f"{''.join(cell(e) for e in experiments)}</tr></tbody></table>")


def compare_link_html(selection: Sequence[str]) -> str:
    """The run page's Compare link for the selected experiment ids: a link for 2 to 10,
    otherwise greyed out with the one line why."""
    style = ("display:inline-block;padding:4px 14px;border-radius:4px;font-size:14px;"
             "text-decoration:none;border:1px solid ")
    problem = compare_count_problem(len(selection))
    if not problem:
        return (f'<a class="ht-compare" role="button" href="{html.escape(compare_href(selection))}" '
                f'title="compare the {len(selection)} selected experiments side by side" '
                f'style="{style}#1f77b4;background:#1f77b4;color:#fff">Compare {len(selection)}</a>')
    why = (f"select {MIN_COMPARED} to {MAX_COMPARED} experiments to compare them" if not selection
           else problem)
    said = (f' <span class="ht-compare-why" style="font-size:12px;color:#777">{html.escape(why)}</span>'
            if selection else "")
    return (f'<span class="ht-compare ht-compare-off" role="button" aria-disabled="true" title="{html.escape(why)}" '
            f'style="{style}#ccc;color:#999;cursor:not-allowed">Compare</span>{said}')
