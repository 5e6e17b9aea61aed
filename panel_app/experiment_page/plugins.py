"""The plug-in interface of the experiment page: a view declares what it needs and draws from it.

Every view of one experiment — the epoch observatory, the confusion matrix, the elbow chart,
ROC and precision-recall curves — is an :class:`ExperimentView`, registered the same way a
user's package registers its own: an entry point in the group :data:`ENTRY_POINT_GROUP`::

    [project.entry-points."hypertuner.views"]
    histogram = "my_views:Histogram"

A view names the artifacts (file-name patterns) and metrics (name patterns) it needs; the page
shows it only for experiments that have them, and says in one line which one is missing
otherwise. :meth:`ExperimentView.render` gets an :class:`ExperimentData` (read once per page)
and a :class:`ViewState` (the view's part of the page's view state: what a link or a note
restores) and returns anything Panel can show. An exception in a view becomes one line where
the view would be; the rest of the page still works.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pandas as pd

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAX_ARTIFACT_BYTES",
    "ExperimentData",
    "ExperimentView",
    "ViewState",
    "missing_needs",
]

#: The entry point group a package registers its experiment views in.
ENTRY_POINT_GROUP = "hypertuner.views"
#: The largest artifact a view may read (bytes); a larger one is refused in one line.
MAX_ARTIFACT_BYTES = 64 << 20


@dataclass(frozen=True)
class ExperimentData:
    """One experiment, as the views read it.

    ``curves`` is this experiment's rows of :attr:`workbench_plugin.frames.RunFrames.curves`
    (columns ``epoch``, ``step``, ``name``, ``value``; sorted by time); ``final`` its final
    metric values (NaN until logged); ``artifacts`` the names of the files it recorded;
    :meth:`read_artifact` reads one (bounded by :data:`MAX_ARTIFACT_BYTES`).
    """

    experiment_id: str
    run_id: str
    label: str
    state: str
    params: Mapping[str, Any]
    curves: pd.DataFrame
    final: Mapping[str, float]
    artifacts: tuple[str, ...] = ()
    reader: Callable[[str], bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The names of the metrics logged per epoch or step, in first-logged order."""
        if self.curves.empty:
            return ()
        return tuple(dict.fromkeys(str(n) for n in self.curves["name"]))

    def read_artifact(self, name: str) -> bytes:
        """The bytes of artifact ``name``; ``KeyError`` when the experiment has none of that name."""
        if name not in self.artifacts or self.reader is None:
            raise KeyError(f"artifact {name!r}: experiment {self.experiment_id} recorded no such file")
        return self.reader(name)


class ViewState(MutableMapping[str, Any]):
    """A view's part of the page's view state: JSON-able values a link or a note restores.

    Setting a value tells the page (``on_change``), which rewrites the URL; a view reads its
    initial values from here in :meth:`ExperimentView.render`.
    """

    def __init__(self, values: Mapping[str, Any] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})
        self.on_change = on_change

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if self._values.get(key, object()) == value:
            return
        self._values[key] = value
        if self.on_change is not None:
            self.on_change()

    def __delitem__(self, key: str) -> None:
        del self._values[key]
        if self.on_change is not None:
            self.on_change()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


@runtime_checkable
class ExperimentView(Protocol):
    """A view of one experiment. ``name`` is its key in the page's view state and URL (short,
    ``[a-z0-9_]``); ``title`` what the page shows above it; ``needs_artifacts`` and
    ``needs_metrics`` are :mod:`fnmatch` patterns, each of which must match one of the
    experiment's artifacts or logged metrics for the view to be shown."""

    name: str
    title: str
    needs_artifacts: tuple[str, ...]
    needs_metrics: tuple[str, ...]

    def render(self, data: ExperimentData, state: ViewState) -> Any:
        """Anything Panel can show (a pane, a layout, a Bokeh figure)."""
        ...


def missing_needs(view: ExperimentView, data: ExperimentData) -> str:
    """One line naming what ``data`` lacks for ``view`` ("" when it has everything)."""
    for pattern in getattr(view, "needs_artifacts", ()):
        if not fnmatch.filter(data.artifacts, pattern):
            return (f"{view.title}: experiment {data.experiment_id} recorded no artifact {pattern!r}"
                    + (f" (it has {', '.join(data.artifacts[:8])})" if data.artifacts else ""))
    names = data.metric_names
    for pattern in getattr(view, "needs_metrics", ()):
        if not fnmatch.filter(names, pattern):
            return f"{view.title}: experiment {data.experiment_id} logged no metric {pattern!r} per epoch"
    return ""
