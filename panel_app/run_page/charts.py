"""The run page's metric chart: one bar per experiment, or every experiment's epoch lines."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from panel_app.linked.plots import LinkedPlots
from panel_app.run_page.guard import Guard, with_lock
from panel_app.run_page.model import RunPageModel

__all__ = ["ChartPanel"]


class ChartPanel:
    """The metric menu, the bars/lines switch and the chart under them (:attr:`panel`).

    ``on_change`` is called when the user changed what is shown (the URL follows it).
    """

    def __init__(self, model: RunPageModel, plots: LinkedPlots, taking_frames: Guard, *,
                 on_change: Callable[[], None]) -> None:
        self.model = model
        self.plots = plots
        self.taking_frames = taking_frames
        self.on_change = on_change
        self.metric_select = pn.widgets.Select(
            label="Metric", options=list(model.param.bar_metric.objects),
            value=model.bar_metric, width=220, margin=(0, 10), disabled=model.bar_metric is None)
        self.chart_switch = pn.widgets.RadioButtonGroup(
            label="Chart", options={"Bars": "bars", "Epoch lines": "lines"},
            value=model.chart, margin=(18, 10, 0, 10), color="light")
        self._bars_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self._epochs_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self._bars_box = pn.Column(self._bars_pane, margin=0)
        self._epochs_box = pn.Column(self._epochs_pane, margin=0)
        self._note = pn.pane.Markdown("", margin=(10, 10))
        self.panel = pn.Column(pn.Row(self.metric_select, self.chart_switch, margin=0),
                               self._note, self._bars_box, self._epochs_box, margin=0)
        self.build()
        self.metric_select.param.watch(self._on_metric_select, "value")
        self.chart_switch.param.watch(lambda event: setattr(self.model, "chart", event.new), "value")
        model.param.watch(self._on_bar_metric, "bar_metric")
        model.param.watch(self._on_chart, "chart")

    def build(self) -> None:
        bars = self.plots.build_bars()
        # epoch lines are built when first shown: dense ones bin every curve point, glyph ones
        # send a line per experiment (most of a small page's document)
        epochs = self.plots.build_epochs() if self.model.chart == "lines" else None
        self._bars_pane.object = bars
        self._epochs_pane.object = epochs
        self._note.object = "" if bars is not None else "No metric to chart yet."
        self._show()

    def _show(self) -> None:
        lines = self.model.chart == "lines"
        self._bars_box.visible = self._bars_pane.object is not None and not lines
        self._epochs_box.visible = self._epochs_pane.object is not None and lines

    def _on_metric_select(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.model.bar_metric = event.new

    def _on_chart(self, event: param.parameterized.Event) -> None:
        if self.chart_switch.value != event.new:
            self.chart_switch.value = event.new
        if event.new == "lines" and self._epochs_pane.object is None and \
                self.model.bar_metric is not None and self.model.order:
            self._epochs_pane.object = self.plots.build_epochs()
        self._show()
        if self.model.dense and event.new == "lines":
            with_lock(functools.partial(self.plots.set_epochs_highlight, self.model.selection_mask()))
        self.on_change()

    def _on_bar_metric(self, event: param.parameterized.Event) -> None:
        if event.new is None or self.taking_frames:
            return
        if self.plots.bars is None:
            self.build()
        else:
            with_lock(functools.partial(self.plots.set_bar_metric, event.new))
        if self.metric_select.value != event.new:
            self.metric_select.value = event.new
        self.on_change()

    def follow_frames(self, metric_before: Any, rebuild: bool) -> None:
        """After new frames went into the model: the menu's metrics, then the chart."""
        metrics = list(self.model.param.bar_metric.objects)
        if list(self.metric_select.options) != metrics:
            self.metric_select.options = metrics
        self.metric_select.disabled = self.model.bar_metric is None
        if self.model.bar_metric is not None:
            self.metric_select.value = self.model.bar_metric
        wants_charts = self.model.bar_metric is not None and bool(self.model.order)
        if rebuild or (self.plots.bars is None) == wants_charts:
            self.build()
        elif self.model.bar_metric is not None and self.model.bar_metric != metric_before:
            self.plots.set_bar_metric(self.model.bar_metric)
