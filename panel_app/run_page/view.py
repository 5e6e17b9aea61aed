"""The run page: experiment table, per-experiment bar chart and a hyperparameter x metric
scatter matrix, all linked, updated live while experiments run.

:class:`RunPage` is a thin :class:`panel.viewable.Viewer` over a
:class:`~panel_app.run_page.model.RunPageModel` (state) and
:class:`~panel_app.linked.plots.LinkedPlots` (Bokeh models), with its table, sliders and notes
as small components of their own. One instance per browser session; nothing is shared at
module level.

How a selection flows:

* a click on a point or a bar: the same, from the click's point (``TAP_JS``, ``BAR_TAP_JS``);
* box/lasso in a scatter plot: the browser fills the highlight source itself (``SELECT_JS``)
  and the server receives only the geometry; :meth:`RunPage._on_geometry` computes the ids with
  numpy, sets ``model.selection``, and the table's ``selection`` follows;
* table rows: ``table.selection`` -> ``model.selection`` -> the server sets the highlight
  source's data (the selected rows only);
* "Clear selection": ``model.selection = []`` -> both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import panel as pn
import param

from panel_app.compare_page.templates import compare_link_html
from panel_app.linked.plots import LinkedPlots
from panel_app.location import show_view_in_url
from panel_app.run_page.charts import ChartPanel
from panel_app.run_page.guard import Guard, with_lock
from panel_app.run_page.model import POINTS_MAX, RunPageModel
from panel_app.run_page.notes import NotesPanel
from panel_app.run_page.sliders import SliderPanel
from panel_app.run_page.table import TablePanel
from panel_app.run_page.templates import header_html, open_experiment_html
from panel_app.stable_html import StableHTML
from workbench_plugin.frames import RunSource
from workbench_plugin.memory import ListLog, Note, ProjectMemory

__all__ = ["RunPage"]

log = logging.getLogger(__name__)


class RunPage(pn.viewable.Viewer):
    """One session's run page over a :class:`~workbench_plugin.frames.RunSource`."""

    refresh_ms = param.Integer(default=1500, bounds=(100, None),
                               doc="How often the source is asked for new files.")

    def __init__(self, source: RunSource, *, nav: pn.viewable.Viewable | None = None,
                 view: Mapping[str, Any] | None = None, select: Sequence[str] = (),
                 author: str | None = None, points_max: int = POINTS_MAX,
                 **params: Any) -> None:
        super().__init__(**params)
        self.source = source
        memory = getattr(source, "memory", None)
        self.memory: ProjectMemory = memory if memory is not None else ProjectMemory(ListLog())
        self.author = author
        self.model = RunPageModel(source.frames(), points_max=points_max)
        self.plots = LinkedPlots(self.model, self._on_geometry, self._on_tap,
                                 matrix_size=(760, 760), bars_size=(560, 250),
                                 on_bar_tap=self._on_bar_tap)
        #: The mask the browser's highlight layers show (a box select or a click sets it in
        #: the browser only, so the server's copy of the mask source may be stale).
        self._shown = self.model.selection_mask().tobytes()
        #: Re-entry guards: the server is setting widgets (their watchers must not echo it
        #: into the model); new frames are going into the model (its watchers wait for the
        #: end); a refresh is running (a tick that comes meanwhile is skipped).
        self._setting_widgets = Guard("setting widgets")
        self._taking_frames = Guard("taking frames")
        self._refreshing = Guard("refreshing")
        self._callback: Any = None
        self._error = ""
        #: problems with the link the page was opened by (a bad ``?experiment=``): shown until it closes
        self.link_problems = ""

        self.header = StableHTML(self._header_html(), sizing_mode="stretch_width", margin=(4, 10))
        self.clear_button = pn.widgets.Button(label="Clear selection", width=140, margin=(8, 10))
        #: "Compare" (the compare page of the selection: 2 to 10 experiments)
        self.compare_link = StableHTML(compare_link_html(self.model.selection), margin=(8, 10))
        self.table_panel = TablePanel(self.model, self._setting_widgets)
        self.slider_panel = SliderPanel(self.model, self.memory, self._setting_widgets,
                                        author=author, on_error=self.show_error)
        self.notes = NotesPanel(self.model, self.memory, author=author,
                                on_error=self.show_error, on_open=self.restore)
        self._matrix_holder = pn.Column(margin=0)
        self._build_matrix()
        self.charts = ChartPanel(self.model, self.plots, self._taking_frames, on_change=self._update_url)

        self.clear_button.on_click(lambda _event: self.model.clear_selection())
        self.model.param.watch(self._on_selection, "selection")
        view = dict(view or {})
        if select and "selection" not in view:  # a link to experiments: select them
            view["selection"] = {"ids": self.model.labels_of(select)}
        if view:
            self.restore(view)
            doc = pn.state.curdoc
            if doc is not None and doc.session_context is not None and self.table.selection:
                # Tabulator maps a selection through its filter only once it is shown: mark
                # the rows after the page has loaded
                self.table_panel.unmark()
                pn.state.onload(self._sync_widgets)

        self._layout = pn.Column(
            *([nav] if nav is not None else []),
            pn.Row(self.header, self.compare_link, self.clear_button, sizing_mode="stretch_width"),
            pn.Row(
                self.slider_panel.panel,
                self._matrix_holder,
                pn.Column(self.charts.panel, self.slider_panel.health, self.table_panel.caption,
                          self.table, margin=0),
            ),
            self.notes.bar,
            self.notes.listing,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    @property
    def table(self) -> pn.widgets.Tabulator:
        """The experiment table's widget."""
        return self.table_panel.table

    @property
    def metric_select(self) -> pn.widgets.Select:
        """The chart's metric menu."""
        return self.charts.metric_select

    @property
    def sliders(self) -> dict[str, pn.widgets.RangeSlider]:
        """The range slider of each hyperparameter and metric, by name."""
        return self.slider_panel.sliders

    @property
    def error(self) -> str:
        """The problem the header shows ("" when none)."""
        return self._error

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

    def _header_html(self) -> str:
        selection = self.model.selection
        link = open_experiment_html(selection[0], self.model.labels_of(selection)[0]) \
            if len(selection) == 1 else ""
        said = "; ".join(p for p in (self.link_problems, self._error) if p)
        return header_html(self.model.run_frames.run_id, self.model.progress(), len(selection), said, link)

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

    def _on_bar_tap(self, metric: str, px: float) -> None:
        """A click on the bar chart of ``metric`` at x ``px`` (``BAR_TAP_JS`` highlighted it)."""
        ids = self.model.ids_at_bar(metric, px, **self.plots.bar_tap_context())
        self._browser_made(ids, {"ids": self.model.labels_of(ids)})

    def _browser_made(self, ids: list[str], origin: dict[str, Any]) -> None:
        """A selection the browser already highlights (``SELECT_JS``/``TAP_JS``)."""
        self._shown = self.model.mask_of(ids).tobytes()
        self.model.select_ids_from(ids, origin)

    def _on_selection(self, _event: param.parameterized.Event | None = None) -> None:
        if self._taking_frames:
            return
        # one patch for all that follows a selection (the browser applies it in one go)
        with pn.io.hold():
            self._follow_selection()

    def _follow_selection(self) -> None:
        self.push_highlight()
        self._sync_widgets()
        self.header.object = self._header_html()
        self.compare_link.object = compare_link_html(self.model.selection)
        self._update_url()

    def _sync_widgets(self) -> None:
        """Table rows and slider handles follow the selection."""
        rows = self.model.selected_rows()
        ranges = self.model.selection_ranges()
        with self._setting_widgets:
            self.table_panel.follow(rows)
            self.slider_panel.follow(ranges)

    def push_highlight(self) -> None:
        """Make the browser's highlight layers show ``model.selection``, sending only changes."""
        with_lock(self._push_highlight)

    def _push_highlight(self) -> None:
        mask = self.model.selection_mask()
        if self.model.dense and self.model.chart == "lines":
            self.plots.set_epochs_highlight(mask)  # the browser has no curves to bin
        if mask.tobytes() == self._shown:
            return
        self.plots.set_mask(mask)
        self._shown = mask.tobytes()

    # ---- notes and views ---------------------------------------------------------------------
    def save_note(self, text: str | None = None) -> Note | None:
        """Store a note with the current view (the text box's text unless ``text`` is given)."""
        return self.notes.save(text)

    def show_error(self, message: str) -> None:
        """Say what went wrong in the header (until the next successful refresh)."""
        self._error = message
        self.header.object = self._header_html()

    def restore(self, view: Mapping[str, Any]) -> None:
        """Show a saved view (from a note or a link)."""
        problems = self.model.apply_view_state(view)
        self._error = "; ".join(problems)
        self._on_selection()

    def _update_url(self) -> None:
        show_view_in_url(self.model.view_state())

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
        sliders_before = self.slider_panel.shape()
        with self._taking_frames:
            rebuild = self.model.update(frames)
        self.plots.update_data()
        if rebuild:
            self._build_matrix()
        self.charts.follow_frames(metric, rebuild)
        if self.slider_panel.shape() != sliders_before:
            self.slider_panel.build()
        else:
            self.slider_panel.update_bounds()
        self.table_panel.update()
        self.push_highlight()
        self._sync_widgets()
        self.header.object = self._header_html()
        return True

    async def _tick(self) -> None:
        if self._refreshing:
            return
        with self._refreshing:
            try:
                changed = await asyncio.to_thread(self.source.refresh)
                error, self._error = self._error, ""
                if not self.apply_frames(changed) and error:
                    self.header.object = self._header_html()
            # the one catch-all on the page: a periodic callback that raised would leave the
            # page silently stale; log the traceback (a bug) and say what failed in the header
            except Exception as exc:
                log.exception("run page refresh failed")
                self._error = f"refresh failed: {exc}"
                self.header.object = self._header_html()

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
