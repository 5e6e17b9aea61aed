"""Notes written on an experiment page or a comparison page.

A note is a run's note (:class:`~workbench_plugin.memory.ProjectMemory`, the same events as the
run page's notes) whose view holds the page it was written on: ``{"experiment": {"ids": [id],
"view": {...}}}`` or ``{"compare": {"ids": [ids], "view": {...}}}``. The page lists its own
notes and the run page lists them too, each as a link that reopens the page in the view kept
(:func:`page_href`). Every shown string is escaped; a kept view that is malformed is no link.
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import panel as pn

from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.memory import Note, ProjectMemory, encode_view

__all__ = ["PAGE_KEYS", "PageNotes", "note_link_html", "page_href", "page_note_view"]

#: The keys of a note's view that name the page it was written on.
PAGE_KEYS = ("experiment", "compare")
#: The most experiments one kept page names (the compare page shows at most 10).
_MAX_IDS = 10
_MAX_ID_CHARS = 200


def page_note_view(key: str, ids: Sequence[str], view: Mapping[str, Any]) -> dict[str, Any]:
    """What a note written on page ``key`` (one of :data:`PAGE_KEYS`) keeps."""
    if key not in PAGE_KEYS:
        raise ValueError(f"page: {key!r} is not a page with notes; use one of {', '.join(PAGE_KEYS)}")
    return {key: {"ids": [str(i) for i in ids], "view": dict(view)}}


def _page_of(view: Mapping[str, Any]) -> tuple[str, list[str], dict[str, Any]] | None:
    for key in PAGE_KEYS:
        part = view.get(key)
        if not isinstance(part, Mapping):
            continue
        ids = part.get("ids")
        kept = part.get("view") or {}
        if (not isinstance(ids, list) or not 1 <= len(ids) <= _MAX_IDS or not isinstance(kept, Mapping)
                or not all(isinstance(i, str) and 0 < len(i) <= _MAX_ID_CHARS for i in ids)):
            return None
        return key, ids, dict(kept)
    return None


def page_href(view: Mapping[str, Any]) -> str | None:
    """The link (``?experiment=ID&view=...`` or ``?compare=A,B&view=...``) that reopens the page a
    note was written on; None when the note was not written on one (or keeps a malformed page)."""
    page = _page_of(view)
    if page is None:
        return None
    key, ids, kept = page
    query = [(key, ",".join(ids))] + ([("view", encode_view(kept))] if kept else [])
    return "?" + urllib.parse.urlencode(query)


def note_link_html(note: Note, labels: Mapping[str, str] | None = None) -> str | None:
    """A note written on an experiment or compare page as an escaped link that reopens it (None
    for other notes). ``labels`` maps experiment ids to their short labels (``#3``)."""
    href = page_href(note.view)
    page = _page_of(note.view)
    if href is None or page is None:
        return None
    key, ids, _ = page
    named = ", ".join((labels or {}).get(i, i) for i in ids)
    what = f"experiment {named}" if key == "experiment" else f"compare {named}"
    when = datetime.fromtimestamp(note.time).strftime("%Y-%m-%d %H:%M")
    return (f'<a class="ht-note ht-note-{key}" href="{html.escape(href)}">{html.escape(what)}: '
            f"{html.escape(note.text)}  ({html.escape(note.author)}, {when})</a>")


class PageNotes:
    """The note box of an experiment or compare page and the notes written on that page.

    ``view_state`` gives the page's current view (kept with a note); ``run_id`` is the run the
    note belongs to (a comparison's: its first experiment's run), so the run page lists it too.
    """

    def __init__(self, memory: ProjectMemory, run_id: str, key: str, ids: Sequence[str],
                 view_state: Callable[[], Mapping[str, Any]], *, author: str | None = None,
                 labels: Mapping[str, str] | None = None) -> None:
        self.memory, self.run_id, self.key, self.ids = memory, run_id, key, [str(i) for i in ids]
        self.view_state, self.author, self.labels = view_state, author, dict(labels or {})
        self.input = pn.widgets.TextInput(placeholder="A note on this view...", width=400, margin=(4, 10))
        self.button = pn.widgets.Button(label="Save note", width=110, margin=(4, 5), color="primary")
        self.button.on_click(self._on_save)
        self.message = pn.pane.HTML("", margin=(0, 10), css_classes=["ht-note-message"])
        self.listing = pn.Column(margin=(0, 10))
        self.show()

    def notes(self) -> list[Note]:
        """The run's notes written on this page (same page, same experiments in any order), oldest first."""
        out = []
        for note in self.memory.notes(self.run_id):
            page = _page_of(note.view)
            if page is not None and page[0] == self.key and sorted(page[1]) == sorted(self.ids):  # any order
                out.append(note)
        return out

    def _on_save(self, _event: Any) -> None:
        self.save()

    def save(self, text: str | None = None) -> Note | None:
        """Store a note with the page's current view (the text box's text unless ``text``)."""
        text = str(self.input.value or "") if text is None else text
        try:
            note = self.memory.add_note(self.run_id, text, page_note_view(self.key, self.ids, self.view_state()),
                                        author=self.author)
        except (HyperTunerError, OSError, ValueError) as exc:  # empty or too long, or the store failed
            self.message.object = f'<span style="color:#b00">{html.escape(str(exc).splitlines()[0])}</span>'
            return None
        self.input.value = ""
        self.message.object = ""
        self.show()
        return note

    def show(self) -> None:
        links = [note_link_html(n, self.labels) for n in self.notes()]
        items = [pn.pane.HTML(link, margin=(2, 5)) for link in links if link is not None]
        self.listing.objects = items or [pn.pane.HTML("<i>No notes on this page yet.</i>", margin=(0, 5))]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.Row(pn.pane.HTML("<b>Notes</b>", margin=(10, 10)), self.input, self.button),
                         self.message, self.listing, margin=0)
