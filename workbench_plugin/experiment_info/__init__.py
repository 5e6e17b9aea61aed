"""What the experiment and comparison pages show, as plain data (no panel imports).

* :func:`metric_family` and :func:`metric_goal`: which metrics share a y axis (loss and
  accuracy never do) and whether larger is better.
* :func:`comparison_info`: 2 to 10 experiments side by side (differing hyperparameters first,
  best final metric per row, curves per family).
"""

from __future__ import annotations

from workbench_plugin.experiment_info._compare import (
    MAX_COMPARED,
    MIN_COMPARED,
    CompareCurve,
    ComparedExperiment,
    CompareError,
    ComparisonInfo,
    FamilyCurves,
    HparamRow,
    MetricRow,
    best_of,
    compare_count_problem,
    comparison_info,
)
from workbench_plugin.experiment_info._families import FAMILIES, metric_family, metric_goal

__all__ = [
    "FAMILIES",
    "MAX_COMPARED",
    "MIN_COMPARED",
    "CompareCurve",
    "CompareError",
    "ComparedExperiment",
    "ComparisonInfo",
    "FamilyCurves",
    "HparamRow",
    "MetricRow",
    "best_of",
    "compare_count_problem",
    "comparison_info",
    "metric_family",
    "metric_goal",
]
