"""Proposals for the next batch: values from fitted functions, a drawn trend line or circled points,
and automated search modules (random, Latin hypercube, Sobol, TPE, Gaussian process), plus the
overfitting / noise / divergence flags of experiments' curves.

Pure computations returning plain records (:mod:`._types`); the next-batch page and
``hypertuner plan --propose`` draw and print them.
"""

from __future__ import annotations

from workbench_plugin.proposals._health import avoid_warnings, health_of
from workbench_plugin.proposals._types import (
    FAMILIES,
    SOURCES,
    Domain,
    DomainKind,
    DrawnLine,
    FitCurve,
    FitReport,
    Health,
    Observation,
    Proposal,
    ProposalError,
    Source,
)

__all__ = ["FAMILIES", "SOURCES", "Domain", "DomainKind", "DrawnLine", "FitCurve", "FitReport", "Health",
           "Observation", "Proposal", "ProposalError", "Source", "avoid_warnings", "health_of"]
