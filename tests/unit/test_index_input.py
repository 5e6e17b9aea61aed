"""The index with awkward input (issue 9, defect 13): an empty id names nothing, and 400 metrics
build their columns without pandas' fragmentation warnings (which `show` printed 301 times)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from tests.unit.test_index import make_run, write_points
from workbench_plugin._exceptions import NotFound
from workbench_plugin.cli import main
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Experiment, Run, Store


@pytest.mark.parametrize("ident", ["", " ", "\t"])
def test_an_empty_id_is_a_one_line_error_not_every_experiment(tmp_path: Path, ident: str) -> None:
    store = Store(str(tmp_path / "store"))
    make_run(store, n=1)  # one run of one experiment: '' used to be a prefix of both
    with pytest.raises(NotFound, match="empty") as info:
        ProjectIndex(store, "p").resolve(ident)
    assert "\n" not in str(info.value)


def test_400_metrics_build_without_warnings_and_in_logging_order(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    run = make_run(store, n=2)
    names = [f"m{j:03d}" for j in range(400)]
    write_points(store, run, 0, [(i, "epoch", 1, 1.0 + j, name, float(i + j))
                                 for i in range(2) for j, name in enumerate(names)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = ProjectIndex(store, "p").frames(run.run_id)
    assert list(frames.metrics) == names
    assert list(frames.experiments.columns) == ["experiment_id", "label", "state", "lr", *names]
    assert frames.experiments["m399"].tolist() == [399.0, 400.0]


def test_kill_with_an_empty_id_kills_nothing(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                             tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    store.create_project("tiny", str(project_dir))
    run = Run(run_id=store.new_run_id(), project="tiny", created=1.0, author="me", script="train.py",
              interpreter="", flag_style="space", spec={"x": "1"}, scales={}, snapshot_id="s1", data_id="d1",
              engine="local", n_experiments=1)
    store.write_run(run, [Experiment(f"{run.run_id}-0", run.run_id, 0, {"x": 1}, [])])
    with pytest.raises(SystemExit) as info:
        sys.exit(main(["--store", store.url, "kill", "", "--project", str(project_dir)]))
    out, err = capsys.readouterr()
    assert info.value.code == 2 and out == "" and "empty" in err and len(err.strip().splitlines()) == 1
    assert ProjectIndex(store, "tiny").resolve(run.run_id)[0][2].state == "queued"
