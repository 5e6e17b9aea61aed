"""The new-run page (``?new=<run id>``): a thin :class:`panel.viewable.Viewer` over
:class:`~panel_app.new_run.model.NewRunModel`.

One text field per hyperparameter (checked as typed, ``value_input``; the CLI's one-line message
under it), an "add hyperparameter" menu, the listing in a Tabulator (a click on a row's skip or
star cell toggles it; skipped rows stay, greyed; a row's resource cell is a list of the options that
overrides the batch's for that row), "Skip all redundant", and Launch, which queues
the run and sends the browser to ``?run=<new id>``.

Below the fields: the resource option, the constraints (budget, deadline, max experiments; the
CLI's message under each), the administrator's caps, and "Apply recommendation" (with "apply
automatically"); above the listing, the totals per resource option with the duration and score
bases. The advice is computed after a pause in typing (or on "Price and recommend"), in a thread.
"""

from __future__ import annotations

import asyncio
import functools
import html
from typing import Any

import panel as pn

from panel_app.new_run.model import MAX_ROWS_SHOWN, FieldState, NewRunModel
from panel_app.new_run.pricing import CONSTRAINTS
from panel_app.new_run.proposals import ProposalsModel
from panel_app.new_run.proposals_view import ProposalsCard
from panel_app.new_run.templates import (
    ERROR_TEMPLATE,
    NEW_RUN_CSS,
    addable_html,
    advice_html,
    caps_html,
    field_label,
    listing_table,
    title_html,
)
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.flags import one_line

__all__ = ["NewRunPage"]

#: Seconds without a change before the advice is recomputed (the fit can take a few seconds).
ADVICE_DELAY = 0.4
_CONSTRAINT_LABELS = {"budget": "Budget (money)", "deadline": "Deadline (30m, 2h)",
                      "max_experiments": "Max experiments"}

_GO_TO_RUN_JS = "if (cb_obj.value) { window.location.search = '?run=' + encodeURIComponent(cb_obj.value); }"


