"""CLI behaviour: one-line errors with exit code 2, plan output, redundancy across runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_flags import ARGPARSE, DYNAMIC
from workbench_plugin.cli import main
from workbench_plugin.store import Store


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        sys.exit(main(list(argv)))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        (["batch_size=28..256 *0"], "batch_size"),
        (["lr=0.1..0.5 -0.1"], "lr"),
        (["lr=0.5..0.1 +0.1"], "lr"),
        (["x=5..1 *2"], "x"),
        (["x=a..b +1"], "x"),
        (["x=a..b"], "not a range"),
        (["x=1..b"], "not a range"),
        (["1x=1,2"], "1x"),
        (["x=1,2", "x=3"], "x"),
        (["x"], "NAME=VALUES"),
        (["x=1..100000 +1", "y=1..100 +1"], "maximum"),
    ],
)
def test_grammar_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], project_dir: Path, values: list[str], needle: str
) -> None:
    code, out, err = run_cli(capsys, "plan", "--project", str(project_dir), *values)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hypertuner: error: ") and needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["plan", "--nope"],
        ["kill"],
        ["serve", "--port", "many"],
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_missing_project_and_unknown_ids(capsys: pytest.CaptureFixture[str], tmp_path: Path, project_dir: Path) -> None:
    code, _, err = run_cli(capsys, "status", "--project", str(tmp_path))
    assert code == 2 and "hypertuner init" in err and len(err.strip().splitlines()) == 1
    store = str(tmp_path / "s")
    run_cli(capsys, "--store", store, "init", str(project_dir / "sub"), "--script", "nope.py")
    code, _, err = run_cli(capsys, "--store", store, "show", "nope-123", "--project", str(project_dir))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_serving_beyond_loopback_needs_a_password(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                                  tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    Store(store).create_project("tiny", str(project_dir))
    code, _, err = run_cli(capsys, "--store", store, "serve", "--project", str(project_dir), "--host", "10.0.0.1")
    assert code == 2 and "password" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("port", ["99999", "taken"])
def test_unusable_port_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], project_dir: Path, tmp_path: Path,
                                          port: str) -> None:
    store = str(tmp_path / "s")
    Store(store).create_project("tiny", str(project_dir))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        if port == "taken":
            port = str(taken.getsockname()[1])
        code, _, err = run_cli(capsys, "--store", store, "serve", "--project", str(project_dir), "--port", port,
                               "--no-gateway")
    assert code == 2 and "server.port" in err and len(err.strip().splitlines()) == 1, err


def test_init_plan_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "bike.py").write_text("import sys\n")
    store = str(tmp_path / "s")
    code, out, _ = run_cli(capsys, "--store", store, "init", str(folder), "--script", "bike.py",
                           "--flag-style", "{batch_size} {num_epochs}")
    assert code == 0 and "project p" in out
    code, out, _ = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "--json",
                           "batch_size=28..256 *2", "num_epochs=1,3")
    plan = json.loads(out)
    assert len(plan) == 8
    assert plan[0]["argv"] == ["bike.py", "28", "1"] and plan[-1]["argv"] == ["bike.py", "224", "3"]


def test_redundant_and_similar_across_two_runs(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                               tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    Store(store).create_project("tiny", str(project_dir))
    code, out, _ = run_cli(capsys, "--store", store, "run", "--project", str(project_dir), "x=1,2", "epochs=1")
    assert code == 0, out
    first = {e["params"]["x"]: e for e in json.loads(
        run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--json", "x=1,2,3", "epochs=1")[1])}
    assert first[1]["status"] == "redundant" and first[2]["status"] == "redundant"
    assert first[3]["status"] == "new"
    earlier = first[1]["redundant_with"][0]
    code, out, _ = run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "x=1,2,3", "epochs=1")
    assert "#1 redundant: same setting found in 1 previous run" in out
    assert f"same as {earlier} (succeeded, same snapshot and data): " in out and f"'hypertuner show {earlier}'" in out
    code, out, _ = run_cli(capsys, "--store", store, "run", "--project", str(project_dir), "--skip-redundant",
                           "x=1,2,3", "epochs=1")
    assert code == 0 and "1 experiments queued, 2 redundant skipped" in out
    # change the code: the same values are now similar, not redundant
    (project_dir / "train.py").write_text((project_dir / "train.py").read_text() + "\n# tweak\n")
    plan = json.loads(run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--json",
                              "x=1", "epochs=1")[1])
    assert plan[0]["status"] == "similar" and earlier in plan[0]["similar_to"]


def test_cli_entry_point_prints_no_traceback(tmp_path: Path, project_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workbench_plugin.cli", "--store", str(tmp_path / "s"), "plan",
         "--project", str(project_dir), "batch_size=28..256 *0"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_resources_local_and_unreachable_resource_manager(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_cli(capsys, "resources")
    assert code == 0 and "local engine" in out and "cores" in out
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**os.environ, "HYPERTUNER_ENGINE": "spark", "HYPERTUNER_YARN_RM": f"http://127.0.0.1:{port}"}
    done = subprocess.run([sys.executable, "-m", "workbench_plugin.cli", "resources"], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"http://127.0.0.1:{port}" in lines[0] and "unreachable" in lines[0], done.stderr


def test_unreachable_namenode_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"webhdfs://127.0.0.1:{port}/hypertuner"
    (tmp_path / "hypertuner.toml").write_text('[project]\nname = "p"\nscript = "t.py"\n')
    (tmp_path / "t.py").write_text("print(1)\n")
    done = subprocess.run([sys.executable, "-m", "workbench_plugin.cli", "--store", url, "status"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"NameNode at http://127.0.0.1:{port} is unreachable" in lines[0]


# ---- flags (issue 10): discovery, the flags command, checks in plan/run -------------------------------
def _project(tmp_path: Path, script: str, **toml: str) -> tuple[Path, str]:
    import textwrap

    folder = tmp_path / "p"
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(script))
    extra = "".join(f'{k} = "{v}"\n' for k, v in toml.items())
    (folder / "hypertuner.toml").write_text(f'[project]\nname = "p"\nscript = "train.py"\n{extra}')
    store = str(tmp_path / "s")
    Store(store).create_project("p", str(folder))
    return folder, store


def test_flags_command_prints_a_table_json_or_why_not(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    hostile = ARGPARSE.replace('help="step size"', 'help="' + "step\\x1b[2J\\nsize " * 50 + '"')
    folder, store = _project(tmp_path, hostile)
    code, out, _ = run_cli(capsys, "--store", store, "flags", "--project", str(folder))
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("train.py: 13 flags (read from the script)")
    assert lines[1].split() == ["flag", "type", "default", "choices", "help"]
    row = next(line for line in lines if line.startswith("-l, --learning-rate"))
    assert row.split()[2:4] == ["float", "0.001"] and "\\x1b" in row and "\x1b" not in out and len(row) < 200
    assert any(line.startswith("--optimizer") and "adam,sgd" in line for line in lines)
    code, out, _ = run_cli(capsys, "--store", store, "flags", "--project", str(folder), "--json")
    data = json.loads(out)
    assert code == 0 and data["source"] == "ast" and data["flags"][1]["option_strings"] == ["-l", "--learning-rate"]
    assert data["flags"][1]["help"].startswith("step\x1b[2J\nsize")  # --json is full (and JSON-escaped)

    empty, store2 = _project(tmp_path / "e", "")
    code, out, err = run_cli(capsys, "--store", store2, "flags", "--project", str(empty))
    assert code == 0 and len(out.splitlines()) == 1 and "the flags of train.py are not known:" in out, out
    assert "printed no usage line" in out


def test_plan_refuses_unknown_flags_and_wrong_values_in_one_line(capsys: pytest.CaptureFixture[str],
                                                                  project_dir: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    Store(store).create_project("tiny", str(project_dir))
    for values, needle in [(["xx=1"], "xx: the script has no flag --xx; did you mean --x?"),
                           (["x=1", "epochs=0.5"], "epochs: value '0.5' is not accepted by --epochs (type=int)"),
                           (["x=fast"], "x: value 'fast' is not accepted by --x (type=float)")]:
        for command in ("plan", "run"):
            code, out, err = run_cli(capsys, "--store", store, command, "--project", str(project_dir), *values)
            assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not Store(store).fs.exists("projects/tiny/runs") or not Store(store).fs.listdir("projects/tiny/runs")
    folder, store2 = _project(tmp_path, ARGPARSE.replace("parse_known_args", "parse_args"))
    code, _, err = run_cli(capsys, "--store", store2, "plan", "--project", str(folder), "optimizer=adam,adamw")
    assert code == 2 and "choices of --optimizer: adam, sgd" in err and len(err.strip().splitlines()) == 1


def test_unknown_flags_warn_in_one_line_and_plan_goes_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder, store = _project(tmp_path, "print('loss=0.5')\n")
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "x=1,2")
    assert code == 0 and "2 experiments" in out
    assert err.strip().splitlines() == [err.strip()] and err.startswith("hypertuner: warning: the flags of train.py "
                                                                        "are not known (")


def test_help_fallback_runs_once_per_snapshot_and_spellings_follow_the_script(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    counter = tmp_path / "help-runs"
    count = f"open({str(counter)!r}, 'a').write('x')"
    script = DYNAMIC.replace("import argparse, sys", f"import argparse, sys\n    {count}")
    folder, store = _project(tmp_path, script)
    for _ in range(2):
        code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "--json",
                                 "learning_rate=0.1", "epochs=2", "data=d")
        assert code == 2 and "data: the script has no flag --data" in err  # a positional is not a --flag
        code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "--json",
                                 "learning_rate=0.1", "epochs=2")
        assert code == 0, err
        assert json.loads(out)[0]["argv"] == ["train.py", "--learning-rate", "0.1", "--epochs", "2"]
    assert counter.read_text() == "x"  # --help ran once: the second plan read the stored flags
    assert [n for n in Store(store).fs.listdir("snapshots") if ".flags-" in n]


def test_interpreter_is_documented_written_and_shown(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                                     tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["init", "--help"])
    assert "--interpreter" in capsys.readouterr().out
    (project_dir / "hypertuner.toml").unlink()
    store = str(tmp_path / "s")
    code, _, err = run_cli(capsys, "--store", store, "init", str(project_dir), "--script", "train.py",
                           "--interpreter", sys.executable)
    assert code == 0, err
    assert f'interpreter = "{sys.executable}"' in (project_dir / "hypertuner.toml").read_text()
    code, out, _ = run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "x=1", "epochs=1")
    assert f"  {sys.executable} train.py --x 1 --epochs 1" in out and "  python train.py" not in out
    code, out, _ = run_cli(capsys, "--store", store, "run", "--project", str(project_dir), "x=1", "epochs=1")
    experiment = json.loads(run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--json",
                                    "x=1", "epochs=1")[1])[0]["redundant_with"][0]
    code, out, _ = run_cli(capsys, "--store", store, "show", experiment, "--project", str(project_dir))
    assert f"command     {sys.executable} train.py --x 1 --epochs 1" in out


def test_show_prints_the_experiments_page_and_kill_records_who_asked(
        capsys: pytest.CaptureFixture[str], project_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    from tests.integration.processes import launch_batch

    store = Store(str(tmp_path / "s"))
    _, exps = launch_batch(store, project_dir, {"x": "1,2"})  # queued: nothing runs them
    monkeypatch.setenv("HYPERTUNER_PORT", "8123")
    eid = exps[0].experiment_id
    code, out, err = run_cli(capsys, "--store", store.url, "show", eid, "--project", str(project_dir))
    assert code == 0, err
    assert f"  page        http://127.0.0.1:8123/?experiment={eid}\n" in out
    code, out, err = run_cli(capsys, "--store", store.url, "kill", eid, "--project", str(project_dir))
    assert (code, out) == (0, f"{eid}: queued -> killed\n"), err
    code, out, _ = run_cli(capsys, "--store", store.url, "show", eid, "--project", str(project_dir))
    assert f"  state       killed - cancelled before it started by {getpass.getuser()}\n" in out


def test_script_runs_another_script_of_the_folder_for_one_batch(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    folder, store = _project(tmp_path, "print('loss=0.5')\n")
    (folder / "kmeans.py").write_text("import argparse\nap = argparse.ArgumentParser()\n"
                                      "ap.add_argument('--max_k', type=int, default=12)\nap.parse_args()\n")
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "--script", "kmeans.py",
                             "--json", "max_k=5,10")
    assert code == 0, err
    assert [row["command"] for row in json.loads(out)] == ["python kmeans.py --max_k 5", "python kmeans.py --max_k 10"]
    for script, needle in [("../train.py", "--script: '../train.py' must be a path inside the project folder"),
                           ("gone.py", "--script: "), ("kmeans.py", "max_kk: the script has no flag --max_kk")]:
        values = ["max_kk=1"] if script == "kmeans.py" else ["max_k=1"]
        code, _, err = run_cli(capsys, "--store", store, "run", "--project", str(folder), "--script", script, *values)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not Store(store).fs.exists("projects/p/runs") or not Store(store).fs.listdir("projects/p/runs")


def test_compact_compacts_every_run_or_the_ones_named_and_says_so(
        capsys: pytest.CaptureFixture[str], project_dir: Path, tmp_path: Path) -> None:
    import os

    from tests.integration.processes import launch_batch

    store = Store(str(tmp_path / "s"))
    _, first = launch_batch(store, project_dir, {"x": "1,2"})  # queued: nothing runs them
    _, second = launch_batch(store, project_dir, {"x": "3"})
    runs = [first[0].run_id, second[0].run_id]
    cli = ("--store", store.url, "compact")
    code, out, err = run_cli(capsys, *cli, os.path.commonprefix(runs), "--project", str(project_dir))
    assert code == 2 and "matches several" in err and err.count("\n") == 1  # a prefix of both
    code, out, err = run_cli(capsys, *cli, runs[1], "--project", str(project_dir))
    assert code == 0, err
    assert out.startswith(f"compact {runs[1]}: 0 files, 0 points -> ") and out.count("\n") == 1
    code, out, err = run_cli(capsys, *cli, "--project", str(project_dir))
    assert code == 0, err
    lines = dict(line.split(": ", 1) for line in out.splitlines())  # in the order of the runs' ids
    assert lines[f"compact {runs[0]}"].startswith("0 files, 0 points -> ")
    assert lines[f"compact {runs[1]}"].startswith("already compacted (")
