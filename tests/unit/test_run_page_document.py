"""What a run page sends the browser: no epoch lines until they are shown, and a selection
that does not make the browser lay out the whole page again."""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.document import Document
from bokeh.models import ImportedStyleSheet

from panel_app.run_page.view import RunPage
from panel_app.stable_html import StableHTML, same_stylesheets
from tests.fakes import FakeRunSource


def _rect(x0: float, x1: float) -> dict[str, Any]:
    return {"type": "rect", "x0": x0, "x1": x1, "y0": -1e9, "y1": 1e9}


def test_epoch_lines_are_sent_when_first_shown_with_the_selection() -> None:
    source = FakeRunSource()
    page = RunPage(source)
    doc = Document()
    doc.add_root(page.__panel__().get_root(doc))
    plots = page.plots
    assert plots.epochs is None and plots.lines.data["xs"] == []  # bars shown: no lines sent
    page._on_geometry("num_epochs", "val_acc", _rect(-0.45, 0.45))
    selected = list(page.model.selection)
    assert selected
    page.model.chart = "lines"
    assert plots.epochs is not None
    assert plots.lines.data["experiment_id"] == list(page.model.order)
    assert all(isinstance(xs, list) for xs in plots.lines.data["xs"])  # one JSON, not a buffer each
    assert any(len(xs) > 0 for xs in plots.lines.data["xs"])
    assert plots.lines_highlight.data["experiment_id"] == [
        i for i in page.model.order if i in set(selected)]


def _changes(pane: pn.pane.HTML, text: str) -> tuple[list[str], str]:
    """What an update of ``pane`` sends when its stylesheet models are not the ones Panel
    builds for the update (as in a server session: new models, the same URLs)."""
    doc = Document()
    model = pane.get_root(doc)
    doc.add_root(model)
    model.stylesheets = [ImportedStyleSheet(url=s.url) if isinstance(s, ImportedStyleSheet) else s
                         for s in model.stylesheets]
    changed: list[str] = []
    doc.on_change(lambda event: changed.append(getattr(event, "attr", "")))
    pane.object = text
    return changed, model.text


def test_a_new_header_text_sends_the_text_but_not_the_stylesheets_again() -> None:
    # Panel's own pane sends the stylesheets again with the text: the browser then lays out
    # every plot on the page again
    plain, _ = _changes(pn.pane.HTML("<b>1 selected</b>"), "<b>2 selected</b>")
    assert "stylesheets" in plain
    stable, text = _changes(StableHTML("<b>1 selected</b>"), "<b>2 selected</b>")
    assert stable == ["text"] and "2 selected" in text


def test_stylesheets_that_differ_are_still_sent() -> None:
    a = [":host { color: red; }", ImportedStyleSheet(url="static/a.css")]
    assert same_stylesheets(a, [":host { color: red; }", ImportedStyleSheet(url="static/a.css")])
    assert not same_stylesheets(a, [":host { color: blue; }", ImportedStyleSheet(url="static/a.css")])
    assert not same_stylesheets(a, [":host { color: red; }", ImportedStyleSheet(url="static/b.css")])
    assert not same_stylesheets(a, a[:1])
