"""The frames dashboards read: one wide frame of experiments, one long frame of curves.

Computed in ``workbench_plugin`` (the store index builds them), drawn in ``panel_app``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import pandas as pd

__all__ = ["RunFrames", "RunSource", "Scale"]

Scale = Literal["linear", "log", "categorical"]

@dataclass(frozen=True)
class RunFrames:
    """Everything a run page shows, as plain frames.

    ``experiments`` has one row per experiment of the run, in launch order, with columns
    ``experiment_id`` (str, unique), ``label`` (short str such as ``"#3"``), ``state``
    (one of :class:`~workbench_plugin.lifecycle.State`), one column per hyperparameter (named as the flag; int, float
    or str values) and one column per metric (float; NaN until logged). A metric's value is
    its ``summary`` value when the script logged one, else its last per-epoch value.

    ``curves`` is long: ``experiment_id``, ``epoch`` (float, NaN when only steps were
    logged), ``step`` (float, NaN when only epochs), ``name``, ``value``; sorted by
    experiment and time.
    """

    run_id: str
    experiments: pd.DataFrame
    curves: pd.DataFrame
    hparams: tuple[str, ...]
    metrics: tuple[str, ...]
    scales: dict[str, Scale] = field(default_factory=dict)
    version: int = 0


class RunSource(Protocol):
    """What a run page reads. The store index implements it."""

    def frames(self) -> RunFrames:
        """The current frames (cheap: cached until :meth:`refresh` finds new files)."""
        ...

    def refresh(self) -> bool:
        """Read only new files from the store; return True when the frames changed."""
        ...
