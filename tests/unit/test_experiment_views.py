"""The confusion-matrix, elbow and ROC/PR views: what they ship to the browser, and that each renders
on good data and shows one line naming the artifact on a damaged one."""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.models import Div, Label, Span

from panel_app.experiment_page.plugins import ExperimentData, ViewState, missing_needs
from panel_app.experiment_page.views._common import ERROR_CLASS
from panel_app.experiment_page.views.confusion import (
    ConfusionMatrixView,
    confusion_figure,
    link_confusion_figures,
    select_cell,
    set_normalise,
    side_by_side,
)
from panel_app.experiment_page.views.confusion_cells import EMPTY_CELL, cell_columns, cell_html
from panel_app.experiment_page.views.elbow import ElbowView, elbow_figure
from panel_app.experiment_page.views.roc import RocPrView
from workbench_plugin.experiment_info import confusion_info, elbow_info, image_uris
from workbench_plugin.tracking import confusion_matrix_data, curve_data, scores_data

Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 2, 1, 0, 2]


def cm_raw(examples: Any = "images", max_examples: int = 500, labels: Any = (0, 1, 2)) -> bytes:
    if examples == "images":
        examples = np.arange(len(Y_TRUE) * 64).reshape(-1, 8, 8) % 17
    return json.dumps(confusion_matrix_data(Y_TRUE, Y_PRED, labels=list(labels), examples=examples,
                                            max_examples=max_examples)).encode()


def experiment(files: dict[str, bytes]) -> ExperimentData:
    return ExperimentData("e-1", "r-1", "e-1", "succeeded", {}, pd.DataFrame(), {}, tuple(files),
                          reader=files.__getitem__)


def texts(obj: Any) -> str:
    """Every HTML/text a rendered view holds (panes and Bokeh Divs)."""
    out = []
    for pane in obj.select(lambda o: isinstance(o, pn.pane.HTML | pn.pane.Str)):
        out.append(str(pane.object))
    for pane in obj.select(pn.pane.Bokeh):
        out.extend(d.text for d in pane.object.select({"type": Div}))
    return "\n".join(out)


# ---- what the confusion view ships ---------------------------------------------------------------
def test_each_cell_ships_its_examples_html() -> None:
    info = confusion_info(cm_raw())
    cols = cell_columns(info)
    assert cols["true"][:3] == ["0", "0", "0"] and cols["pred"][:3] == ["0", "1", "2"]
    cell = cols["html"][1]  # true 0 -> predicted 1: two examples
    assert cell.count('class="ht-cm-example"') == 2 and "data:image/png;base64," in cell
    assert '<div class="ht-cm-count">2 examples</div>' in cell
    assert '<div class="ht-cm-count">1 correct prediction</div>' in cols["html"][0]
    assert cols["html"][2] == ""  # no samples: the browser fills in EMPTY_CELL
    assert cell_html(info, 0, 2, image_uris(info)) == EMPTY_CELL.format(true="0", pred="2")
    assert cols["text"][:3] == ["1", "2", "0"]


def test_a_cell_with_fewer_kept_says_showing_k_of_n() -> None:
    info = confusion_info(cm_raw(max_examples=1))
    html_ = cell_columns(info)["html"][1]
    assert '<div class="ht-cm-count">showing 1 of 2</div>' in html_ and html_.count("ht-cm-example") == 1


def test_rows_and_labels_are_escaped() -> None:
    rows = [{"note": "<b>x</b>", "v": i / 3} for i in range(len(Y_TRUE))]
    labels = ["<a>", "b&", "c"]
    y_t = [labels[i] for i in Y_TRUE]
    y_p = [labels[i] for i in Y_PRED]
    info = confusion_info(json.dumps(confusion_matrix_data(y_t, y_p, labels=labels, examples=rows)).encode())
    cols = cell_columns(info)
    cell = cols["html"][1]
    assert "<b>" not in cell and html.escape("<b>x</b>") in cell and "&lt;a&gt;" in cell
    assert cell.count('<tr class="ht-cm-example">') == 2 and "<td>0.333333</td>" in cell
    assert cols["true_html"][0] == "&lt;a&gt;"


