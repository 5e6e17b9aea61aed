"""The README's example experiment view: the final metrics as a list (a test registers it)."""

from __future__ import annotations

import html
from typing import Any

import panel as pn


class FinalMetrics:
    name = "final_metrics"
    title = "Final metrics"
    needs_artifacts: tuple[str, ...] = ()
    needs_metrics: tuple[str, ...] = ()

    def render(self, data: Any, state: Any) -> pn.pane.HTML:
        rows = "".join(f"<li>{html.escape(k)}: {v:.4g}</li>" for k, v in data.final.items())
        return pn.pane.HTML(f'<ul class="final-metrics">{rows}</ul>')


class Broken:
    """Not a view: it cannot even be created."""

    def __init__(self) -> None:
        raise RuntimeError("no database configured")


class Raising(FinalMetrics):
    """A view whose drawing fails."""

    name = "raising"
    title = "Raising view"

    def render(self, data: Any, state: Any) -> pn.pane.HTML:
        raise ValueError("cannot draw <b>this</b>")


class NoRender:
    name = "no_render"
    title = "No render"
    needs_artifacts: tuple[str, ...] = ()
    needs_metrics: tuple[str, ...] = ()
