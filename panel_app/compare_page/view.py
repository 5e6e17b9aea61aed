"""The compare page (patent FIG 28): a thin :class:`panel.viewable.Viewer` over a
:class:`~panel_app.compare_page.model.CompareModel`.

Top to bottom: the header (links back to the runs), the hyperparameters (differing first and
highlighted, the equal ones behind a toggle), the final metrics (best per row marked), the
curves (one figure per metric family, a line per experiment and metric, the experiment's
colour), the confusion matrices side by side, the artifacts. The fold and the families drawn
are the view state in the URL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import panel as pn
import param
from bokeh.models.annotations import Legend, LegendItem
from bokeh.plotting import figure

from panel_app.compare_page.model import CompareModel
from panel_app.compare_page.templates import colour_of
from panel_app.experiment_page.plugins import ExperimentData
from panel_app.experiment_page.views._common import error_line
from panel_app.experiment_page.views.confusion import side_by_side
from panel_app.location import show_view_in_url
from panel_app.run_page.templates import plain_title
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.experiment_info import ComparisonInfo, FamilyCurves
from workbench_plugin.tracking import CONFUSION_MATRIX_FILE

__all__ = ["NO_CONFUSION", "ComparePage", "ExperimentDataOf", "curves_figure"]

#: Reads what the views draw of each experiment of a comparison (in its order).
ExperimentDataOf = Callable[[ComparisonInfo], Sequence[ExperimentData]]
#: The confusion row when no experiment compared recorded a confusion matrix.
NO_CONFUSION = f"none of these experiments recorded {CONFUSION_MATRIX_FILE}"
_DASHES = ("solid", "dashed", "dotted", "dotdash", "dashdot")


def curves_figure(family: FamilyCurves, colours: Mapping[str, str], labels: Mapping[str, str]) -> Any:
    """One Bokeh figure of a metric family: a line per experiment and metric (dash per metric),
    a legend entry per experiment. Named ``compare:<family>``."""
    x_name = family.curves[0].x_name if family.curves else "epoch"
    dashes = {m: _DASHES[i % len(_DASHES)] for i, m in enumerate(family.metrics)}
    metric_names = ", ".join(f"{plain_title(m)} ({dashes[m]})" if len(family.metrics) > 1 else plain_title(m)
                             for m in family.metrics)
    fig = figure(name=f"compare:{family.family}", width=460, height=300, title=f"{family.family}: {metric_names}",
                 x_axis_label=x_name, y_axis_label=family.family, toolbar_location="right",
                 tools="pan,wheel_zoom,box_zoom,reset,hover,save")
    items: dict[str, list[Any]] = {c.experiment_id: [] for c in family.curves}
    for curve in reversed(family.curves):  # the first experiment on top where curves coincide
        colour = colours.get(curve.experiment_id, "#777")
        renderer = fig.line(list(curve.x), list(curve.y), color=colour, line_width=2,
                            line_dash=dashes[curve.metric], name=f"curve:{curve.experiment_id}:{curve.metric}")
        if len(curve.x) == 1:
            fig.scatter(list(curve.x), list(curve.y), color=colour, size=6)
        items[curve.experiment_id].append(renderer)
    legend = Legend(items=[LegendItem(label=plain_title(labels.get(eid, eid)), renderers=rs)
                           for eid, rs in items.items()], click_policy="hide", location="top_left")
    fig.add_layout(legend, "right")
    return fig


def _confusion_row(info: ComparisonInfo, experiment_data: ExperimentDataOf, *, cell: Sequence[str] = (),
                   on_click: Callable[[str, str], None] | None = None) -> Any:
    """The confusion matrices side by side (:func:`~panel_app.experiment_page.views.confusion.side_by_side`),
    ``cell`` selected and clicks reported to ``on_click``; or one line saying why there are none."""
    try:
        datas = list(experiment_data(info))
        if not any(CONFUSION_MATRIX_FILE in d.artifacts for d in datas):
            return pn.pane.HTML(f'<span class="ht-cm-none" style="color:#777">{NO_CONFUSION}</span>',
                                margin=(4, 10))
        return side_by_side(datas, colours={e.experiment_id: colour_of(i) for i, e in enumerate(info.experiments)},
                            cell=cell, on_click=on_click)
    except (HyperTunerError, OSError, ValueError) as exc:  # an experiment that cannot be read: one line
        return error_line(f"confusion matrices: {type(exc).__name__}: {exc}")


class ComparePage(pn.viewable.Viewer):
    """One session's compare page. ``experiment_data`` (``info -> [ExperimentData]``) feeds the
    confusion row (none without it); ``nav`` goes above the header."""

    def __init__(self, info: ComparisonInfo, *, artifacts: Mapping[str, Sequence[str] | str] | None = None,
                 view: Mapping[str, Any] | None = None, problems: Sequence[str] = (),
                 nav: pn.viewable.Viewable | None = None, experiment_data: ExperimentDataOf | None = None,
                 notes: pn.viewable.Viewable | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.model = CompareModel(info, artifacts=artifacts, problems=problems)
        if view:
            self.model.problems += self.model.apply_view_state(view)
        self.header = pn.pane.HTML(self.model.header_html(), sizing_mode="stretch_width", margin=(4, 10))
        self.hparams = pn.pane.HTML(self.model.hparams_html(), margin=(0, 10))
        self.fold = pn.widgets.Toggle(label=self.model.fold_label(), value=not self.model.folded, width=240,
                                      margin=(0, 10), css_classes=["ht-fold"], visible=bool(info.equal))
        self.metrics = pn.pane.HTML(self.model.metrics_html(), margin=(8, 10))
        families = list(self.model.param.families.objects)
        self.family_picker = pn.widgets.CheckButtonGroup(
            options=families, value=list(self.model.families), margin=(8, 10),
            css_classes=["ht-families"], visible=bool(families))
        self.curves = pn.Row(margin=0)
        self._draw_curves()
        self.artifacts = pn.pane.HTML(self.model.artifacts_html(), margin=(8, 10))
        self.confusion = (_confusion_row(info, experiment_data, cell=self.model.cell, on_click=self._on_cell)
                          if experiment_data is not None else None)

        self.fold.param.watch(self._on_fold, "value")
        self.family_picker.param.watch(self._on_families, "value")
        self.model.param.watch(self._on_model, ["folded", "families", "cell"])
        self._layout = pn.Column(
            *([nav] if nav is not None else []),
            self.header, self.hparams, self.fold, self.metrics,
            pn.pane.HTML("<b>Curves</b> (one axis per metric family)", margin=(8, 10, 0, 10)),
            self.family_picker, self.curves,
            *([pn.pane.HTML("<b>Confusion matrices</b> (hover a cell: the same cell in every matrix, "
                            "each with its own examples)", margin=(8, 10, 0, 10)), self.confusion]
              if self.confusion is not None else []),
            self.artifacts,
            *([notes] if notes is not None else []),
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _draw_curves(self) -> None:
        shown = self.model.shown_families()
        if not self.model.info.families:
            self.curves.objects = [pn.pane.HTML('<span style="color:#777">No curves logged yet.</span>',
                                                margin=(4, 10))]
            return
        colours, labels = self.model.colours(), self.model.labels()
        self.curves.objects = [pn.pane.Bokeh(curves_figure(f, colours, labels), margin=(0, 5)) for f in shown]

    def _on_fold(self, event: param.parameterized.Event) -> None:
        self.model.folded = not event.new

    def _on_families(self, event: param.parameterized.Event) -> None:
        self.model.families = [f for f in self.model.param.families.objects if f in event.new]

    def _on_cell(self, true: str, pred: str) -> None:
        self.model.cell = [true, pred]

    def _on_model(self, *events: param.parameterized.Event) -> None:
        names = {e.name for e in events}
        if "folded" in names:
            self.hparams.object = self.model.hparams_html()
            self.fold.label = self.model.fold_label()
            self.fold.value = not self.model.folded
        if "families" in names:
            self.family_picker.value = list(self.model.families)
            self._draw_curves()
        self._update_url()

    def _update_url(self) -> None:
        show_view_in_url(self.model.view_state())
