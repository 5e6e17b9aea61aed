"""The run page's HTML and CSS, in one place: every user- or script-given string is escaped
here with :func:`html.escape` (run ids, lock values and authors, error messages).

The class names (``ht-run-header``, ``ht-badge``, ``ht-progress-<group>``, ``ht-selected``,
``ht-error``, ``ht-lock``, ``ht-table-caption``, ``ht-health``, ``ht-health-<flag>``,
``ht-health-filter``) are what tests and users' styles find.
"""

from __future__ import annotations

import hashlib
import html
import re
from urllib.parse import quote

from panel_app.palette import STATE_COLORS
from workbench_plugin.lifecycle import Progress, State
from workbench_plugin.memory import Lock

__all__ = [
    "BADGES",
    "HEALTH_COLORS",
    "HPARAMS_TITLE",
    "METRICS_TITLE",
    "NOTES_TITLE",
    "NO_NOTES_HTML",
    "caption_html",
    "css_token",
    "header_html",
    "open_experiment_html",
    "plain_title",
    "lock_html",
    "picker_title_html",
    "progress_html",
]

#: The progress groups in drawing order, with their colours (a group is named as its state).
BADGES: tuple[tuple[str, str], ...] = tuple((g, STATE_COLORS[State(g)]) for g in Progress.GROUPS)

#: A name that is safe as it stands in a CSS class (and readable in a selector).
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")


def css_token(name: str) -> str:
    """A CSS class token for a user-given name: the name itself when it is plain (letters,
    digits, ``_``, ``-``; at most 64), else ``n`` and a hash of it. Never a space, markup or
    anything ``classList.add`` refuses (a name such as ``val loss`` blanked the page)."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    return "n" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]


#: Zero-width space: splits a TeX delimiter without changing what is shown.
_ZWSP = "\u200b"


def plain_title(name: str) -> str:
    """A user-given name for a Bokeh widget title, shown as text: Bokeh renders a title with
    TeX delimiters (``$$..$$``, ``\\[..\\]``, ``\\(..\\)``) through MathJax into the page as
    HTML (``\\href{javascript:...}`` included); a zero-width space splits each delimiter."""
    while "$$" in name:
        name = name.replace("$$", "$" + _ZWSP + "$")
    return name.replace("\\[", "\\" + _ZWSP + "[").replace("\\(", "\\" + _ZWSP + "(") \
        .replace("\\]", "\\" + _ZWSP + "]").replace("\\)", "\\" + _ZWSP + ")")


#: The health badges' colours, by flag.
HEALTH_COLORS: dict[str, str] = {"overfitting": "#ef6c00", "noisy": "#7b1fa2", "diverged": "#c62828"}

HPARAMS_TITLE = "<b>Hyperparameters</b>"
METRICS_TITLE = "<b>Metrics</b>"
NOTES_TITLE = "<b>Notes</b>"
NO_NOTES_HTML = ('<span style="color:#777">No notes yet: a note keeps this view (selection, '
                 "metric, chart) for whoever opens it.</span>")


def progress_html(progress: Progress) -> str:
    """A stacked bar of the batch: succeeded, running, queued, failed (widths by count)."""
    total = max(progress.total, 1)
    parts = "".join(
        f'<div class="ht-progress-{key}" title="{getattr(progress, key)} {key}" style="width:'
        f'{100.0 * getattr(progress, key) / total:.3f}%;background:{color}"></div>'
        for key, color in BADGES if getattr(progress, key)
    )
    return ('<div class="ht-progress" style="display:inline-flex;vertical-align:middle;'
            'width:220px;height:12px;border-radius:6px;overflow:hidden;background:#eee;'
            f'margin:0 8px">{parts}</div>')


def open_experiment_html(experiment_id: str, label: str) -> str:
    """The header's link to the page of the one selected experiment (a click on a point or a bar)."""
    return (f'<a class="ht-open-experiment-link" href="?experiment={html.escape(quote(experiment_id, safe=""))}">'
            f"Open experiment {html.escape(label)}</a>")


def header_html(run_id: str, progress: Progress, selected: int, error: str, open_link: str = "") -> str:
    """The run header: id, progress bar and badges, how many are selected (with ``open_link``,
    :func:`open_experiment_html`, when one is), the last error."""
    badges = "".join(
        f'<span class="ht-badge" style="background:{color}">{getattr(progress, key)} {key}</span>'
        for key, color in BADGES
    )
    shown_error = (f'<span class="ht-error" style="color:{STATE_COLORS[State.FAILED]}">'
                   f"{html.escape(error)}</span>") if error else ""
    return (
        "<style>.ht-badge{display:inline-block;color:#fff;border-radius:9px;padding:1px 9px;"
        "margin-left:6px;font-size:13px}</style>"
        f'<div class="ht-run-header" style="font-size:15px;line-height:30px">'
        f"<b>Run</b> <code>{html.escape(run_id)}</code>"
        f" &middot; {progress.total} experiments {progress_html(progress)}{badges}"
        f' &middot; <span class="ht-selected">{selected} selected</span> {open_link} {shown_error}</div>'
    )


def picker_title_html(name: str) -> str:
    """The title of a hyperparameter's category picker (Bokeh's button group has none)."""
    return (f'<span class="ht-picker-title" style="font-size:12px">{html.escape(name)}: '
            '<span style="color:#777">the values picked</span></span>')


def lock_html(lock: Lock | None) -> str:
    """What a hyperparameter is locked at, and by whom."""
    if lock is None:
        return '<span class="ht-lock" style="color:#777;font-size:12px">not locked</span>'
    who = f" by {html.escape(lock.author)}" if lock.author else ""
    return (f'<span class="ht-lock" style="font-size:12px">kept at '
            f"<b>{html.escape(lock.describe())}</b>{who}</span>")


def caption_html(total: int, shown: int | None) -> str:
    """The table's caption: all experiments, or the ``shown`` selected ones."""
    if shown is None:
        text = f"All {total:,} experiments"
    else:
        text = (f"The {shown:,} selected of {total:,} experiments "
                "(Clear selection shows all)")
    return f'<span class="ht-table-caption" style="font-size:12px;color:#555">{text}</span>'
