"""The run page's slider panel: a range slider per hyperparameter (with its lock) and per metric,
a category picker (toggle buttons) per hyperparameter whose values are not numbers, and the
health filter (shown above the table).

Releasing a slider, toggling a category or choosing a health selects what lies inside every
narrowed slider, has a picked category of every narrowed picker and passes the health filter;
the handles, pickers and filter follow a selection made elsewhere. A lock stores the values
between a hyperparameter's handles in the project memory (an event in the store), for the next
batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import panel as pn
import param
from bokeh.models import CustomJSTickFormatter

from panel_app.linked.axes import NUMBER_JS
from panel_app.run_page.guard import Guard
from panel_app.run_page.health import HEALTH_FILTERS
from panel_app.run_page.model import RunPageModel
from panel_app.run_page.templates import (
    HPARAMS_TITLE,
    METRICS_TITLE,
    css_token,
    lock_html,
    picker_title_html,
    plain_title,
)
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.memory import Lock, ProjectMemory

__all__ = ["PICKER_BUTTONS_MAX", "PICKER_BUTTON_CHARS", "SliderPanel"]

#: Up to this many categories, of at most this many characters together, a picker is a row of
#: toggle buttons; more are a scrolling list of check boxes.
PICKER_BUTTONS_MAX = 5
PICKER_BUTTON_CHARS = 30

#: Significant digits, never "0" for 0.001 (:func:`~panel_app.linked.axes.number_label`).
_NUMBER_FORMAT = NUMBER_JS + "return fmt(tick);"
_LOG_FORMAT = NUMBER_JS + "return fmt(Math.pow(10, tick));"
#: A category's label; past the last one (a slider over one category ends at 1), the last.
_CATEGORY_FORMAT = ("const i = Math.min(Math.max(Math.round(tick), 0), labels.length - 1); "
                    "return i >= 0 ? labels[i] : '';")


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
        #: The category pickers of hyperparameters whose values are not numbers, by name.
        self.pickers: dict[str, pn.widgets.CheckButtonGroup | pn.widgets.CheckBoxGroup] = {}
        self.locks: dict[str, pn.widgets.Toggle] = {}
        self.lock_labels: dict[str, pn.pane.HTML] = {}
        #: Overfitting / noisy / diverged / healthy experiments only (the table's badges); the
        #: page shows it above the table.
        self.health = pn.widgets.Select(label="Health", options=list(HEALTH_FILTERS), value="any",
                                        width=160, margin=(0, 10), css_classes=["ht-health-filter"])
        self.health.param.watch(functools.partial(self._on_slider, None), "value")
        self.panel = pn.Column(width=270, margin=(0, 5))
        self.build()

    def build(self) -> None:
        """A range slider per hyperparameter (with its lock) and per metric."""
        locks = self.memory.locks()
        hparams: list[Any] = [pn.pane.HTML(HPARAMS_TITLE, margin=(6, 5, 0, 5))]
        metrics: list[Any] = [pn.pane.HTML(METRICS_TITLE, margin=(10, 5, 0, 5))]
        self.sliders, self.pickers, self.locks, self.lock_labels = {}, {}, {}, {}
        ranges = self.model.selection_ranges()
        categories = self.model.selection_categories()
        for name, info in self.model.sliders.items():
            token = css_token(name)
            if info.picker:
                widget: Any = self._picker(name, info.labels, categories[name], token)
                title = pn.pane.HTML(picker_title_html(name), margin=(4, 10, 0, 10))
                hparams.extend([title, widget, self._lock_row(name, locks, token)])
                continue
            fmt: Any = CustomJSTickFormatter(code=_NUMBER_FORMAT)
            if info.space == "log":
                fmt = CustomJSTickFormatter(code=_LOG_FORMAT)
            elif info.space == "categorical":
                fmt = CustomJSTickFormatter(args={"labels": list(info.labels)},
                                            code=_CATEGORY_FORMAT)
            lo, hi = ranges[name]
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
            hparams.extend([slider, self._lock_row(name, locks, token)])
        self.panel.objects = hparams + metrics

    def _picker(self, name: str, labels: tuple[str, ...], picked: list[str],
                token: str) -> pn.viewable.Viewable:
        """Toggle buttons for a few short categories, else a scrolling list of check boxes
        (Bokeh shows both kinds of labels as text)."""
        classes = ["ht-picker", f"ht-picker-{token}"]
        if len(labels) <= PICKER_BUTTONS_MAX and sum(map(len, labels)) <= PICKER_BUTTON_CHARS:
            picker: Any = pn.widgets.CheckButtonGroup(
                label=plain_title(name), options=list(labels), value=list(picked), width=250,
                margin=(0, 8, 4, 8), color="primary", variant="outline", css_classes=classes)
            box: pn.viewable.Viewable = picker
        else:
            picker = pn.widgets.CheckBoxGroup(
                label=plain_title(name), options=list(labels), value=list(picked), inline=False,
                width=230, margin=(0, 8, 4, 8), css_classes=classes)
            box = pn.Column(picker, height=min(150, 22 * len(labels) + 8), scroll=True, width=250,
                            margin=0)
        picker.param.watch(functools.partial(self._on_slider, name), "value")
        self.pickers[name] = picker
        return box

    def _lock_row(self, name: str, locks: Mapping[str, Lock], token: str) -> pn.Row:
        lock = locks.get(self.model.run_frames.flag_of(name))
        toggle = pn.widgets.Toggle(label="locked" if lock else "lock", value=lock is not None,
                                   width=70, margin=(0, 8), color="light",
                                   css_classes=["ht-lock-toggle", f"ht-lock-toggle-{token}"])
        label = pn.pane.HTML(lock_html(lock), margin=(4, 4), css_classes=[f"ht-lock-{token}"])
        toggle.param.watch(functools.partial(self._on_lock, name), "value")
        self.locks[name], self.lock_labels[name] = toggle, label
        return pn.Row(toggle, label, margin=(0, 0, 6, 0))

    def shape(self) -> dict[str, tuple[Any, ...]]:
        """What the sliders are built from (a change of it calls for :meth:`build`)."""
        return {n: (i.role, i.space, i.labels, i.picker) for n, i in self.model.sliders.items()}

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
        """Handles at the selection's span, pickers at its categories, the health filter as the
        selection was made (call holding :attr:`setting`)."""
        health = str(self.model.origin.get("health") or "any")
        if self.health.value != health and health in HEALTH_FILTERS:
            self.health.value = health
        categories = self.model.selection_categories()
        for name, picker in self.pickers.items():
            picked = categories.get(name)
            if picked is not None and list(picker.value) != picked:
                picker.value = picked
        for name, slider in self.sliders.items():
            info = self.model.sliders.get(name)
            if info is None or name not in ranges:
                continue
            lo, hi = ranges[name]
            value = (max(lo, info.start), min(hi, info.end))
            if tuple(slider.value) != value:
                slider.value = value

    def _on_slider(self, name: str | None, event: param.parameterized.Event) -> None:
        """A slider released, a category toggled or a health chosen (``name`` None) by the
        user: select what lies inside every narrowed slider, has a picked category of every
        narrowed picker and passes the health filter."""
        if self.setting:
            return
        health = str(self.health.value)
        if name is None:  # the health filter: with what the sliders and pickers last narrowed
            # (their handles also follow a selection made elsewhere: that narrows nothing)
            made = self.model.origin if "ranges" in self.model.origin else {}
            ranges = {n: list(r) for n, r in (made.get("ranges") or {}).items()}
            categories = {n: list(c) for n, c in (made.get("categories") or {}).items()}
        else:
            categories, ranges = self._narrowed(name)
        if name is None and health == "any" and not ranges and not categories:
            self.model.clear_selection()  # the filter let go and nothing else narrows
            return
        ids = self.model.ids_in_ranges(ranges, categories, health)
        origin: dict[str, Any] = {"ranges": ranges}
        if categories:
            origin["categories"] = categories
        if health != "any":
            origin["health"] = health
        self.model.select_ids_from(ids, origin)

    def _narrowed(self, name: str) -> tuple[dict[str, list[str]], dict[str, list[float]]]:
        """The pickers and sliders narrowed (and ``name``, the one just moved): their picked
        categories and slider positions."""
        categories = {n: list(p.value) for n, p in self.pickers.items()
                      if n == name or set(p.value) != set(p.options)}
        ranges: dict[str, list[float]] = {}
        for n, slider in self.sliders.items():
            info = self.model.sliders.get(n)
            lo, hi = slider.value
            if info is None:
                continue
            if n == name or lo > info.start + info.step / 2 or hi < info.end - info.step / 2:
                ranges[n] = [float(lo), float(hi)]
        return categories, ranges

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
                if name in self.pickers:
                    lock = self.memory.lock(flag, run_id=run_id,
                                            values=list(self.pickers[name].value),
                                            author=self.author)
                elif info.space == "categorical":
                    lo, hi = self.sliders[name].value
                    picked = [lab for i, lab in enumerate(info.labels) if lo - 1e-9 <= i <= hi + 1e-9]
                    lock = self.memory.lock(flag, run_id=run_id, values=picked, author=self.author)
                else:
                    lo, hi = self.sliders[name].value
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
