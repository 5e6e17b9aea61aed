"""ROC and precision-recall curves of a binary classifier, from the ``scores.json`` it recorded.

:func:`roc_info` reads what :func:`workbench_plugin.tracking.log_scores` writes and computes the
curves and their areas with :mod:`sklearn.metrics`; the curves are thinned for drawing to at most
:data:`MAX_DRAWN` points evenly spaced along their length, which keeps their shape.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from workbench_plugin._exceptions import ArtifactError
from workbench_plugin.experiment_info._confusion import load_json
from workbench_plugin.tracking import SCORES_FILE

__all__ = ["MAX_DRAWN", "RocInfo", "roc_info", "thin_curve"]

#: The most points of a drawn curve.
MAX_DRAWN = 500


class RocInfo(NamedTuple):
    labels: list[str]  #: [negative, positive]
    n: int  #: samples in the file
    total: int  #: samples the script scored (before a subsample)
    positive_rate: float  #: the precision-recall baseline
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray  #: of the ROC points
    auc: float
    precision: np.ndarray
    recall: np.ndarray
    average_precision: float


def _fail(what: str) -> ArtifactError:
    return ArtifactError(f"artifact {SCORES_FILE}: {what}")


def thin_curve(x: np.ndarray, y: np.ndarray, max_points: int = MAX_DRAWN) -> np.ndarray:
    """Indices of at most ``max_points`` points of the curve (x, y), evenly spaced along its length
    (first and last kept), so a thinned curve keeps its corners."""
    n = len(x)
    if n <= max_points:
        return np.arange(n)
    steps = np.hypot(np.diff(x), np.diff(y))
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] == 0:
        return np.array([0, n - 1])
    bins = np.floor(along / along[-1] * (max_points - 2)).astype(np.int64)
    keep = np.flatnonzero(np.diff(bins, prepend=-1) != 0)
    return np.unique(np.concatenate([keep, [n - 1]]))[:max_points]


def roc_info(raw: bytes) -> RocInfo:
    """Parse and check ``scores.json``; the ROC and precision-recall curves, AUC and average precision."""
    data = load_json(raw, SCORES_FILE)
    if not isinstance(data, dict):
        raise _fail(f"top level is a JSON {type(data).__name__}; it must be an object with labels, y_true and scores")
    labels, y_raw, s_raw = data.get("labels"), data.get("y_true"), data.get("scores")
    if not isinstance(labels, list) or len(labels) != 2 or not all(
        isinstance(v, int | str) and not isinstance(v, bool) for v in labels
    ):
        raise _fail("'labels' must be [negative, positive], two ints or strings")
    if not isinstance(y_raw, list) or not isinstance(s_raw, list):
        raise _fail("'y_true' and 'scores' must be lists, one value per sample")
    if len(y_raw) != len(s_raw):
        raise _fail(f"y_true has {len(y_raw)} values but scores has {len(s_raw)}; one of each per sample")
    if any(v not in (0, 1) or isinstance(v, float) for v in y_raw):
        raise _fail("y_true must hold 0 (negative) and 1 (positive) only")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in s_raw):
        raise _fail("scores must be numbers")
    y = np.array(y_raw, dtype=np.int8)
    s = np.array(s_raw, dtype=float)
    if not np.isfinite(s).all():
        raise _fail("scores must be finite numbers")
    positives = int(y.sum())
    if positives in (0, len(y)):
        raise _fail(f"needs samples of both classes, but all {len(y)} are "
                    f"{'positive' if positives else 'negative'}")
    total = data.get("total", len(y))
    if isinstance(total, bool) or not isinstance(total, int) or total < len(y):
        raise _fail(f"total is {str(total)[:20]!r}; it must be an int >= the {len(y)} samples in the file")

    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    fpr, tpr, thresholds = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    keep_roc = thin_curve(fpr, tpr)
    keep_pr = thin_curve(recall, precision)
    return RocInfo(
        [str(v) for v in labels], len(y), total, positives / len(y),
        fpr[keep_roc], tpr[keep_roc], thresholds[keep_roc], float(roc_auc_score(y, s)),
        precision[keep_pr], recall[keep_pr], float(average_precision_score(y, s)),
    )
