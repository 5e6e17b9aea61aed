"""The new-run page's "Propose values" card (issue 12): a thin view over
:class:`~panel_app.new_run.proposals.ProposalsModel`.

The source, n, metric and hyperparameter menus; a Bokeh figure of the metric against the
hyperparameter (a log x axis for a log domain) with the finished experiments as points (hover: id
and value), each candidate family as a line with its translucent 95 % band (the legend names the
family and its cross-validated error; a click on a legend item, or the family buttons, picks one),
the proposed values as vertical markers; a freehand tool draws a trend line and a lasso circles
points, both sent to the server, which proposes again. Under it the proposals (value per
hyperparameter and the reason), the basis and the warnings; "Use these proposals" lists the rows
below (and "Back to the grid" the fields' grid again). *Save note* keeps a note on the run with the
card's choices and drawing (the run page links it back here); a click on one restores them. Every
shown string is escaped.
"""

from __future__ import annotations

import asyncio
import functools
import html
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import Any

import panel as pn
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    FreehandDrawTool,
    HoverTool,
    LassoSelectTool,
    PanTool,
    ResetTool,
    WheelZoomTool,
)
from bokeh.models.annotations import Legend, LegendItem
from bokeh.plotting import figure

from panel_app.new_run.proposals import QUERY_KEYS, Computed, FitInfo, ProposalsModel
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.flags import one_line
from workbench_plugin.memory import Note
from workbench_plugin.proposals import FAMILIES, SOURCES

__all__ = ["ProposalsCard"]

