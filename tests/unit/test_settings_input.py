"""Settings files and `init`: bad settings are one-line errors where they are read, and `init` is
all-or-nothing (issue 9, defects 10, 11 and 13)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from workbench_plugin._exceptions import ConfigError, SpecError
from workbench_plugin.cli import main
from workbench_plugin.config import load_config
from workbench_plugin.project import find_project
from workbench_plugin.store import Store


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        sys.exit(main(list(argv)))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hypertuner: error: "), err
    return lines[0]


# ---- defect 10: init is all-or-nothing --------------------------------------------------------------
def test_init_that_cannot_register_leaves_no_project_file_and_can_be_retried(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "train.py").write_text("")
    (tmp_path / "afile").write_text("not a folder")
    broken = str(tmp_path / "afile" / "store")  # below a regular file: every write fails
    code, _, err = run_cli(capsys, "--store", broken, "init", str(folder), "--script", "train.py")
    assert code == 2 and "store" in one_line(err)
    assert sorted(p.name for p in folder.iterdir()) == ["train.py"]  # nothing half-made
    store = str(tmp_path / "store")
    code, out, err = run_cli(capsys, "--store", store, "init", str(folder), "--script", "train.py")
    assert code == 0 and "project p" in out, err
    code, out, err = run_cli(capsys, "--store", store, "status", "--project", str(folder))
    assert code == 0 and "no runs yet" in out, err


def test_init_with_a_bad_setting_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "train.py").write_text("")
    store = str(tmp_path / "store")
    code, _, err = run_cli(capsys, "--store", store, "init", str(folder), "--script", "train.py",
                           "--flag-style", "{bad")
    assert code == 2 and "flag_style" in one_line(err)
    assert not (folder / "hypertuner.toml").exists() and Store(store).projects() == []


def test_init_completes_a_project_file_left_by_an_older_version(capsys: pytest.CaptureFixture[str],
                                                                 project_dir: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")  # hypertuner.toml exists, the store has never heard of it
    code, out, err = run_cli(capsys, "--store", store, "init", str(project_dir), "--script", "train.py")
    assert code == 0 and "tiny" in out and "existing" in out, err
    code, _, err = run_cli(capsys, "--store", store, "init", str(project_dir), "--script", "train.py")
    assert code == 2 and "already exists" in one_line(err)


# ---- defect 11: bad project settings fail where they are read, in one line -----------------------
@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('stdout_patterns = ["(unclosed"]', "stdout_patterns"),
        ('stdout_patterns = ["no groups"]', "named groups"),
        ('stdout_patterns = "loss=(?P<loss>\\\\S+)"', "stdout_patterns"),
        ('interpreter = "py\\u0000thon"', "NUL"),
        ('flag_style = "{unclosed"', "flag_style"),
        ("interpreter = 5", "interpreter"),
        ('name = ["a"]', "name"),
    ],
)
def test_bad_project_settings_are_one_line_errors_at_load(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          line: str, needle: str) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "train.py").write_text("")
    name = "" if line.startswith("name") else 'name = "p"\n'
    (folder / "hypertuner.toml").write_text(f'[project]\n{name}script = "train.py"\n{line}\n')
    with pytest.raises(SpecError, match=needle) as info:
        find_project(folder)
    assert "\n" not in str(info.value)
    code, _, err = run_cli(capsys, "--store", str(tmp_path / "s"), "plan", "--project", str(folder), "x=1")
    assert code == 2 and needle in one_line(err)


# ---- defect 13: unreadable settings files ----------------------------------------------------------
def test_invalid_utf8_and_deep_nesting_in_the_project_file(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")
    file = tmp_path / "hypertuner.toml"
    file.write_bytes(b'[project]\nname = "p\xff"\nscript = "train.py"\n')
    with pytest.raises(SpecError, match="UTF-8") as info:
        find_project(tmp_path)
    assert "\n" not in str(info.value)
    file.write_text("[project]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SpecError, match="nested") as info:
        find_project(tmp_path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'[store]\nurl = "caf\xe9"\n', "UTF-8"),
        (b"[store]\nx = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested"),
        (b'[store]\nurl = "a\\u0000b"\n', "NUL"),
        (b'[batch]\nmax_experiments = "' + b"9" * 5000 + b'"\n', "batch.max_experiments"),
    ],
)
def test_bad_config_files_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              content: bytes, needle: str) -> None:
    config = tmp_path / "c.toml"
    config.write_bytes(content)
    with pytest.raises(ConfigError, match=needle) as info:
        load_config({}, path=config)
    assert "\n" not in str(info.value) and len(str(info.value)) < 500
    code, _, err = run_cli(capsys, "--config", str(config), "status")
    assert code == 2 and needle in one_line(err)


def test_config_naming_a_folder_or_nul_in_the_environment(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "--config", str(tmp_path), "status")
    assert code == 2 and "is a folder" in one_line(err)
    with pytest.raises(ConfigError, match="HYPERTUNER_STORE.*NUL"):
        load_config({"HYPERTUNER_STORE": "a\x00b"})
    code, _, err = run_cli(capsys, "--store", "a\x00b", "status")
    assert code == 2 and "NUL" in one_line(err)
