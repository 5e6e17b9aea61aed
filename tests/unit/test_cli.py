"""CLI behaviour: one-line errors with exit code 2, plan output, redundancy across runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert f"redundant: same as {earlier} (succeeded)" in out
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