def test_normalise_and_select_a_cell() -> None:
    fig = confusion_figure(confusion_info(cm_raw()))
    link_confusion_figures([fig])
    set_normalise(fig, True)
    assert fig.source.data["text"][3:6] == ["0.00", "0.50", "0.50"] and fig.mapper.high == pytest.approx(2 / 3)
    assert select_cell(fig, "0", "1") and fig.source.selected.indices == [1]
    assert fig.highlight.data == {"x": ["1"], "y": ["0"]} and "2 examples" in fig.examples.text
    assert not select_cell(fig, "9", "1")


def test_linked_figures_share_one_hover_callback_over_all_matrices() -> None:
    figs = [confusion_figure(confusion_info(cm_raw())) for _ in range(3)]
    link_confusion_figures(figs)
    from bokeh.models import HoverTool
    for f in figs:
        callback = f.figure.select_one(HoverTool).callback
        assert callback.args["srcs"] == [g.source for g in figs] and callback.args["me"] is f.source
        assert callback.args["divs"] == [g.examples for g in figs]


def test_side_by_side_draws_each_matrix_linked_and_one_line_for_a_missing_or_damaged_one() -> None:
    def named(ident: str, files: dict[str, bytes]) -> ExperimentData:
        return ExperimentData(ident, "r-1", f"#{ident}<b>", "succeeded", {}, pd.DataFrame(), {}, tuple(files),
                              reader=files.__getitem__)

    datas = [named("a", {"confusion_matrix.json": cm_raw()}), named("b", {"other.json": b"{}"}),
             named("c", {"confusion_matrix.json": cm_raw(max_examples=1)})]
    out = side_by_side(datas)
    assert len(out.objects) == 3  # a column per experiment, in order
    figs = [p.object for p in out.select(pn.pane.Bokeh) if p.object.name == "ht-cm-heatmap"]
    assert [f.title.text for f in figs] == ["#a<b>: 5 misclassified of 9", "#c<b>: 5 misclassified of 9"]
    errors = [p for p in out.select(pn.pane.HTML) if ERROR_CLASS in str(p.object)]
    assert len(errors) == 1 and errors[0] in out.objects[1].objects  # in the missing one's own column
    line = str(errors[0].object)
    assert "#b&lt;b&gt; (b): artifact &#x27;confusion_matrix.json&#x27;: experiment b recorded no such file" in line
    from bokeh.models import HoverTool
    sources = [f.renderers[0].data_source for f in figs]
    for f in figs:  # hovering one shows the same cell in both
        assert f.select_one(HoverTool).callback.args["srcs"] == sources
    damaged = side_by_side([datas[0], named("d", {"confusion_matrix.json": b'{"labels": ["<script>"]'})])
    (bad,) = [p for p in damaged.select(pn.pane.HTML) if ERROR_CLASS in str(p.object)]
    assert "artifact confusion_matrix.json: " in str(bad.object) and "<script>" not in str(bad.object)
    assert len([p for p in damaged.select(pn.pane.Bokeh) if p.object.name == "ht-cm-heatmap"]) == 1


# ---- each view renders, or says in one line what is wrong -----------------------------------------
def test_confusion_view_renders_restores_the_cell_and_records_clicks() -> None:
    view = ConfusionMatrixView()
    data = experiment({"confusion_matrix.json": cm_raw()})
    assert missing_needs(view, data) == ""
    state = ViewState({"cell": ["2", "1"], "normalise": True})
    out = view.render(data, state)
    assert isinstance(out, pn.viewable.Viewable)
    assert "true 2 &rarr; predicted 1" in texts(out)
    heat = out.select(pn.pane.Bokeh)[0].object
    source = heat.renderers[0].data_source
    assert source.selected.indices == [7]
    source.selected.indices = [3]  # a click, as the browser syncs it
    assert state["cell"] == ["1", "0"]
    (toggle,) = out.select(pn.widgets.Checkbox)
    toggle.value = False
    assert state["normalise"] is False and source.data["text"][7] == "1"


