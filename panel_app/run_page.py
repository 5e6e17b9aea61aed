"""The run page: experiment table, per-experiment bar chart and a hyperparameter x metric
scatter matrix, all linked, updated live while experiments run.

:class:`RunPage` is a thin :class:`panel.viewable.Viewer` over a
:class:`~panel_app._model.RunPageModel` (state) and :class:`~panel_app._linked.LinkedPlots`
(Bokeh models). One instance per browser session; nothing is shared at module level.

How a selection flows:

* box/lasso in a scatter plot: the browser fills the highlight source itself (``SELECT_JS``)
  and the server receives only the geometry; :meth:`RunPage._on_geometry` computes the ids with
  numpy, sets ``model.selection``, and the table's ``selection`` follows;
* table rows: ``table.selection`` -> ``model.selection`` -> the server sets the highlight
  source's data (the selected rows only);
* "Clear selection": ``model.selection = []`` -> both.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import HTMLTemplateFormatter

from panel_app._linked import LinkedPlots
from panel_app._model import RunPageModel
from workbench_plugin.frames import STATE_COLORS, RunSource

__all__ = ["RunPage"]

log = logging.getLogger(__name__)

_STATE_TEMPLATE = (
    '<span style="display:inline-block;min-width:58px;padding:0 5px;border-radius:7px;'
    'color:#fff;text-align:center;background:<%= ({'
    + ",".join(f'"{k}":"{v}"' for k, v in STATE_COLORS.items())
    + '})[value] || "#9e9e9e" %>"><%= value %></span>'
)

_TABLE_CSS = """
.tabulator, .tabulator .tabulator-header, .tabulator .tabulator-row { font-size: 12px !important; }
.tabulator .tabulator-header .tabulator-col .tabulator-col-content { padding: 3px 5px !important; }
.tabulator .tabulator-row .tabulator-cell { padding: 3px 5px !important; }
"""

_BADGES = (
    ("done", STATE_COLORS["succeeded"]),
    ("running", STATE_COLORS["running"]),
    ("queued", STATE_COLORS["queued"]),
    ("failed", STATE_COLORS["failed"]),
)


def _table_patch(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, list[tuple[int, Any]]]:
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


P = ParamSpec("P")
R = TypeVar("R")


def _unlocked(method: Callable[Concatenate[RunPage, P], R]) -> Callable[Concatenate[RunPage, P], R]:
    """Run a method that changes Bokeh models inside ``pn.io.unlocked()``.

    Panel processes widget changes (a table selection, say) outside Bokeh's document lock;
    changing a plain Bokeh model there fails unless Panel dispatches the events itself.
    """

    @functools.wraps(method)
    def wrapper(self: RunPage, *args: P.args, **kwargs: P.kwargs) -> R:
        with pn.io.unlocked():
            return method(self, *args, **kwargs)

    return wrapper


class RunPage(pn.viewable.Viewer):
    """One session's run page over a :class:`~workbench_plugin.frames.RunSource`."""

    refresh_ms = param.Integer(default=1500, bounds=(100, None),
                               doc="How often the source is asked for new files.")

    def __init__(self, source: RunSource, *, nav: pn.viewable.Viewable | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.source = source
        self.model = RunPageModel(source.frames())
        self.plots = LinkedPlots(self.model, self._on_geometry, matrix_size=(800, 800),
                                 bars_size=(570, 250))
        #: The ids the browser's highlight layer shows (it may differ from what the server-side
        #: highlight model holds: a box select fills it in the browser only).
        self._shown: list[str] = []
        self._from_geometry = False
        self._syncing_table = False
        self._refreshing = False
        self._applying = False
        self._callback: Any = None
        self._error = ""

        self.header = pn.pane.HTML(self._header_html(),
                                   sizing_mode="stretch_width", margin=(4, 10))
        self.clear_button = pn.widgets.Button(label="Clear selection",
                                              width=140, margin=(8, 10))
        self.metric_select = pn.widgets.Select(
            label="Bar chart metric", options=list(self.model.run_frames.metrics),
            value=self.model.bar_metric, width=240, margin=(0, 10),
            disabled=self.model.bar_metric is None)
        self.table = pn.widgets.Tabulator(
            self.model.table.copy(), selectable=True, disabled=True, show_index=False,
            formatters={"state": HTMLTemplateFormatter(template=_STATE_TEMPLATE)},
            layout="fit_data_table", height=480, width=570, margin=(6, 10),
            frozen_columns=["#"], stylesheets=[_TABLE_CSS],
        )
        self._matrix_holder = pn.Column(margin=0)
        self._bars_holder = pn.Column(margin=0)
        self._build_matrix()
        self._build_bars()

        self.clear_button.on_click(lambda _event: self.model.clear_selection())
        self.metric_select.param.watch(self._on_metric_select, "value")
        self.table.param.watch(self._on_table_selection, "selection")
        self.model.param.watch(self._on_selection, "selection")
        self.model.param.watch(self._on_bar_metric, "bar_metric")

        self._layout = pn.Column(
            *([nav] if nav is not None else []),
            pn.Row(self.header, self.clear_button, sizing_mode="stretch_width"),
            pn.Row(
                self._matrix_holder,
                pn.Column(self.metric_select, self._bars_holder, self.table, margin=0),
            ),
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # ---- building ----------------------------------------------------------------------------
    def _build_matrix(self) -> None:
        grid = self.plots.build_matrix()
        if grid is None:
            what = "experiments" if not self.model.order else "metrics"
            self._matrix_holder.objects = [pn.pane.Markdown(
                f"**No {what} yet.** The scatter matrix appears when experiments report "
                "metrics.", width=self.plots.matrix_size[0], margin=(20, 10))]
        else:
            self._matrix_holder.objects = [pn.pane.Bokeh(grid, margin=(0, 5))]

    def _build_bars(self) -> None:
        fig = self.plots.build_bars()
        if fig is None:
            self._bars_holder.objects = [pn.pane.Markdown(
                "No metric to chart yet.", width=self.plots.bars_size[0], margin=(10, 10))]
        else:
            self._bars_holder.objects = [pn.pane.Bokeh(fig, margin=(0, 5))]

    def _header_html(self) -> str:
        counts = self.model.counts()
        frames = self.model.run_frames
        badges = "".join(
            f'<span class="ht-badge" style="background:{color}">{counts[key]} {key}</span>'
            for key, color in _BADGES
        )
        selected = len(self.model.selection)
        error = (f'<span class="ht-error" style="color:{STATE_COLORS["failed"]}">'
                 f"{html.escape(self._error)}</span>") if self._error else ""
        return (
            "<style>.ht-badge{display:inline-block;color:#fff;border-radius:9px;padding:1px 9px;"
            "margin-left:6px;font-size:13px}</style>"
            f'<div class="ht-run-header" style="font-size:15px;line-height:30px">'
            f"<b>Run</b> <code>{html.escape(frames.run_id)}</code>"
            f" &middot; {counts['total']} experiments {badges}"
            f' &middot; <span class="ht-selected">{selected} selected</span> {error}</div>'
        )

    # ---- selection ---------------------------------------------------------------------------
    @_unlocked
    def _on_geometry(self, x: str, y: str, geometry: Mapping[str, Any]) -> None:
        """A box or lasso ended in the scatter plot of hparam ``x`` and metric ``y``."""
        ids = self.model.ids_in_geometry(geometry, x, y)
        self._shown = list(ids)  # the browser already highlights them (SELECT_JS)
        self._from_geometry = True
        try:
            self.model.select_ids(ids)
        finally:
            self._from_geometry = False

    def _on_table_selection(self, event: param.parameterized.Event) -> None:
        if self._syncing_table:
            return
        self.model.select_rows(list(event.new))

    @_unlocked
    def _on_selection(self, _event: param.parameterized.Event | None = None) -> None:
        if self._applying:
            return
        if not self._from_geometry:
            self.push_highlight()
        rows = self.model.selected_rows()
        if list(self.table.selection) != rows:
            self._syncing_table = True
            try:
                self.table.selection = rows
            finally:
                self._syncing_table = False
        self.header.object = self._header_html()

    def push_highlight(self) -> None:
        """Make the browser's highlight layer show ``model.selection``, sending only changes.

        Assigning ``data`` of a source in a document always sends it (Bokeh skips its
        equality check for column data), which is what a stale server-side copy needs after
        a box select that only the browser drew.
        """
        hl = self.plots.highlight
        data = self.model.highlight_data()
        if self._shown == self.model.selection and \
                hl.lookup("data").property.matches(data, dict(hl.data)):
            return
        hl.data = data
        self._shown = list(self.model.selection)

    # ---- metric ------------------------------------------------------------------------------
    def _on_metric_select(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.model.bar_metric = event.new

    @_unlocked
    def _on_bar_metric(self, event: param.parameterized.Event) -> None:
        if event.new is None or self._applying:
            return
        if self.plots.bars is None:
            self._build_bars()
        else:
            self.plots.set_bar_metric(event.new)
        if self.metric_select.value != event.new:
            self.metric_select.value = event.new

    # ---- live --------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Ask the source for new files and apply them; True when the page changed."""
        return self.apply_frames(self.source.refresh())

    @_unlocked
    def apply_frames(self, changed: bool) -> bool:
        """Show the source's current frames if they differ from what the page shows."""
        frames = self.source.frames()
        shown = self.model.run_frames
        if not changed and frames.version == shown.version and frames.run_id == shown.run_id:
            return False
        metric = self.model.bar_metric
        self._applying = True
        try:
            rebuild = self.model.update(frames)
        finally:
            self._applying = False
        self.plots.update_data()
        metrics = list(self.model.run_frames.metrics)
        if list(self.metric_select.options) != metrics:
            self.metric_select.options = metrics
        self.metric_select.disabled = self.model.bar_metric is None
        if self.model.bar_metric is not None:
            self.metric_select.value = self.model.bar_metric
        if rebuild:
            self._build_matrix()
        wants_bars = self.model.bar_metric is not None and bool(self.model.order)
        if rebuild or (self.plots.bars is None) == wants_bars:
            self._build_bars()
        elif self.model.bar_metric is not None and self.model.bar_metric != metric:
            self.plots.set_bar_metric(self.model.bar_metric)
        self._syncing_table = True
        try:
            self._update_table()
            self.table.selection = self.model.selected_rows()
        finally:
            self._syncing_table = False
        self.push_highlight()
        self.header.object = self._header_html()
        return True

    def _update_table(self) -> None:
        """Patch changed cells and stream new rows; replace the data only when columns change.

        Replacing ``value`` makes Tabulator resend every row and races with a row click in
        flight (the browser may lose its selection); patch and stream do neither.
        """
        old, new = self.table.value, self.model.table
        if old is None or old.empty or list(old.columns) != list(new.columns) \
                or len(new) < len(old):
            self.table.value = new.copy()
            return
        try:
            patch = _table_patch(old, new.iloc[: len(old)])
            if patch:
                self.table.patch(patch, as_index=False)
            if len(new) > len(old):
                self.table.stream(new.iloc[len(old):].copy(), follow=False)
        except (TypeError, ValueError):  # a value pandas cannot put in the old column's dtype
            self.table.value = new.copy()

    async def _tick(self) -> None:
        if self._refreshing:
            return
        self._refreshing = True
        try:
            changed = await asyncio.to_thread(self.source.refresh)
            error, self._error = self._error, ""
            if not self.apply_frames(changed) and error:
                self.header.object = self._header_html()
        except Exception as exc:  # keep the page alive; say what failed in the header
            log.exception("run page refresh failed")
            self._error = f"refresh failed: {exc}"
            self.header.object = self._header_html()
        finally:
            self._refreshing = False

    def start_live(self) -> None:
        """Poll the source every ``refresh_ms`` in this session; stops with the session."""
        if self._callback is not None:
            return
        tick: Any = self._tick
        self._callback = pn.state.add_periodic_callback(tick, period=self.refresh_ms)
        pn.state.on_session_destroyed(self._on_session_destroyed)

    def stop_live(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    def _on_session_destroyed(self, _context: Any) -> None:
        self.stop_live()
