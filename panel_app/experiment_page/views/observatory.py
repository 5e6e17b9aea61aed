"""The epoch observatory: an experiment's curves replayed epoch by epoch (patent FIG 23A, claim 4).

One figure per metric family (:func:`~workbench_plugin.experiment_info.metric_family`: loss and
accuracy never share a y axis), stacked on one x range; a metric picker; a
:class:`panel.widgets.Player` (first, previous, reverse, pause, play, next, last, slower,
faster) that animates the curves extending epoch by epoch, with the current epoch's values in a
line ("epoch 7 of 30: val_loss 0.213, val_acc 0.94", class ``ht-epoch-now``).

The animation is cheap: every curve's points go to the browser once (``obs-full:<metric>``
sources) and a ``CustomJS`` on the player's value (:data:`PLAY_JS`) copies the points up to the
position into the drawn sources (``obs-shown:<metric>``); :func:`shown_counts` and
:func:`epoch_text` are its Python twins (first render, live updates, tests). The position also
goes to the view state (``play``), so a link or a note restores it. While the experiment runs,
:meth:`ObservatoryPanel.update` takes the grown curves; a player at the end stays at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import panel as pn
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, Range1d
from bokeh.models.annotations import Span
from bokeh.models.widgets import Div
from bokeh.plotting import figure

from panel_app.experiment_page.plugins import ExperimentData, ViewState
from panel_app.palette import PALETTE
from workbench_plugin.experiment_info import FAMILIES, metric_family

__all__ = ["PLAY_JS", "EpochObservatory", "ObservatoryInfo", "ObservatoryPanel", "Series", "epoch_text",
           "format_value", "observatory_info", "shown_counts"]

#: The largest player value Panel's player draws right at first (see ObservatoryPanel).
_FIRST_DRAWN_MAX = 100


class Series(NamedTuple):
    """One metric's points, sorted by x (epoch, or step when only steps were logged)."""

    metric: str
    family: str
    x: np.ndarray
    y: np.ndarray


class ObservatoryInfo(NamedTuple):
    """What the observatory draws: the x positions the player steps through and every series."""

    x_label: str  #: "epoch" or "step"
    positions: np.ndarray  #: the distinct x values, ascending (the player's position p is positions[p - 1])
    series: tuple[Series, ...]
    families: tuple[str, ...]  #: the families drawn, in :data:`FAMILIES` order

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(s.metric for s in self.series)


def observatory_info(curves: pd.DataFrame) -> ObservatoryInfo:
    """The series of an experiment's curves (columns ``epoch``, ``step``, ``name``, ``value``)."""
    if curves.empty:
        return ObservatoryInfo("epoch", np.empty(0), (), ())
    epoch = curves["epoch"].to_numpy(dtype=np.float64)
    step = curves["step"].to_numpy(dtype=np.float64)
    x_label = "epoch" if np.isfinite(epoch).any() else "step"
    x = np.where(np.isfinite(epoch), epoch, step) if x_label == "epoch" else step
    names = curves["name"].astype(str).to_numpy()
    values = curves["value"].to_numpy(dtype=np.float64)
    series = []
    for name in dict.fromkeys(names):
        pick = (names == name) & np.isfinite(x)
        order = np.argsort(x[pick], kind="stable")
        series.append(Series(name, metric_family(name), x[pick][order], values[pick][order]))
    xs = np.concatenate([s.x for s in series]) if series else np.empty(0)
    drawn = {s.family for s in series}
    return ObservatoryInfo(x_label, np.unique(xs), tuple(series), tuple(f for f in FAMILIES if f in drawn))


def shown_counts(info: ObservatoryInfo, position: int) -> dict[str, int]:
    """Per metric, how many of its points are drawn at player ``position`` (1-based; the JS twin
    is :data:`PLAY_JS`): those at x up to ``positions[position - 1]``."""
    if not len(info.positions):
        return {s.metric: 0 for s in info.series}
    upto = info.positions[min(max(position, 1), len(info.positions)) - 1]
    return {s.metric: int(np.searchsorted(s.x, upto, side="right")) for s in info.series}


