"""The run page's slider panel: a range slider per hyperparameter (with its lock) and per metric.

Releasing a slider selects what lies inside every narrowed slider; the handles follow a
selection made elsewhere. A lock stores the values between a hyperparameter's handles in the
project memory (an event in the store), for the next batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import panel as pn
import param
from bokeh.models import CustomJSTickFormatter

from panel_app.run_page.guard import Guard
from panel_app.run_page.model import RunPageModel
from panel_app.run_page.templates import HPARAMS_TITLE, METRICS_TITLE, css_token, lock_html, plain_title
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.memory import Lock, ProjectMemory

__all__ = ["SliderPanel"]

_LOG_FORMAT = "return Number(Math.pow(10, tick).toPrecision(3)).toString();"
_CATEGORY_FORMAT = "const i = Math.round(tick); return (i >= 0 && i < labels.length) ? labels[i] : '';"


class SliderPanel:
    """The sliders, lock toggles and lock labels of one page, in :attr:`panel` (a Column)."""

    def __init__(self, model: RunPageModel, memory: ProjectMemory, setting: Guard, *,
                 author: str | None, on_error: Callable[[str], None]) -> None:
        self.model = model
        self.memory = memory
        #: Held while the server sets widgets: the slider watchers must not echo it back.
        self.setting = setting
        self.author = author
        self.on_error = on_error
        self.sliders: dict[str, pn.widgets.RangeSlider] = {}
        self.locks: dict[str, pn.widgets.Toggle] = {}
        self.lock_labels: dict[str, pn.pane.HTML] = {}
        self.panel = pn.Column(width=270, margin=(0, 5))
        self.build()

    def build(self) -> None:
        """A range slider per hyperparameter (with its lock) and per metric."""
        locks = self.memory.locks()
        hparams: list[Any] = [pn.pane.HTML(HPARAMS_TITLE, margin=(6, 5, 0, 5))]
        metrics: list[Any] = [pn.pane.HTML(METRICS_TITLE, margin=(10, 5, 0, 5))]
        self.sliders, self.locks, self.lock_labels = {}, {}, {}
        ranges = self.model.selection_ranges()
        for name, info in self.model.sliders.items():
            fmt: Any = None
            if info.space == "log":
                fmt = CustomJSTickFormatter(code=_LOG_FORMAT)
            elif info.space == "categorical":
                fmt = CustomJSTickFormatter(args={"labels": list(info.labels)},
                                            code=_CATEGORY_FORMAT)
            lo, hi = ranges[name]
            token = css_token(name)
            # Bokeh shows the title and its values as text, but the handles' tooltips as HTML
            # (noUiSlider's innerHTML): no tooltips where the values are user-given labels
            slider = pn.widgets.RangeSlider(
                label=plain_title(name), start=info.start, end=info.end, step=info.step,
                value=(max(lo, info.start), min(hi, info.end)), width=250, margin=(0, 8),
                css_classes=["ht-slider", f"ht-slider-{token}"],
                tooltips=info.space != "categorical",
                **({"format": fmt} if fmt is not None else {}))
            slider.param.watch(functools.partial(self._on_slider, name), "value_throttled")
            self.sliders[name] = slider
            if info.role == "metric":
                metrics.append(slider)
                continue
            lock = locks.get(self.model.run_frames.flag_of(name))
            toggle = pn.widgets.Toggle(label="locked" if lock else "lock", value=lock is not None,
                                       width=70, margin=(0, 8), color="light",
                                       css_classes=["ht-lock-toggle", f"ht-lock-toggle-{token}"])
            label = pn.pane.HTML(lock_html(lock), margin=(4, 4),
                                 css_classes=[f"ht-lock-{token}"])
            toggle.param.watch(functools.partial(self._on_lock, name), "value")
            self.locks[name], self.lock_labels[name] = toggle, label
            hparams.extend([slider, pn.Row(toggle, label, margin=(0, 0, 6, 0))])
        self.panel.objects = hparams + metrics

    def shape(self) -> dict[str, tuple[Any, ...]]:
        """What the sliders are built from (a change of it calls for :meth:`build`)."""
        return {n: (i.role, i.space, i.labels) for n, i in self.model.sliders.items()}

    def update_bounds(self) -> None:
        """New data within the same sliders: their ends and steps follow."""
        for name, slider in self.sliders.items():
            info = self.model.sliders[name]
            if (slider.start, slider.end, slider.step) != (info.start, info.end, info.step):
                lo, hi = slider.value
                slider.param.update(start=info.start, end=info.end, step=info.step,
                                    value=(max(lo, info.start), min(hi, info.end))
                                    if self.model.selection else (info.start, info.end))

    def follow(self, ranges: Mapping[str, tuple[float, float]]) -> None:
        """Handles at the selection's span (call holding :attr:`setting`)."""
        for name, slider in self.sliders.items():
            info = self.model.sliders.get(name)
            if info is None or name not in ranges:
                continue
            lo, hi = ranges[name]
            value = (max(lo, info.start), min(hi, info.end))
            if tuple(slider.value) != value:
                slider.value = value

    def _on_slider(self, name: str, event: param.parameterized.Event) -> None:
        """A slider released by the user: select what lies inside every narrowed slider."""
        if self.setting:
            return
        ranges: dict[str, list[float]] = {}
        for n, slider in self.sliders.items():
            info = self.model.sliders.get(n)
            lo, hi = slider.value
            if info is None:
                continue
            if n == name or lo > info.start + info.step / 2 or hi < info.end - info.step / 2:
                ranges[n] = [float(lo), float(hi)]
        ids = self.model.ids_in_ranges(ranges)
        self.model.select_ids_from(ids, {"ranges": ranges})

    def _on_lock(self, name: str, event: param.parameterized.Event) -> None:
        if self.setting:
            return
        run_id = self.model.run_frames.run_id
        flag = self.model.run_frames.flag_of(name)  # a flag named "state" has its own column
        toggle = self.locks[name]
        lock: Lock | None = None
        try:
            if event.new:
                info = self.model.sliders[name]
                lo, hi = self.sliders[name].value
                if info.space == "categorical":
                    picked = [lab for i, lab in enumerate(info.labels) if lo - 1e-9 <= i <= hi + 1e-9]
                    lock = self.memory.lock(flag, run_id=run_id, values=picked, author=self.author)
                else:
                    low, high = self.model.value_span(name, lo, hi)
                    lock = self.memory.lock(flag, run_id=run_id, low=low, high=high,
                                            author=self.author)
            else:
                self.memory.unlock(flag, run_id=run_id, author=self.author)
        # a bad value (ConfigError) or a store that failed: say so, show the lock as stored
        except (HyperTunerError, OSError, ValueError) as exc:
            self.on_error(f"lock {name}: {exc}")
            lock = self.memory.locks().get(flag)
        toggle.label = "locked" if lock else "lock"
        self.lock_labels[name].object = lock_html(lock)
