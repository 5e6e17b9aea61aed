"""The Tabulator cell templates of the table before issue 15 (for ``bench/_tabulator_table.py``)."""

from __future__ import annotations

import html
from collections.abc import Iterable

from panel_app.palette import STATE_COLORS
from panel_app.run_page.templates import HEALTH_COLORS, caption_html

__all__ = ["EXPERIMENT_TEMPLATE", "HEALTH_TEMPLATE", "STATE_TEMPLATE", "TABLE_CSS", "caption_html",
           "column_titles"]

STATE_TEMPLATE = (
    '<span style="display:inline-block;min-width:58px;padding:0 5px;border-radius:7px;'
    'color:#fff;text-align:center;background:<%= ({'
    + ",".join(f'"{k}":"{v}"' for k, v in STATE_COLORS.items())
    + '})[value] || "#9e9e9e" %>"><%- value %></span>'
)

HEALTH_TEMPLATE = (
    '<% String(value || "").split("\\n").forEach(function (line) { '
    'var at = line.indexOf(": "); if (at < 0) { return; } var flag = line.slice(0, at); %>'
    '<span class="ht-health ht-health-<%- flag %>" title="<%- line.slice(at + 2) %>" '
    'style="display:inline-block;padding:0 5px;margin-right:3px;border-radius:7px;color:#fff;'
    'font-size:11px;background:<%= ({'
    + ",".join(f'"{k}":"{v}"' for k, v in HEALTH_COLORS.items())
    + '})[flag] || "#9e9e9e" %>"><%- flag %></span><% }); %>'
)

TABLE_CSS = """
.tabulator, .tabulator .tabulator-header, .tabulator .tabulator-row { font-size: 12px !important; }
.tabulator .tabulator-header .tabulator-col .tabulator-col-content { padding: 3px 5px !important; }
.tabulator .tabulator-row .tabulator-cell { padding: 3px 5px !important; }
"""

EXPERIMENT_TEMPLATE = ('<a class="ht-open-experiment" href="?experiment=<%= encodeURIComponent(value) %>">'
                       "<%- value %></a>")


def column_titles(columns: Iterable[object]) -> dict[str, str]:
    """The table's column titles, escaped: Tabulator puts a title into the page as HTML."""
    return {str(c): html.escape(str(c)) for c in columns}
