"""The new-run page (``?new=<run id>``): a thin :class:`panel.viewable.Viewer` over
:class:`~panel_app.new_run.model.NewRunModel`.

One text field per hyperparameter (checked as typed, ``value_input``; the CLI's one-line message
under it), an "add hyperparameter" menu, the listing in a Tabulator (a click on a row's skip or
star cell toggles it; skipped rows stay, greyed), "Skip all redundant", and Launch, which queues
the run and sends the browser to ``?run=<new id>``.
"""

from __future__ import annotations

import asyncio
import functools
import html
from typing import Any

import panel as pn

from panel_app.new_run.model import MAX_ROWS_SHOWN, FieldState, NewRunModel
from panel_app.new_run.templates import (
    ERROR_TEMPLATE,
    NEW_RUN_CSS,
    addable_html,
    field_label,
    listing_table,
    title_html,
)

__all__ = ["NewRunPage"]

_GO_TO_RUN_JS = "if (cb_obj.value) { window.location.search = '?run=' + encodeURIComponent(cb_obj.value); }"


class NewRunPage(pn.viewable.Viewer):
    """One session's new-run page."""

    def __init__(self, model: NewRunModel, *, project: str, **params: Any) -> None:
        super().__init__(**params)
        self.model = model
        self.inputs: dict[str, pn.widgets.TextInput] = {}
        self.errors: dict[str, pn.pane.HTML] = {}
        self._fields = pn.Column(margin=0)
        self.add_select = pn.widgets.Select(label="Add hyperparameter", width=260, margin=(4, 10))
        self.add_button = pn.widgets.Button(label="Add", width=70, margin=(22, 5))
        self.addable = pn.pane.HTML("", margin=(0, 10), width=900)
        self.skip_redundant = pn.widgets.Checkbox(label="Skip all redundant", value=model.skip_redundant,
                                                  css_classes=["ht-skip-redundant"], margin=(8, 10))
        self.summary = pn.pane.HTML("", margin=(4, 10), css_classes=["ht-new-run-summary"])
        self.launch_button = pn.widgets.Button(label="Launch", color="primary", width=120, margin=(4, 10))
        self.launch_error = pn.pane.HTML("", margin=(0, 10), css_classes=["ht-launch-error"])
        self.go_to = pn.widgets.TextInput(visible=False)
        self.go_to.jscallback(value=_GO_TO_RUN_JS)
        self.table = pn.widgets.Tabulator(
            listing_table(model.records()), disabled=True, show_index=False, selectable=False,
            formatters={"previous": {"type": "html"}}, layout="fit_data_table", height=420,
            sizing_mode="stretch_width", margin=(6, 10), stylesheets=[NEW_RUN_CSS],
            frozen_columns=["#"])
        if self.table.style is not None:  # greys skipped rows; kept when the value is replaced
            self.table.style.apply(self._grey, axis=1)
        self.table.on_click(self._on_cell)
        self.add_button.on_click(self._on_add)
        self.skip_redundant.param.watch(lambda e: self._after(self.model.set_skip_redundant, bool(e.new)), "value")
        self.launch_button.on_click(self._on_launch)
        self._build_fields()
        self._show()
        self._layout = pn.Column(
            pn.pane.HTML(title_html(project, model.run_id), margin=(0, 10)),
            self._fields,
            pn.Row(self.add_select, self.add_button),
            self.addable,
            pn.Row(self.summary, self.skip_redundant, self.launch_button),
            self.launch_error,
            self.table,
            self.go_to,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # ---- fields ---------------------------------------------------------------------------------
    def _build_fields(self) -> None:
        rows = []
        self.inputs, self.errors = {}, {}
        for f in self.model.fields:
            box = pn.widgets.TextInput(label=field_label(f.name, f.locked, f.lock, f.added), value=f.text,
                                       width=420, margin=(2, 10), css_classes=[f"ht-field-{f.name}"])
            box.param.watch(functools.partial(self._on_text, f.name), "value_input")
            error = pn.pane.HTML(self._error_html(f), margin=(0, 10), css_classes=[f"ht-error-{f.name}"])
            self.inputs[f.name], self.errors[f.name] = box, error
            parts: list[Any] = [box]
            if f.added:
                remove = pn.widgets.Button(label="Remove", width=80, margin=(22, 5))
                remove.on_click(functools.partial(self._on_remove, f.name))
                parts.append(remove)
            rows.append(pn.Column(pn.Row(*parts, margin=0), error, margin=0))
        self._fields.objects = rows
        self.add_select.options = [a.name for a in self.model.addable]
        self.add_select.disabled = self.add_button.disabled = not self.model.addable
        self.addable.object = addable_html(self.model.addable)

    @staticmethod
    def _error_html(f: FieldState) -> str:
        return ERROR_TEMPLATE.format(html.escape(f.error)) if f.error else ""

    def _on_text(self, name: str, event: Any) -> None:
        self.model.set_text(name, str(event.new or ""))
        self.errors[name].object = self._error_html(self.model.field(name))
        self._show()

    def _on_add(self, _event: Any) -> None:
        if self.add_select.value:
            self._after(self.model.add_flag, str(self.add_select.value))
            self._build_fields()

    def _on_remove(self, name: str, _event: Any) -> None:
        self._after(self.model.remove_flag, name)
        self._build_fields()

    # ---- the listing ----------------------------------------------------------------------------
    def _after(self, action: Any, *args: Any) -> None:
        action(*args)
        self._show()

    def _grey(self, row: Any) -> list[str]:
        skipped = str(row.get("skip", "")).startswith("skipped")
        return ["color: #9a9a9a; background-color: #f3f3f3" if skipped else ""] * len(row)

    def _on_cell(self, event: Any) -> None:
        if event.row is None or event.row >= len(self.model.rows):
            return
        if event.column == "skip":
            self._after(self.model.toggle_skip, int(event.row))
        elif event.column == "star":
            self._after(self.model.toggle_star, int(event.row))

    def _show(self) -> None:
        m = self.model
        more = (f" Showing the first {MAX_ROWS_SHOWN:,}; {m.hidden_rows:,} more are not listed."
                if m.hidden_rows else "")
        problem = f' <span class="ht-new-run-problem" style="color:#b00020">{html.escape(m.problem)}</span>' \
            if m.problem and m.rows else ""
        self.summary.object = f"<b>{html.escape(m.summary())}</b>{html.escape(more)}{problem}"
        self.table.value = listing_table(m.records(), list(m.columns))  # a few hundred rows: replaced whole
        if self.skip_redundant.value != m.skip_redundant:
            self.skip_redundant.value = m.skip_redundant
        self.launch_button.disabled = not m.can_launch
        self.launch_error.object = ERROR_TEMPLATE.format(html.escape(m.launch_error)) if m.launch_error else ""

    # ---- launch ---------------------------------------------------------------------------------
    async def _on_launch(self, _event: Any) -> None:
        if not self.model.can_launch:
            self.model.launch()  # says why
            self._show()
            return
        self.launch_button.disabled = True
        self.launch_button.label = "Launching..."
        await asyncio.sleep(0)  # let the disabled button go out first
        run_id = await asyncio.to_thread(self.model.launch)
        self.launch_button.label = "Launch"
        self._show()
        if run_id:
            self.summary.object = f"<b>run {html.escape(run_id)} queued; opening it...</b>"
            self.go_to.value = run_id