class NewRunPage(pn.viewable.Viewer):
    """One session's new-run page."""

    def __init__(self, model: NewRunModel, *, project: str, proposals: ProposalsModel | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self.model = model
        self.proposals = ProposalsCard(proposals or ProposalsModel(model), on_use=self._after_proposals)
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
        self._build_advice_widgets()
        self.table = pn.widgets.Tabulator(
            listing_table(model.records()), disabled=False, editors=self._editors(listing_table(model.records())),
            show_index=False, selectable=False,
            formatters={"previous": {"type": "html"}}, layout="fit_data_table", height=420,
            header_tooltips={"score": "0-10; the reason column says why", "recommendation":
                             "what the recommendation does with the row"},
            sizing_mode="stretch_width", margin=(6, 10), stylesheets=[NEW_RUN_CSS],
            frozen_columns=["#"])
        if self.table.style is not None:  # greys skipped rows; kept when the value is replaced
            self.table.style.apply(self._grey, axis=1)
        self.table.on_click(self._on_cell)
        self.table.on_edit(self._on_edit)
        self.add_button.on_click(self._on_add)
        self.skip_redundant.param.watch(lambda e: self._after(self.model.set_skip_redundant, bool(e.new)), "value")
        self.launch_button.on_click(self._on_launch)
        self._build_fields()
        self._show()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.onload(self._on_load)
        else:
            self._schedule_advice(0)
            self.proposals.schedule(0)
        self._layout = pn.Column(
            pn.pane.HTML(title_html(project, model.run_id), margin=(0, 10)),
            self._fields,
            pn.Row(self.add_select, self.add_button),
            self.addable,
            self.proposals.card,
            pn.Row(self.resource_select, *self.constraint_boxes, margin=0),
            pn.Row(self.price_button, self.apply_button, self.auto_apply, self.caps, margin=0),
            self.advice,
            pn.Row(self.summary, self.skip_redundant, self.launch_button),
            self.launch_error,
            self.table,
            self.go_to,
            sizing_mode="stretch_width",
        )

    def _on_load(self) -> None:
        self._schedule_advice(0)
        self.proposals.schedule(0)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # ---- resource, constraints, recommendation -----------------------------------------------------
    def _build_advice_widgets(self) -> None:
        m = self.model
        labels = {(f"{o.name}: {o.description}" if o.description else o.name)[:80]: o.name for o in m.options}
        self.resource_select = pn.widgets.Select(label="Resource", options=labels, value=m.resource, width=260,
                                                 margin=(4, 10), css_classes=["ht-resource"])
        self.resource_select.param.watch(self._on_resource, "value")
        self.constraint_inputs: dict[str, pn.widgets.TextInput] = {}
        self.constraint_errors: dict[str, pn.pane.HTML] = {}
        self.constraint_boxes = []
        for field in CONSTRAINTS:
            box = pn.widgets.TextInput(label=_CONSTRAINT_LABELS[field], width=170, margin=(4, 10),
                                       css_classes=[f"ht-constraint-{field}"])
            box.param.watch(functools.partial(self._on_constraint, field), "value_input")
            error = pn.pane.HTML("", margin=(0, 10), width=260, css_classes=[f"ht-constraint-error-{field}"])
            self.constraint_inputs[field], self.constraint_errors[field] = box, error
            self.constraint_boxes.append(pn.Column(box, error, margin=0))
        self.price_button = pn.widgets.Button(label="Price and recommend", width=170, margin=(4, 10))
        self.price_button.on_click(lambda _e: self._schedule_advice(0))
        self.apply_button = pn.widgets.Button(label="Apply recommendation", width=190, margin=(4, 10))
        self.apply_button.on_click(self._on_apply)
        self.auto_apply = pn.widgets.Checkbox(label="apply automatically", value=m.auto_apply, margin=(10, 10),
                                              css_classes=["ht-auto-apply"])
        self.auto_apply.param.watch(self._on_auto_apply, "value")
        limits = m.context.config.limits
        self.caps = pn.pane.HTML(caps_html(limits.max_budget, limits.max_experiments, limits.max_deadline_hours,
                                           limits.currency), margin=(10, 10))
        self.advice = pn.pane.HTML("", margin=(0, 10), sizing_mode="stretch_width")
        self._advice_gen = 0
        self._advice_task: asyncio.Task[None] | None = None

    def _on_resource(self, event: Any) -> None:
        self.model.set_resource(str(event.new))
        self._schedule_advice(0)

    def _on_constraint(self, field: str, event: Any) -> None:
        message = self.model.set_constraint(field, str(event.new or ""))
        self.constraint_errors[field].object = ERROR_TEMPLATE.format(html.escape(message)) if message else ""
        self._schedule_advice()

    def _on_apply(self, _event: Any) -> None:
        self.model.apply_recommendation()
        self._show()
        self._schedule_advice()

    def _on_auto_apply(self, event: Any) -> None:
        self.model.set_auto_apply(bool(event.new))
        self._show()
        self._schedule_advice(0)

    def _schedule_advice(self, delay: float = ADVICE_DELAY) -> None:
        """Recompute the advice after ``delay`` s without another change, in a thread; only the latest
        request is kept. Without a server session (a notebook, a test): now."""
        self._advice_gen += 1
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self.model.refresh_advice()
            self._show()
            return
        self._advice_task = asyncio.get_event_loop().create_task(self._advise(self._advice_gen, delay, doc))

    async def _advise(self, gen: int, delay: float, doc: Any) -> None:
        from panel.io.state import set_curdoc

        await asyncio.sleep(delay)
        if gen != self._advice_gen or doc.session_context is None:
            return
        result = await asyncio.to_thread(self.model.compute_advice)
        if doc.session_context is None:  # the page was closed (or left for the launched run) meanwhile:
            return  # its document is destroyed, and so are its callbacks

        def take() -> None:
            with set_curdoc(doc):
                if gen == self._advice_gen and self.model.take_advice(*result):
                    self._show()

        doc.add_next_tick_callback(take)

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
        self._schedule_advice()
        self.proposals.schedule()

    def _after_proposals(self) -> None:
        """The listing now shows a proposal's rows (or the grid again)."""
        self._show()
        self.proposals.show()
        self._schedule_advice(0)

    def _on_add(self, _event: Any) -> None:
        if self.add_select.value:
            self._after(self.model.add_flag, str(self.add_select.value))
            self._build_fields()
            self.proposals.schedule()

    def _on_remove(self, name: str, _event: Any) -> None:
        self._after(self.model.remove_flag, name)
        self._build_fields()
        self.proposals.schedule()

    # ---- the listing ----------------------------------------------------------------------------
    def _after(self, action: Any, *args: Any) -> None:
        action(*args)
        self._show()
        self._schedule_advice()

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

    def _editors(self, frame: Any) -> dict[str, Any]:
        """Only a row's resource is edited in place (a list of the options; the batch's is the default)."""
        names = [o.name for o in self.model.options]
        return {c: ({"type": "list", "values": names} if c == "resource" and len(names) > 1 else None)
                for c in frame.columns}

    def _on_edit(self, event: Any) -> None:
        if event.column != "resource" or event.row is None or event.row >= len(self.model.rows):
            return
        try:
            self._after(self.model.set_row_resource, int(event.row), str(event.value))
        except HyperTunerError as exc:  # a stale cell: say why, show the model's choice again
            self.model.launch_error = one_line(str(exc))
            self._show()

    def _show(self) -> None:
        m = self.model
        more = (f" Showing the first {MAX_ROWS_SHOWN:,}; {m.hidden_rows:,} more are not listed."
                if m.hidden_rows else "")
        problem = f' <span class="ht-new-run-problem" style="color:#b00020">{html.escape(m.problem)}</span>' \
            if m.problem and m.rows else ""
        self.summary.object = f"<b>{html.escape(m.summary())}</b>{html.escape(more)}{problem}"
        frame = listing_table(m.records(), list(m.columns))  # a few hundred rows: replaced whole
        editors = self._editors(frame)
        if editors != self.table.editors:  # one update: two back to back rebuilt the table twice, and
            self.table.param.update(editors=editors, value=frame)  # the first's layout ran on a removed node
        else:
            self.table.value = frame
        if self.skip_redundant.value != m.skip_redundant:
            self.skip_redundant.value = m.skip_redundant
        self.launch_button.disabled = not m.can_launch
        running = sum(not r.skipped for r in m.rows)
        self.advice.object = advice_html(m.advice if m.advice_matches else None, current=m.advice_matches,
                                         running=running, applied=m.recommendation_applied,
                                         problems=m.cap_problems, error=m.advice_error)
        left = m.advice is not None and m.advice_matches and any(
            not a.recommended for a, r in zip(m.advice.rows, m.rows, strict=False) if not r.skipped)
        self.apply_button.disabled = not left
        if self.auto_apply.value != m.auto_apply:
            self.auto_apply.value = m.auto_apply
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
        self._advice_gen += 1  # an advice still being computed is for the listing being left
        run_id = await asyncio.to_thread(self.model.launch)
        self.launch_button.label = "Launch"
        self._show()
        if not run_id:  # still here: price the listing again
            self._schedule_advice(0)
        if run_id:
            self.summary.object = f"<b>run {html.escape(run_id)} queued; opening it...</b>"
            self.go_to.value = run_id
