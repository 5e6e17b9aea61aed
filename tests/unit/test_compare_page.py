"""The compare page without a browser: its model, its HTML (escaped), its view state, the run
page's Compare link."""

from __future__ import annotations

import math

import pandas as pd
import panel as pn

from panel_app.compare_page.model import CompareModel
from panel_app.compare_page.templates import colour_of, compare_link_html
from panel_app.compare_page.view import NO_CONFUSION, ComparePage
from panel_app.experiment_page.plugins import ExperimentData
from workbench_plugin.experiment_info import comparison_info
from workbench_plugin.frames import RunFrames

EVIL = '<img src=x onerror="alert(1)">'


def frames() -> RunFrames:
    rows = [{"lr": 0.1, "opt": EVIL, "seed": 1, "val_loss": 0.4, "val_acc": 0.8},
            {"lr": 0.01, "opt": EVIL, "seed": 1, "val_loss": 0.2, "val_acc": 0.9},
            {"lr": 0.001, "opt": "sgd", "seed": 1, "val_loss": math.nan, "val_acc": 0.9}]
    wide = pd.DataFrame([{"experiment_id": f"r-{i}", "label": f"#{i + 1}", "state": "succeeded", **r}
                         for i, r in enumerate(rows)])
    curves = pd.DataFrame([{"experiment_id": f"r-{i}", "epoch": float(e), "step": math.nan, "name": m,
                            "value": 1.0 / e} for i in range(3) for m in ("val_loss", "val_acc") for e in (1, 2)])
    return RunFrames("r", wide, curves, ("lr", "opt", "seed"), ("val_loss", "val_acc"))


def test_differing_first_highlighted_equal_folded_and_escaped() -> None:
    model = CompareModel(comparison_info(frames(), ["r-0", "r-1", "r-2"]))
    text = model.hparams_html()
    assert text.index('class="ht-differ"><th class="ht-rowname">lr') < text.index("opt")
    assert "1 equal hyperparameter (folded)" in text and "seed</th>" not in text
    assert EVIL not in text and "&lt;img src=x" in text
    model.folded = False
    assert '<tr class="ht-equal"><th class="ht-rowname">seed</th>' in model.hparams_html()
    assert model.fold_label() == "Hide 1 equal hyperparameter"


def test_best_per_row_bold() -> None:
    text = CompareModel(comparison_info(frames(), ["r-0", "r-1", "r-2"])).metrics_html()
    loss, acc = text.split("val_acc")
    assert loss.count('class="ht-best"') == 1 and "<b>0.2</b></td>" in loss.split('class="ht-best"')[1]
    assert acc.count('class="ht-best"') == 2  # a tie: both best


def test_column_heads_link_each_experiment_page() -> None:
    text = CompareModel(comparison_info(frames(), ["r-1", "r-0"])).hparams_html()
    assert text.index('href="?experiment=r-1"') < text.index('href="?experiment=r-0"')


def test_view_state_round_trip_and_bad_values_one_line() -> None:
    info = comparison_info(frames(), ["r-0", "r-1"])
    model = CompareModel(info)
    assert model.view_state() == {}
    model.folded, model.families = False, ["score"]
    view = model.view_state()
    assert view == {"folded": False, "families": ["score"]}
    again = CompareModel(info)
    assert again.apply_view_state(view) == []
    assert (again.folded, again.families) == (False, ["score"])
    problems = again.apply_view_state({"folded": "no", "families": ["loss", "<b>"]})
    assert problems == ["view: folded='no' (use true or false)",
                        "view: families ['<b>'] are not drawn here (families: loss, score)"]
    assert again.families == ["loss"]


def test_page_draws_a_figure_per_family_and_follows_the_picker() -> None:
    page = ComparePage(comparison_info(frames(), ["r-0", "r-1", "r-2"]), artifacts={"r-0": ["a<b>.json"]})
    names = [p.object.name for p in page.curves.objects]
    assert names == ["compare:loss", "compare:score"]
    page.family_picker.value = ["score"]
    assert [p.object.name for p in page.curves.objects] == ["compare:score"]
    assert page.model.view_state() == {"families": ["score"]}
    page.fold.value = True
    assert "seed</th>" in page.hparams.object
    assert "a&lt;b&gt;.json" in page.artifacts.object
    assert page.confusion is None  # no store to read the matrices from: no confusion row


