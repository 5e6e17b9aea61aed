"""The run page's experiment table: one scrolling list at any size, rows sent as they are seen.

The server holds the table (:attr:`RunPageModel.table`) and a *view* of it: the row positions
that pass the filters (a selection made outside the table, the header filters), in the order of
the column sorted by (numpy, stable, missing values last). The browser (:data:`TABLE_ESM`) draws
only the rows on screen and asks for windows of the view as it scrolls; a selection of 20,000
rows costs the server a mask and one window, not a message per row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param

from panel_app.palette import STATE_COLORS
from panel_app.run_page.guard import Guard
from panel_app.run_page.model import RunPageModel
from panel_app.run_page.table_esm import TABLE_ESM, TABLE_STYLE
from panel_app.run_page.templates import HEALTH_COLORS, caption_html
from panel_app.stable_html import StableHTML

__all__ = ["ROW_HEIGHT", "WINDOW_MAX", "ExperimentTable", "TablePanel", "filter_mask",
           "format_cell", "sort_order"]

#: Pixels per row (the browser's spacer is ``total * ROW_HEIGHT`` high).
ROW_HEIGHT = 24
#: Rows in one window, at most (the browser asks for about three screens).
WINDOW_MAX = 500
#: Rows sent before the browser has said what it shows.
FIRST_WINDOW = 60
#: A header filter's text is read up to this many characters.
FILTER_MAX = 200

_COMPARE = re.compile(r"(<=|>=|<|>|=)?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def _is_number(values: np.ndarray) -> bool:
    return values.dtype.kind in "iuf"


def format_cell(value: Any) -> str:
    """A cell as the table shows it: "" for a missing value, whole floats without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sort_key(values: np.ndarray) -> np.ndarray:
    """Floats that order ``values``: numbers as they are, anything else by its text; NaN for
    missing (so that it sorts last either way)."""
    if _is_number(values):
        return values.astype(np.float64, copy=False)
    missing = pd.isna(values)
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
    if not (np.isnan(numbers) & ~missing).any():  # numbers kept in an object column
        return numbers
    text = np.array([str(v) for v in values], dtype=object)
    _, codes = np.unique(text, return_inverse=True)
    key = codes.astype(np.float64)
    key[missing] = np.nan
    return key


def sort_order(values: np.ndarray, descending: bool = False) -> np.ndarray:
    """Row positions ordering ``values`` (ties keep their order, missing values come last)."""
    key = _sort_key(np.asarray(values))
    return np.argsort(-key if descending else key, kind="stable")


def filter_mask(values: np.ndarray, text: str) -> np.ndarray:
    """Rows whose value passes a header filter: for a number column ``0.5``, ``> 0.5``,
    ``<= 3`` (and so on); otherwise, or when the text is no comparison, the rows whose shown
    value contains the text (case ignored). Only the first :data:`FILTER_MAX` characters count."""
    text = str(text)[:FILTER_MAX].strip()
    values = np.asarray(values)
    if not text:
        return np.ones(len(values), dtype=bool)
    match = _COMPARE.fullmatch(text)
    if match and _is_number(values):
        op, x = match.group(1) or "=", float(match.group(2))
        v = values.astype(np.float64, copy=False)
        with np.errstate(invalid="ignore"):
            if op == "=":
                return np.isclose(v, x, rtol=1e-9, atol=0.0) | (v == x)
            return {"<": v < x, "<=": v <= x, ">": v > x, ">=": v >= x}[op]
    shown = pd.Series([format_cell(v) for v in values], dtype=object)
    return shown.str.contains(text, case=False, regex=False).to_numpy(dtype=bool)


def _column_specs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """What the browser needs of each column: field, title (the name, shown as text), kind,
    width in pixels and, for badges, their colours."""
    specs = []
    for n, name in enumerate(frame.columns):
        field = str(name)
        values = frame[name].to_numpy()
        kind = {"#": "label", "state": "state", "health": "health", "experiment": "link"}.get(
            field, "number" if _is_number(values) else "text")
        sample = [format_cell(v) for v in values[:200]]
        chars = max([len(field), *(len(s) for s in sample)]) if kind != "health" else 16
        spec: dict[str, Any] = {"field": field, "title": field, "kind": kind,
                                "width": int(min(max(7 * chars + 14, 44), 240)), "frozen": n == 0}
        if kind == "state":
            spec["colors"] = {str(k): v for k, v in STATE_COLORS.items()}
            spec["width"] = 84
        elif kind == "health":
            spec["colors"] = dict(HEALTH_COLORS)
        specs.append(spec)
    return specs