def test_elbow_view_marks_the_knee_and_switches_metric() -> None:
    ks = list(range(1, 11))
    inertia = [1000 - 300 * (k - 1) if k <= 4 else 100 - 5 * (k - 4) for k in ks]
    files = {"curve_k.json": json.dumps(curve_data("k", ks, {"inertia": inertia, "acc": ks})).encode(),
             "curve_depth.json": json.dumps(curve_data("depth", [1, 2, 3], {"loss": [3, 2, 1.5]})).encode()}
    state = ViewState()
    out = ElbowView().render(experiment(files), state)
    assert out.select(pn.pane.Bokeh)[0].object.xaxis[0].axis_label == "depth"  # the first file by name
    selects = out.select(pn.widgets.Select)
    curve_pick, metric_pick = selects
    assert curve_pick.options == ["curve_depth.json", "curve_k.json"] and curve_pick.visible
    curve_pick.value = "curve_k.json"
    assert state["curve"] == "curve_k.json" and "elbow at k = 4" in texts(out)
    assert metric_pick.options == ["inertia", "acc"] and metric_pick.visible
    metric_pick.value = "acc"
    assert state["metric"] == "acc" and "no elbow: acc is a straight line over k" in texts(out)
    again = ElbowView().render(experiment(files), ViewState({"curve": "curve_k.json", "metric": "inertia"}))
    assert "elbow at k = 4" in texts(again)


def test_elbow_figure_has_the_span_and_label() -> None:
    ks = list(range(1, 11))
    inertia = [1000 - 300 * (k - 1) if k <= 4 else 100 - 5 * (k - 4) for k in ks]
    fig = elbow_figure(elbow_info(json.dumps(curve_data("k", ks, {"inertia": inertia})).encode()))
    (span,) = fig.select({"type": Span})
    (label,) = fig.select({"type": Label})
    assert span.location == 4 and label.text == "elbow at k = 4"


def test_roc_view_titles_carry_auc_and_ap() -> None:
    raw = json.dumps(scores_data([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])).encode()
    out = RocPrView().render(experiment({"scores.json": raw}), ViewState())
    figs = [p.object for p in out.select(pn.pane.Bokeh)]
    assert [f.title.text for f in figs] == ["ROC (AUC 0.750)", "Precision-recall (AP 0.833)"]


@pytest.mark.parametrize(("view", "name", "raw"), [
    (ConfusionMatrixView(), "confusion_matrix.json", b'{"labels": [0, 1], "matrix": [[1, 2], [3'),
    (ConfusionMatrixView(), "confusion_matrix.json", b'{"labels": ["<script>"], "matrix": [[1, 2]]}'),
    (ElbowView(), "curve_k.json", b'{"x_name": "k", "x": [3, 2], "y": {"a": [1, 2]}}'),
    (RocPrView(), "scores.json", b"\x00\x01garbage"),
])
def test_a_damaged_artifact_is_one_escaped_line_naming_it(view: Any, name: str, raw: bytes) -> None:
    out = view.render(experiment({name: raw}), ViewState())
    panes = out.select(pn.pane.HTML)
    errors = [p for p in panes if ERROR_CLASS in str(p.object)]
    assert len(errors) == 1
    text = str(errors[0].object)
    assert f"artifact {name}: " in text and "<script>" not in text and text.count("\n") == 0


def test_a_missing_artifact_is_one_line() -> None:
    data = ExperimentData("e-1", "r-1", "e-1", "succeeded", {}, pd.DataFrame(), {}, ("scores.json",), reader=None)
    out = RocPrView().render(data, ViewState())
    assert "recorded no such file" in str(out.object)
