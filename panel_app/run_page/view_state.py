"""What a link or a note restores of a run page: selection (as made), metric and chart.

A view state is a plain dict, ``{"chart": "bars" | "lines", "metric": name, "selection":
origin}``, where ``origin`` says how the selection was made (see ``RunPageModel.origin``):
``{"ids": [labels]}``, ``{"geometry": {...}, "x": h, "y": m}``, ``{"point": {...}, "x": h,
"y": m}`` or ``{"ranges": {name: [lo, hi]}, "categories": {name: [labels]}, "health":
"diverged"}`` (sliders, category pickers and the health filter, each key only when narrowed).
Links carry it in ``?view=`` as a token of :func:`~workbench_plugin.memory.encode_view`; notes
store the dict. Restoring recomputes the selection from how it was made, so a brush still
selects what lies inside it after new experiments arrive. No panel imports here.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import param

from workbench_plugin._exceptions import ConfigError
from workbench_plugin.memory import decode_view, encode_view

if TYPE_CHECKING:
    from panel_app.run_page.model import RunPageModel

__all__ = ["CHARTS", "apply_view_state", "search_with_view", "view_from_args", "view_state"]

#: The metric charts: a bar per experiment, or per-epoch lines.
CHARTS = ("bars", "lines")


def view_state(model: RunPageModel) -> dict[str, Any]:
    """Selection (as made), metric and chart: what a note or a link restores."""
    view: dict[str, Any] = {"chart": model.chart}
    if model.bar_metric is not None:
        view["metric"] = model.bar_metric
    if model.selection:
        origin = dict(model.origin)
        if not origin or "ids" in origin:
            labels = model.data.get("label", [])
            origin = {"ids": [labels[r] for r in model.selected_rows()]}
        view["selection"] = origin
    return view


def apply_view_state(model: RunPageModel, view: Mapping[str, Any]) -> list[str]:
    """Restore a view from :func:`view_state`; returns what could not be restored."""
    problems: list[str] = []
    with param.parameterized.batch_call_watchers(model):
        chart = view.get("chart", "bars")
        if chart in CHARTS:
            model.chart = chart
        else:
            problems.append(f"chart={_shown(chart)} (use bars or lines)")
        metric = view.get("metric")
        if metric is not None:
            if metric in model.param.bar_metric.objects:
                model.bar_metric = metric
            else:
                problems.append(f"metric={_shown(metric)} is not a metric of this run")
        sel = view.get("selection") or {}
        try:
            ids = _resolve_origin(model, sel)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(_shown_error(f"selection: {exc}"))
            ids, sel = [], {}
        model.origin = dict(sel)
        model.select_ids(ids)
    return problems


#: Where a problem quotes a value from a link, at most this many characters of it.
_SHOWN_CHARS = 80


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def _shown_error(message: str) -> str:
    """One bounded line (an exception's text may quote a whole value, or span lines)."""
    line = " ".join(message.split())
    return line if len(line) <= 2 * _SHOWN_CHARS else line[:2 * _SHOWN_CHARS] + "..."


def _mapping(what: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is {type(value).__name__}, not an object")
    return value


def _resolve_origin(model: RunPageModel, sel: Any) -> list[str]:
    if not sel:
        return []
    sel = _mapping("selection", sel)
    if "ids" in sel:
        if not isinstance(sel["ids"], list):
            raise ValueError(f"ids is {type(sel['ids']).__name__}, not a list of labels")
        return model.ids_of_labels(str(lab) for lab in sel["ids"])
    if "geometry" in sel:
        return model.ids_in_geometry(_mapping("geometry", sel["geometry"]), str(sel["x"]),
                                     str(sel["y"]))
    if "point" in sel:
        p = _mapping("point", sel["point"])
        return model.ids_at_point(str(sel["x"]), str(sel["y"]), float(p["x"]), float(p["y"]),
                                  x_span=tuple(p["x_span"]), y_span=tuple(p["y_span"]),
                                  frame=tuple(p["frame"]))
    if "ranges" in sel:
        categories = _mapping("categories", sel.get("categories") or {})
        for name, picked in categories.items():
            if not isinstance(picked, list):
                raise ValueError(f"categories of {name!r} is {type(picked).__name__}, not a list")
        return model.ids_in_ranges(_mapping("ranges", sel["ranges"]), categories,
                                   str(sel.get("health") or "any"))
    raise ValueError(f"unknown selection kind {sorted(sel)}")


def view_from_args(args: Mapping[str, Sequence[bytes | str]]) -> tuple[dict[str, Any], str]:
    """The view in a session's ``?view=`` (``{}`` when none) and a one-line problem ("" if none)."""
    raw = args.get("view", [b""])
    first = raw[0] if raw else b""
    token = first.decode(errors="replace") if isinstance(first, bytes) else str(first)
    if not token:
        return {}, ""
    try:
        return decode_view(token), ""
    except ConfigError as exc:
        return {}, str(exc)


def search_with_view(search: str, view: Mapping[str, Any]) -> str | None:
    """The URL query ``search`` (``"?a=b"``) carrying ``view``; None when it already does."""
    token = encode_view(dict(view))
    query = dict(urllib.parse.parse_qsl(search.lstrip("?")))
    if query.get("view") == token:
        return None
    query["view"] = token
    return "?" + urllib.parse.urlencode(query)