def format_value(value: float) -> str:
    """Three significant digits, as the browser writes ``Number(v.toPrecision(3))``."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    rounded = float(f"{value:.3g}")
    return str(int(rounded)) if rounded.is_integer() and abs(rounded) < 1e21 else repr(rounded)


def epoch_text(info: ObservatoryInfo, position: int, metrics: Sequence[str]) -> str:
    """The line under the player: "epoch 7 of 30: val_loss 0.213, val_acc 0.94" (the latest
    value of each picked metric at the position)."""
    if not len(info.positions):
        return f"no {info.x_label}s logged yet"
    p = min(max(position, 1), len(info.positions))
    counts = shown_counts(info, p)
    parts = [f"{s.metric} {format_value(float(s.y[counts[s.metric] - 1]))}"
             for s in info.series if s.metric in metrics and counts[s.metric]]
    return (f"{info.x_label} {format_value(float(info.positions[p - 1]))} of "
            f"{format_value(float(info.positions[-1]))}" + (": " + ", ".join(parts) if parts else ""))


#: The player's ``value`` callback: draw each curve up to the position, move the "now" lines,
#: write the epoch line (the twin of :func:`shown_counts` and :func:`epoch_text`).
PLAY_JS = """
const xs = positions.data.x;
const n = xs.length;
if (n === 0) { return; }
const p = Math.min(Math.max(cb_obj.value, 1), n);
const upto = xs[p - 1];
const fmt = (v) => Number.isFinite(v) ? String(Number(v.toPrecision(3))) : String(v);
const parts = [];
for (let k = 0; k < fulls.length; k++) {
  const fx = fulls[k].data.x, fy = fulls[k].data.y;
  let lo = 0, hi = fx.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (fx[mid] <= upto) { lo = mid + 1; } else { hi = mid; } }
  shown[k].data = {x: Array.from(fx.slice(0, lo)), y: Array.from(fy.slice(0, lo))};
  if (lo > 0 && lines[k].visible) { parts.push(names[k] + " " + fmt(fy[lo - 1])); }
}
for (const span of spans) { span.location = upto; }
now.text = label + " " + fmt(upto) + " of " + fmt(xs[n - 1]) + (parts.length ? ": " + parts.join(", ") : "");
"""


def _range(values: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo or abs(hi) or 1.0
    return lo - pad * span, hi + pad * span


class ObservatoryPanel(pn.viewable.Viewer):
    """The drawn observatory of one experiment; :meth:`update` takes grown curves."""

    def __init__(self, data: ExperimentData, state: ViewState, *, width: int = 760,
                 family_height: int = 210) -> None:
        super().__init__()
        self.state = state
        self.info = observatory_info(data.curves)
        info = self.info
        n = len(info.positions)
        picked = [m for m in state.get("metrics", []) or [] if m in info.metrics] or list(info.metrics)
        play = state.get("play")
        position = n if not isinstance(play, int) or play < 1 else min(play, n)
        self.positions = ColumnDataSource({"x": info.positions}, name="obs-positions")
        x_lo, x_hi = _range(info.positions, 0.02)
        self.x_range = Range1d(start=x_lo, end=x_hi)
        self.now = Div(text=epoch_text(info, position, picked), render_as_text=True,
                       css_classes=["ht-epoch-now"], name="obs-now", styles={"font-size": "14px"})
        self.figures: dict[str, Any] = {}
        self.fulls: dict[str, ColumnDataSource] = {}
        self.shown: dict[str, ColumnDataSource] = {}
        self.lines: dict[str, Any] = {}
        self.glyphs: dict[str, list[Any]] = {}
        self.spans: list[Span] = []
        counts = shown_counts(info, position)
        for family in info.families:
            members = [s for s in info.series if s.family == family]
            y_lo, y_hi = _range(np.concatenate([s.y for s in members]))
            fig = figure(width=width, height=family_height, x_range=self.x_range,
                         y_range=Range1d(start=y_lo, end=y_hi),
                         name=f"observatory:{family}", title=f"{family}", tools="pan,wheel_zoom,reset,save",
                         toolbar_location="right", x_axis_label=info.x_label)
            span = Span(location=float(info.positions[position - 1]) if n else 0.0, dimension="height",
                        line_color="#999", line_dash="dashed", name="obs-now-line")
            fig.add_layout(span)
            self.spans.append(span)
            for s in members:
                k = info.metrics.index(s.metric)
                color = PALETTE[k % len(PALETTE)]
                self.fulls[s.metric] = ColumnDataSource({"x": s.x, "y": s.y}, name=f"obs-full:{s.metric}")
                c = counts[s.metric]
                self.shown[s.metric] = ColumnDataSource({"x": s.x[:c], "y": s.y[:c]}, name=f"obs-shown:{s.metric}")
                line = fig.line("x", "y", source=self.shown[s.metric], color=color, line_width=2,
                                legend_label=s.metric, visible=s.metric in picked)
                dots = fig.scatter("x", "y", source=self.shown[s.metric], color=color, size=4,
                                   visible=s.metric in picked)
                self.lines[s.metric] = line
                self.glyphs[s.metric] = [line, dots]
            fig.legend.location = "top_right" if family == "loss" else "bottom_right"
            fig.legend.click_policy = "none"
            self.figures[family] = fig
        self.picker = pn.widgets.MultiChoice(label="Metrics", options=list(info.metrics), value=picked,
                                             width=width, css_classes=["ht-metric-picker"])
        # Panel's player sets its slider's value before its max when first drawn, so the browser
        # clamps a value over 100 (the range input's default max): start at most there, then move.
        # Its own value label does not follow a value set from here: the epoch line says it.
        initial = max(position, 1)
        self.player = pn.widgets.Player(label="Epoch", start=1, end=max(n, 1), value=min(initial, _FIRST_DRAWN_MAX),
                                        interval=400, loop_policy="once", show_value=False,
                                        css_classes=["ht-player"], width=width)
        self.player.jscallback(value=PLAY_JS, args={
            "positions": self.positions, "fulls": [self.fulls[m] for m in info.metrics],
            "shown": [self.shown[m] for m in info.metrics], "lines": [self.lines[m] for m in info.metrics],
            "names": list(info.metrics), "spans": self.spans, "now": self.now, "label": info.x_label,
        })
        self.player.param.watch(self._on_play, "value")
        if initial > _FIRST_DRAWN_MAX:
            pn.state.onload(lambda: setattr(self.player, "value", initial))
        self.picker.param.watch(self._on_pick, "value")
        self._set_visible(picked)
        self._layout = pn.Column(self.picker, self.player,
                                 pn.pane.Bokeh(column(self.now, *self.figures.values()), margin=(0, 5)),
                                 margin=0)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _on_play(self, event: Any) -> None:
        self.state["play"] = int(event.new)

    def _on_pick(self, event: Any) -> None:
        picked = [m for m in event.new if m in self.lines]
        self._set_visible(picked)
        self.state["metrics"] = picked
        self.now.text = epoch_text(self.info, self.player.value, picked)

    def _set_visible(self, picked: Sequence[str]) -> None:
        for metric, renderers in self.glyphs.items():
            for renderer in renderers:
                renderer.visible = metric in picked
        for family, fig in self.figures.items():
            fig.visible = any(metric_family(m) == family for m in picked)

    def update(self, data: ExperimentData) -> bool:
        """Take the experiment's current curves (more epochs while it runs); False when a metric
        or family appeared, which needs a new panel (the page renders the view again)."""
        info = observatory_info(data.curves)
        if info.metrics != self.info.metrics or info.families != self.info.families:
            return False
        at_end = self.player.value >= self.player.end
        self.info = info
        n = len(info.positions)
        position = n if at_end else min(self.player.value, n)
        counts = shown_counts(info, position)
        for s in info.series:
            self.fulls[s.metric].data = {"x": s.x, "y": s.y}
            c = counts[s.metric]
            self.shown[s.metric].data = {"x": s.x[:c], "y": s.y[:c]}
        for family, fig in self.figures.items():
            lo, hi = _range(np.concatenate([s.y for s in info.series if s.family == family]))
            fig.y_range.start, fig.y_range.end = lo, hi
        self.x_range.start, self.x_range.end = _range(info.positions, 0.02)
        self.positions.data = {"x": info.positions}
        for span in self.spans:
            span.location = float(info.positions[position - 1]) if n else 0.0
        self.player.end = max(n, 1)
        if at_end:
            self.player.value = max(n, 1)
        self.now.text = epoch_text(info, position, self.picker.value)
        return True


class EpochObservatory:
    """The built-in view of an experiment's per-epoch (or per-step) curves."""

    name = "observatory"
    title = "Epoch observatory"
    needs_artifacts: tuple[str, ...] = ()
    needs_metrics: tuple[str, ...] = ("*",)

    def render(self, data: ExperimentData, state: ViewState) -> ObservatoryPanel:
        return ObservatoryPanel(data, state)
