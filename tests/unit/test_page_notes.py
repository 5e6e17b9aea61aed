"""Notes written on an experiment or compare page: kept with the page's view, listed on that page
and on the run page as escaped links that reopen it."""

from __future__ import annotations

import html
from types import SimpleNamespace
from urllib.parse import parse_qsl

import pandas as pd
import pytest

from panel_app.page_notes import PageNotes, note_link_html, page_href, page_note_view
from panel_app.run_page.notes import NotesPanel
from workbench_plugin.memory import ListLog, ProjectMemory, decode_view

RUN = "20261203-0800-abcd"
E1, E2 = f"{RUN}-000", f"{RUN}-001"


def _links(listing: object) -> list[str]:
    return [str(o.object) for o in listing.objects if "ht-note" in str(getattr(o, "object", ""))]  # type: ignore[attr-defined]


def test_a_note_on_the_experiment_page_keeps_its_view_and_reopens_it_from_both_pages() -> None:
    memory = ProjectMemory(ListLog())
    view = {"play": 7, "views": {"confusion": {"cell": ["3", "8"]}}}
    notes = PageNotes(memory, RUN, "experiment", [E1], lambda: view, author="ann", labels={E1: "#1"})
    assert notes.save("8s read as <b>3</b>") is not None
    assert notes.save("   ") is None and "note: the text is empty" in notes.message.object

    # another session of the same page lists it; another experiment's page does not
    again = PageNotes(memory, RUN, "experiment", [E1], dict)
    assert [n.text for n in again.notes()] == ["8s read as <b>3</b>"]
    assert PageNotes(memory, RUN, "experiment", [E2], dict).notes() == []

    (link,) = _links(again.listing)
    assert "8s read as &lt;b&gt;3&lt;/b&gt;" in link and "<b>3" not in link
    href = html.unescape(link.split('href="', 1)[1].split('"', 1)[0])
    query = dict(parse_qsl(href.lstrip("?")))
    assert query["experiment"] == E1 and decode_view(query["view"]) == view

    # the run page lists the same note as a link to the experiment page, with its label
    frames = SimpleNamespace(run_id=RUN, experiments=pd.DataFrame({"experiment_id": [E1, E2], "label": ["#1", "#2"]}))
    panel = NotesPanel(SimpleNamespace(run_frames=frames), memory, author=None,  # type: ignore[arg-type]
                       on_error=lambda _m: None, on_open=lambda _v: None)
    (run_link,) = [x for x in _links(panel.listing) if "ht-note-experiment" in x]
    assert "experiment #1: 8s read as &lt;b&gt;3&lt;/b&gt;" in run_link and html.escape(href) in run_link


def test_a_compare_note_names_its_experiments_and_a_malformed_one_is_no_link() -> None:
    memory = ProjectMemory(ListLog())
    notes = PageNotes(memory, RUN, "compare", [E1, E2], lambda: {"folded": False})
    note = notes.save("alpha matters")
    assert note is not None and page_href(note.view) is not None
    assert dict(parse_qsl(page_href(note.view).lstrip("?")))["compare"] == f"{E1},{E2}"  # type: ignore[union-attr]
    assert note_link_html(note, {E1: "#1", E2: "#2"}).count("compare #1, #2") == 1  # type: ignore[union-attr]

    assert page_href({"experiment": {"ids": "not a list"}}) is None
    assert page_href({"compare": {"ids": [f"{E1}"] * 11}}) is None
    assert page_href({"chart": "bars"}) is None
    with pytest.raises(ValueError, match="page: 'run'"):
        page_note_view("run", [E1], {})