class ExperimentTable(pn.custom.JSComponent):
    """The browser's list (:data:`TABLE_ESM`). ``selection`` and ``value`` stay on the server."""

    columns = param.List(default=[], doc="Per column: field, title, kind, width (and colours).")
    window = param.Dict(default={}, doc="Rows start.. of the view, with their marks (server -> "
                        "browser): seq, version, total, start, rows, marks, scroll.")
    viewport = param.List(default=[0, FIRST_WINDOW], doc="The rows the browser wants: [start, count].")
    sort = param.Dict(default={}, doc="The column sorted by: {'field': name, 'descending': bool}.")
    filters = param.Dict(default={}, doc="Header filter texts, by column.")
    row_height = param.Integer(default=ROW_HEIGHT, constant=True)

    _esm = TABLE_ESM
    _stylesheets = [TABLE_STYLE]

    def __init__(self, frame: pd.DataFrame, **params: Any) -> None:
        self._frame = frame
        self._selection: list[int] = []
        #: set by :class:`TablePanel`: rows picked here (a click, or a test setting ``selection``)
        self.on_select: Callable[[list[int]], None] | None = None
        #: set by :class:`TablePanel`: a click on a row, as the browser reports it
        self.on_click: Callable[[Any], None] | None = None
        super().__init__(**params)

    @property
    def value(self) -> pd.DataFrame:
        """Every row of the table (the browser holds only the rows it shows)."""
        return self._frame

    @property
    def selection(self) -> list[int]:
        """The marked rows, as positions in the model's row order."""
        return list(self._selection)

    @selection.setter
    def selection(self, rows: Sequence[int]) -> None:
        self._selection = list(rows)
        if self.on_select is not None:
            self.on_select(self._selection)

    def _handle_msg(self, data: Any) -> None:
        if self.on_click is not None:
            self.on_click(data)


