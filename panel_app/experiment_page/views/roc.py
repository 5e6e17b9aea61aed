"""ROC and precision-recall curves of a binary classifier, from the ``scores.json`` it recorded.

Two small figures side by side: the ROC curve with its AUC in the title and the chance diagonal
dashed; the precision-recall curve with its average precision in the title and the positive
rate (the precision of guessing) dashed. The numbers come from
:func:`workbench_plugin.experiment_info.roc_info` (scikit-learn); the curves are thinned for drawing.
"""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.models import HoverTool, Range1d
from bokeh.plotting import figure

from panel_app.experiment_page.plugins import ExperimentData, ViewState
from panel_app.experiment_page.views._common import error_line, read_artifact
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.experiment_info import RocInfo, roc_info
from workbench_plugin.tracking import SCORES_FILE

__all__ = ["PR_NAME", "ROC_NAME", "RocPrView", "pr_figure", "roc_figure"]

ROC_NAME = "ht-roc"
PR_NAME = "ht-pr"
_SIDE = 300


def roc_figure(info: RocInfo) -> Any:
    fig = figure(name=ROC_NAME, title=f"ROC (AUC {info.auc:.3f})", width=_SIDE, height=_SIDE,
                 x_range=Range1d(start=0, end=1), y_range=Range1d(start=0, end=1.02),
                 x_axis_label="false positive rate",
                 y_axis_label="true positive rate", tools="reset,box_zoom", toolbar_location=None)
    fig.line([0, 1], [0, 1], line_dash="dashed", color="#999", legend_label="chance")
    line = fig.line("x", "y", source={"x": info.fpr.tolist(), "y": info.tpr.tolist(),
                                      "t": info.thresholds.tolist()}, line_width=2, color="#1f77b4")
    fig.add_tools(HoverTool(renderers=[line], tooltips=[("FPR", "@x{0.000}"), ("TPR", "@y{0.000}"),
                                                         ("threshold", "@t{0.000}")], mode="vline"))
    fig.legend.location = "bottom_right"
    return fig


def pr_figure(info: RocInfo) -> Any:
    fig = figure(name=PR_NAME, title=f"Precision-recall (AP {info.average_precision:.3f})", width=_SIDE,
                 height=_SIDE, x_range=Range1d(start=0, end=1), y_range=Range1d(start=0, end=1.02),
                 x_axis_label=f"recall ({info.labels[1]})",
                 y_axis_label="precision", tools="reset,box_zoom", toolbar_location=None)
    fig.line([0, 1], [info.positive_rate] * 2, line_dash="dashed", color="#999",
             legend_label=f"positive rate {info.positive_rate:.2f}")
    fig.line(info.recall.tolist(), info.precision.tolist(), line_width=2, color="#ff7f0e")
    fig.legend.location = "bottom_left"
    return fig


class RocPrView:
    """The experiment page's ROC and precision-recall curves, from ``scores.json``."""

    name = "roc"
    title = "ROC and precision-recall"
    needs_artifacts = (SCORES_FILE,)
    needs_metrics: tuple[str, ...] = ()

    def render(self, data: ExperimentData, state: ViewState) -> Any:
        try:
            info = roc_info(read_artifact(data, SCORES_FILE))
        except HyperTunerError as exc:
            return error_line(exc)
        note = f"{info.n:,} samples, positive class {info.labels[1]!r}"
        if info.total > info.n:
            note += f" (a subsample of {info.total:,})"
        return pn.Column(pn.Row(roc_figure(info), pr_figure(info)), pn.pane.Str(note, styles={"color": "#555"}))
