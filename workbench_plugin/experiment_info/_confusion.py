"""The confusion matrix an experiment recorded (``confusion_matrix.json``), read strictly, as plain data.

:func:`confusion_info` parses and checks the artifact :func:`workbench_plugin.tracking.log_confusion_matrix`
writes; :func:`cell_examples` picks one cell's misclassified examples and says how many of the
cell's samples they are. A file that is not what the SDK writes raises :class:`ArtifactError` in
one line naming the artifact, what is wrong and what is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from workbench_plugin._exceptions import ArtifactError
from workbench_plugin.tracking import CONFUSION_MATRIX_FILE

__all__ = [
    "MAX_ARTIFACT_JSON_BYTES",
    "MAX_IMAGE_SIDE",
    "MAX_LABELS",
    "MAX_ROW_FIELDS",
    "CellCount",
    "CellExamples",
    "ConfusionInfo",
    "Example",
    "cell_examples",
    "cell_text",
    "confusion_info",
    "load_json",
]

#: The largest JSON artifact read (bytes), the most labels, the largest image side, the most
#: fields of a table-row example.
MAX_ARTIFACT_JSON_BYTES = 64 << 20
MAX_LABELS = 1000
MAX_IMAGE_SIDE = 256
MAX_ROW_FIELDS = 50
_MAX_COUNT = 1 << 62


class Example(NamedTuple):
    """One misclassified sample: its index in the script's data, its classes, and the example
    (an ``np.ndarray`` for kind "image", a ``dict`` of scalars for "row", ``None`` for "none")."""

    sample: int  #: the sample's index in the script's data
    true: int  #: label index
    pred: int
    value: Any


class CellCount(NamedTuple):
    true: str
    pred: str
    samples: int


class CellExamples(NamedTuple):
    examples: list[Example]
    samples: int  #: the cell's count (samples of ``true`` predicted as ``pred``)
    kept: int  #: misclassified examples the file kept for the cell
    text: str  #: "5 examples", "showing 3 of 5", "37 correct predictions"...


class ConfusionInfo(NamedTuple):
    labels: list[str]
    counts: np.ndarray  #: int64, rows true, columns predicted
    row_normalised: np.ndarray  #: each row divided by its sum (0 for an empty row)
    misclassified: list[Example]
    examples: dict[tuple[int, int], list[int]]  #: (true, pred) -> indices into ``misclassified``
    shown: int  #: misclassified examples kept in the file
    total: int  #: misclassified samples in all
    kind: str  #: "image", "row" or "none"

    def largest_off_diagonal(self) -> CellCount | None:
        """The off-diagonal cell with the largest count (the first in row order on a tie); None if all are correct."""
        off = self.counts.copy()
        np.fill_diagonal(off, -1)
        if off.size == 0 or off.max() <= 0:
            return None
        t, p = np.unravel_index(int(off.argmax()), off.shape)
        return CellCount(self.labels[int(t)], self.labels[int(p)], int(off[t, p]))

    def index_of(self, label: str) -> int:
        return self.labels.index(label)


def _fail(what: str) -> ArtifactError:
    return ArtifactError(f"artifact {CONFUSION_MATRIX_FILE}: {what}")


def load_json(raw: bytes, artifact: str) -> Any:
    """``raw`` parsed as JSON, or one :class:`ArtifactError` line naming ``artifact``."""
    if len(raw) > MAX_ARTIFACT_JSON_BYTES:
        raise ArtifactError(f"artifact {artifact}: {len(raw):,} bytes, more than the {MAX_ARTIFACT_JSON_BYTES:,} read")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"artifact {artifact}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "it may be truncated or damaged"
        ) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ArtifactError(f"artifact {artifact}: not valid JSON ({type(exc).__name__})") from None


def _label_text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(f"{where} is {str(value)[:40]!r}; labels must be ints or strings")
    return str(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{where} is {str(value)[:40]!r}; counts must be ints >= 0")
    if value < 0 or value > _MAX_COUNT:
        raise _fail(f"{where} is {value}; counts must be ints >= 0")
    return value


def _image(value: Any) -> np.ndarray | None:
    """A 2-D numeric array (a list of equal-length lists of numbers), or None if it is not one."""
    if not isinstance(value, list) or not value or not all(isinstance(r, list) and r for r in value):
        return None
    if len(value) > MAX_IMAGE_SIDE or any(len(r) > MAX_IMAGE_SIDE for r in value):
        raise _fail(f"an example image is larger than {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}; "
                    f"log images of at most {MAX_IMAGE_SIDE} pixels a side")
    if len({len(r) for r in value}) != 1 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for r in value for v in r
    ):
        return None
    return np.asarray(value, dtype=float)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _row(value: Any) -> dict[str, Any] | None:
    """A table row: a dict of scalars, a flat list of scalars (columns 0, 1, ...) or one scalar."""
    if isinstance(value, Mapping):
        row = {str(k): v for k, v in value.items()}
    elif isinstance(value, list):
        row = {str(i): v for i, v in enumerate(value)}
    elif _scalar(value) and value is not None:
        row = {"value": value}
    else:
        return None
    if len(row) > MAX_ROW_FIELDS:
        raise _fail(f"an example row has {len(row)} fields; at most {MAX_ROW_FIELDS} are shown")
    return row if all(_scalar(v) for v in row.values()) else None


def _kind_and_values(raw: list[Any]) -> tuple[str, list[Any]]:
    if all(v is None for v in raw):
        return "none", [None] * len(raw)
    images = [_image(v) for v in raw]
    if all(i is not None for i in images):
        if len({i.shape for i in images if i is not None}) != 1:
            raise _fail("example images have different shapes; log images of one shape")
        return "image", images
    rows = [_row(v) for v in raw]
    if all(r is not None for r in rows):
        return "row", rows
    raise _fail("examples must all be 2-D numeric images of one shape, all table rows (a dict or flat list "
                "of numbers and strings), or all null")


def confusion_info(raw: bytes) -> ConfusionInfo:
    """Parse and check ``confusion_matrix.json`` (see :func:`workbench_plugin.tracking.confusion_matrix_data`)."""
    data = load_json(raw, CONFUSION_MATRIX_FILE)
    if not isinstance(data, dict):
        raise _fail(f"top level is a JSON {type(data).__name__}; it must be an object with labels and matrix")
    labels_raw, matrix_raw = data.get("labels"), data.get("matrix")
    if not isinstance(labels_raw, list) or not labels_raw:
        raise _fail("'labels' must be a non-empty list of the class labels")
    n = len(labels_raw)
    if n > MAX_LABELS:
        raise _fail(f"{n} labels; at most {MAX_LABELS} are shown")
    labels = [_label_text(v, f"labels[{i}]") for i, v in enumerate(labels_raw)]
    if len(set(labels)) != n:
        raise _fail("labels are not unique; each class must appear once")
    if not isinstance(matrix_raw, list) or len(matrix_raw) != n:
        got = len(matrix_raw) if isinstance(matrix_raw, list) else type(matrix_raw).__name__
        raise _fail(f"'matrix' has {got} rows but there are {n} labels; it must be square, one row and column "
                    "per label")
    for i, row in enumerate(matrix_raw):
        if not isinstance(row, list) or len(row) != n:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise _fail(f"matrix row {i} has {got} counts but there are {n} labels; it must be square")
    counts = np.array([[_count(v, f"matrix[{i}][{j}]") for j, v in enumerate(row)]
                       for i, row in enumerate(matrix_raw)], dtype=np.int64)
    sums = counts.sum(axis=1, keepdims=True)
    row_normalised = np.divide(counts, sums, out=np.zeros(counts.shape), where=sums > 0)
    off_total = int(counts.sum() - np.trace(counts))
    total = data.get("misclassified_total", off_total)
    if isinstance(total, bool) or not isinstance(total, int) or total != off_total:
        raise _fail(f"misclassified_total is {str(total)[:20]} but the matrix has {off_total} off the diagonal")

    entries = data.get("misclassified", [])
    if not isinstance(entries, list):
        raise _fail("'misclassified' must be a list of {index, true, pred, example}")
    if len(entries) > off_total:
        raise _fail(f"{len(entries)} misclassified examples but the matrix has only {off_total} off the diagonal")
    index = {label: i for i, label in enumerate(labels)}
    cells: list[tuple[int, int, int]] = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _fail(f"misclassified[{k}] is not an object with index, true, pred and example")
        t = index.get(_label_text(entry.get("true"), f"misclassified[{k}].true"))
        p = index.get(_label_text(entry.get("pred"), f"misclassified[{k}].pred"))
        if t is None or p is None:
            raise _fail(f"misclassified[{k}] names a class that is not in labels ({str(entry.get('true'))[:20]!r} "
                        f"-> {str(entry.get('pred'))[:20]!r})")
        if t == p:
            raise _fail(f"misclassified[{k}] has true and pred both {labels[t]!r}; a misclassified example differs")
        i = entry.get("index", k)
        if isinstance(i, bool) or not isinstance(i, int):
            raise _fail(f"misclassified[{k}].index is {str(i)[:20]!r}; it must be the sample's int index")
        cells.append((t, p, i))
    kind, values = _kind_and_values([e.get("example") for e in entries])
    misclassified = [Example(i, t, p, v) for (t, p, i), v in zip(cells, values, strict=True)]
    examples: dict[tuple[int, int], list[int]] = {}
    for k, e in enumerate(misclassified):
        examples.setdefault((e.true, e.pred), []).append(k)
    for (t, p), ks in examples.items():
        if len(ks) > counts[t, p]:
            raise _fail(f"{len(ks)} examples of true {labels[t]!r} predicted {labels[p]!r} but the cell counts "
                        f"{int(counts[t, p])}")
    return ConfusionInfo(labels, counts, row_normalised, misclassified, examples, len(misclassified), total, kind)


def cell_text(count: int, kept: int, diagonal: bool) -> str:
    """What a cell's examples panel says about how many it shows."""
    if diagonal:
        return f"{count} correct prediction{'s' if count != 1 else ''}"
    if kept < count:
        return f"showing {kept} of {count}"
    return f"{count} example{'s' if count != 1 else ''}"


def cell_examples(info: ConfusionInfo, t: int, p: int, limit: int | None = None) -> CellExamples:
    """The misclassified examples of cell (``t``, ``p``) (label indices), at most ``limit``."""
    n = len(info.labels)
    if not (0 <= t < n and 0 <= p < n):
        raise IndexError(f"cell ({t}, {p}) is outside the {n}x{n} matrix")
    count = int(info.counts[t, p])
    if t == p:
        return CellExamples([], count, 0, cell_text(count, 0, True))
    picked: Sequence[int] = info.examples.get((t, p), [])
    if limit is not None:
        picked = picked[: max(0, limit)]
    kept = len(picked)
    return CellExamples([info.misclassified[k] for k in picked], count, kept, cell_text(count, kept, False))
