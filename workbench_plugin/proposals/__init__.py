"""Proposals for the next batch: values from fitted functions, a drawn trend line or circled points,
and automated search modules (random, Latin hypercube, Sobol, TPE, Gaussian process), plus the
overfitting / noise / divergence flags of experiments' curves.

Pure computations returning plain records (:mod:`._types`); the next-batch page and
``hypertuner plan --propose`` draw and print them.
"""

from __future__ import annotations

from workbench_plugin.proposals._domain import (
    domain_for_new_flag,
    domains_from_spec,
    from_unit,
    snap,
    to_unit,
)
from workbench_plugin.proposals._drawn import closest_family, format_line, inside_lasso, line_weights, parse_line
from workbench_plugin.proposals._fits import fit_families, propose_values
from workbench_plugin.proposals._health import avoid_warnings, health_of
from workbench_plugin.proposals._observations import flag_default_values, observations, param_value
from workbench_plugin.proposals._propose import propose
from workbench_plugin.proposals._search import sample
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
           "Observation", "Proposal", "ProposalError", "Source", "avoid_warnings", "closest_family",
           "domain_for_new_flag", "domains_from_spec", "fit_families", "flag_default_values", "format_line",
           "from_unit", "health_of", "inside_lasso", "line_weights", "observations", "param_value", "parse_line",
           "propose", "propose_values", "sample", "snap", "to_unit"]
