"""The disconnected banner: registered on session documents only, text only."""

from __future__ import annotations

from types import SimpleNamespace

from bokeh.document import Document

from panel_app.connection import BANNER_CLASS, CONNECTION_JS, watch_connection


def test_the_banner_is_watched_for_in_a_session_document_only() -> None:
    doc = Document()
    watch_connection(doc)  # no session (a test, a notebook): nothing
    assert not doc.callbacks._js_event_callbacks
    watch_connection(None)
    doc._session_context = lambda: SimpleNamespace()  # what a server session sets
    watch_connection(doc)
    [callback] = doc.callbacks._js_event_callbacks["connection_lost"]
    assert callback.args["cls"] == BANNER_CLASS == "ht-disconnected"


def test_the_banner_puts_in_no_html() -> None:
    assert "innerHTML" not in CONNECTION_JS and "textContent" in CONNECTION_JS
    assert "location.reload()" in CONNECTION_JS
