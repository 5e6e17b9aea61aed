"""What the experiment and comparison pages show, as plain data (no panel imports).

* :func:`metric_family` and :func:`metric_goal`: which metrics share a y axis (loss and
  accuracy never do) and whether larger is better.
* :func:`confusion_info`, :func:`cell_examples`, :func:`image_uris`: the confusion matrix a script
  recorded, one cell's misclassified examples ("showing k of n"), example images as PNG URIs.
* :func:`elbow_info`: a curve over a model-size hyperparameter (``log_curve``) and its elbow.
* :func:`roc_info`: ROC and precision-recall curves of a binary classifier (``log_scores``).
* :func:`comparison_info`: 2 to 10 experiments side by side (differing hyperparameters first,
  best final metric per row, curves per family).
* :func:`experiment_header`: the experiment page's header (command, snapshot, state, engine,
  duration, usage and cost); :func:`log_tail` and :func:`bounded_log` cut its logs for showing.

A damaged or invalid artifact raises :class:`~workbench_plugin._exceptions.ArtifactError` in one line.
"""

from __future__ import annotations

from workbench_plugin._exceptions import ArtifactError
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
from workbench_plugin.experiment_info._confusion import (
    MAX_ARTIFACT_JSON_BYTES,
    MAX_IMAGE_SIDE,
    MAX_LABELS,
    MAX_ROW_FIELDS,
    CellCount,
    CellExamples,
    ConfusionInfo,
    Example,
    cell_examples,
    cell_text,
    confusion_info,
    load_json,
)
from workbench_plugin.experiment_info._elbow import ElbowInfo, curve_artifacts, curve_metrics, elbow_info
from workbench_plugin.experiment_info._families import FAMILIES, metric_family, metric_goal
from workbench_plugin.experiment_info._header import (
    LOG_TAIL_LINES,
    MAX_LOG_BYTES,
    ExperimentHeader,
    LogPart,
    bounded_log,
    duration_of,
    experiment_header,
    log_tail,
    usage_cost,
)
from workbench_plugin.experiment_info._images import MIN_SIDE, image_uris, png_bytes, png_data_uri
from workbench_plugin.experiment_info._roc import MAX_DRAWN, RocInfo, roc_info, thin_curve

__all__ = [
    "FAMILIES",
    "LOG_TAIL_LINES",
    "MAX_ARTIFACT_JSON_BYTES",
    "MAX_COMPARED",
    "MAX_DRAWN",
    "MAX_IMAGE_SIDE",
    "MAX_LABELS",
    "MAX_LOG_BYTES",
    "MAX_ROW_FIELDS",
    "MIN_COMPARED",
    "MIN_SIDE",
    "ArtifactError",
    "CellCount",
    "CellExamples",
    "CompareCurve",
    "CompareError",
    "ComparedExperiment",
    "ComparisonInfo",
    "ConfusionInfo",
    "ElbowInfo",
    "Example",
    "ExperimentHeader",
    "FamilyCurves",
    "HparamRow",
    "LogPart",
    "MetricRow",
    "RocInfo",
    "best_of",
    "bounded_log",
    "cell_examples",
    "cell_text",
    "compare_count_problem",
    "comparison_info",
    "confusion_info",
    "curve_artifacts",
    "curve_metrics",
    "duration_of",
    "elbow_info",
    "experiment_header",
    "image_uris",
    "load_json",
    "log_tail",
    "metric_family",
    "metric_goal",
    "png_bytes",
    "png_data_uri",
    "roc_info",
    "thin_curve",
    "usage_cost",
]
