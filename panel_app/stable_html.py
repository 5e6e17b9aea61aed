"""An HTML pane whose updates do not make the browser lay out the whole page again.

Panel rebuilds a pane's stylesheet models on every update of its ``object`` and sends them
with the new text. A new ``stylesheets`` list makes Bokeh invalidate the layout of the whole
document: every plot on the run page is laid out and repainted (100-300 ms of the browser's
main thread per pane on a busy 2-core machine), once per pane a selection changes (header,
compare link). :class:`StableHTML` sends the stylesheets only when they really differ.
"""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.models import ImportedStyleSheet, InlineStyleSheet

__all__ = ["StableHTML", "same_stylesheets"]


def _key(sheet: Any) -> Any:
    if isinstance(sheet, ImportedStyleSheet):
        return ("url", sheet.url)
    if isinstance(sheet, InlineStyleSheet):
        return ("css", sheet.css)
    if isinstance(sheet, str):
        return ("str", sheet)
    return ("model", id(sheet))


def same_stylesheets(old: Any, new: Any) -> bool:
    """True when two ``stylesheets`` lists say the same (same URLs and CSS, same order)."""
    old, new = list(old or []), list(new or [])
    return len(old) == len(new) and [_key(s) for s in old] == [_key(s) for s in new]


class StableHTML(pn.pane.HTML):
    """:class:`panel.pane.HTML` that sends only the properties whose values changed."""

    def _update(self, ref: str, model: Any) -> None:
        props = self._get_properties(model.document)
        if "stylesheets" in props and same_stylesheets(model.stylesheets, props["stylesheets"]):
            del props["stylesheets"]
        model.update(**props)
