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
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import CustomJSTickFormatter
from bokeh.models.widgets.tables import HTMLTemplateFormatter

from panel_app._model import POINTS_MAX, RunPageModel
from panel_app.linked.plots import LinkedPlots
from panel_app.palette import STATE_COLORS
from workbench_plugin.frames import RunSource
from workbench_plugin.memory import ListLog, Lock, Note, ProjectMemory, encode_view

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
    ("succeeded", STATE_COLORS["succeeded"]),
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


def _progress_html(counts: Mapping[str, int]) -> str:
    """A stacked bar of the batch: done, running, queued, failed (widths by count)."""
    total = max(counts.get("total", 0), 1)
    parts = "".join(
        f'<div class="ht-progress-{key}" title="{counts[key]} {key}" style="width:'
        f'{100.0 * counts[key] / total:.3f}%;background:{color}"></div>'
        for key, color in _BADGES if counts.get(key)
    )
    return ('<div class="ht-progress" style="display:inline-flex;vertical-align:middle;'
            'width:220px;height:12px;border-radius:6px;overflow:hidden;background:#eee;'
            f'margin:0 8px">{parts}</div>')


def _with_lock(fn: Callable[[], None]) -> None:
    """Run ``fn`` (which changes plain Bokeh models) holding the document lock.

    Bokeh callbacks (plot events, the periodic refresh) already hold it: run now. Panel runs
    widget callbacks outside it: schedule ``fn`` as the document's next tick, so its changes
    go out in Bokeh's own ordered patches (``pn.io.unlocked`` writes them directly instead,
    and under load those writes could overtake the patch that defines a new model).
    """
    doc = pn.state.curdoc
    session = getattr(getattr(doc, "session_context", None), "session", None)
    if doc is None or session is None or getattr(session, "_pending_writes", None) is not None:
        fn()
    else:
        doc.add_next_tick_callback(fn)


#: A selection made outside the table marks its rows only up to this many.
TABLE_MARK_MAX = 50


