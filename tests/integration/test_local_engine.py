"""The local engine, the wrapper and the gateway, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engines.local import LocalEngine
from gateway.control import kill
from gateway.gateway import Gateway
from tests.integration.processes import launch_batch, wait_for
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import ExperimentState
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow


def group_is_empty(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def state_of(index: ProjectIndex, experiment_id: str) -> ExperimentState:
    index.refresh()
    return index.experiment(experiment_id)[2]


def states(index: ProjectIndex) -> dict[str, str]:
    index.refresh()
    return {e.experiment_id: s.state for _, e, s in index.iter_experiments()}


def test_batch_runs_to_completion_with_metrics_logs_and_usage(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1,2,3", "epochs": 3})
    engine = LocalEngine(store, slots=2, flush_seconds=0.2)
    Gateway(store, engine).serve(until_idle=True)
    assert set(states(index).values()) == {"succeeded"}
    frames = index.frames(exps[0].run_id)
    table = frames.experiments.set_index("experiment_id")
    assert table["score"].to_dict() == {e.experiment_id: e.params["x"] * 10 for e in exps}
    assert table["loss"].tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])
    curves = frames.curves[frames.curves["name"] == "loss"]
    assert curves.groupby("experiment_id")["epoch"].apply(list).tolist() == [[1.0, 2.0, 3.0]] * 3
    entry, exp, state = index.experiment(exps[1].experiment_id)
    assert state.get("exit_code") == 0 and state.get("duration") > 0 and "cpu_seconds" in state.fields
    log = store.read_log(entry.run.project, entry.run.run_id, exp.experiment_id, "stdout")
    assert "epoch 3 done" in log


def test_failure_records_exit_code_and_stderr(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"fail": 3, "epochs": 1})
    Gateway(store, LocalEngine(store, slots=1, flush_seconds=0.2)).serve(until_idle=True)
    index.refresh()
    entry, exp, state = index.experiment(exps[0].experiment_id)
    assert state.state == "failed" and state.get("exit_code") == 3 and state.get("reason") == "exit code 3"
    assert "something broke" in store.read_log("tiny", entry.run.run_id, exp.experiment_id, "stderr")


def test_kill_running_and_queued(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1,2", "epochs": 100, "sleep": 0.2})
    engine = LocalEngine(store, slots=1, flush_seconds=0.2)
    gateway = Gateway(store, engine)
    gateway.step()
    first, second = (e.experiment_id for e in exps)
    wait_for(lambda: states(index)[first] == "running", what="the first experiment to run")
    pid = int(state_of(index, first).get("pid"))
    [result] = kill(index, engine, first)
    assert (result.before, result.after) == ("running", "killed")
    wait_for(lambda: engine.poll(state_of(index, first).engine_id or "") == "gone", what="the wrapper to exit")
    wait_for(lambda: group_is_empty(pid), what="the script to be killed with its wrapper")
    [queued] = kill(index, engine, second)
    assert (queued.before, queued.after) == ("queued", "killed")
    report = gateway.step()
    assert report.submitted == [] and report.idle
    assert state_of(index, second).get("reason") == "cancelled before it started"


def test_vanished_process_becomes_lost(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"epochs": 100, "sleep": 0.2})
    engine = LocalEngine(store, slots=1, flush_seconds=0.2)
    gateway = Gateway(store, engine)
    gateway.step()
    exp_id = exps[0].experiment_id
    wait_for(lambda: states(index)[exp_id] == "running", what="the experiment to run")
    os.killpg(int(state_of(index, exp_id).get("pid")), signal.SIGKILL)
    wait_for(lambda: bool(gateway.step().lost) or states(index)[exp_id] == "lost", what="lost")
    state = state_of(index, exp_id)
    assert state.state == "lost" and "without writing a final state" in state.get("reason")


def test_reconciler_after_gateway_killed_mid_batch(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1,2,3,4", "epochs": 4, "sleep": 0.4})
    env = {**os.environ, "HYPERTUNER_SLOTS": "2", "HYPERTUNER_FLUSH_SECONDS": "0.2"}
    gw = subprocess.Popen([sys.executable, "-m", "workbench_plugin.cli", "--store", store.url, "gateway"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: list(states(index).values()).count("running") == 2, what="two running experiments")
    finally:
        gw.kill()
        gw.communicate()
    assert list(states(index).values()).count("queued") == 2
    Gateway(store, LocalEngine(store, slots=2, flush_seconds=0.2)).serve(until_idle=True)
    assert set(states(index).values()) == {"succeeded"}
    entry = index.runs[exps[0].run_id]
    for exp in exps:  # each experiment ran exactly once
        running = [e for e in entry.events[exp.experiment_id] if e["state"] == "running"]
        assert len(running) == 1
    frames = index.frames(exps[0].run_id)
    assert frames.curves.groupby("experiment_id").size().tolist() == [8, 8, 8, 8]  # 4 epochs x 2 metrics


KERAS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    print(json.dumps(sys.argv[1:]))
    for e in (1, 2):
        print(f"Epoch {e}/2")
        print(f"10/10 [==============================] - 0s 1ms/step - loss: {1/e:.4f} - acc: {0.5*e:.4f}")
    print("final: val_loss=0.25 val_acc=0.9")
    """
)


