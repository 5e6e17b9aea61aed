"""A script run in an interpreter started ahead (spark_jobs.warm_start) against the same script
started afresh: real interpreters, compared by what the script and its caller see."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spark_jobs.warm_start import WarmStart

pytestmark = pytest.mark.slow

SHOWS_ITSELF = textwrap.dedent(
    '''
    """What a script can see of how it was started."""
    import os, sys
    print(__name__, __doc__, sorted(globals()), __file__, __cached__, type(__loader__).__name__, __spec__)
    print(sys.argv, sys.path[0], getattr(sys, "orig_argv", sys.argv)[1:], os.getcwd())
    print(os.environ.get("HYPERTUNER_EXPERIMENT"), os.environ.get("HT_SETTING"), repr(sys.stdin.read()))
    print("to stderr", file=sys.stderr)
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    def inner():
        raise ValueError("the script failed")
    if mode == "exit":
        sys.exit(3)
    if mode == "message":
        sys.exit("a message")
    if mode == "raise":
        inner()
    if mode == "interrupt":
        raise KeyboardInterrupt
    '''
)

#: Interpreters: this one (HyperTuner installed) and, in a virtual environment, its base (none).
INTERPRETERS = sorted({sys.executable, getattr(sys, "_base_executable", sys.executable)})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "show.py").write_text(SHOWS_ITSELF)
    (tmp_path / "sub" / "broken.py").write_text("x = (\n")
    os.symlink(tmp_path / "sub" / "show.py", tmp_path / "link.py")
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPERTUNER_", "HT_"))}
    env.update(extra)
    return env


def _warm(python: str, env: dict[str, str]) -> WarmStart:
    warm, why = WarmStart.start(python, env)
    assert warm is not None, why
    return warm


@pytest.mark.parametrize("python", INTERPRETERS)
@pytest.mark.parametrize("args", [
    ["sub/show.py"], ["./sub/show.py", "--flag", "a b"], ["link.py"], ["sub/show.py", "exit"],
    ["sub/show.py", "message"], ["sub/show.py", "raise"], ["sub/show.py", "interrupt"], ["sub/broken.py"],
])
def test_a_script_run_warm_is_seen_as_one_started_afresh(project: Path, python: str, args: list[str]) -> None:
    env = _env(HYPERTUNER_EXPERIMENT="e-7", HT_SETTING="set for the script")
    cold = subprocess.run([python, *args], cwd=project, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60, check=False)
    warm = _warm(python, _env(HT_SETTING="set for the script"))
    proc, why = warm.take([python, *args], str(project), env, ignore={"HYPERTUNER_EXPERIMENT"})
    assert proc is not None, why
    out, err = proc.communicate(timeout=60)
    assert (out.decode(), err.decode(), proc.returncode) == (cold.stdout.decode(), cold.stderr.decode(),
                                                              cold.returncode)
    if args == ["sub/show.py"]:
        assert out.decode().splitlines()[2] == "e-7 set for the script ''"
        assert f"['sub/show.py'] {project / 'sub'} ['sub/show.py'] {project}" in out.decode()
    if args[1:] == ["raise"]:  # python's traceback, from the script's frame: nothing of the runner's
        assert proc.returncode == 1
        assert err.decode().startswith(f'to stderr\nTraceback (most recent call last):\n  File "{project}/sub/show.py"')
        assert "<string>" not in err.decode()


def test_a_warm_interpreter_started_with_another_environment_or_for_another_start_is_not_used(
        project: Path) -> None:
    python = sys.executable
    unseeded = _warm(python, _env())
    proc, why = unseeded.take([python, "sub/show.py"], str(project), _env(PYTHONHASHSEED="0"))
    assert proc is None and why == "environment variable PYTHONHASHSEED differs from the warm interpreter's"
    assert unseeded.proc.returncode is not None  # ended, not left waiting

    for argv, expected in [
        ([INTERPRETERS[0] + "-other", "sub/show.py"], "not the warmed"),
        ([python, "-m", "json.tool"], "not a script run by path"),
        ([python, "-O", "sub/show.py"], "not a script run by path"),
        ([python, "sub/missing.py"], "is not a readable .py file"),
    ]:
        warm = _warm(python, _env())
        proc, why = warm.take(argv, str(project), _env())
        assert proc is None and expected in why, why
        assert warm.proc.returncode is not None


def test_a_warm_interpreter_is_not_started_where_its_folder_would_change_its_start(tmp_path: Path) -> None:
    warm, why = WarmStart.start(sys.executable, _env(PYTHONPATH=os.pathsep.join(["/abs", "lib"])))
    assert warm is None and why == "PYTHONPATH entry 'lib' is relative"


def test_a_warm_interpreter_let_go_without_a_script_ends_quietly(project: Path) -> None:
    warm = _warm(sys.executable, _env())
    warm.discard()
    assert warm.proc.returncode is not None