def _same_rows(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(len(a) == len(b) and np.array_equal(a, b))


_LOG_FORMAT = "return Number(Math.pow(10, tick).toPrecision(3)).toString();"
_CATEGORY_FORMAT = "const i = Math.round(tick); return (i >= 0 && i < labels.length) ? labels[i] : '';"


class RunPage(pn.viewable.Viewer):
    """One session's run page over a :class:`~workbench_plugin.frames.RunSource`."""

    refresh_ms = param.Integer(default=1500, bounds=(100, None),
                               doc="How often the source is asked for new files.")
    table_rows = param.Parameter(default=None, doc="The rows the table shows (positions), "
                                 "None for all: a selection made outside the table.")

    def __init__(self, source: RunSource, *, nav: pn.viewable.Viewable | None = None,
                 view: Mapping[str, Any] | None = None, author: str | None = None,
                 points_max: int = POINTS_MAX, **params: Any) -> None:
        super().__init__(**params)
        self.source = source
        memory = getattr(source, "memory", None)
        self.memory: ProjectMemory = memory if memory is not None else ProjectMemory(ListLog())
        self.author = author
        self.model = RunPageModel(source.frames(), points_max=points_max)
        self.plots = LinkedPlots(self.model, self._on_geometry, self._on_tap,
                                 matrix_size=(760, 760), bars_size=(560, 250))
        #: The mask the browser's highlight layers show (a box select or a click sets it in
        #: the browser only, so the server's copy of the mask source may be stale).
        self._shown = self.model.selection_mask().tobytes()
        self._syncing = False
        self._refreshing = False
        self._applying = False
        self._callback: Any = None
        self._error = ""
        self._structure = self.model.structure()

        self.header = pn.pane.HTML(self._header_html(), sizing_mode="stretch_width", margin=(4, 10))
        self.clear_button = pn.widgets.Button(label="Clear selection", width=140, margin=(8, 10))
        self.metric_select = pn.widgets.Select(
            label="Metric", options=list(self.model.param.bar_metric.objects),
            value=self.model.bar_metric, width=220, margin=(0, 10),
            disabled=self.model.bar_metric is None)
        self.chart_switch = pn.widgets.RadioButtonGroup(
            label="Chart", options={"Bars": "bars", "Epoch lines": "lines"},
            value=self.model.chart, margin=(18, 10, 0, 10), color="light")
        self.table = pn.widgets.Tabulator(
            self.model.table.copy(), selectable=True, disabled=True, show_index=False,
            formatters={"state": HTMLTemplateFormatter(template=_STATE_TEMPLATE)},
            layout="fit_data_table", height=430, width=560, margin=(6, 10),
            frozen_columns=["#"], stylesheets=[_TABLE_CSS],
            # dense: the server sorts, filters and pages (every row reachable, a page sent)
            pagination="remote" if self.model.dense else None, page_size=12,
            header_filters=True,
        )
        self.table.add_filter(pn.bind(self._table_filter, rows=self.param.table_rows))
        self._table_caption = pn.pane.HTML(self._caption_html(), margin=(0, 10))
        self.sliders: dict[str, pn.widgets.RangeSlider] = {}
        self.locks: dict[str, pn.widgets.Toggle] = {}
        self.lock_labels: dict[str, pn.pane.HTML] = {}
        self._slider_panel = pn.Column(width=270, margin=(0, 5))
        self._build_sliders()
        self.note_input = pn.widgets.TextInput(placeholder="A note on this view...",
                                               width=400, margin=(4, 10))
        self.note_button = pn.widgets.Button(label="Save note", width=110, margin=(4, 5),
                                             color="primary")
        self._notes_list = pn.Column(margin=(0, 10))
        self._matrix_holder = pn.Column(margin=0)
        self._bars_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self._epochs_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self._bars_box = pn.Column(self._bars_pane, margin=0)
        self._epochs_box = pn.Column(self._epochs_pane, margin=0)
        self._chart_note = pn.pane.Markdown("", margin=(10, 10))
        self._build_matrix()
        self._build_charts()
        self._show_notes()

        self.clear_button.on_click(lambda _event: self._clear())
        self.metric_select.param.watch(self._on_metric_select, "value")
        self.chart_switch.param.watch(self._on_chart_switch, "value")
        self.table.param.watch(self._on_table_selection, "selection")
        self.note_button.on_click(self._on_save_note)
        self.model.param.watch(self._on_selection, "selection")
        self.model.param.watch(self._on_bar_metric, "bar_metric")
        self.model.param.watch(self._on_chart, "chart")
        if view:
            self.restore(view)
            doc = pn.state.curdoc
            if doc is not None and doc.session_context is not None and self.table.selection:
                # Tabulator maps a selection through its filter only once it is shown: mark
                # the rows after the page has loaded
                self._syncing = True
                try:
                    self.table.selection = []
                finally:
                    self._syncing = False
                pn.state.onload(self._sync_widgets)

        self._layout = pn.Column(
            *([nav] if nav is not None else []),
            pn.Row(self.header, self.clear_button, sizing_mode="stretch_width"),
            pn.Row(
                self._slider_panel,
                self._matrix_holder,
                pn.Column(
                    pn.Row(self.metric_select, self.chart_switch, margin=0),
                    self._chart_note, self._bars_box, self._epochs_box, self._table_caption,
                    self.table,
                    margin=0),
            ),
            pn.Row(pn.pane.HTML("<b>Notes</b>", margin=(10, 10)), self.note_input,
                   self.note_button),
            self._notes_list,
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

    def _build_charts(self) -> None:
        bars = self.plots.build_bars()
        # dense epoch lines bin every curve point: only when they are first shown
        lazy = self.model.dense and self.model.chart != "lines"
        epochs = None if lazy else self.plots.build_epochs()
        self._bars_pane.object = bars
        self._epochs_pane.object = epochs
        self._chart_note.object = "" if bars is not None else "No metric to chart yet."
        self._show_chart()

    def _show_chart(self) -> None:
        lines = self.model.chart == "lines"
        self._bars_box.visible = self._bars_pane.object is not None and not lines
        self._epochs_box.visible = self._epochs_pane.object is not None and lines

    def _build_sliders(self) -> None:
        """A range slider per hyperparameter (with its lock) and per metric."""
        locks = self.memory.locks()
        hparams: list[Any] = [pn.pane.HTML("<b>Hyperparameters</b>", margin=(6, 5, 0, 5))]
        metrics: list[Any] = [pn.pane.HTML("<b>Metrics</b>", margin=(10, 5, 0, 5))]
        self.sliders, self.locks, self.lock_labels = {}, {}, {}
        ranges = self.model.selection_ranges()
        for name, info in self.model.sliders.items():
            fmt: Any = None
            if info.space == "log":
                fmt = CustomJSTickFormatter(code=_LOG_FORMAT)
            elif info.space == "categorical":
                fmt = CustomJSTickFormatter(args={"labels": list(info.labels)},
                                            code=_CATEGORY_FORMAT)
            lo, hi = ranges[name]
            slider = pn.widgets.RangeSlider(
                label=name, start=info.start, end=info.end, step=info.step,
                value=(max(lo, info.start), min(hi, info.end)), width=250, margin=(0, 8),
                css_classes=["ht-slider", f"ht-slider-{name}"],
                **({"format": fmt} if fmt is not None else {}))
            slider.param.watch(functools.partial(self._on_slider, name), "value_throttled")
            self.sliders[name] = slider
            if info.role == "metric":
                metrics.append(slider)
                continue
            lock = locks.get(name)
            toggle = pn.widgets.Toggle(label="locked" if lock else "lock", value=lock is not None,
                                       width=70, margin=(0, 8), color="light",
                                       css_classes=["ht-lock-toggle", f"ht-lock-toggle-{name}"])
            label = pn.pane.HTML(self._lock_html(lock), margin=(4, 4),
                                 css_classes=[f"ht-lock-{name}"])
            toggle.param.watch(functools.partial(self._on_lock, name), "value")
            self.locks[name], self.lock_labels[name] = toggle, label
            hparams.extend([slider, pn.Row(toggle, label, margin=(0, 0, 6, 0))])
        self._slider_panel.objects = hparams + metrics

    @staticmethod
    def _lock_html(lock: Lock | None) -> str:
        if lock is None:
            return '<span class="ht-lock" style="color:#777;font-size:12px">not locked</span>'
        who = f" by {html.escape(lock.author)}" if lock.author else ""
        return (f'<span class="ht-lock" style="font-size:12px">kept at '
                f"<b>{html.escape(lock.describe())}</b>{who}</span>")

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
            f" &middot; {counts['total']} experiments {_progress_html(counts)}{badges}"
            f' &middot; <span class="ht-selected">{selected} selected</span> {error}</div>'
        )

    # ---- selection ---------------------------------------------------------------------------
    def _on_geometry(self, x: str, y: str, geometry: Mapping[str, Any]) -> None:
        """A box or lasso ended in the scatter plot of hparam ``x`` and metric ``y``."""
        ids = self.model.ids_in_geometry(geometry, x, y)
        plain = {k: val if isinstance(val, str | bool) else float(val)
                 if isinstance(val, int | float | np.number) else [float(v) for v in val]
                 for k, val in geometry.items() if k not in ("sx", "sy", "greedy")}
        self._browser_made(ids, {"geometry": plain, "x": x, "y": y})

    def _on_tap(self, x: str, y: str, px: float, py: float) -> None:
        """A click in the scatter plot of ``x`` and ``y`` at data point (px, py)."""
        context = self.plots.tap_context(x, y)
        ids = self.model.ids_at_point(x, y, px, py, **context)
        point = {"x": px, "y": py, **{k: list(v) for k, v in context.items()}}
        self._browser_made(ids, {"point": point, "x": x, "y": y})

    def _browser_made(self, ids: list[str], origin: dict[str, Any]) -> None:
        """A selection the browser already highlights (``SELECT_JS``/``TAP_JS``)."""
        self._shown = self.model.mask_of(ids).tobytes()
        self.model.select_ids_from(ids, origin)

    def _on_table_selection(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        ids = [self.model.order[r] for r in event.new if 0 <= r < len(self.model.order)]
        self.model.select_ids_from(ids, {})  # no origin: the table keeps the rows it shows

    @staticmethod
    def _table_filter(df: pd.DataFrame, rows: Any = None) -> pd.DataFrame:
        return df if rows is None else df.iloc[rows]

    def _caption_html(self) -> str:
        total = len(self.model.order)
        if self.table_rows is None:
            text = f"All {total:,} experiments"
        else:
            text = (f"The {len(self.table_rows):,} selected of {total:,} experiments "
                    "(Clear selection shows all)")
        return f'<span class="ht-table-caption" style="font-size:12px;color:#555">{text}</span>'


    def _on_slider(self, name: str, event: param.parameterized.Event) -> None:
        """A slider released by the user: select what lies inside every narrowed slider."""
        if self._syncing:
            return
        ranges: dict[str, list[float]] = {}
        for n, slider in self.sliders.items():
            info = self.model.sliders.get(n)
            lo, hi = slider.value
            if info is None:
                continue
            if n == name or lo > info.start + info.step / 2 or hi < info.end - info.step / 2:
                ranges[n] = [float(lo), float(hi)]
        ids = self.model.ids_in_ranges(ranges)
        self.model.select_ids_from(ids, {"ranges": ranges})

    def _clear(self) -> None:
        self.model.clear_selection()

    def _on_selection(self, _event: param.parameterized.Event | None = None) -> None:
        if self._applying:
            return
        self.push_highlight()
        self._sync_widgets()
        self.header.object = self._header_html()
        self._update_url()

    def _sync_widgets(self) -> None:
        """Table rows and slider handles follow the selection."""
        rows = self.model.selected_rows()
        ranges = self.model.selection_ranges()
        self._syncing = True
        try:
            picked_in_table = bool(rows) and not self.model.origin
            if not picked_in_table:  # made in a plot, a slider, a note: show just those
                shown = np.asarray(rows, dtype=np.int64) if rows else None
                if not _same_rows(shown, self.table_rows):
                    self.table_rows = shown
                    self._table_caption.object = self._caption_html()
            # marking thousands of rows costs Tabulator seconds; the filter shows them anyway
            marked = rows if picked_in_table or len(rows) <= TABLE_MARK_MAX else []
            if list(self.table.selection) != marked:
                self.table.selection = marked
            for name, slider in self.sliders.items():
                info = self.model.sliders.get(name)
                if info is None or name not in ranges:
                    continue
                lo, hi = ranges[name]
                value = (max(lo, info.start), min(hi, info.end))
                if tuple(slider.value) != value:
                    slider.value = value
        finally:
            self._syncing = False

    def push_highlight(self) -> None:
        """Make the browser's highlight layers show ``model.selection``, sending only changes."""
        _with_lock(self._push_highlight)

    def _push_highlight(self) -> None:
        mask = self.model.selection_mask()
        if self.model.dense and self.model.chart == "lines":
            self.plots.set_epochs_highlight(mask)  # the browser has no curves to bin
        if mask.tobytes() == self._shown:
            return
        self.plots.set_mask(mask)
        self._shown = mask.tobytes()

    # ---- metric and chart --------------------------------------------------------------------
    def _on_metric_select(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.model.bar_metric = event.new

    def _on_chart_switch(self, event: param.parameterized.Event) -> None:
        self.model.chart = event.new

    def _on_chart(self, event: param.parameterized.Event) -> None:
        if self.chart_switch.value != event.new:
            self.chart_switch.value = event.new
        if event.new == "lines" and self._epochs_pane.object is None and \
                self.model.bar_metric is not None and self.model.order:
            self._epochs_pane.object = self.plots.build_epochs()
        self._show_chart()
        if self.model.dense and event.new == "lines":
            _with_lock(functools.partial(self.plots.set_epochs_highlight,
                                         self.model.selection_mask()))
        self._update_url()

    def _on_bar_metric(self, event: param.parameterized.Event) -> None:
        if event.new is None or self._applying:
            return
        if self.plots.bars is None:
            self._build_charts()
        else:
            _with_lock(functools.partial(self.plots.set_bar_metric, event.new))
        if self.metric_select.value != event.new:
            self.metric_select.value = event.new
        self._update_url()

    # ---- locks and notes ---------------------------------------------------------------------
    def _on_lock(self, name: str, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        run_id = self.model.run_frames.run_id
        toggle = self.locks[name]
        lock: Lock | None = None
        try:
            if event.new:
                info = self.model.sliders[name]
                lo, hi = self.sliders[name].value
                if info.space == "categorical":
                    picked = [lab for i, lab in enumerate(info.labels) if lo - 1e-9 <= i <= hi + 1e-9]
                    lock = self.memory.lock(name, run_id=run_id, values=picked, author=self.author)
                else:
                    low, high = self.model.value_span(name, lo, hi)
                    lock = self.memory.lock(name, run_id=run_id, low=low, high=high,
                                            author=self.author)
            else:
                self.memory.unlock(name, run_id=run_id, author=self.author)
        except Exception as exc:  # a store error: say so, show the lock as it is stored
            self._error = f"lock {name}: {exc}"
            self.header.object = self._header_html()
            lock = self.memory.locks().get(name)
        toggle.label = "locked" if lock else "lock"
        self.lock_labels[name].object = self._lock_html(lock)

    def _on_save_note(self, _event: Any) -> None:
        self.save_note()

    def save_note(self, text: str | None = None) -> Note | None:
        """Store a note with the current view (the text box's text unless ``text`` is given)."""
        text = str(self.note_input.value or "") if text is None else text
        try:
            note = self.memory.add_note(self.model.run_frames.run_id, text,
                                        self.model.view_state(), author=self.author)
        except Exception as exc:
            self._error = str(exc)
            self.header.object = self._header_html()
            return None
        self.note_input.value = ""
        self._show_notes()
        return note

    def _show_notes(self) -> None:
        items: list[Any] = []
        for note in self.memory.notes(self.model.run_frames.run_id):
            when = datetime.fromtimestamp(note.time).strftime("%Y-%m-%d %H:%M")
            button = pn.widgets.Button(label=f"{note.text}  ({note.author}, {when})",
                                       color="light", margin=(2, 5),
                                       css_classes=["ht-note"])
            button.on_click(functools.partial(self._on_note, note))
            items.append(button)
        self._notes_list.objects = items or [pn.pane.HTML(
            '<span style="color:#777">No notes yet: a note keeps this view (selection, '
            "metric, chart) for whoever opens it.</span>", margin=(0, 5))]

    def show_error(self, message: str) -> None:
        """Say what went wrong in the header (until the next successful refresh)."""
        self._error = message
        self.header.object = self._header_html()

    def _on_note(self, note: Note, _event: Any = None) -> None:
        self.restore(note.view)

    def restore(self, view: Mapping[str, Any]) -> None:
        """Show a saved view (from a note or a link)."""
        problems = self.model.apply_view_state(view)
        self._error = "; ".join(problems)
        self._on_selection()

    def _update_url(self) -> None:
        location = pn.state.location if pn.state.curdoc is not None else None
        if location is None:
            return
        token = encode_view(self.model.view_state())
        query = dict(urllib.parse.parse_qsl(location.search.lstrip("?")))
        if query.get("view") != token:
            query["view"] = token
            location.search = "?" + urllib.parse.urlencode(query)

    # ---- live --------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Ask the source for new files and apply them; True when the page changed."""
        return self.apply_frames(self.source.refresh())

    def apply_frames(self, changed: bool) -> bool:
        """Show the source's current frames if they differ from what the page shows.

        Runs in the session's periodic callback, which holds the document lock: every model
        change here goes out in one ordered patch (no ``pn.io.unlocked``, whose direct writes
        could overtake the patch that defines a new plot and leave the browser unable to
        resolve it).
        """
        frames = self.source.frames()
        shown = self.model.run_frames
        if not changed and frames.version == shown.version and frames.run_id == shown.run_id:
            return False
        metric = self.model.bar_metric
        sliders_before = {n: (i.role, i.space, i.labels) for n, i in self.model.sliders.items()}
        self._applying = True
        try:
            rebuild = self.model.update(frames)
        finally:
            self._applying = False
        self.plots.update_data()
        metrics = list(self.model.param.bar_metric.objects)
        if list(self.metric_select.options) != metrics:
            self.metric_select.options = metrics
        self.metric_select.disabled = self.model.bar_metric is None
        if self.model.bar_metric is not None:
            self.metric_select.value = self.model.bar_metric
        if rebuild:
            self._build_matrix()
        wants_charts = self.model.bar_metric is not None and bool(self.model.order)
        if rebuild or (self.plots.bars is None) == wants_charts:
            self._build_charts()
        elif self.model.bar_metric is not None and self.model.bar_metric != metric:
            self.plots.set_bar_metric(self.model.bar_metric)
        sliders_now = {n: (i.role, i.space, i.labels) for n, i in self.model.sliders.items()}
        if sliders_now != sliders_before:
            self._build_sliders()
        else:
            self._update_slider_bounds()
        self._syncing = True
        try:
            self._update_table()
        finally:
            self._syncing = False
        self.push_highlight()
        self._sync_widgets()
        self.header.object = self._header_html()
        return True

    def _update_slider_bounds(self) -> None:
        for name, slider in self.sliders.items():
            info = self.model.sliders[name]
            if (slider.start, slider.end, slider.step) != (info.start, info.end, info.step):
                lo, hi = slider.value
                slider.param.update(start=info.start, end=info.end, step=info.step,
                                    value=(max(lo, info.start), min(hi, info.end))
                                    if self.model.selection else (info.start, info.end))

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