def test_stdout_patterns_and_literal_argv(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "keras"
    folder.mkdir()
    (folder / "fit.py").write_text(KERAS_SCRIPT)
    (folder / "hypertuner.toml").write_text('[project]\nname = "keras"\nscript = "fit.py"\n')
    index, exps = launch_batch(store, folder, {"opt": ["1; rm -rf /", "$(touch pwned)"]})
    Gateway(store, LocalEngine(store, slots=2, flush_seconds=0.2)).serve(until_idle=True)
    assert set(states(index).values()) == {"succeeded"}
    for exp in exps:
        log = store.read_log("keras", exp.run_id, exp.experiment_id, "stdout")
        assert log.splitlines()[0] == f'["--opt", "{exp.params["opt"]}"]'
    assert not (folder / "pwned").exists()
    frames = index.frames(exps[0].run_id)
    table = frames.experiments.set_index("experiment_id")
    assert table.loc[exps[0].experiment_id, "loss"] == pytest.approx(0.5)
    assert table.loc[exps[0].experiment_id, "val_acc"] == pytest.approx(0.9)
    epochs = frames.curves[frames.curves["name"] == "acc"]["epoch"].tolist()
    assert epochs[:2] == [1.0, 2.0]


PRINTS_BEFORE_LOGGING = textwrap.dedent(
    """
    import time
    from workbench_plugin import tracking as ht
    print("warming up: lr=0.5 loss=99", flush=True)
    time.sleep(0.8)  # several wrapper flushes before the first log()
    ht.log(epoch=1, loss=0.25)
    """
)


def test_stdout_is_not_parsed_for_scripts_that_use_the_sdk(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "sdk"
    folder.mkdir()
    (folder / "fit.py").write_text(PRINTS_BEFORE_LOGGING)
    (folder / "hypertuner.toml").write_text('[project]\nname = "sdk"\nscript = "fit.py"\n')
    index, exps = launch_batch(store, folder, {"unused": 1})
    Gateway(store, LocalEngine(store, slots=1, flush_seconds=0.2)).serve(until_idle=True)
    assert set(states(index).values()) == {"succeeded"}
    curves = index.frames(exps[0].run_id).curves
    assert curves[["epoch", "name", "value"]].values.tolist() == [[1.0, "loss", 0.25]]


ECHOES_ITS_ARGUMENTS = textwrap.dedent(
    """
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    print(f"learning_rate={args.learning_rate} epochs={args.epochs}", flush=True)  # an echo, not a metric
    for epoch in range(1, args.epochs + 1):
        print(f"epoch={epoch} loss={1 / epoch}", flush=True)
    """
)


def test_a_printed_flag_is_an_echo_even_when_it_is_not_tuned(store: Store, tmp_path: Path) -> None:
    from tests.integration.processes import cli

    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "train.py").write_text(ECHOES_ITS_ARGUMENTS)
    assert cli(store, "init", "--script", "train.py", cwd=folder).returncode == 0
    done = cli(store, "run", "epochs=2", cwd=folder)
    assert done.returncode == 0, done.stderr
    index = ProjectIndex(store, "echo")
    index.refresh()
    (run_id,) = {e.run_id for _, e, _ in index.iter_experiments()}
    assert store.read_run("echo", run_id).script_flags == ["epochs", "learning-rate", "learning_rate"]
    curves = index.frames(run_id).curves
    assert sorted(set(curves["name"])) == ["loss"]  # not learning_rate: the script only echoed it
    assert curves["epoch"].tolist() == [1.0, 2.0]


PRINTS_ITS_SETTING = textwrap.dedent(
    """
    import os, sys, time
    time.sleep(float(sys.argv[sys.argv.index("--sleep") + 1]))
    print(f"mark={os.environ.get('HT_TEST_MARK', 'none')!r} cwd={os.path.basename(os.getcwd())[:3]}", flush=True)
    """
)


def _stand_by_wrappers() -> list[int]:
    """PIDs of this process's children that are wrappers waiting on stand-by."""
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == os.getpid() and fields[0] not in ("Z", "X") and b"--stand-by" in cmdline:
            found.append(pid)
    return found


def _started_well_before(ticks: str, when: float) -> bool:
    """Whether a process that started ``ticks`` clock ticks after boot started a good 0.1 s before
    ``when`` (seconds since the epoch); /proc counts from boot on the boot-time clock."""
    since_boot = time.clock_gettime(time.CLOCK_BOOTTIME) - (time.time() - when)
    return int(ticks) / os.sysconf("SC_CLK_TCK") < since_boot - 0.1


def test_wrappers_started_ahead_run_their_experiments_as_handed_and_go_with_the_gateway(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "marks"
    folder.mkdir()
    (folder / "mark.py").write_text(PRINTS_ITS_SETTING)
    (folder / "hypertuner.toml").write_text('[project]\nname = "marks"\nscript = "mark.py"\n')
    index, exps = launch_batch(store, folder, {"sleep": "0.6,0.61,0.62,0.63,0.64,0.65"})
    engine = LocalEngine(store, slots=2, flush_seconds=0.2, log_dir=str(tmp_path / "wrapper-logs"))
    gateway = Gateway(store, engine, poll_seconds=0.05)
    try:
        gateway.step()
        engine.wait(0)  # wrappers for the next submissions start now, while the first two run
        wait_for(lambda: len(_stand_by_wrappers()) == 2, timeout=30, what="two wrappers on stand-by")
        monkeypatch.setenv("HT_TEST_MARK", "set after they started")  # the environment at submission counts
        gateway.serve(until_idle=True)
    finally:
        engine.release()  # no wrapper left waiting for the next test, whatever happened
    assert set(states(index).values()) == {"succeeded"}
    handed, differed = 0, 0
    for exp in exps:
        state = state_of(index, exp.experiment_id)
        log = store.read_log("marks", exp.run_id, exp.experiment_id, "stdout")
        mark = "'none'" if exp in exps[:2] else "'set after they started'"
        assert log == f"mark={mark} cwd=src\n"
        claimed = float(index.experiment(exp.experiment_id)[0].claims[exp.experiment_id]["time"])
        handed += _started_well_before(state.get("start_ticks"), claimed)
        assert (tmp_path / "wrapper-logs" / f"{exp.experiment_id}.wrapper.log").exists()
        # the two waiting when the variable was set had started the script's interpreter without it
        differed += state.get("cold_start") == "environment variable HT_TEST_MARK differs from the warm interpreter's"
    assert differed == 2
    assert handed >= 3  # all but the first two (and one that found none ready): started before their claim
    wait_for(lambda: not _stand_by_wrappers(), timeout=10, what="wrappers on stand-by to exit with the gateway")


SHOWS_HOW_IT_STARTED = textwrap.dedent(
    """
    import hashlib, os, sys, time
    time.sleep(float(sys.argv[sys.argv.index("--sleep") + 1]))
    print(__name__, sorted(globals()), __file__ == os.path.join(os.getcwd(), "show.py"))
    print(sys.argv, sys.path[0] == os.path.realpath(os.getcwd()), os.path.basename(os.getcwd()))
    env = os.environ
    print(env["HYPERTUNER_EXPERIMENT_ID"], os.path.isdir(env["HYPERTUNER_TRACKING_DIR"]), repr(sys.stdin.read()))
    print(hashlib.sha256(repr(hash("a string")).encode()).hexdigest()[:8])  # the same for all: seeded
    if sys.argv[sys.argv.index("--fail") + 1] == "1":
        raise ValueError("the script failed")
    """
)


def _shows_how_it_started(tmp_path: Path, store: Store, values: dict[str, object]) -> tuple[ProjectIndex, list]:
    folder = tmp_path / "shows"
    folder.mkdir()
    (folder / "show.py").write_text(SHOWS_HOW_IT_STARTED)
    (folder / "hypertuner.toml").write_text('[project]\nname = "shows"\nscript = "show.py"\n')
    return launch_batch(store, folder, values)


def test_scripts_handed_to_wrappers_on_stand_by_start_in_an_interpreter_started_ahead_and_see_no_difference(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "7")
    index, exps = _shows_how_it_started(tmp_path, store, {"sleep": "0.3,0.31,0.32,0.33,0.34", "fail": "0,1"})
    engine = LocalEngine(store, slots=2, flush_seconds=0.2)
    try:
        Gateway(store, engine, poll_seconds=0.05).serve(until_idle=True)
    finally:
        engine.release()
    seeded = subprocess.run([sys.executable, "-c", 'import hashlib; print(hashlib.sha256(repr(hash("a string"))'
                             '.encode()).hexdigest()[:8])'], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": "7"}).stdout
    warm = 0
    for exp in exps:
        state = state_of(index, exp.experiment_id)
        log = store.read_log("shows", exp.run_id, exp.experiment_id, "stdout")
        assert log == (
            "__main__ ['__annotations__', '__builtins__', '__cached__', '__doc__', '__file__', '__loader__', "
            "'__name__', '__package__', '__spec__', 'hashlib', 'os', 'sys', 'time'] True\n"
            f"{exp.argv!r} True src\n"
            f"{exp.experiment_id} True ''\n"
            f"{seeded}"
        )
        warm += state.get("warm_start")
        assert state.get("cold_start") is None  # every wrapper on stand-by had the right interpreter
        if exp.params["fail"] == 1:
            errors = store.read_log("shows", exp.run_id, exp.experiment_id, "stderr")
            assert (state.state, state.get("exit_code")) == ("failed", 1)
            assert errors.startswith("Traceback (most recent call last):\n  File \"")
            assert errors.splitlines()[1].endswith('/src/show.py", line 10, in <module>')
            assert errors.endswith("ValueError: the script failed\n") and "<string>" not in errors
        else:
            assert state.state == "succeeded"
    assert warm >= 6  # all but the first two, started before any wrapper was on stand-by


def test_a_script_whose_environment_differs_from_the_interpreter_started_ahead_starts_afresh(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index, exps = _shows_how_it_started(tmp_path, store, {"sleep": "0.4,0.41,0.42", "fail": 0})
    engine = LocalEngine(store, slots=1, flush_seconds=0.2)
    gateway = Gateway(store, engine, poll_seconds=0.05)
    try:
        gateway.step()
        engine.wait(0)
        wait_for(lambda: len(_stand_by_wrappers()) == 1, timeout=30, what="a wrapper on stand-by")
        monkeypatch.setenv("PYTHONHASHSEED", "7")  # the scripts' hashes change; the one started ahead has none
        gateway.serve(until_idle=True)
    finally:
        engine.release()
    seeded = subprocess.run([sys.executable, "-c", 'import hashlib; print(hashlib.sha256(repr(hash("a string"))'
                             '.encode()).hexdigest()[:8])'], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": "7"}).stdout
    for exp in exps[1:]:
        state = state_of(index, exp.experiment_id)
        assert store.read_log("shows", exp.run_id, exp.experiment_id, "stdout").endswith(seeded)
    state = state_of(index, exps[1].experiment_id)
    assert (state.get("warm_start"), state.get("cold_start")) == (
        False, "environment variable PYTHONHASHSEED differs from the warm interpreter's")


def test_a_wrapper_on_stand_by_that_died_is_replaced_by_a_fresh_start(store: Store, project_dir: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1,2", "epochs": 1, "sleep": 0.3})
    engine = LocalEngine(store, slots=1, flush_seconds=0.2)
    gateway = Gateway(store, engine, poll_seconds=0.05)
    try:
        gateway.step()
        engine.wait(0)
        wait_for(lambda: len(_stand_by_wrappers()) == 1, timeout=30, what="a wrapper on stand-by")  # CI is slow
        [spare] = _stand_by_wrappers()
        os.kill(spare, signal.SIGKILL)
        gateway.serve(until_idle=True)
    finally:
        engine.release()
    assert set(states(index).values()) == {"succeeded"}
    assert state_of(index, exps[1].experiment_id).get("pid") != spare


def test_a_wrapper_on_stand_by_exits_when_its_pipe_closes_without_an_order(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "spark_jobs.experiment_wrapper", "--stand-by"], input=b"",
                          capture_output=True, timeout=60, cwd=tmp_path, check=False,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    bad = subprocess.run([sys.executable, "-m", "spark_jobs.experiment_wrapper", "--stand-by"],
                         input=b'{"argv": "--store x"}\n', capture_output=True, timeout=60, cwd=tmp_path, check=False,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert bad.returncode != 0 and b"stand-by order: argv '--store x' is not a list of strings" in bad.stderr