def test_the_confusion_row_draws_each_experiments_matrix_or_says_why_not() -> None:
    info = comparison_info(frames(), ["r-0", "r-1", "r-2"])
    raw = b'{"labels": ["a", "b"], "matrix": [[3, 1], [0, 2]], "misclassified": [], "misclassified_total": 1}'

    def data(eid: str, files: dict[str, bytes]) -> ExperimentData:
        return ExperimentData(eid, "r", eid, "succeeded", {}, pd.DataFrame(), {}, tuple(files),
                              reader=files.__getitem__)

    page = ComparePage(info, experiment_data=lambda i: [
        data(e.experiment_id, {"confusion_matrix.json": raw} if e.experiment_id != "r-1" else {})
        for e in i.experiments])
    assert page.confusion is not None
    heat = [p for p in page.confusion.select(pn.pane.Bokeh) if p.object.name == "ht-cm-heatmap"]
    assert len(heat) == 2 and "recorded no such file" in str(page.confusion.objects[1].objects[0].object)
    assert [h.object.title.text_color for h in heat] == [colour_of(0), colour_of(2)]  # each its column's colour
    none = ComparePage(info, experiment_data=lambda i: [data(e.experiment_id, {}) for e in i.experiments])
    assert none.confusion is not None and NO_CONFUSION in none.confusion.object

    def broken(i: object) -> list[ExperimentData]:
        raise OSError("store <gone>")

    failed = ComparePage(info, experiment_data=broken)
    assert failed.confusion is not None
    assert "confusion matrices: OSError: store &lt;gone&gt;" in failed.confusion.object


def test_the_run_page_compare_link() -> None:
    on = compare_link_html(["r-0", "r-1", "r-2"])
    assert 'href="?compare=r-0,r-1,r-2"' in on and "Compare 3" in on
    off = compare_link_html(["r-0"])
    assert "ht-compare-off" in off and "compare: 1 experiment selected" in off and "href" not in off
    many = compare_link_html([f"r-{i}" for i in range(11)])
    assert "compare: 11 experiments selected; the comparison shows 2 to 10" in many
    assert "ht-compare-why" not in compare_link_html([])


def test_the_clicked_confusion_cell_rides_in_the_view_and_is_restored_in_every_matrix() -> None:
    info = comparison_info(frames(), ["r-0", "r-1", "r-2"])
    raw = b'{"labels": ["a", "b"], "matrix": [[3, 1], [0, 2]], "misclassified": [], "misclassified_total": 1}'

    def datas(i: object) -> list[ExperimentData]:
        return [ExperimentData(e.experiment_id, "r", e.label, "succeeded", {}, pd.DataFrame(), {},
                               ("confusion_matrix.json",), reader=lambda _n: raw)
                for e in info.experiments]

    page = ComparePage(info, experiment_data=datas)
    assert page.confusion is not None
    heat = [p.object for p in page.confusion.select(pn.pane.Bokeh) if p.object.name == "ht-cm-heatmap"]
    source = heat[1].renderers[0].data_source
    source.selected.indices = [1]  # a click on (true a, predicted b) in the second matrix
    assert page.model.view_state() == {"cell": ["a", "b"]}

    again = ComparePage(info, experiment_data=datas, view=page.model.view_state())
    assert again.model.cell == ["a", "b"] and again.model.problems == []
    shown = [p.object for p in again.confusion.select(pn.pane.Bokeh) if p.object.name == "ht-cm-heatmap"]
    assert all(fig.renderers[0].data_source.selected.indices == [1] for fig in shown)
    problems = CompareModel(info).apply_view_state({"cell": "<b>"})
    assert problems == ["view: cell='<b>' (use [true label, predicted label])"]
