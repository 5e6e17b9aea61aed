"""``hypertuner patterns`` and ``init --check``, driven through the CLI on real scripts and logs."""

from __future__ import annotations

import io
import json
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from tests.unit.test_cli import run_cli

MNIST = textwrap.dedent(
    """
    import sys
    print("Loading data...")
    for e in range(1, 3):
        for b in range(2):
            print(f"Train Epoch: {e} [{b*640}/60000 ({b}%)]\\tLoss: {2.3/e - b*0.1:.3f}")
        print(f"Test set: Average loss: {0.3/e:.4f}, Accuracy: {9000+e*100}/10000 ({90+e}%)")
    print("epoch=9 loss=0.5", file=sys.stderr)
    """
)
TOML = ('[project]\nname = "mn"\nscript = "train.py"\n# how the script prints metrics\n'
        "stdout_patterns = []  # none yet\n")


def _project(tmp_path: Path, script: str = MNIST, toml: str = TOML) -> Path:
    folder = tmp_path / "mn"
    folder.mkdir()
    (folder / "train.py").write_text(script)
    (folder / "hypertuner.toml").write_text(toml)
    return folder


def test_runs_the_script_and_shows_what_the_default_rules_capture(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    folder = _project(tmp_path)
    code, out, err = run_cli(capsys, "patterns", "--project", str(folder), "--all")
    assert code == 0, err
    assert "     1 . Loading data..." in out
    assert "     2 | Train Epoch: 1 [0/60000 (0%)]\\tLoss: 2.300\n       +-> epoch 1: Loss=2.3  (pairs)" in out
    assert "exit code 0" in out and "1 stderr lines look like metrics, but only stdout is read" in out


def test_says_nothing_is_captured_and_how_to_go_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = "for r in range(1, 4):\n    print(f'round {r} ended with loss of {2.3 / r:.3f} after 5s')\n"
    folder = _project(tmp_path, script=script)
    code, out, err = run_cli(capsys, "patterns", "--project", str(folder), "--all")
    assert code == 0, err
    assert "     1 . round 1 ended with loss of 2.300 after 5s" in out
    assert "no metrics captured" in out and "--line N" in out


def test_line_proposal_then_add_keeps_comments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = _project(tmp_path)
    code, out, err = run_cli(capsys, "patterns", "--project", str(folder), "--line", "3", "--add")
    assert code == 0, err
    assert "proposed pattern for line 3 (reads epoch=1 loss=2.2)" in out and "it catches 4 of 7 lines" in out
    text = (folder / "hypertuner.toml").read_text()
    assert "# how the script prints metrics" in text and "# none yet" in text
    (pattern,) = tomllib.loads(text)["project"]["stdout_patterns"]
    assert "(?P<epoch>" in pattern and "(?P<loss>" in pattern
    # now the run is read with it, line by line, with the rule that caught each line
    code, out, _ = run_cli(capsys, "patterns", "--project", str(folder))
    assert "     3 | Train Epoch: 1 [640/60000 (1%)]\\tLoss: 2.200" in out
    assert "+-> epoch 1: loss=2.2  (\\bEpoch" in out
    assert "4 gave points" in out and "loss    4       2.3    1.05" in out
    code, out, _ = run_cli(capsys, "patterns", "--project", str(folder), "--line", "3", "--add")
    assert code == 0 and "already in stdout_patterns; nothing written" in out
    code, out, _ = run_cli(capsys, "patterns", "--project", str(folder), "--line", "4", "--percent", "--add")
    assert code == 0 and "with the project's patterns, 6" in out
    patterns = tomllib.loads((folder / "hypertuner.toml").read_text())["project"]["stdout_patterns"]
    assert len(patterns) == 2 and "(?P<accuracy>" in patterns[1]


def test_add_refuses_a_file_it_cannot_edit_safely(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    toml = 'project = { name = "mn", script = "train.py" }\n'
    folder = _project(tmp_path, toml=toml)
    code, _, err = run_cli(capsys, "patterns", "--project", str(folder), "--explain", "loss: 0.5", "--add")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "by hand" in err
    assert (folder / "hypertuner.toml").read_text() == toml


def test_time_limit_stops_the_script_and_keeps_its_output(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # holds the pipes too
        for i in range(3):
            print(f"epoch={i} loss={1 / (i + 1)}")
        time.sleep(600)
        """
    )
    folder = _project(tmp_path, script=script)
    started = time.monotonic()
    code, out, err = run_cli(capsys, "patterns", "--project", str(folder), "--timeout", "1.5")
    assert code == 0, err
    assert time.monotonic() - started < 15
    assert "stopped after 1.5 s (the time limit; --timeout to change it)" in out
    assert "3 gave points (key=value: 3)" in out and "loss    3       1      0.3333" in out


def test_extra_arguments_reach_the_script(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = _project(tmp_path, script="import sys\nprint('step=1 n_args=%d' % len(sys.argv[1:]))\n")
    code, out, _ = run_cli(capsys, "patterns", "--project", str(folder), "--json", "--", "--epochs", "1")
    data = json.loads(out)
    assert code == 0 and data["lines"][0]["points"][0]["metrics"] == {"n_args": 2.0}


def test_log_file_stdin_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no project here: the default rules
    log = tmp_path / "catboost.log"
    log.write_text("".join(f"{i}:\tlearn: 0.{9 - i}\ttest: 0.{8 - i}\tbest: 0.{8 - i} ({i})\ttotal: 2ms\t"
                           "remaining: 1s\n" for i in range(4)))
    code, out, err = run_cli(capsys, "patterns", "--log", str(log), "--line", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["lines_read"] == 4 and data["lines_with_points"] == 4  # the default rules read CatBoost too
    assert [line["rule"] for line in data["lines"]] == ["catboost"] * 4
    (proposal,) = data["proposals"]
    assert proposal["reads"] == {"step": 1, "learn": 0.8, "test": 0.7, "best": 0.7} and proposal["catches"] == 4
    assert tomllib.loads(f"p = {proposal['toml']}")["p"] == proposal["pattern"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Epoch 1/2\n10/10 [==] - 1s - loss: 0.5 - acc: 0.8\n"
                                                                  b"epoch 2 loss=nan\n")))
    code, out, _ = run_cli(capsys, "patterns", "--log", "-", "--json", "--all")
    data = json.loads(out)
    assert [line["rule"] for line in data["lines"]] == [None, "keras", "key=value"]
    assert data["metrics"][0] == {"name": "loss", "points": 2, "first": 0.5, "last": None}


def test_hostile_log_is_escaped_bounded_and_errors_are_one_line(capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "evil.log"
    log.write_bytes(b"\x1b]0;title\x07\x1b[2J epoch=1 loss=0.5\n\xff\xfe not utf-8 \x00\n"
                    + b"acc: 0.25 " + b"z" * 10_000_000 + b"\n")
    code, out, err = run_cli(capsys, "patterns", "--log", str(log), "--all", "--line", "3")
    assert code == 0, err
    assert "\x1b" not in out and "\x00" not in out and "\x07" not in out
    assert len(out) < 5000 and "(+" in out and "reads acc=0.25" in out
    for argv in (["--line", "99"], ["--line", "0"], ["--explain", "no numbers here"]):
        code, _, err = run_cli(capsys, "patterns", "--log", str(log), *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)
    assert "--line 99: the output has 3 lines" in run_cli(capsys, "patterns", "--log", str(log), "--line", "99")[2]
    code, _, err = run_cli(capsys, "patterns", "--log", str(tmp_path / "missing.log"))
    assert code == 2 and "--log" in err and len(err.strip().splitlines()) == 1
    folder = _project(tmp_path)
    code, _, err = run_cli(capsys, "patterns", "--project", str(folder), "--timeout", "0")
    assert code == 2 and "--timeout" in err and len(err.strip().splitlines()) == 1


def test_init_check_runs_the_script_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "train.py").write_text("import pathlib\npathlib.Path('ran').touch()\nprint('epoch=1 loss=0.25')\n")
    store = str(tmp_path / "s")
    code, out, _ = run_cli(capsys, "--store", store, "init", str(folder), "--script", "train.py")
    assert code == 0 and not (folder / "ran").exists() and "gave points" not in out
    (folder / "hypertuner.toml").unlink()
    store2 = str(tmp_path / "s2")
    code, out, err = run_cli(capsys, "--store", store2, "init", str(folder), "--script", "train.py", "--check")
    assert code == 0, err
    assert (folder / "ran").exists() and "1 gave points (key=value: 1)" in out and "loss    1" in out


def test_a_printed_flag_is_shown_as_an_echo_not_a_metric(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import argparse
        p = argparse.ArgumentParser()
        p.add_argument("--lr", type=float, default=0.01)
        args = p.parse_args()
        print(f"lr={args.lr}")
        print("epoch=1 loss=0.5")
        """
    )
    folder = _project(tmp_path, script=script)
    code, out, err = run_cli(capsys, "patterns", "--project", str(folder))
    assert code == 0, err
    assert "echoed hyperparameters (named like the script's flags, so not metrics): lr=0.01" in out
    assert "loss    1" in out and "\nlr " not in out
    code, out, _ = run_cli(capsys, "patterns", "--project", str(folder), "--json")
    assert json.loads(out)["echoes"] == {"lr": "0.01"}
