"""Fixtures shared by the unit tests of planning, the next batch and the new-run page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_cli import run_cli
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.store import Store


@pytest.fixture
def earlier(capsys: pytest.CaptureFixture[str], project_dir: Path, tmp_path: Path) -> tuple[str, str]:
    """A project with one finished run (x=1,2 epochs=1 sleep=0) and x locked to 1: (store, run id)."""
    store = str(tmp_path / "s")
    Store(store).create_project("tiny", str(project_dir))
    code, out, _ = run_cli(capsys, "--store", store, "run", "--project", str(project_dir), "x=1,2", "epochs=1",
                           "sleep=0")
    assert code == 0, out
    run_id = Store(store).runs("tiny")[0]
    ProjectMemory(StoreMemory(Store(store), "tiny")).lock("x", run_id=run_id, low=1.0, high=1.0)
    return store, run_id
