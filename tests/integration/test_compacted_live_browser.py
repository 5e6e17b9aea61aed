"""A page open on a compacted run follows it live: new parts after the compaction, then a newer
compaction, reach the browser without a reload (real store, real Panel server, real Chromium)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from panel_app.server import serve_run_page
from tests.integration.browser import column, open_page, wait_for
from workbench_plugin.compaction import compact_run
from workbench_plugin.index import ProjectIndex, RunView
from workbench_plugin.lifecycle import State
from workbench_plugin.store import METRIC_COLUMNS, Experiment, Run, Store

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]


class Run4:
    """A run of four experiments: three finished, the last one running, epochs from one clock."""

    def __init__(self, root: Path) -> None:
        self.store = Store(str(root / "store"))
        self.store.create_project("p", str(root))
        run_id = self.store.new_run_id()
        self.run = Run(run_id=run_id, project="p", created=1.0, author="me", script="train.py", interpreter="",
                       flag_style="space", spec={"lr": "x"}, scales={}, snapshot_id="s", data_id="d",
                       engine="local", n_experiments=4)
        self.ids = [f"{run_id}-{i}" for i in range(4)]
        self.store.write_run(self.run, [Experiment(e, run_id, i, {"lr": 0.1 * (i + 1)}, [])
                                        for i, e in enumerate(self.ids)])
        self.clock = 1000.0
        self.seq = [0] * 4

    def epoch(self, exp: int, epoch: int, val_loss: float) -> None:
        self.clock += 1
        cols: dict[str, list[Any]] = {c: [] for c in METRIC_COLUMNS}
        for name, value in (("loss", val_loss / 2), ("val_loss", val_loss)):
            for c, v in zip(METRIC_COLUMNS, (self.ids[exp], "epoch", epoch, None, self.clock, name, value, "sdk"),
                            strict=True):
                cols[c].append(v)
        self.store.write_metrics_part("p", self.run.run_id, self.ids[exp], self.seq[exp], cols)
        self.seq[exp] += 1


def test_a_page_follows_a_compacted_run_that_gains_new_parts(browser: Any, tmp_path: Path) -> None:
    r = Run4(tmp_path)
    for exp in range(4):
        for epoch in range(3):
            r.epoch(exp, epoch, 1.0 - 0.1 * epoch - 0.01 * exp)
        r.store.append_state("p", r.run.run_id, r.ids[exp], State.RUNNING if exp == 3 else State.SUCCEEDED)
    assert compact_run(r.store, "p", r.run.run_id).written
    index = ProjectIndex(r.store, "p")
    view = RunView(index, r.run.run_id)
    assert index.entry(r.run.run_id).compacted is not None and not index.entry(r.run.run_id).curves.parts
    with serve_run_page(view, refresh_ms=300) as served:
        page = open_page(browser, served.url, rows=4)
        try:
            page.evaluate("() => { window.__same_page = true; }")
            assert column(page, "runpage-source", "m:val_loss")[3] == pytest.approx(0.77)
            r.epoch(3, 3, 0.5)  # a new epoch of the running experiment, after the compaction
            wait_for(lambda: column(page, "runpage-source", "m:val_loss")[3] == pytest.approx(0.5),
                     timeout=10, what="the new epoch on the page")
            assert compact_run(r.store, "p", r.run.run_id).written  # a newer compaction meanwhile
            r.epoch(3, 4, 0.25)
            r.store.append_state("p", r.run.run_id, r.ids[3], State.SUCCEEDED)
            wait_for(lambda: column(page, "runpage-source", "m:val_loss")[3] == pytest.approx(0.25),
                     timeout=10, what="the epoch after the newer compaction")
            wait_for(lambda: column(page, "runpage-source", "state")[3] == "succeeded", timeout=10,
                     what="the final state")
            assert column(page, "runpage-source", "m:val_loss")[:3] == pytest.approx([0.8, 0.79, 0.78])
            assert page.evaluate("() => window.__same_page === true")  # no reload
        finally:
            page.close()
    curves = index.frames(r.run.run_id).curves_for([r.ids[3]])
    assert list(curves[curves["name"] == "val_loss"]["value"]) == pytest.approx([0.97, 0.87, 0.77, 0.5, 0.25])
