"""The elbow and ROC/PR computations, and the SDK calls that record their artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from workbench_plugin import ArtifactError
from workbench_plugin.experiment_info import curve_artifacts, elbow_info, roc_info, thin_curve
from workbench_plugin.tracking import SCORES_FILE, Tracker, curve_data, scores_data

KS = list(range(1, 11))


def curve(**ys: Any) -> bytes:
    return json.dumps(curve_data("k", KS, ys)).encode()


def test_inertia_like_curve_has_its_knee_at_the_bend() -> None:
    inertia = [1000 - 300 * (k - 1) if k <= 4 else 100 - 5 * (k - 4) for k in KS]  # steep, then nearly flat from k = 4
    info = elbow_info(curve(inertia=inertia, other=KS), artifact="curve_k.json")
    assert (info.x_name, info.metric, info.metrics) == ("k", "inertia", ["inertia", "other"])
    assert (info.curve, info.direction) == ("convex", "decreasing")
    assert info.knee == 4 and info.knee_y == 100 and info.reason == ""


def test_a_saturating_score_is_concave_increasing() -> None:
    acc = [1 - 0.5 ** k if k <= 3 else 0.875 + 0.001 * k for k in KS]
    info = elbow_info(curve(acc=acc))
    assert (info.curve, info.direction, info.knee) == ("concave", "increasing", 3)


@pytest.mark.parametrize(("ys", "reason"), [
    ({"line": [2.0 * k + 1 for k in KS]}, "no elbow: line is a straight line over k"),
    ({"flat": [3.0] * len(KS)}, "no elbow: flat is constant"),
    ({"few": [None] * 8 + [1.0, 2.0]}, "no elbow: few has 2 points; Kneedle needs at least 3"),
])
def test_no_elbow_says_why(ys: dict[str, Any], reason: str) -> None:
    info = elbow_info(curve(**ys))
    assert info.knee is None and info.reason == reason


def test_missing_values_are_left_out_of_the_curve() -> None:
    silhouette = [None] + [0.1 + 0.01 * k for k in KS[1:]]
    info = elbow_info(curve(inertia=KS[::-1], silhouette=silhouette), "silhouette")
    assert info.x.tolist() == KS[1:] and len(info.y) == 9


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"x_name": "k", "x": [1, 2', "not valid JSON"),
    (b'{"x_name": "k", "x": [2, 1], "y": {"a": [1, 2]}}', "x must be strictly increasing"),
    (b'{"x_name": "k", "x": [1, 2], "y": {"a": [1]}}', "has 1 values but x has 2"),
    (b'{"x_name": "k", "x": [1, 2], "y": {"a": [1, "b"]}}', "it must hold numbers or null"),
    (b'{"x_name": "k", "x": [1, 2], "y": {}}', "'y' must be an object"),
    (b'{"x_name": "k", "x": [1, 2], "y": {"a": [1, 2]}, "z": 0}', None),
])
def test_damaged_curve_is_one_line(raw: bytes, message: str | None) -> None:
    if message is None:
        assert elbow_info(raw).knee is None
        return
    with pytest.raises(ArtifactError, match=message) as err:
        elbow_info(raw, artifact="curve_k.json")
    assert str(err.value).startswith("artifact curve_k.json: ") and "\n" not in str(err.value)


def test_unknown_metric_names_the_ones_there() -> None:
    with pytest.raises(ArtifactError, match="no metric 'acc'; it has inertia"):
        elbow_info(curve(inertia=KS), "acc")


def test_curve_artifacts_are_picked_by_name() -> None:
    assert curve_artifacts(["scores.json", "curve_k.json", "curve_depth.json", "curves.json"]) == [
        "curve_depth.json", "curve_k.json"]


def scores(y: Any, s: Any, **kwargs: Any) -> bytes:
    return json.dumps(scores_data(y, s, **kwargs)).encode()


def test_perfect_classifier_has_auc_1() -> None:
    info = roc_info(scores([0, 0, 1, 1, 0, 1], [0.1, 0.2, 0.8, 0.9, 0.3, 0.7]))
    assert info.auc == 1.0 and info.average_precision == 1.0
    assert info.positive_rate == 0.5 and info.labels == ["0", "1"]


def test_random_scores_give_auc_near_half() -> None:
    rng = np.random.default_rng(0)
    info = roc_info(scores(rng.integers(0, 2, 20_000), rng.random(20_000)))
    assert abs(info.auc - 0.5) < 0.02
    assert len(info.fpr) <= 500 and len(info.recall) <= 500  # thinned for drawing
    assert info.fpr[0] == 0 and info.fpr[-1] == 1 and info.tpr[-1] == 1


def test_small_example_matches_sklearn_with_string_labels() -> None:
    y = ["cat", "dog", "dog", "cat", "dog", "cat", "dog"]
    s = [0.2, 0.6, 0.4, 0.5, 0.9, 0.1, 0.3]
    info = roc_info(scores(y, s, pos_label="dog"))
    truth = [int(v == "dog") for v in y]
    assert info.auc == pytest.approx(roc_auc_score(truth, s))
    assert info.average_precision == pytest.approx(average_precision_score(truth, s))
    assert info.labels == ["cat", "dog"] and info.positive_rate == pytest.approx(4 / 7)


def test_thinning_keeps_the_ends_and_the_shape() -> None:
    x = np.linspace(0, 1, 10_001)
    keep = thin_curve(x, np.sqrt(x), 100)
    assert len(keep) <= 100 and keep[0] == 0 and keep[-1] == 10_000
    assert np.interp(0.5, x[keep], np.sqrt(x)[keep]) == pytest.approx(np.sqrt(0.5), abs=0.01)


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"labels": [0, 1], "y_true": [0, 1], "scores": [0.1', "not valid JSON"),
    (b'{"labels": [0, 1], "y_true": [0, 2], "scores": [0.1, 0.2]}', "0 \\(negative\\) and 1 \\(positive\\) only"),
    (b'{"labels": [0, 1], "y_true": [1, 1], "scores": [0.1, 0.2]}', "both classes"),
    (b'{"labels": [0, 1], "y_true": [0, 1], "scores": [0.1]}', "y_true has 2 values but scores has 1"),
    (b'{"labels": [0, 1, 2], "y_true": [0, 1], "scores": [0.1, 0.2]}', "\\[negative, positive\\]"),
])
def test_damaged_scores_are_one_line(raw: bytes, message: str) -> None:
    with pytest.raises(ArtifactError, match=message) as err:
        roc_info(raw)
    assert str(err.value).startswith(f"artifact {SCORES_FILE}: ")


# ---- the SDK ---------------------------------------------------------------------------------------
def test_log_curve_and_log_scores_write_the_artifacts(tmp_path: Path) -> None:
    t = Tracker(tmp_path)
    t.log_curve("k", np.arange(1, 4), inertia=np.array([9.0, 4.0, 3.5]), silhouette=[None, 0.2, float("nan")])
    assert json.loads((tmp_path / "artifacts" / "curve_k.json").read_text()) == {
        "x_name": "k", "x": [1, 2, 3], "y": {"inertia": [9.0, 4.0, 3.5], "silhouette": [None, 0.2, None]}}
    t.log_scores(np.array([0, 1, 1, 0]), np.array([0.2, 0.7, 0.9, 0.4]))
    data = json.loads((tmp_path / "artifacts" / "scores.json").read_text())
    assert data == {"labels": [0, 1], "pos_label": 1, "y_true": [0, 1, 1, 0], "scores": [0.2, 0.7, 0.9, 0.4],
                    "total": 4}


def test_log_scores_keeps_at_most_max_points_evenly_in_score_order() -> None:
    rng = np.random.default_rng(1)
    y, s = rng.integers(0, 2, 5000), rng.random(5000)
    data = scores_data(y, s, max_points=1000)
    assert len(data["scores"]) == 1000 and data["total"] == 5000
    assert min(data["scores"]) == s.min() and max(data["scores"]) == s.max()
    assert roc_info(json.dumps(data).encode()).auc == pytest.approx(roc_auc_score(y, s), abs=0.03)


@pytest.mark.parametrize(("call", "message"), [
    (lambda t: t.log_curve("k", [1, 2], inertia=[1.0]), "inertia has 1 values but x has 2"),
    (lambda t: t.log_curve("k", [2, 1], inertia=[1.0, 2.0]), "x must be strictly increasing"),
    (lambda t: t.log_curve("k", [1, 2], inertia=[1.0, float("inf")]), r"inertia\[1\] is inf"),
    (lambda t: t.log_curve("../k", [1], inertia=[1.0]), "x_name '../k' is not allowed"),
    (lambda t: t.log_curve("k", [1, 2]), "needs at least one metric"),
    (lambda t: t.log_curve("k", range(100_001), a=range(100_001)), "more than 100000"),
    (lambda t: t.log_scores([0, 1, 2], [0.1, 0.2, 0.3]), "binary classifiers: y_true holds 3 classes"),
    (lambda t: t.log_scores([1, 1], [0.1, 0.2]), "both classes"),
    (lambda t: t.log_scores(["a", "b"], [0.1, 0.2]), "pass pos_label"),
    (lambda t: t.log_scores(["a", "b"], [0.1, 0.2], pos_label="c"), "pos_label 'c' is not in y_true"),
    (lambda t: t.log_scores([0, 1], [[0.9, 0.1], [0.2, 0.8]]), r"proba\[:, 1\]"),
    (lambda t: t.log_scores([0, 1], [0.1]), "y_true has 2 values but scores has 1"),
])
def test_sdk_rejects_bad_curves_and_scores_in_one_line(tmp_path: Path, call: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message) as err:
        call(Tracker(tmp_path))
    assert "\n" not in str(err.value) and str(err.value).startswith("hypertuner tracking: ")
    assert not (tmp_path / "artifacts").exists()
