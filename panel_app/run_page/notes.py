"""The run page's notes: a note keeps the view it was written on; clicking it restores that view."""

from __future__ import annotations

import functools
import html
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import panel as pn

from panel_app.new_run.proposals import NOTE_KEY as PROPOSALS_NOTE_KEY
from panel_app.page_notes import note_link_html
from panel_app.run_page.model import RunPageModel
from panel_app.run_page.templates import NO_NOTES_HTML, NOTES_TITLE
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.memory import Note, ProjectMemory

__all__ = ["NotesPanel"]


class NotesPanel:
    """The note box, its button and the run's notes (:attr:`bar` and :attr:`listing`)."""

    def __init__(self, model: RunPageModel, memory: ProjectMemory, *, author: str | None,
                 on_error: Callable[[str], None],
                 on_open: Callable[[Mapping[str, Any]], None]) -> None:
        self.model = model
        self.memory = memory
        self.author = author
        self.on_error = on_error
        self.on_open = on_open
        self.input = pn.widgets.TextInput(placeholder="A note on this view...",
                                          width=400, margin=(4, 10))
        self.button = pn.widgets.Button(label="Save note", width=110, margin=(4, 5),
                                        color="primary")
        self.button.on_click(self._on_save)
        self.bar = pn.Row(pn.pane.HTML(NOTES_TITLE, margin=(10, 10)), self.input, self.button)
        self.listing = pn.Column(margin=(0, 10))
        self.show()

    def save(self, text: str | None = None) -> Note | None:
        """Store a note with the current view (the text box's text unless ``text`` is given)."""
        text = str(self.input.value or "") if text is None else text
        try:
            note = self.memory.add_note(self.model.run_frames.run_id, text,
                                        self.model.view_state(), author=self.author)
        # an empty text (ConfigError) or a store that failed: say so in the header
        except (HyperTunerError, OSError, ValueError) as exc:
            self.on_error(str(exc))
            return None
        self.input.value = ""
        self.show()
        return note

    def _on_save(self, _event: Any) -> None:
        self.save()

    def show(self) -> None:
        items: list[Any] = []
        run_id = self.model.run_frames.run_id
        exps = self.model.run_frames.experiments
        labels = (dict(zip(exps["experiment_id"].astype(str), exps["label"].astype(str), strict=True))
                  if len(exps) else {})
        for note in self.memory.notes(run_id):
            when = datetime.fromtimestamp(note.time).strftime("%Y-%m-%d %H:%M")
            proposals = note.view.get(PROPOSALS_NOTE_KEY)
            if isinstance(proposals, dict):  # written on the next batch's proposals card: opens it there
                query = urllib.parse.urlencode([("new", run_id), *((str(k), str(v)) for k, v in proposals.items())])
                items.append(pn.pane.HTML(
                    f'<a class="ht-note ht-note-proposals" href="?{html.escape(query)}">proposals: '
                    f'{html.escape(note.text)}  ({html.escape(note.author)}, {when})</a>', margin=(2, 5)))
                continue
            page_link = note_link_html(note, labels)  # written on an experiment or compare page: reopens it
            if page_link is not None:
                items.append(pn.pane.HTML(page_link, margin=(2, 5)))
                continue
            button = pn.widgets.Button(label=f"{note.text}  ({note.author}, {when})",
                                       color="light", margin=(2, 5),
                                       css_classes=["ht-note"])
            button.on_click(functools.partial(self._on_note, note))
            items.append(button)
        self.listing.objects = items or [pn.pane.HTML(NO_NOTES_HTML, margin=(0, 5))]

    def _on_note(self, note: Note, _event: Any = None) -> None:
        self.on_open(note.view)
