"""workbench_plugin.batch without an engine run: what the CLI and spark_jobs/launch_batch.py share."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench_plugin.batch import EXIT_BAD_INPUT, main, open_store, plan_batch
from workbench_plugin.config import load_config
from workbench_plugin.project import find_project
from workbench_plugin.space import SearchSpec


def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                          tmp_path: Path) -> None:
    open_store(load_config()).create_project("tiny", str(project_dir))
    bad = tmp_path / "bad.toml"
    bad.write_text('x = "5..1 *2"\n')
    assert main(["--spec", str(bad), "--project", str(project_dir)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("hypertuner: error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        main(["--project", str(project_dir)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--spec" in err and err.startswith("hypertuner submit: error:")


def test_plan_batch_flags_nothing_in_a_new_project(project_dir: Path) -> None:
    config = load_config()
    store = open_store(config)
    store.create_project("tiny", str(project_dir))
    plan, index = plan_batch(config, store, find_project(project_dir), SearchSpec.parse({"x": "1,2", "epochs": 1}))
    assert [e.status for e in plan.experiments] == ["new", "new"] and index.project == "tiny"
