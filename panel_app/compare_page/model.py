"""The compare page's state, without panel: the comparison (plain data), which metric families
are drawn, whether the equal hyperparameters are folded; its view state for links and notes.

A view state is ``{"families": [family, ...], "folded": bool}`` (each key only when not the
default: every family drawn, equal hyperparameters folded), carried in ``?view=`` as a token of
:func:`~workbench_plugin.memory.encode_view` next to ``?compare=``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import param

from panel_app.compare_page.templates import (
    artifacts_html,
    colour_of,
    compare_header_html,
    hparams_html,
    metrics_html,
)
from workbench_plugin.experiment_info import ComparisonInfo, FamilyCurves

__all__ = ["CompareModel"]

#: Where a problem quotes a value from a link, at most this many characters of it.
_SHOWN_CHARS = 80


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


#: The longest confusion-matrix label a view state keeps.
_MAX_LABEL_CHARS = 200


class CompareModel(param.Parameterized):
    """One session's comparison: what is drawn of :attr:`info`."""

    folded = param.Boolean(default=True, doc="Equal hyperparameters folded away.")
    families = param.ListSelector(default=[], objects=[], doc="The metric families drawn.")
    cell = param.List(default=[], item_type=str, bounds=(0, 2),
                      doc="The confusion cell clicked, [true label, predicted label]; [] for none.")

    def __init__(self, info: ComparisonInfo, *, artifacts: Mapping[str, Sequence[str] | str] | None = None,
                 problems: Sequence[str] = (), **params: Any) -> None:
        names = [f.family for f in info.families]
        super().__init__(**params)
        self.info = info
        self.artifacts = dict(artifacts or {})
        self.problems = [p for p in problems if p]
        self.param.families.objects = names
        self.families = list(names)

    # ---- what is drawn -------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return [e.experiment_id for e in self.info.experiments]

    def colours(self) -> dict[str, str]:
        """Each experiment's colour, by id (the palette in comparison order)."""
        return {e.experiment_id: colour_of(i) for i, e in enumerate(self.info.experiments)}

    def labels(self) -> dict[str, str]:
        return {e.experiment_id: e.label for e in self.info.experiments}

    def shown_families(self) -> list[FamilyCurves]:
        return [f for f in self.info.families if f.family in self.families]

    def header_html(self) -> str:
        return compare_header_html(self.info.experiments, self.problems)

    def hparams_html(self) -> str:
        return hparams_html(self.info.experiments, self.info.differing, self.info.equal, folded=self.folded)

    def metrics_html(self) -> str:
        return metrics_html(self.info.experiments, self.info.metrics, self.info.extras)

    def artifacts_html(self) -> str:
        return artifacts_html(self.info.experiments, self.artifacts)

    def fold_label(self) -> str:
        """The fold toggle's label."""
        n = len(self.info.equal)
        noun = "hyperparameter" if n == 1 else "hyperparameters"
        return f"{'Show' if self.folded else 'Hide'} {n} equal {noun}"

    # ---- view state ----------------------------------------------------------------------------
    def view_state(self) -> dict[str, Any]:
        view: dict[str, Any] = {}
        if not self.folded:
            view["folded"] = False
        if list(self.families) != list(self.param.families.objects):
            view["families"] = list(self.families)
        if self.cell:
            view["cell"] = list(self.cell)
        return view

    def apply_view_state(self, view: Mapping[str, Any]) -> list[str]:
        """Restore :meth:`view_state`; returns what could not be restored (one line each)."""
        problems: list[str] = []
        folded = view.get("folded", True)
        if isinstance(folded, bool):
            self.folded = folded
        else:
            problems.append(f"view: folded={_shown(folded)} (use true or false)")
        families = view.get("families")
        if families is not None:
            known = list(self.param.families.objects)
            if not isinstance(families, list):
                problems.append(f"view: families={_shown(families)} is not a list")
            else:
                unknown = [f for f in families if f not in known]
                if unknown:
                    problems.append(f"view: families {_shown(unknown)} are not drawn here "
                                    f"(families: {', '.join(known) or 'none'})")
                self.families = [f for f in known if f in families]
        cell = view.get("cell")
        if cell is not None:
            if (isinstance(cell, list) and len(cell) == 2
                    and all(isinstance(c, str) and 0 < len(c) <= _MAX_LABEL_CHARS for c in cell)):
                self.cell = list(cell)
            else:
                problems.append(f"view: cell={_shown(cell)} (use [true label, predicted label])")
        return problems
