"""The confusion matrix as the experiment page reads it: counts, cells' examples, and damaged files."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest

from workbench_plugin import ArtifactError
from workbench_plugin.experiment_info import (
    MIN_SIDE,
    CellCount,
    cell_examples,
    confusion_info,
    image_uris,
    png_bytes,
)
from workbench_plugin.tracking import confusion_matrix_data

Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2]
Y_PRED = [0, 0, 1, 2, 1, 1, 0, 2, 1, 1, 1, 2]  # true 2 -> predicted 1 three times: the largest off-diagonal


def images(n: int) -> np.ndarray:
    return np.arange(n * 64).reshape(n, 8, 8) % 17


def artifact(**kwargs: Any) -> bytes:
    kwargs.setdefault("examples", images(len(Y_TRUE)))
    return json.dumps(confusion_matrix_data(Y_TRUE, Y_PRED, labels=[0, 1, 2], **kwargs)).encode()


def test_counts_rows_and_the_largest_off_diagonal() -> None:
    info = confusion_info(artifact())
    assert info.labels == ["0", "1", "2"]
    assert info.counts.tolist() == [[2, 1, 1], [1, 2, 0], [0, 3, 2]]
    np.testing.assert_allclose(info.row_normalised.sum(axis=1), 1.0)
    np.testing.assert_allclose(info.row_normalised[2], [0, 0.6, 0.4])
    assert info.largest_off_diagonal() == CellCount("2", "1", 3)
    assert (info.shown, info.total, info.kind) == (6, 6, "image")


def test_every_cell_shows_its_count_of_examples_when_all_were_kept() -> None:
    info = confusion_info(artifact())
    for t in range(3):
        for p in range(3):
            cell = cell_examples(info, t, p)
            if t == p:
                assert cell.examples == [] and cell.text == f"{info.counts[t, t]} correct predictions"
            else:
                assert len(cell.examples) == cell.samples == info.counts[t, p]
                assert all((e.true, e.pred) == (t, p) for e in cell.examples)
                assert "showing" not in cell.text
    assert [e.sample for e in cell_examples(info, 2, 1).examples] == [8, 9, 10]
    assert cell_examples(info, 2, 1).examples[0].value.shape == (8, 8)


def test_showing_k_of_n_when_the_file_kept_fewer() -> None:
    info = confusion_info(artifact(max_examples=4))
    assert (info.shown, info.total) == (4, 6)
    cell = cell_examples(info, 2, 1)
    assert (cell.samples, cell.kept, cell.text) == (3, 1, "showing 1 of 3")  # kept: samples 2, 3, 6, 8
    assert cell_examples(info, 0, 1).text == "1 example"
    full = confusion_info(artifact())
    assert cell_examples(full, 2, 1, limit=2).text == "showing 2 of 3"


def test_rows_and_no_examples() -> None:
    rows = [{"radius": float(i), "kind": "x<y>"} for i in range(len(Y_TRUE))]
    info = confusion_info(artifact(examples=rows))
    assert info.kind == "row"
    assert cell_examples(info, 0, 1).examples[0].value == {"radius": 2.0, "kind": "x<y>"}
    assert confusion_info(artifact(examples=None)).kind == "none"
    flat = confusion_info(artifact(examples=[[i, "a"] for i in range(len(Y_TRUE))]))
    assert flat.kind == "row" and flat.misclassified[0].value == {"0": 2, "1": "a"}


def test_string_labels_keep_the_logged_order() -> None:
    raw = json.dumps(confusion_matrix_data(["b", "a", "b"], ["a", "a", "b"], labels=["b", "a"])).encode()
    info = confusion_info(raw)
    assert info.labels == ["b", "a"] and info.counts.tolist() == [[1, 1], [0, 1]]
    assert confusion_info(json.dumps(confusion_matrix_data([1, 2], [1, 2])).encode()).largest_off_diagonal() is None


def good() -> dict[str, Any]:
    return json.loads(artifact())


def damaged(change: Any) -> bytes:
    data = good()
    change(data)
    return json.dumps(data).encode()


BAD = {
    "truncated": (artifact()[:-40], "not valid JSON"),
    "not utf-8": (b"\xff\xfe{", "not valid JSON"),
    "a list": (b"[1, 2]", "must be an object"),
    "no labels": (damaged(lambda d: d.pop("labels")), "'labels' must be"),
    "labels and matrix differ": (damaged(lambda d: d["labels"].append(3)), "has 3 rows but there are 4 labels"),
    "not square": (damaged(lambda d: d["matrix"][1].pop()), "matrix row 1 has 2 counts but there are 3 labels"),
    "negative count": (damaged(lambda d: d["matrix"][0].__setitem__(1, -1)), "matrix[0][1] is -1"),
    "float count": (damaged(lambda d: d["matrix"][0].__setitem__(1, 1.5)), "counts must be ints >= 0"),
    "huge dimension": (json.dumps({"labels": list(range(5000)), "matrix": []}).encode(), "5000 labels; at most 1000"),
    "duplicate labels": (damaged(lambda d: d["labels"].__setitem__(1, "0")), "not unique"),
    "total off": (damaged(lambda d: d.__setitem__("misclassified_total", 99)), "misclassified_total is 99"),
    "unknown class": (damaged(lambda d: d["misclassified"][0].__setitem__("true", 7)), "not in labels"),
    "true equals pred": (damaged(lambda d: d["misclassified"][0].__setitem__("pred", 0)), "both '0'"),
    "more examples than count": (damaged(lambda d: d["misclassified"].__setitem__(1, dict(d["misclassified"][0]))),
                                 "but the cell counts 1"),
    "huge image": (damaged(lambda d: d["misclassified"][0].__setitem__("example", [[0] * 300] * 2)),
                   "larger than 256x256"),
    "mixed shapes": (damaged(lambda d: d["misclassified"][0].__setitem__("example", [[0, 1], [2, 3]])),
                     "different shapes"),
    "nested junk": (damaged(lambda d: d["misclassified"][0].__setitem__("example", {"a": [1]})), "examples must all"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_damaged_file_is_one_line_naming_the_artifact(case: str) -> None:
    raw, message = BAD[case]
    with pytest.raises(ArtifactError) as err:
        confusion_info(raw)
    text = str(err.value)
    assert "\n" not in text and text.startswith("artifact confusion_matrix.json: ")
    assert message in text
    assert isinstance(err.value, ValueError)


def test_images_become_enlarged_grey_pngs_ink_dark() -> None:
    from PIL import Image

    info = confusion_info(artifact())
    uris = image_uris(info)
    assert len(uris) == len(info.misclassified) == 6
    assert len(set(uris)) == 6
    png = Image.open(io.BytesIO(base64.b64decode(uris[0].removeprefix("data:image/png;base64,"))))
    assert png.mode == "L" and png.size == (MIN_SIDE, MIN_SIDE)
    pixels = np.asarray(png)
    value = info.misclassified[0].value
    assert pixels[0, 0] == round(255 * (1 - value[0, 0] / 16))  # 0..16 over all images, 16 black
    assert image_uris(confusion_info(artifact(examples=None))) == [""] * 6
    with pytest.raises(ValueError, match="2-D uint8"):
        png_bytes(np.zeros((2, 2)))
