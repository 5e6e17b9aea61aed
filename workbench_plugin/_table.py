"""Plain-text tables and progress lines for the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_table", "progress_line", "fmt"]


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.4g}"
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, max_width: int = 90) -> str:
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), max_width)
    def line(values: Sequence[str]) -> str:
        return "  ".join(v[:max_width].ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()
    return "\n".join([line(list(columns)), *(line(r) for r in cells)])


def progress_line(counts: Mapping[str, int], total: int, width: int = 30) -> str:
    done = sum(counts.get(s, 0) for s in ("succeeded", "failed", "killed", "lost"))
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "." * (width - filled)
    bad = counts.get("failed", 0) + counts.get("killed", 0) + counts.get("lost", 0)
    return (
        f"[{bar}] {done}/{total} done  {counts.get('running', 0) + counts.get('submitted', 0)} running"
        f"  {counts.get('queued', 0)} queued  {bad} failed/killed/lost"
    )
