"""The experiment page: its header, then each view of the registry in a card, live while it runs.

:class:`ExperimentPage` is a thin :class:`panel.viewable.Viewer` over an
:class:`~panel_app.experiment_page.model.ExperimentPageModel`. A view whose needs are missing
shows :func:`~panel_app.experiment_page.plugins.missing_needs` as one line; a view that raises
shows one escaped line; the others still render. A Stop button (queued or running experiments,
when the page knows how to reach the engine) asks "Really stop experiment X?" before it kills.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Sequence
from typing import Any

import panel as pn
import param

from panel_app.experiment_page.model import STREAMS, ExperimentPageModel
from panel_app.experiment_page.plugins import ExperimentView, missing_needs
from panel_app.experiment_page.registry import Registry
from panel_app.experiment_page.templates import header_html, log_tail_html, not_applicable_html, problem_html
from panel_app.location import show_view_in_url
from workbench_plugin._exceptions import HyperTunerError

__all__ = ["ExperimentPage", "Stopper"]

log = logging.getLogger(__name__)

#: Kills the experiment; returns one line saying what happened (runs off the event loop).
Stopper = Callable[[str], str]


class ExperimentPage(pn.viewable.Viewer):
    """One session's experiment page."""

    refresh_ms = param.Integer(default=1500, bounds=(100, None))

    def __init__(self, model: ExperimentPageModel, registry: Registry, *,
                 nav: pn.viewable.Viewable | None = None, stop: Stopper | None = None,
                 problems: Sequence[str] = (), notes: pn.viewable.Viewable | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self.model = model
        self.registry = registry
        self.problems = [p for p in problems if p]
        self._stop = stop
        self._callback: Any = None
        self._busy = False
        self._url_dirty = False
        model.on_change = self._update_url
        self.header = pn.pane.HTML(self._header_html(), sizing_mode="stretch_width", margin=(0, 10))
        self.logs = pn.pane.HTML(self._logs_html(), sizing_mode="stretch_width", margin=(0, 10))
        self.stop_button = pn.widgets.Button(label="Stop", color="danger", width=120,
                                             css_classes=["ht-stop"])
        self.confirm_button = pn.widgets.Button(label=f"Really stop experiment {model.experiment_id}?",
                                                color="danger", visible=False, css_classes=["ht-stop-confirm"])
        self.cancel_button = pn.widgets.Button(label="Cancel", visible=False, width=90, css_classes=["ht-stop-cancel"])
        self.stop_said = pn.pane.HTML("", css_classes=["ht-stop-said"], margin=(8, 10))
        self.stop_button.on_click(self._ask)
        self.cancel_button.on_click(self._cancel)
        self.confirm_button.on_click(self._confirm)
        self._show_stop()
        self.cards: dict[str, pn.Card] = {}
        self.rendered: dict[str, Any] = {}
        self._applicable: dict[str, str] = {}
        self._views = pn.Column(*[self._card(v) for v in registry.views], margin=0)
        plugin_lines = pn.pane.HTML("".join(problem_html(p) for p in registry.problems),
                                    css_classes=["ht-plugin-problems"], margin=(0, 10),
                                    visible=bool(registry.problems))
        self._layout = pn.Column(
            *([nav] if nav is not None else []),
            self.header,
            pn.Row(self.stop_button, self.confirm_button, self.cancel_button, self.stop_said, margin=(0, 5)),
            plugin_lines,
            self._views,
            *([notes] if notes is not None else []),
            self.logs,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # ---- drawing ------------------------------------------------------------------------
    def _header_html(self) -> str:
        return header_html(self.model.header, health=self.model.health,
                           problems=[*self.problems, *self.model.problems])

    def _logs_html(self) -> str:
        parts = []
        for stream in STREAMS:
            try:
                parts.append(log_tail_html(self.model.experiment_id, stream, self.model.log_tail(stream)))
            except (HyperTunerError, OSError) as exc:  # the store unreachable: one line, the page goes on
                parts.append(problem_html(f"{stream}: {exc}"))
        return "".join(parts)

    def _content(self, view: ExperimentView) -> Any:
        """What a view's card holds: the view, or one line saying why not."""
        missing = missing_needs(view, self.model.data)
        self._applicable[view.name] = missing
        if missing:
            return pn.pane.HTML(not_applicable_html(missing), css_classes=["ht-view-missing"])
        try:
            drawn = view.render(self.model.data, self.model.state_of(view.name))
            self.rendered[view.name] = drawn
            return drawn
        except Exception as exc:  # a plug-in's bug: one line where it would be
            log.exception("view %s failed", view.name)
            line = " ".join(f"{view.title}: {type(exc).__name__}: {exc}".split())[:300]
            return pn.pane.HTML(problem_html(line), css_classes=["ht-view-error"])

    def _card(self, view: ExperimentView) -> pn.Card:
        card = pn.Card(self._content(view), title=view.title, collapsible=True, sizing_mode="stretch_width",
                       css_classes=["ht-view", f"ht-view-{view.name}"], margin=(6, 10))
        self.cards[view.name] = card
        return card

    def _update_views(self) -> None:
        """New data: a live view takes it (``update(data)`` returning True), others are drawn again
        when what they draw from may have changed (they became applicable, or the state changed)."""
        for view in self.registry.views:
            drawn = self.rendered.get(view.name)
            missing = missing_needs(view, self.model.data)
            update = getattr(drawn, "update", None)
            if drawn is not None and not missing and callable(update):
                try:
                    if update(self.model.data):
                        continue
                except Exception:
                    log.exception("view %s: update failed", view.name)
            if drawn is not None and not missing and not callable(update) and self.model.active:
                continue  # drawn once from a running experiment's data: drawn again when it ends
            self.rendered.pop(view.name, None)
            self.cards[view.name].objects = [self._content(view)]

    # ---- stop ---------------------------------------------------------------------------
    def _show_stop(self) -> None:
        can = self._stop is not None and self.model.active
        self.stop_button.visible = can and not self.confirm_button.visible
        if not can:
            self.confirm_button.visible = self.cancel_button.visible = False

    def _ask(self, _event: Any = None) -> None:
        self.stop_button.visible = False
        self.confirm_button.visible = self.cancel_button.visible = True

    def _cancel(self, _event: Any = None) -> None:
        self.confirm_button.visible = self.cancel_button.visible = False
        self._show_stop()

    async def _confirm(self, _event: Any = None) -> None:
        if self._stop is None:
            return
        self.confirm_button.disabled = self.cancel_button.disabled = True
        self.stop_said.object = "stopping..."
        try:
            said = await asyncio.to_thread(self._stop, self.model.experiment_id)
        except (HyperTunerError, OSError) as exc:  # the engine or the store refused: one line
            log.exception("stop failed")
            said = f"stop failed: {exc}"
        self.stop_said.object = problem_html(said) if said.startswith("stop failed") else \
            f'<span class="ht-stopped">{html.escape(said)}</span>'
        self.confirm_button.disabled = self.cancel_button.disabled = False
        self._cancel()
        await self._tick(force=True)

    # ---- URL and live -------------------------------------------------------------------
    def _update_url(self) -> None:
        """A view's state changed: the URL follows at the next tick (the player changes it several
        times a second; writing each would race with the browser's echo of the previous one)."""
        self._url_dirty = True

    def _write_url(self) -> None:
        self._url_dirty = False
        show_view_in_url(self.model.view_state())

    def apply(self, changed: bool) -> None:
        """Show the model's data after a refresh that ``changed`` it."""
        if not changed:
            return
        self.header.object = self._header_html()
        self.logs.object = self._logs_html()
        self._update_views()
        self._show_stop()

    async def _tick(self, force: bool = False) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            if self._url_dirty:
                self._write_url()
            changed = await asyncio.to_thread(self.model.refresh)
            self.apply(changed or force)
        except (HyperTunerError, OSError, ValueError) as exc:  # the store failed: one line, polling goes on
            log.exception("experiment page refresh failed")
            self.header.object = self._header_html() + problem_html(f"refresh failed: {exc}")
        finally:
            self._busy = False

    def start_live(self) -> None:
        """Poll the store every ``refresh_ms`` in this session; stops with the session."""
        if self._callback is not None:
            return
        tick: Any = self._tick
        self._callback = pn.state.add_periodic_callback(tick, period=self.refresh_ms)
        pn.state.on_session_destroyed(lambda _ctx: self.stop_live())

    def stop_live(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
