"""The elbow chart (FIG 23C): a metric against a model-size hyperparameter, its elbow marked.

Reads the ``curve_<x>.json`` artifacts :func:`workbench_plugin.tracking.log_curve` writes (k-means
inertia per k in the demo); :func:`workbench_plugin.experiment_info.elbow_info` finds the elbow
(Kneedle), drawn as a dashed vertical line with the label "elbow at k = 6". A picker chooses the
curve file when there are several, another the metric when the file holds several; both are kept
in the view state (``curve``, ``metric``), so a link or a note restores them.
"""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.models import HoverTool
from bokeh.models.annotations import Label, Span
from bokeh.plotting import figure

from panel_app.experiment_page.plugins import ExperimentData, ViewState
from panel_app.experiment_page.views._common import error_line, read_artifact
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.experiment_info import ElbowInfo, curve_artifacts, elbow_info
from workbench_plugin.tracking import CURVE_FILE_PATTERN

__all__ = ["ELBOW_NAME", "ElbowView", "elbow_figure", "elbow_label"]

#: Bokeh ``name`` of the chart and of its elbow label (browser tests read them).
ELBOW_NAME = "ht-elbow"


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def elbow_label(info: ElbowInfo) -> str:
    """What the chart says about the elbow: "elbow at k = 6", or why there is none."""
    return info.reason if info.knee is None else f"elbow at {info.x_name} = {_number(info.knee)}"


def elbow_figure(info: ElbowInfo) -> Any:
    """A line of the metric against the hyperparameter, markers at the points, the elbow marked."""
    fig = figure(name=ELBOW_NAME, height=320, width=520, x_axis_label=info.x_name, y_axis_label=info.metric,
                 title=f"{info.metric} against {info.x_name}", tools="pan,wheel_zoom,reset", toolbar_location="right")
    data = {"x": info.x.tolist(), "y": info.y.tolist()}
    fig.line("x", "y", source=data, line_width=2, color="#1f77b4")
    dots = fig.scatter("x", "y", source=data, size=7, color="#1f77b4")
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[(info.x_name, "@x"), (info.metric, "@y{0.[000]}")]))
    text = elbow_label(info)
    if info.knee is not None and info.knee_y is not None:
        fig.add_layout(Span(location=info.knee, dimension="height", line_color="#d62728", line_dash="dashed",
                            line_width=2))
        fig.add_layout(Label(x=info.knee, y=info.knee_y, text=text, x_offset=8, y_offset=8,
                             text_color="#d62728", text_font_size="11pt", name="ht-elbow-label"))
    return fig


class ElbowView:
    """The experiment page's elbow chart, from the ``curve_*.json`` artifacts."""

    name = "elbow"
    title = "Elbow chart"
    needs_artifacts = (CURVE_FILE_PATTERN,)
    needs_metrics: tuple[str, ...] = ()

    def render(self, data: ExperimentData, state: ViewState) -> Any:
        files = curve_artifacts(data.artifacts)
        if not files:
            return error_line(f"{self.title}: experiment {data.experiment_id} recorded no {CURVE_FILE_PATTERN}")
        chosen = str(state["curve"]) if state.get("curve") in files else files[0]
        body = pn.Column()
        curve_pick = pn.widgets.Select(label="curve", options=files, value=chosen, visible=len(files) > 1, width=220)
        metric_pick = pn.widgets.Select(label="metric", options=[], visible=False, width=220)

        def draw(file: str, metric: str | None) -> None:
            try:
                raw = read_artifact(data, file)
                info = elbow_info(raw, artifact=file)
                if metric in info.metrics and metric != info.metric:
                    info = elbow_info(raw, metric, artifact=file)
            except HyperTunerError as exc:
                body[:] = [error_line(exc)]
                metric_pick.visible = False
                return
            metric_pick.options = info.metrics
            metric_pick.value = info.metric
            metric_pick.visible = len(info.metrics) > 1
            body[:] = [elbow_figure(info), pn.pane.Str(elbow_label(info), css_classes=["ht-elbow-text"])]

        draw(chosen, state.get("metric"))

        def on_curve(event: Any) -> None:
            state["curve"] = event.new
            draw(event.new, None)

        def on_metric(event: Any) -> None:
            if event.new and event.new != event.old:
                state["metric"] = event.new
                draw(curve_pick.value, event.new)

        curve_pick.param.watch(on_curve, "value")
        metric_pick.param.watch(on_metric, "value")
        return pn.Column(pn.Row(curve_pick, metric_pick), body)
