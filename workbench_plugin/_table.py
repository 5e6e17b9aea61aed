"""Plain-text tables and progress lines for the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workbench_plugin.lifecycle import Progress

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


def progress_line(progress: Progress, width: int = 30) -> str:
    """``[#####.....] 3/8 ended  2 succeeded  1 running  4 queued  1 failed/killed/lost``."""
    total = progress.total
    filled = int(width * progress.ended / total) if total else width
    bar = "#" * filled + "." * (width - filled)
    return (
        f"[{bar}] {progress.ended}/{total} ended  {progress.succeeded} succeeded  {progress.running} running"
        f"  {progress.queued} queued  {progress.failed} failed/killed/lost"
    )
