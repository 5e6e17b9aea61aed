"""The selection mask: one byte per experiment, from which every highlight is drawn.

The server keeps a selection as experiment ids; :func:`combine` merges new hits into it by mode
and :func:`mask_of_rows` turns it into the mask. In the browser, :data:`RENDER_JS` runs on every
change of the mask source (whoever set it: a hit test in the browser or the server) and fills
each highlight source with the selected rows of its full source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

__all__ = ["HIGHLIGHT_LINE", "MODES", "RENDER_JS", "Mode", "combine", "mask_of_rows", "rows_of"]

#: How new hits combine with the current selection.
Mode = Literal["replace", "append", "intersect", "subtract"]
MODES: tuple[Mode, ...] = ("replace", "append", "intersect", "subtract")


def combine(old: Iterable[str], hits: Iterable[str], mode: Mode = "replace") -> set[str]:
    """The selection after ``hits`` are combined with ``old`` by ``mode``."""
    new, before = set(hits), set(old)
    if mode == "append":
        return new | before
    if mode == "intersect":
        return new & before
    if mode == "subtract":
        return before - new
    if mode != "replace":
        raise ValueError(f"selection mode {mode!r}: use 'replace', 'append', 'intersect' "
                         "or 'subtract'")
    return new


def mask_of_rows(rows: Sequence[int], n: int) -> np.ndarray:
    """One byte per row of ``n``: 1 at ``rows``."""
    mask = np.zeros(n, dtype=np.uint8)
    mask[np.asarray(rows, dtype=np.int64)] = 1
    return mask


def rows_of(data: Mapping[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The ``rows`` of every column of ``data`` (numpy arrays stay arrays, lists stay lists)."""
    out: dict[str, Any] = {}
    for key, col in data.items():
        if isinstance(col, np.ndarray):
            out[key] = col[rows]
        else:
            out[key] = [col[r] for r in rows if r < len(col)]
    return out


#: The ring drawn around highlighted points and bars.
HIGHLIGHT_LINE = "#111111"

#: Browser side of every selection: fills each highlight source with the rows of its full
#: source whose byte in ``mask`` is 1. Runs whenever the mask changes, whether the browser set
#: it (box, lasso, click) or the server sent it (table rows, sliders, a note, a link).
RENDER_JS = """
const md = mask.data;
const m = (md instanceof Map) ? md.get("mask") : md["mask"];
const n = m == null ? 0 : m.length;
const rows = [];
for (let i = 0; i < n; i++) { if (m[i]) { rows.push(i); } }
for (const [full, part] of pairs) {
  const d = full.data;
  const isMap = d instanceof Map;
  const keys = isMap ? [...d.keys()] : Object.keys(d);
  const out = {};
  for (const key of keys) {
    const col = isMap ? d.get(key) : d[key];
    const ok = rows.filter((r) => r < col.length);
    const picked = ArrayBuffer.isView(col) ? new col.constructor(ok.length) : new Array(ok.length);
    for (let k = 0; k < ok.length; k++) { picked[k] = col[ok[k]]; }
    out[key] = picked;
  }
  part.setv({data: out}, {sync: false});
}
"""
