"""What the confusion-matrix view ships to the browser, per cell (no panel or bokeh imports).

:func:`cell_columns` turns a :class:`~workbench_plugin.experiment_info.ConfusionInfo` into the
columns of the heat map's data source: one row per cell with its labels, count, row share, the
text drawn in it, and the HTML of its examples panel (images as ``<img>`` of PNG data URIs, table
rows as an escaped table, "showing k of n" when the file kept fewer). The HTML is built once, so
hovering a cell in the browser only swaps a string. Cells with no samples get ``""``: the browser
fills in :data:`EMPTY_CELL` (with the escaped labels of the ``true_html``/``pred_html`` columns),
exactly what :func:`cell_html` returns for them (one template, used by both).
"""

from __future__ import annotations

import html
from typing import Any

from workbench_plugin.experiment_info import ConfusionInfo, cell_examples, image_uris

__all__ = [
    "COUNT_CLASS",
    "EMPTY_CELL",
    "EXAMPLES_PER_CELL",
    "EXAMPLE_CLASS",
    "EXAMPLES_CLASS",
    "cell_columns",
    "cell_html",
    "shown_values",
]

#: CSS classes browser tests and styles find: the examples panel, each example, the count text.
EXAMPLES_CLASS = "ht-cm-examples"
EXAMPLE_CLASS = "ht-cm-example"
COUNT_CLASS = "ht-cm-count"
#: The most examples one cell's panel shows.
EXAMPLES_PER_CELL = 200
#: A cell with no samples (``{true}``/``{pred}``: escaped labels, filled in here and in the browser).
EMPTY_CELL = (f'<div class="ht-cm-head">true {{true}} &rarr; predicted {{pred}}</div>'
              f'<div class="{COUNT_CLASS}">no samples</div>')
_IMAGE_SIDE = 48  # drawn size (px); the PNGs are at least this large, upscaled by whole pixels


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def _rows_table(examples: list[Any]) -> str:
    columns = list(dict.fromkeys(k for e in examples for k in e.value))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["sample", *columns])
    body = "".join(
        f'<tr class="{EXAMPLE_CLASS}"><td>{e.sample}</td>'
        + "".join(f"<td>{html.escape(_value(e.value.get(c)))}</td>" for c in columns) + "</tr>"
        for e in examples
    )
    return f'<table class="ht-cm-rows"><tr>{head}</tr>{body}</table>'


def cell_html(info: ConfusionInfo, t: int, p: int, uris: list[str], limit: int = EXAMPLES_PER_CELL) -> str:
    """The examples panel of cell (``t``, ``p``): heading, count text, then the examples."""
    true, pred = html.escape(info.labels[t]), html.escape(info.labels[p])
    cell = cell_examples(info, t, p, limit)
    if cell.samples == 0:
        return EMPTY_CELL.format(true=true, pred=pred)
    head = f'<div class="ht-cm-head">true {true} &rarr; predicted {pred}</div>'
    count = f'<div class="{COUNT_CLASS}">{html.escape(cell.text)}</div>'
    if t == p or not cell.examples:
        return head + count
    if info.kind == "image":
        body = "".join(
            f'<img class="{EXAMPLE_CLASS}" src="{uris[k]}" width="{_IMAGE_SIDE}" height="{_IMAGE_SIDE}" '
            f'title="sample {info.misclassified[k].sample}" alt="sample {info.misclassified[k].sample}" '
            'style="image-rendering:pixelated;margin:2px">'
            for k in info.examples.get((t, p), [])[: cell.kept]
        )
        return f'{head}{count}<div class="ht-cm-images">{body}</div>'
    if info.kind == "row":
        return head + count + _rows_table(cell.examples)
    return (head + count + '<div class="ht-cm-samples">samples '
            + ", ".join(f'<span class="{EXAMPLE_CLASS}">{e.sample}</span>' for e in cell.examples) + "</div>")


def shown_values(info: ConfusionInfo, normalise: bool) -> dict[str, list[Any]]:
    """The columns that change with "normalise rows": the colour value, its text and text colour."""
    values = (info.row_normalised if normalise else info.counts).ravel()
    top = float(values.max()) if values.size else 0.0
    text = [f"{v:.2f}" for v in values] if normalise else [str(int(v)) for v in values]
    dark = [top > 0 and float(v) > 0.55 * top for v in values]
    return {"value": [float(v) for v in values], "text": text,
            "text_color": ["white" if d else "#222" for d in dark]}


def cell_columns(info: ConfusionInfo, *, normalise: bool = False, limit: int = EXAMPLES_PER_CELL,
                 uris: list[str] | None = None) -> dict[str, list[Any]]:
    """The heat map's data source: one row per cell, rows in label order (true major)."""
    n = len(info.labels)
    uris = image_uris(info) if uris is None else uris
    escaped = [html.escape(label) for label in info.labels]
    columns: dict[str, list[Any]] = {
        "true": [], "pred": [], "true_html": [], "pred_html": [], "count": [], "norm": [], "html": []}
    for t in range(n):
        for p in range(n):
            count = int(info.counts[t, p])
            columns["true"].append(info.labels[t])
            columns["pred"].append(info.labels[p])
            columns["true_html"].append(escaped[t])
            columns["pred_html"].append(escaped[p])
            columns["count"].append(count)
            columns["norm"].append(float(info.row_normalised[t, p]))
            columns["html"].append(cell_html(info, t, p, uris, limit) if count else "")
    columns.update(shown_values(info, normalise))
    return columns

