"""The confusion-matrix view (FIG 23B): a heat map of counts and each cell's misclassified examples.

True labels run down the y axis and predicted ones along the x axis, in the order the script
logged them; "normalise rows" colours and labels each cell by its share of the row. Hovering a
cell shows its examples beside the matrix at once: every cell's HTML is shipped with the figure
(:mod:`.confusion_cells`) and a ``HoverTool`` callback swaps it into a ``Div`` in the browser, no
server round trip. A click selects the cell (kept in the view state as ``cell = [true, pred]``,
so a link or a note restores it); leaving the matrix shows the selected cell again.

The comparison page reuses the pieces: :func:`confusion_figure` builds one matrix (figure, data
source, highlight rectangle, examples ``Div``), and :func:`link_confusion_figures` ties several
together, so hovering or clicking a cell in one highlights the same (true, predicted) cell in
all of them and shows each one's examples in its own ``Div``::

    figs = [confusion_figure(info, title=label) for info, label in matrices]
    link_confusion_figures(figs)
    pn.Row(*[pn.Column(f.figure, f.examples) for f in figs])

:func:`side_by_side` does that for the experiments of a comparison, each examples panel under
its own matrix; an experiment whose ``confusion_matrix.json`` is missing or damaged gets one
line in its column.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import panel as pn
from bokeh.models import ColumnDataSource, CustomJS, FactorRange, HoverTool, LinearColorMapper, TapTool
from bokeh.models.widgets import Div
from bokeh.palettes import Blues256
from bokeh.plotting import figure

from panel_app.experiment_page.plugins import ExperimentData, ViewState
from panel_app.experiment_page.views._common import error_line, read_artifact
from panel_app.experiment_page.views.confusion_cells import EMPTY_CELL, EXAMPLES_CLASS, cell_columns, shown_values
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.experiment_info import ConfusionInfo, confusion_info
from workbench_plugin.tracking import CONFUSION_MATRIX_FILE

__all__ = [
    "HEATMAP_NAME",
    "HIGHLIGHT_NAME",
    "ConfusionFigure",
    "ConfusionMatrixView",
    "confusion_figure",
    "link_confusion_figures",
    "on_cell",
    "select_cell",
    "set_normalise",
    "side_by_side",
]

#: Bokeh ``name`` of the heat map's figure and of the highlight glyph (browser tests find them).
HEATMAP_NAME = "ht-cm-heatmap"
HIGHLIGHT_NAME = "ht-cm-highlight"
_PROMPT = '<div class="ht-cm-head">Hover over or click a cell to see its examples.</div>'
#: Shows one cell in every linked matrix. Args: ``me`` (the source hovered or clicked), ``srcs``,
#: ``hls``, ``divs`` (one per linked matrix), ``hover`` (true: from the HoverTool's cb_data; false:
#: from ``me``'s selection), ``empty`` (EMPTY_CELL). A matrix without that (true, pred) pair shows
#: no highlight and says so.
_SHOW_CELL_JS = """
let i;
if (hover) {
  const hit = cb_data && cb_data.index ? cb_data.index.indices : [];
  if (!hit.length) return;
  i = hit[0];
} else {
  const sel = me.selected.indices;
  if (!sel.length) return;
  i = sel[0];
}
const t = me.data.true[i], p = me.data.pred[i], key = t + "\\u0000" + p;
if (hover && me._ht_last === key) return;
me._ht_last = hover ? key : null;
for (let g = 0; g < srcs.length; g++) {
  const s = srcs[g];
  if (!s._ht_index) {
    s._ht_index = new Map();
    for (let j = 0; j < s.data.true.length; j++) s._ht_index.set(s.data.true[j] + "\\u0000" + s.data.pred[j], j);
  }
  const j = s._ht_index.get(key);
  if (j === undefined) {
    hls[g].data = {x: [], y: []};
    divs[g].text = '<div class="ht-cm-head">no cell for true ' + me.data.true_html[i] + ' &rarr; predicted ' +
      me.data.pred_html[i] + ' in this matrix</div>';
  } else {
    hls[g].data = {x: [p], y: [t]};
    divs[g].text = s.data.html[j] ||
      empty.replace("{true}", s.data.true_html[j]).replace("{pred}", s.data.pred_html[j]);
  }
}
"""


class ConfusionFigure(NamedTuple):
    """One drawn matrix: the Bokeh figure, its cells' source, the highlight's source, the examples Div."""

    info: ConfusionInfo
    figure: Any
    source: ColumnDataSource
    highlight: ColumnDataSource
    examples: Div
    mapper: LinearColorMapper


def confusion_figure(info: ConfusionInfo, *, title: str = "", normalise: bool = False,
                     examples: Div | None = None, cell_px: int | None = None) -> ConfusionFigure:
    """A heat map of ``info`` with its own examples Div (or ``examples``); link it with
    :func:`link_confusion_figures` (alone, or with the matrices it is compared with)."""
    n = len(info.labels)
    px = cell_px or max(8, min(44, 440 // n))
    columns = cell_columns(info, normalise=normalise)
    source = ColumnDataSource(columns)
    mapper = LinearColorMapper(palette=list(reversed(Blues256))[30:], low=0, high=max([*columns["value"], 1e-9]))
    fig = figure(
        title=title or None, name=HEATMAP_NAME, x_range=FactorRange(factors=list(info.labels)),
        y_range=FactorRange(factors=list(reversed(info.labels))), width=px * n + 90,
        height=px * n + 80 + (24 if title else 0), tools="reset", toolbar_location=None,
        x_axis_label="predicted", y_axis_label="true",
    )
    style: dict[str, Any] = {"selection_line_color": "black", "selection_line_width": 3,
                             "nonselection_fill_alpha": 1.0, "nonselection_line_alpha": 1.0}
    cells = fig.rect("pred", "true", 1, 1, source=source, fill_color={"field": "value", "transform": mapper},
                     line_color="white", **style)
    if n <= 30:
        fig.text("pred", "true", text="text", source=source, text_align="center", text_baseline="middle",
                 text_color="text_color", text_font_size=f"{max(7, min(12, px // 3))}pt",
                 nonselection_text_alpha=1.0)  # a clicked cell does not fade the other counts
    highlight = ColumnDataSource({"x": [], "y": []}, syncable=False)
    fig.rect("x", "y", 1, 1, source=highlight, fill_alpha=0, line_color="#ff7f0e", line_width=3,
             name=HIGHLIGHT_NAME)
    fig.add_tools(
        HoverTool(renderers=[cells], tooltips=[("true", "@true"), ("predicted", "@pred"), ("count", "@count"),
                                               ("share of row", "@norm{0.0%}")]),
        TapTool(renderers=[cells]),
    )
    fig.grid.visible = False
    fig.axis.major_tick_line_color = None
    fig.xaxis.major_label_orientation = 0.8 if max(len(label) for label in info.labels) > 3 else 0
    if px < 12:  # small cells: small labels, the predicted ones upright, so they never overlap
        fig.axis.major_label_text_font_size = f"{px - 1}px"
        fig.xaxis.major_label_orientation = math.pi / 2
    div = examples if examples is not None else Div(
        text=_PROMPT, css_classes=[EXAMPLES_CLASS], width=340,
        styles={"max-height": f"{max(px * n + 80, 240)}px", "overflow-y": "auto"})
    div.syncable = False  # written by hovering, many times a second: nothing the server needs back
    return ConfusionFigure(info, fig, source, highlight, div, mapper)


def link_confusion_figures(figures: Sequence[ConfusionFigure]) -> None:
    """Hovering or clicking a cell in any of ``figures`` highlights the same (true, predicted) cell
    in all of them and shows each one's examples for it; leaving a matrix shows its clicked cell."""
    args = {"srcs": [f.source for f in figures], "hls": [f.highlight for f in figures],
            "divs": [f.examples for f in figures], "empty": EMPTY_CELL}
    for f in figures:
        hover = f.figure.select_one(HoverTool)
        hover.callback = CustomJS(args={**args, "me": f.source, "hover": True}, code=_SHOW_CELL_JS)
        by_selection = CustomJS(args={**args, "me": f.source, "hover": False}, code=_SHOW_CELL_JS)
        f.source.selected.js_on_change("indices", by_selection)
        f.figure.js_on_event("mouseleave", by_selection)


