"""The records every proposal source shares (plain data: pages draw them, the CLI prints them).

A *domain* is what one hyperparameter of the next batch may take, read from the user's field
(``1e-4..1e-1 log 4``: a float range on a log scale; ``16..256 *2``: ints that stay powers of two
from 16; ``adam,sgd``: categories; ``6``: one value) or, for an added flag with no history, from
the script's declared type and default. A *proposal* is rows of hyperparameter values (every
domain's value on its own scale, locks never changed), one reason per row, and the basis: which
model or module produced the numbers.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from workbench_plugin._exceptions import SpecError
from workbench_plugin.space import Value

__all__ = ["FAMILIES", "SOURCES", "DomainKind", "Domain", "DrawnLine", "FitCurve", "FitReport", "Health",
           "Observation", "Proposal", "ProposalError", "Source"]

Source = Literal["fit", "random", "lhs", "sobol", "tpe", "gp"]
#: The proposal sources, as ``hypertuner plan --propose`` and the next-batch panel name them.
SOURCES: tuple[str, ...] = ("fit", "random", "lhs", "sobol", "tpe", "gp")
#: The candidate function families of a fit, in the order a tie is broken (simplest first).
FAMILIES: tuple[str, ...] = ("linear", "log", "quadratic", "gp")

DomainKind = Literal["fixed", "categorical", "int", "float"]


class ProposalError(SpecError):
    """A proposal that cannot be made: one line naming the field, the value and what is allowed."""


class Domain(NamedTuple):
    """What one hyperparameter may take in the next batch."""

    name: str  #: the flag as the spec names it
    kind: DomainKind
    low: float | None = None  #: numeric bounds of the user's range (both ends allowed); None for fixed/categorical
    high: float | None = None
    log: bool = False  #: proposals spread and fits run in log10 of the value (needs low > 0)
    #: a ``*k`` / ``/k`` range: numeric proposals stay on ``low * ratio**i`` (``16..256 *2``: 16, 32, ...)
    ratio: float | None = None
    #: categorical: the options; fixed: the one value; numeric: the values the script allows
    #: (argparse ``choices``), empty when any value in [low, high] is allowed
    choices: tuple[Value, ...] = ()
    locked: bool = False  #: a lock: proposals never change it (kind is then "fixed" or "categorical")
    default: Value | None = None  #: the script's default, where known
    #: where the domain came from, one line ("your range 1e-4..1e-1 log 4", "no history: type float,
    #: default 0.001, learning-rate-like, so log-spaced 1e-5..1e-1")
    origin: str = ""

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")


class Observation(NamedTuple):
    """A finished (succeeded) experiment of the project with a finite value of the metric."""

    experiment_id: str
    run_id: str
    #: every hyperparameter it ran with: the run's values, and the script's defaults for flags it did not pass
    params: dict[str, Value]
    value: float


class DrawnLine(NamedTuple):
    """A line the user drew over a metric-vs-hyperparameter plot, in data coordinates (x in the
    hyperparameter's own units, not its log), in drawing order; at most 500 points."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]


class FitCurve(NamedTuple):
    """One candidate family fitted to the metric against one hyperparameter."""

    family: str  #: one of :data:`FAMILIES`
    ok: bool  #: False: not fitted, and :attr:`message` says why (e.g. fewer points than parameters)
    message: str
    x: np.ndarray  #: a grid over the domain's range, in the hyperparameter's units
    mean: np.ndarray  #: the fitted metric on :attr:`x`
    low: np.ndarray  #: a 95 % band around :attr:`mean` (the fit's uncertainty, not the noise)
    high: np.ndarray
    cv_rmse: float  #: leave-one-out (or k-fold) root mean squared error; NaN when not fitted
    formula: str  #: the fitted function as text, e.g. ``val_acc = 0.91 + 0.02 log10(lr) - 0.01 log10(lr)^2``
    best_x: float | None  #: where the fit predicts the best metric inside the range (None: not fitted)
    best_y: float | None


class FitReport(NamedTuple):
    """Every candidate family fitted for one hyperparameter, best first."""

    hparam: str
    metric: str
    goal: Literal["max", "min"]
    curves: tuple[FitCurve, ...]  #: fitted ones ranked by cv_rmse first, then those that could not be fitted
    #: the points the fits saw: x in the hyperparameter's units, the metric, the experiment, its weight (0: left out)
    xs: np.ndarray
    ys: np.ndarray
    ids: tuple[str, ...]
    weights: np.ndarray
    held: dict[str, Value]  #: other hyperparameters held at their locked values (points filtered to them)
    covariates: tuple[str, ...]  #: other hyperparameters that vary among the points and enter the fits as covariates
    basis: str  #: one line: "12 finished experiments with batch_size=32 (locked); leave-one-out error"
    message: str = ""  #: one line when no family could be fitted (then no proposal is made from it)
    chosen: str = ""  #: the family a drawn line picked (the closest to its shape), "" without a line

    @property
    def best(self) -> FitCurve | None:
        """The best-ranked fitted family, or None."""
        return next((c for c in self.curves if c.ok), None)

    def curve(self, family: str) -> FitCurve | None:
        return next((c for c in self.curves if c.family == family), None)


class Health(NamedTuple):
    """What the curves of one experiment show (paper 6.1)."""

    experiment_id: str
    flags: tuple[str, ...]  #: a subset of ("overfitting", "noisy", "diverged"), in that order
    reasons: tuple[str, ...]  #: one line per flag, e.g. "val_loss rose for 4 epochs while loss fell"


class Proposal(NamedTuple):
    """Rows for the next batch from one source."""

    source: str  #: one of :data:`SOURCES`
    rows: tuple[dict[str, Value], ...]  #: every domain's name -> a value (locked/fixed ones as given)
    reasons: tuple[str, ...]  #: one line per row: why these values
    basis: str  #: one line: which model or module produced them, on what
    fits: tuple[FitReport, ...] = ()  #: the fits behind a "fit" proposal (one per proposed hyperparameter)
    warnings: tuple[str, ...] = ()  #: one line each, e.g. "avoid: 3 of 4 experiments with lr >= 0.1 diverged"
