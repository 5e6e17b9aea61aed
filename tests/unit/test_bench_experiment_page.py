"""The experiment-page benchmark's data (bench/experiment_page.py), built small: a real store project
whose two experiments the index reads back with their epochs, and confusion matrices with exactly
the misclassified examples asked for, every one kept, as 8x8 images; the hover cells alternate."""

from __future__ import annotations

import json
from pathlib import Path

from bench.experiment_page import _cells, build, confusion_payload
from workbench_plugin.experiment_info import cell_examples, confusion_info
from workbench_plugin.index import ProjectIndex
from workbench_plugin.tracking import CONFUSION_MATRIX_FILE


def test_build_writes_two_experiments_the_page_can_read(tmp_path: Path) -> None:
    bp = build(str(tmp_path / "store"), epochs=30, classes=12, examples=40, base_epochs=5, base_classes=4,
               base_examples=6)
    index = ProjectIndex(bp.store, bp.project)
    index.refresh()
    assert list(index.runs) == [bp.run_id]
    frames = index.frames(bp.run_id)
    assert sorted(frames.experiments["experiment_id"]) == sorted(x.experiment_id for x in bp.experiments)
    for x in bp.experiments:
        _, _, folded = index.experiment(x.experiment_id)
        assert folded.state == "succeeded"
        info = confusion_info(bp.store.read_artifact(bp.project, bp.run_id, x.experiment_id, CONFUSION_MATRIX_FILE))
        assert len(info.labels) == x.classes and info.total == x.misclassified == info.shown
        worst = info.largest_off_diagonal()
        assert worst is not None
        cell = cell_examples(info, info.index_of(worst.true), info.index_of(worst.pred))
        assert cell.kept == worst.samples
    points = index.metrics_table(bp.run_id).to_pandas()
    for x in bp.experiments:
        mine = points[(points["experiment_id"] == x.experiment_id) & (points["kind"] == "epoch")]
        assert sorted(mine["name"].unique()) == ["train_acc", "train_loss", "val_acc", "val_loss"]
        assert mine["epoch"].max() == x.epochs and len(mine) == 4 * x.epochs


def test_payload_and_cells() -> None:
    payload = confusion_payload(10, 25)
    assert len(payload["misclassified"]) == payload["misclassified_total"] == 25
    assert all(len(m["example"]) == 8 and len(m["example"][0]) == 8 for m in payload["misclassified"])
    assert sum(sum(row) for row in payload["matrix"]) == 200
    json.dumps(payload)  # what the store gets
    cells = _cells(payload, 12, 0)
    assert len(set(cells)) == 12
    wrong = {(str(m["true"]), str(m["pred"])) for m in payload["misclassified"]}
    assert [c in wrong for c in cells[:6]] == [True, False] * 3