#: Seconds without a change before the proposals are computed again.
PROPOSE_DELAY = 0.3
_COLORS = {"linear": "#1f77b4", "log": "#2ca02c", "quadratic": "#d62728", "gp": "#9467bd"}
_BEST = "best ranked"
#: The last stroke of the freehand source, sent as a new value (only when it differs from the last sent).
_SEND_STROKE_JS = """
const xs = drawn.data.xs, ys = drawn.data.ys;
const x = xs.length ? Array.from(xs[xs.length - 1]) : [], y = ys.length ? Array.from(ys[ys.length - 1]) : [];
const old = sent.data.xs.length ? Array.from(sent.data.xs[0]) : [];
if (x.length !== old.length || x.some((v, i) => v !== old[i])) { sent.data = {xs: [x], ys: [y]}; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _num(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def proposals_html(model: ProposalsModel) -> str:
    """The proposals as a table (values of the hyperparameters that vary, and the reason), or the one
    line saying why there are none; the basis and warnings under it. Escaped."""
    r = model.result
    lines = [f'<div class="ht-proposal-problem" style="color:#b00020">{_e(p)}</div>' for p in model.problems]
    if r.proposal is None:
        return "".join(lines) + f'<div class="ht-proposal-error" style="color:#b00020">{_e(r.error)}</div>'
    p = r.proposal
    names = [n for n in (p.rows[0] if p.rows else {}) if not (n in r.domains and r.domains[n].kind == "fixed")]
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    body = "".join(
        f'<tr><td>{i + 1}</td>{"".join(f"<td>{_e(_num(row.get(n)))}</td>" for n in names)}'
        f"<td>{_e(why)}</td></tr>" for i, (row, why) in enumerate(zip(p.rows, p.reasons, strict=False)))
    lines.append(f'<table class="ht-proposals"><tr><th>#</th>{head}<th>reason</th></tr>{body}</table>')
    lines.append(f'<div class="ht-proposal-basis">basis: {_e(p.basis)}</div>')
    lines.extend(f'<div class="ht-proposal-warning" style="color:#8a5a00">{_e(w)}</div>' for w in p.warnings)
    return "".join(lines)


class ProposalsCard:
    """The card of one session's new-run page; ``on_use`` runs after the listing changed."""

    def __init__(self, model: ProposalsModel, *, on_use: Callable[[], None]) -> None:
        self.model = model
        self.on_use = on_use
        self._gen = 0
        self._task: asyncio.Task[None] | None = None
        self._updating = False
        self._fig_key: tuple[str, bool] | None = None
        self.source = pn.widgets.Select(label="Source", options=list(SOURCES), value=model.source, width=110,
                                        margin=(4, 10), css_classes=["ht-propose-source"])
        self.n = pn.widgets.TextInput(label="n", value=model.n_text, width=70, margin=(4, 10),
                                      css_classes=["ht-propose-n"])
        self.metric = pn.widgets.Select(label="Metric", options=[], width=160, margin=(4, 10),
                                        css_classes=["ht-propose-metric"])
        self.hparam = pn.widgets.Select(label="Hyperparameter", options=[], width=170, margin=(4, 10),
                                        css_classes=["ht-propose-hparam"])
        self.family = pn.widgets.RadioButtonGroup(options=[_BEST, *FAMILIES], value=model.family or _BEST,
                                                  margin=(22, 10), css_classes=["ht-propose-family"])
        self.clear = pn.widgets.Button(label="Clear drawing", width=120, margin=(4, 10))
        self.use = pn.widgets.Button(label="Use these proposals", color="primary", width=170, margin=(4, 10))
        self.back = pn.widgets.Button(label="Back to the grid", width=140, margin=(4, 10))
        self.note = pn.pane.HTML("", margin=(0, 10), css_classes=["ht-propose-note"], sizing_mode="stretch_width")
        self.table = pn.pane.HTML("", margin=(0, 10), css_classes=["ht-proposals-pane"], sizing_mode="stretch_width")
        self.plot = pn.pane.Bokeh(None, margin=(0, 10))
        self.note_input = pn.widgets.TextInput(placeholder="A note on these proposals (kept with the drawing)...",
                                               width=400, margin=(4, 10), css_classes=["ht-propose-note-input"])
        self.note_button = pn.widgets.Button(label="Save note", width=110, margin=(4, 5))
        self.note_button.on_click(self._on_save_note)
        self.notes = pn.Column(margin=(0, 10), css_classes=["ht-propose-notes"])
        self._build_sources()
        self.source.param.watch(lambda e: self._set(source=str(e.new)), "value")
        self.n.param.watch(lambda e: self._set(n_text=str(e.new or "")), "value_input")
        self.metric.param.watch(lambda e: self._set(metric=str(e.new or "")), "value")
        self.hparam.param.watch(lambda e: self._set(hparam=str(e.new or "")), "value")
        self.family.param.watch(self._on_family, "value")
        self.clear.on_click(self._on_clear)
        self.use.on_click(self._on_use)
        self.back.on_click(self._on_back)
        self.card = pn.Card(
            pn.Row(self.source, self.n, self.metric, self.hparam, self.family, margin=0),
            self.plot,
            pn.Row(self.clear, self.use, self.back, self.note, margin=0),
            self.table,
            pn.Row(self.note_input, self.note_button, margin=0),
            self.notes,
            title="Propose values", collapsed=False, sizing_mode="stretch_width", margin=(6, 10),
            css_classes=["ht-proposals-card"])
        self.show()
        self.show_notes()

    # ---- the figure ----------------------------------------------------------------------------
    def _build_sources(self) -> None:
        self.points = ColumnDataSource({"x": [], "y": [], "id": [], "weight": [], "alpha": []})
        self.curves = {f: ColumnDataSource({"x": [], "mean": [], "low": [], "high": []}) for f in FAMILIES}
        self.marks = ColumnDataSource({"x": []})
        self.drawn = ColumnDataSource({"xs": [], "ys": []})
        #: the finished stroke, copied by the browser (a draw tool changes its source in place, which is
        #: not sent to the server; a new value of another source's data is)
        self.sent = ColumnDataSource({"xs": [], "ys": []})
        self.points.selected.on_change("indices", self._on_lasso)
        self.sent.on_change("data", self._on_drawn)

    def _figure(self, info: FitInfo) -> Any:
        fig = figure(height=340, sizing_mode="stretch_width", x_axis_type="log" if info.log else "linear",
                     x_axis_label=info.hparam, y_axis_label=info.metric, toolbar_location="right",
                     tools=[PanTool(), WheelZoomTool(), ResetTool()], name="proposals-fit")
        fig.toolbar.logo = None
        self.legend_items: dict[str, LegendItem] = {}
        self.curve_renderers: dict[str, Any] = {}
        for f in FAMILIES:
            band = fig.varea(x="x", y1="low", y2="high", source=self.curves[f], fill_color=_COLORS[f], fill_alpha=0.12)
            line = fig.line(x="x", y="mean", source=self.curves[f], line_color=_COLORS[f], line_width=2)
            line.on_change("muted", functools.partial(self._on_legend, f))
            self.curve_renderers[f] = (line, band)
            self.legend_items[f] = LegendItem(label=f, renderers=[line, band])  # type: ignore[list-item]
        fig.add_layout(Legend(items=list(self.legend_items.values()), click_policy="mute",
                              location="top_left", label_text_font_size="9pt"), "right")
        fig.vspan(x="x", source=self.marks, line_color="#444444", line_dash="dashed", line_width=1.5)
        dots = fig.scatter("x", "y", source=self.points, size=8, fill_color="#333333", fill_alpha="alpha",
                           line_color="white", name="proposals-points")
        stroke = fig.multi_line(xs="xs", ys="ys", source=self.drawn, line_color="#ff7f0e", line_width=3)
        draw = FreehandDrawTool(renderers=[stroke], num_objects=1,  # type: ignore[list-item]
                                description="Draw a trend line")
        lasso = LassoSelectTool(renderers=[dots], description="Circle points")
        fig.add_tools(draw, lasso, HoverTool(renderers=[dots], tooltips=[("experiment", "@id"), ("value", "@y")]))
        fig.toolbar.active_drag = draw
        fig.js_on_event("panend", CustomJS(args={"sent": self.sent, "drawn": self.drawn}, code=_SEND_STROKE_JS))
        return fig

    def _draw(self) -> None:
        info = self.model.fit_info()
        key = (info.hparam, info.log)
        if key != self._fig_key:
            self._fig_key = key
            self.plot.object = self._figure(info)
        fig = self.plot.object
        if fig is not None:
            fig.xaxis.axis_label, fig.yaxis.axis_label = info.hparam, info.metric
        self._updating = True
        try:
            p = info.points
            self.points.data = {**p, "alpha": [0.9 if w > 0 else 0.25 for w in p["weight"]]}
            circled = set(self.model.circled.get(info.hparam, ()))
            self.points.selected.indices = [i for i, eid in enumerate(p["id"]) if eid in circled]
            shown = {c["family"]: c for c in info.curves}
            for f in FAMILIES:
                c = shown.get(f)
                ok = c is not None and c["ok"]
                self.curves[f].data = ({k: c[k] for k in ("x", "mean", "low", "high")} if ok and c is not None
                                       else {"x": [], "mean": [], "low": [], "high": []})
                if f in self.legend_items:
                    label = (f"{f} (cv {c['cv']:.3g})" + (" ✓" if c["picked"] else "")) if ok and c is not None \
                        else (c["message"] if c is not None and c["message"] else f"{f}: not fitted")[:60]
                    self.legend_items[f].label = {"value": label}
                    line, band = self.curve_renderers[f]
                    line.glyph.line_width = 4 if ok and c is not None and c["picked"] else 2
                    band.glyph.fill_alpha = 0.2 if ok and c is not None and c["picked"] else 0.08
            self.marks.data = {"x": info.proposed}
            line = self.model.lines.get(info.hparam)
            self.drawn.data = {"xs": [list(line.xs)], "ys": [list(line.ys)]} if line else {"xs": [], "ys": []}
        finally:
            self._updating = False
        more = f"drawing the most recent {len(p['id']):,} experiments; {info.hidden:,} more not drawn. " \
            if info.hidden else ""
        message = f"{info.message} " if info.message else ""
        self.note.object = _e(more + message)  # the basis is under the proposals

    # ---- events ----------------------------------------------------------------------------------
    def _set(self, **values: Any) -> None:
        if self._updating:
            return
        self.model.param.update(**values)
        self.schedule()

    def _on_family(self, event: Any) -> None:
        if not self._updating:
            self.model.pick_family(None if event.new == _BEST else str(event.new))
            self.schedule()

    def _on_legend(self, family: str, _attr: str, _old: Any, muted: Any) -> None:
        if self._updating or not muted:
            return
        line, band = self.curve_renderers[family]
        line.muted = band.muted = False  # a click picks; nothing is hidden
        self.family.value = family

    def _on_drawn(self, _attr: str, _old: Any, new: Any) -> None:
        if self._updating:
            return
        xs, ys = (new.get("xs") or [[]])[-1], (new.get("ys") or [[]])[-1]
        self.model.set_line(list(xs), list(ys))
        self.schedule()

    def _on_lasso(self, _attr: str, _old: Any, new: Any) -> None:
        if self._updating:
            return
        ids = self.points.data.get("id", [])
        self.model.set_circled([ids[i] for i in new if 0 <= i < len(ids)])
        self.schedule()

    def _on_clear(self, _event: Any) -> None:
        self.model.clear_drawing()
        self.schedule(0)

    def _on_save_note(self, _event: Any) -> None:
        try:
            self.model.save_note(str(self.note_input.value or ""), author=pn.state.user or None)
        except (HyperTunerError, OSError, ValueError) as exc:
            self.note.object = _e(one_line(str(exc)))
            return
        self.note_input.value = ""
        self.show_notes()

    def _on_note(self, note: Note, _event: Any = None) -> None:
        problems = self.model.open_note(note)
        self.schedule(0)
        if problems:
            self.note.object = _e("; ".join(problems))

    def show_notes(self) -> None:
        """The run's notes written on this card; a click restores the choices (and drawing) kept."""
        buttons = []
        for note in self.model.notes():
            when = datetime.fromtimestamp(note.time).strftime("%Y-%m-%d %H:%M")
            button = pn.widgets.Button(label=f"{note.text}  ({note.author}, {when})", color="light",
                                       margin=(2, 5), css_classes=["ht-propose-saved-note"])
            button.on_click(functools.partial(self._on_note, note))
            buttons.append(button)
        self.notes.objects = buttons

    def _on_use(self, _event: Any) -> None:
        if self.model.use():
            self.on_use()

    def _on_back(self, _event: Any) -> None:
        self.model.new_run.back_to_grid()
        self.on_use()

    # ---- computing -------------------------------------------------------------------------------
    def schedule(self, delay: float = PROPOSE_DELAY) -> None:
        """Propose again after ``delay`` s without another change, in a thread (the latest request wins);
        without a server session: now."""
        self._gen += 1
        self._update_url()
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self.model.refresh()
            self.show()
            return
        self._task = asyncio.get_event_loop().create_task(self._compute(self._gen, delay, doc))

    async def _compute(self, gen: int, delay: float, doc: Any) -> None:
        from panel.io.state import set_curdoc

        await asyncio.sleep(delay)
        if gen != self._gen or doc.session_context is None:
            return
        request = self.model.request()
        try:
            result = await asyncio.to_thread(self.model.compute, request)
        except Exception as exc:  # a fit's own failure (e.g. a warning turned error): one line, not a dead task
            result = Computed(None, f"proposals: {type(exc).__name__}: {one_line(exc, 300)}", gen=self.model.generation)
        if doc.session_context is None:
            return

        def take() -> None:
            with set_curdoc(doc):
                if gen == self._gen and self.model.take(result):
                    self.show()
                    self._update_url()

        doc.add_next_tick_callback(take)

    def _update_url(self) -> None:
        location = pn.state.location if pn.state.curdoc is not None else None
        if location is None:
            return
        query = [(k, v) for k, v in urllib.parse.parse_qsl(location.search.lstrip("?")) if k not in QUERY_KEYS]
        search = "?" + urllib.parse.urlencode([*query, *self.model.view_state().items()])
        if search != location.search:
            location.search = search

    def show(self) -> None:
        m, r = self.model, self.model.result
        self._updating = True
        try:
            self.source.value = m.source
            self.metric.options = list(r.metrics)
            if r.metric:
                self.metric.value = r.metric
            self.hparam.options = list(r.hparams)
            if r.hparam:
                self.hparam.value = r.hparam
            self.family.value = m.family or _BEST
        finally:
            self._updating = False
        self._draw()
        self.table.object = proposals_html(m)
        self.use.disabled = r.proposal is None
        self.back.disabled = m.new_run.proposed is None