def select_cell(fig: ConfusionFigure, true: str, pred: str) -> bool:
    """Select (and show) cell (``true``, ``pred``) from Python; False when the matrix has no such cell."""
    labels = fig.info.labels
    if true not in labels or pred not in labels:
        return False
    i = labels.index(true) * len(labels) + labels.index(pred)
    fig.source.selected.indices = [i]
    fig.highlight.data = {"x": [pred], "y": [true]}
    data = fig.source.data
    fig.examples.text = data["html"][i] or EMPTY_CELL.format(true=data["true_html"][i], pred=data["pred_html"][i])
    return True


def set_normalise(fig: ConfusionFigure, normalise: bool) -> None:
    """Colour and label the cells by count, or by their share of the row."""
    shown = shown_values(fig.info, normalise)
    fig.source.data.update(shown)
    fig.mapper.high = max([*shown["value"], 1e-9])


def on_cell(fig: ConfusionFigure, callback: Callable[[str, str], None]) -> None:
    """Call ``callback(true, pred)`` on the server when a cell is clicked."""
    def changed(attr: str, old: list[int], new: list[int]) -> None:
        if new:
            data = fig.source.data
            callback(data["true"][new[0]], data["pred"][new[0]])

    fig.source.selected.on_change("indices", changed)


def side_by_side(datas: Sequence[ExperimentData], *, column_px: int = 400,
                 colours: Mapping[str, str] | None = None, cell: Sequence[str] = (),
                 on_click: Callable[[str, str], None] | None = None) -> pn.FlexBox:
    """The confusion matrices of ``datas`` side by side (about ``column_px`` wide each), linked: hovering
    or clicking a cell highlights it in all of them and shows, under each, that experiment's own
    examples. An experiment without a readable matrix gets one line in its column. ``colours``
    (by experiment id) colour the matrices' titles; ``cell`` ([true, predicted]) is shown selected
    in every matrix that has it; ``on_click(true, pred)`` is called when a cell is clicked."""
    columns: list[Any] = []
    figures: list[ConfusionFigure] = []
    for data in datas:
        try:
            info = confusion_info(read_artifact(data, CONFUSION_MATRIX_FILE))
        except (HyperTunerError, ValueError) as exc:  # ValueError: larger than a view reads
            columns.append(pn.Column(error_line(f"{data.label} ({data.experiment_id}): {exc}"),
                                     width=column_px, margin=(0, 5)))
            continue
        n = len(info.labels)
        px = max(8, min(30, (column_px - 90) // n))
        title = f"{data.label}: {info.total} misclassified of {int(info.counts.sum())}"
        examples = Div(text=_PROMPT, css_classes=[EXAMPLES_CLASS], width=px * n + 90,
                       styles={"max-height": "320px", "overflow-y": "auto"})
        fig = confusion_figure(info, title=title, examples=examples, cell_px=px)
        if colours and data.experiment_id in colours:
            fig.figure.title.text_color = colours[data.experiment_id]
        figures.append(fig)
        columns.append(pn.Column(pn.pane.Bokeh(fig.figure), pn.pane.Bokeh(fig.examples, css_classes=[
            "ht-cm-examples-pane"]), width=column_px, margin=(0, 5)))
    if figures:
        link_confusion_figures(figures)
    if len(cell) == 2:
        for fig in figures:
            select_cell(fig, str(cell[0]), str(cell[1]))
    if on_click is not None:
        for fig in figures:
            on_cell(fig, on_click)
    return pn.FlexBox(*columns, flex_wrap="wrap", css_classes=["ht-cm-side-by-side"])


class ConfusionMatrixView:
    """The experiment page's confusion matrix, from ``confusion_matrix.json``."""

    name = "confusion"
    title = "Confusion matrix"
    needs_artifacts = (CONFUSION_MATRIX_FILE,)
    needs_metrics: tuple[str, ...] = ()

    def render(self, data: ExperimentData, state: ViewState) -> Any:
        try:
            info = confusion_info(read_artifact(data, CONFUSION_MATRIX_FILE))
        except HyperTunerError as exc:
            return error_line(exc)
        normalise = state.get("normalise") is True
        fig = confusion_figure(info, normalise=normalise)
        link_confusion_figures([fig])
        cell = state.get("cell")
        if isinstance(cell, list) and len(cell) == 2 and all(isinstance(c, str) for c in cell):
            select_cell(fig, cell[0], cell[1])

        def picked(true: str, pred: str) -> None:
            state["cell"] = [true, pred]

        on_cell(fig, picked)
        toggle = pn.widgets.Checkbox(label="normalise rows", value=normalise)

        def normalised(event: Any) -> None:
            set_normalise(fig, bool(event.new))
            state["normalise"] = bool(event.new)

        toggle.param.watch(normalised, "value")
        summary = (f"{info.total} misclassified of {int(info.counts.sum())} samples"
                   + (f"; the file kept {info.shown} examples" if info.shown < info.total else ""))
        said = pn.pane.HTML(f'<span class="ht-cm-summary" style="color:#555">{html.escape(summary)}</span>')
        return pn.Column(
            pn.Row(toggle, said),
            pn.Row(pn.pane.Bokeh(fig.figure), pn.pane.Bokeh(fig.examples, css_classes=["ht-cm-examples-pane"])),
        )
