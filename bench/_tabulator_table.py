"""The run page's table as it was before issue 15 (a Panel Tabulator; above 5,000 experiments
it pages 12 rows at a time on the server): the baseline ``bench/table.py`` measures the
scrolling table against, in the same run. Not used by the product."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import HTMLTemplateFormatter

from bench._tabulator_templates import (
    EXPERIMENT_TEMPLATE,
    HEALTH_TEMPLATE,
    STATE_TEMPLATE,
    TABLE_CSS,
    caption_html,
    column_titles,
)
from panel_app.run_page.guard import Guard
from panel_app.run_page.model import RunPageModel

__all__ = ["TABLE_MARK_MAX", "TablePanel", "table_patch"]

#: A selection made outside the table marks its rows only up to this many.
TABLE_MARK_MAX = 50


def table_patch(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, list[tuple[int, Any]]]:
    """The cells of ``new`` that differ from ``old`` (same columns and rows), by position."""
    patch: dict[str, list[tuple[int, Any]]] = {}
    for column in new.columns:
        a, b = old[column].to_numpy(), new[column].to_numpy()
        same = pd.isna(a) & pd.isna(b)
        with np.errstate(invalid="ignore"):
            same |= np.asarray(a == b, dtype=bool) if a.dtype == b.dtype else np.zeros(
                len(a), dtype=bool)
        changed = np.flatnonzero(~same)
        if len(changed):
            values = new[column].iloc[changed].tolist()
            patch[column] = [(int(i), v) for i, v in zip(changed, values, strict=True)]
    return patch


def _same_rows(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(len(a) == len(b) and np.array_equal(a, b))


class TablePanel(param.Parameterized):
    """The table and its caption. Rows picked here select; a selection made elsewhere (a plot,
    a slider, a note) narrows the rows shown to the selected ones."""

    rows = param.Parameter(default=None, doc="The rows the table shows (positions), "
                           "None for all: a selection made outside the table.")

    def __init__(self, model: RunPageModel, setting: Guard) -> None:
        super().__init__()
        self.model = model
        #: Held while the server sets widgets: the table's watcher must not echo it back.
        self.setting = setting
        self.table = pn.widgets.Tabulator(
            model.table.copy(), selectable=True, disabled=True, show_index=False,
            formatters={"state": HTMLTemplateFormatter(template=STATE_TEMPLATE),
                        "experiment": HTMLTemplateFormatter(template=EXPERIMENT_TEMPLATE),
                        "health": HTMLTemplateFormatter(template=HEALTH_TEMPLATE)},
            layout="fit_data_table", height=430, width=560, margin=(6, 10),
            frozen_columns=["#"], stylesheets=[TABLE_CSS],
            # dense: the server sorts, filters and pages (every row reachable, a page sent)
            pagination="remote" if model.dense else None, page_size=12,
            header_filters=True, titles=column_titles(model.table.columns),
        )
        self.table.add_filter(pn.bind(self._filter, rows=self.param.rows))
        self.caption = pn.pane.HTML(self._caption(), margin=(0, 10))
        self.table.param.watch(self._on_selection, "selection")

    def _caption(self) -> str:
        return caption_html(len(self.model.order), None if self.rows is None else len(self.rows))

    @staticmethod
    def _filter(df: pd.DataFrame, rows: Any = None) -> pd.DataFrame:
        return df if rows is None else df.iloc[rows]

    def _on_selection(self, event: param.parameterized.Event) -> None:
        if self.setting:
            return
        ids = [self.model.order[r] for r in event.new if 0 <= r < len(self.model.order)]
        self.model.select_ids_from(ids, {})  # no origin: the table keeps the rows it shows

    def unmark(self) -> None:
        """Drop the marked rows without selecting (Tabulator marks a selection through its
        filter only once shown: a page opened on a selection marks them after loading)."""
        with self.setting:
            self.table.selection = []

    def follow(self, rows: list[int]) -> None:
        """Show and mark the selected ``rows`` (call holding :attr:`setting`)."""
        picked_in_table = bool(rows) and not self.model.origin
        if not picked_in_table:  # made in a plot, a slider, a note: show just those
            shown = np.asarray(rows, dtype=np.int64) if rows else None
            if not _same_rows(shown, self.rows):
                self.rows = shown
                self.caption.object = self._caption()
        # marking thousands of rows costs Tabulator seconds; the filter shows them anyway
        marked = rows if picked_in_table or len(rows) <= TABLE_MARK_MAX else []
        if list(self.table.selection) != marked:
            self.table.selection = marked

    def update(self) -> None:
        """Patch changed cells and stream new rows; replace the data only when columns change.

        Replacing ``value`` makes Tabulator resend every row and races with a row click in
        flight (the browser may lose its selection); patch and stream do neither.
        """
        with self.setting:
            old, new = self.table.value, self.model.table
            if old is None or old.empty or list(old.columns) != list(new.columns) \
                    or len(new) < len(old):
                self._replace(new)
                return
            try:
                patch = table_patch(old, new.iloc[: len(old)])
                if patch:
                    self.table.patch(patch, as_index=False)
                if len(new) > len(old):
                    self.table.stream(new.iloc[len(old):].copy(), follow=False)
            except (TypeError, ValueError):  # a value pandas cannot put in the old column's dtype
                self._replace(new)

    def _replace(self, new: pd.DataFrame) -> None:
        titles = column_titles(new.columns)
        if titles != self.table.titles:
            self.table.titles = titles
        self.table.value = new.copy()