class TablePanel(param.Parameterized):
    """The table and its caption. Rows picked here select; a selection made elsewhere (a plot,
    a slider, a note) narrows the rows shown to the selected ones, marks them and scrolls to
    the top."""

    rows = param.Parameter(default=None, doc="The rows the table shows (positions), "
                           "None for all: a selection made outside the table.")

    def __init__(self, model: RunPageModel, setting: Guard) -> None:
        super().__init__()
        self.model = model
        #: Held while the server sets widgets: the table's watcher must not echo it back.
        self.setting = setting
        self.view = np.arange(len(model.table), dtype=np.int64)
        self._marked = np.zeros(len(model.table), dtype=bool)
        self._arrays: dict[str, np.ndarray] = {}
        self._orders: dict[tuple[str, bool], np.ndarray] = {}
        self._version = 0
        self._seq = 0
        #: The last window sent: the view's version and its rows start..end.
        self._sent = (-1, 0, 0)
        self._anchor: int | None = None
        self.table = ExperimentTable(model.table, columns=_column_specs(model.table),
                                     height=430, width=560, margin=(6, 10))
        self.table.on_select = self._on_selection
        self.table.on_click = self._on_click
        self.table.param.watch(self._on_viewport, "viewport")
        self.table.param.watch(self._on_sort_or_filter, ["sort", "filters"])
        self.caption = StableHTML(self._caption(), margin=(0, 10))  # a new stylesheet list relays out the page
        self._take(model.table)
        self._refilter()
        self._send()

    def _caption(self) -> str:
        return caption_html(len(self.model.order), None if self.rows is None else len(self.rows))

    # ---- the view ------------------------------------------------------------------------
    def _take(self, frame: pd.DataFrame) -> None:
        self.table._frame = frame
        self._arrays = {str(c): frame[c].to_numpy() for c in frame.columns}
        self._orders = {}

    def _order(self, field: str, descending: bool) -> np.ndarray:
        key = (field, descending)
        if key not in self._orders:
            # labels ("#3") sort in launch order (the rows' own), not as text ("#10" < "#9")
            values = np.arange(len(self.table.value)) if field == "#" else self._arrays[field]
            self._orders[key] = sort_order(values, descending)
        return self._orders[key]

    def _refilter(self) -> None:
        """Recompute :attr:`view` from the rows shown, the header filters and the sort."""
        n = len(self.table.value)
        mask: np.ndarray | None = None
        if self.rows is not None:
            mask = np.zeros(n, dtype=bool)
            rows = np.asarray(self.rows, dtype=np.int64)
            mask[rows[(rows >= 0) & (rows < n)]] = True
        for field, text in self.table.filters.items():
            if field in self._arrays and str(text).strip():
                passed = filter_mask(self._arrays[field], str(text))
                mask = passed if mask is None else mask & passed
        sort = self.table.sort
        field = sort.get("field")
        if isinstance(field, str) and field in self._arrays:
            order = self._order(field, bool(sort.get("descending")))
            self.view = order if mask is None else order[mask[order]]
        else:
            self.view = np.arange(n, dtype=np.int64) if mask is None else np.flatnonzero(mask)
        self._version += 1

    def _viewport(self) -> tuple[int, int]:
        try:
            start, count = (int(v) for v in self.table.viewport)
        except (TypeError, ValueError):  # the browser's own message: nothing a user typed
            start, count = 0, FIRST_WINDOW
        return min(max(start, 0), len(self.view)), min(max(count, 1), WINDOW_MAX)

    def _send(self, scroll: int | None = None) -> None:
        """Send the browser's window of the view (from the top when ``scroll`` is given)."""
        start, count = (0, max(self._viewport()[1], FIRST_WINDOW)) if scroll is not None \
            else self._viewport()
        rows = self.view[start:start + count]
        arrays = list(self._arrays.values())
        cells = [[format_cell(a[r]) for a in arrays] for r in rows.tolist()]
        self._seq += 1
        self._sent = (self._version, start, start + len(rows))
        self.table.window = {"seq": self._seq, "version": self._version, "total": len(self.view),
                             "start": start, "rows": cells,
                             "marks": self._marked[rows].astype(int).tolist(), "scroll": scroll}

    def _on_viewport(self, _event: param.parameterized.Event) -> None:
        # the browser reports where it is once it has drawn (and scrolling stopped): rows it
        # already holds from the last window of this version need not go again (after a
        # brush that was a second copy of the same rows, and a second redraw)
        start, count = self._viewport()
        version, lo, hi = self._sent
        if version == self._version and lo <= start and min(start + count, len(self.view)) <= hi:
            return
        self._send()

    def _on_sort_or_filter(self, _event: param.parameterized.Event) -> None:
        self._refilter()
        self._send(scroll=0)

    # ---- selection -----------------------------------------------------------------------
    def _on_click(self, data: Any) -> None:
        """A click on the row at view position ``pos`` (with ctrl: add or drop it; with shift:
        the rows from the last one clicked)."""
        if not isinstance(data, dict) or not isinstance(data.get("pos"), int | float):
            return
        pos = int(data["pos"])
        if not 0 <= pos < len(self.view):
            return
        row = int(self.view[pos])
        picked = set(self.table.selection) if data.get("ctrl") else set()
        if data.get("shift") and self._anchor is not None:
            at = np.flatnonzero(self.view == self._anchor)
            lo, hi = sorted((int(at[0]) if len(at) else pos, pos))
            picked |= set(self.view[lo:hi + 1].tolist())
        elif data.get("ctrl") and row in picked:
            picked.discard(row)
        else:
            picked.add(row)
        if not data.get("shift"):
            self._anchor = row
        self.table.selection = sorted(picked)
        if not self.table.selection:  # ctrl-click dropped the last one: no selection message
            self._mark([])
            self._send()

    def _on_selection(self, rows: list[int]) -> None:
        if self.setting:
            return
        ids = [self.model.order[r] for r in rows if 0 <= r < len(self.model.order)]
        self.model.select_ids_from(ids, {})  # no origin: the table keeps the rows it shows

    def _mark(self, rows: Sequence[int] | np.ndarray) -> bool:
        marked = np.zeros(len(self.table.value), dtype=bool)
        picked = np.asarray(rows, dtype=np.int64)
        marked[picked[(picked >= 0) & (picked < len(marked))]] = True
        if np.array_equal(marked, self._marked):
            return False
        self._marked = marked
        self._version += 1
        return True

    def follow(self, rows: list[int]) -> None:
        """Show and mark the selected ``rows`` (call holding :attr:`setting`)."""
        picked_in_table = bool(rows) and not self.model.origin
        picked = np.asarray(rows, dtype=np.int64)
        scroll = None
        if not picked_in_table:  # made in a plot, a slider, a note: show just those
            shown = picked if rows else None
            if not _same_rows(shown, self.rows):
                self.rows = shown
                self.caption.object = self._caption()
                self._refilter()
                scroll = 0
        changed = self._mark(picked)
        self.table.selection = rows
        if changed or scroll is not None:
            self._send(scroll)

    def update(self) -> None:
        """Take the model's new table: rows keep their places, the browser keeps its scroll
        position and gets its window again (new rows, changed cells)."""
        new = self.model.table
        if [c["field"] for c in self.table.columns] != [str(c) for c in new.columns]:
            self.table.columns = _column_specs(new)
            self.table.filters = {k: v for k, v in self.table.filters.items() if k in new}
            if self.table.sort.get("field") not in new:
                self.table.sort = {}
        self._take(new)
        if self.rows is not None:
            self.rows = self.rows[self.rows < len(new)]
        self._mark(self.model.selected_rows())
        self._refilter()
        self._send()


def _same_rows(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(len(a) == len(b) and np.array_equal(a, b))
