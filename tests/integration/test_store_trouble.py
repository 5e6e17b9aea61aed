"""A store in trouble, with real processes: the gateway through disk-full outages, and every
command next to a damaged file (it is named once, set aside, and everything else works)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from engines.local import LocalEngine
from gateway.gateway import Gateway, StepReport
from tests.faults import FaultyBackend, raw_names
from tests.integration.processes import launch_batch
from workbench_plugin.fs import TMP_PREFIX
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow


class Retrying(threading.Event):
    """The gateway's stop event; after a failed step the gateway waits on it: count instead of sleeping."""

    def __init__(self, steps: list[bool], faults: FaultyBackend, failed_steps_per_outage: int) -> None:
        super().__init__()
        self.steps = steps
        self.faults = faults
        self.per_outage = failed_steps_per_outage

    def wait(self, timeout: float | None = None) -> bool:
        self.steps.append(False)
        if len(self.steps) >= self.per_outage and not any(self.steps[-self.per_outage:]):
            self.faults.outage = False  # the disk has room again
        return self.is_set()


def outages_in(steps: list[bool]) -> int:
    """Runs of consecutive failed steps."""
    return sum(1 for i, ok in enumerate(steps) if not ok and (i == 0 or steps[i - 1]))


def test_gateway_says_once_per_outage_and_runs_the_batch(
        store: Store, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # enough experiments that the queue outlasts three outages however the steps interleave
    # (each outage ends with at most two claims: 2 slots)
    index, exps = launch_batch(store, project_dir, {"x": "1..12 +1", "epochs": 1})
    faults = FaultyBackend(store, monkeypatch)
    steps: list[bool] = []
    started = [0]

    def on_step(report: StepReport) -> None:
        steps.append(True)
        if report.queued and started[0] < 3 and not faults.outage:
            faults.outage = True  # the disk is full: the next claim fails, and every write after it
            started[0] += 1

    lines: list[str] = []
    gateway = Gateway(store, LocalEngine(store, slots=2, flush_seconds=0.2), poll_seconds=0.05, log=lines.append)
    gateway.serve(Retrying(steps, faults, 5), until_idle=True, on_step=on_step)

    failed_steps = steps.count(False)
    assert started[0] == 3 and failed_steps >= 15
    errors = [line for line in lines if "retrying" in line]
    assert len(errors) == outages_in(steps) >= 3, (errors, steps)  # not one line per failed step
    assert all(TMP_PREFIX not in line and any(code in line for code in ("ENOSPC", "EIO", "ETIMEDOUT"))
               for line in errors), errors
    index.refresh()
    assert {s.state for _, _, s in index.iter_experiments()} == {"succeeded"}
    assert not [name for name in raw_names(store) if TMP_PREFIX in name]


# ---- damaged files ----------------------------------------------------------------------------
def run_to_the_end(store: Store) -> None:
    Gateway(store, LocalEngine(store, slots=2, flush_seconds=0.2), poll_seconds=0.05).serve(until_idle=True)


def damage(store: Store, run_id: str, exp_id: str, project: str = "tiny") -> list[str]:
    """Write a truncated Parquet part and a truncated state event beside the good ones; return
    their paths."""
    base = store.run_dir(project, run_id)
    part = store.fs.read_bytes(store.run_files(project, run_id, "metrics")[0])
    state = store.fs.read_bytes(store.run_files(project, run_id, "states")[0])
    paths = {
        f"{base}/metrics/{exp_id}~000009~badbad.parquet": part[: len(part) // 2],
        f"{base}/states/{exp_id}~00000000000000000001~badbad.json": state[: len(state) // 2],
    }
    for path, data in paths.items():
        store.fs.write_atomic(path, data)
    return sorted(paths)


def test_every_command_works_beside_damaged_files(store: Store, project_dir: Path) -> None:
    from tests.integration.processes import cli

    index, exps = launch_batch(store, project_dir, {"x": "1,2,3", "epochs": 2})
    run_to_the_end(store)
    run_id = exps[0].run_id
    damaged = damage(store, run_id, exps[0].experiment_id)

    status = cli(store, "status", cwd=project_dir)
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr
    lines = status.stderr.strip().splitlines()
    assert len(lines) == len(damaged), lines  # each damaged file named once, in one line
    for path in damaged:
        assert [line for line in lines if path in line and "set aside" in line], (path, lines)
    header, row = status.stdout.splitlines()[:2]
    assert dict(zip(header.split(), row.split(), strict=False))["succeeded"] == "3", status.stdout
    assert store.quarantined() == damaged

    show = cli(store, "show", exps[0].experiment_id, cwd=project_dir)
    assert show.returncode == 0 and "succeeded" in show.stdout and show.stderr == "", show.stderr
    plan = cli(store, "plan", "x=1,2,4", "epochs=2", cwd=project_dir)
    assert plan.returncode == 0 and plan.stderr == "", plan.stderr
    assert "redundant" in plan.stdout  # the history, read past the damaged files, flags x=1 and x=2


def test_the_gateway_runs_another_projects_batch_beside_damaged_files(
        store: Store, project_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, done = launch_batch(store, project_dir, {"x": "1", "epochs": 1})
    run_to_the_end(store)
    run_id = done[0].run_id
    damaged = damage(store, run_id, done[0].experiment_id)
    record = store.fs.read_bytes(f"{store.run_dir('tiny', run_id)}/run.json")
    store.fs.write_atomic("projects/tiny/runs/29990101-000000-dead/experiments.json", b"[]")
    store.fs.write_atomic("projects/tiny/runs/29990101-000000-dead/run.json", record[:40])
    damaged = sorted([*damaged, "projects/tiny/runs/29990101-000000-dead/run.json"])

    other = tmp_path / "other"
    other.mkdir()
    (other / "train.py").write_text((project_dir / "train.py").read_text())
    (other / "hypertuner.toml").write_text('[project]\nname = "other"\nscript = "train.py"\n')
    index, queued = launch_batch(store, other, {"x": "1,2", "epochs": 1})
    caplog.set_level(logging.WARNING)
    run_to_the_end(store)  # a fresh gateway meets the damaged files of "tiny" first
    index.refresh()
    assert {e.experiment_id: s.state for _, e, s in index.iter_experiments()} == {
        e.experiment_id: "succeeded" for e in queued}
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == len(damaged) and all(any(p in line for line in lines) for p in damaged), lines
    assert [p for p in store.quarantined() if p.startswith("projects/tiny/runs")] == damaged


def test_the_run_page_model_refreshes_past_a_damaged_part(store: Store, project_dir: Path) -> None:
    from panel_app.run_page.model import RunPageModel
    from workbench_plugin.index import RunView

    index, exps = launch_batch(store, project_dir, {"x": "1,2", "epochs": 2})
    view = RunView(index, exps[0].run_id)
    run_to_the_end(store)
    damaged = damage(store, exps[0].run_id, exps[0].experiment_id)
    view.memory.lock("x", run_id=exps[0].run_id, low=1, high=2)
    view.memory.add_note(exps[0].run_id, "looks good", {})
    damaged.append("projects/tiny/events/00000000000000000001~badbad.json")
    store.fs.write_atomic(damaged[-1], b"\x00garbage")
    assert view.refresh()  # the serve loop's refresh: new parts and states read, the damaged set aside
    model = RunPageModel(view.frames())
    table = model.frames.experiments.set_index("experiment_id")
    assert table["loss"].to_dict() == pytest.approx({exps[0].experiment_id: 0.5, exps[1].experiment_id: 1.0})
    assert view.memory.locks()["x"].describe() == "1..2"  # what the page's sliders and notes read
    assert [n.text for n in view.memory.notes(exps[0].run_id)] == ["looks good"]
    assert store.quarantined() == sorted(damaged)


def test_a_damaged_snapshot_fails_its_experiments_in_one_line_not_the_gateway(
        store: Store, project_dir: Path, tmp_path: Path) -> None:
    index, exps = launch_batch(store, project_dir, {"x": "1,2", "epochs": 1})
    archive = Path(store.fs.local_path(store.snapshot_archive(index.runs[exps[0].run_id].run.snapshot_id)) or "")
    archive.write_bytes(archive.read_bytes()[:100])  # the disk damaged it after it was stored
    other = tmp_path / "other"
    other.mkdir()
    (other / "train.py").write_text((project_dir / "train.py").read_text() + "# another snapshot\n")
    (other / "hypertuner.toml").write_text('[project]\nname = "other"\nscript = "train.py"\n')
    other_index, other_exps = launch_batch(store, other, {"x": "3", "epochs": 1})

    run_to_the_end(store)
    index.refresh()
    snapshot_id = index.runs[exps[0].run_id].run.snapshot_id
    for exp in exps:
        state = index.experiment(exp.experiment_id)[2]
        assert state.state == "failed", state.fields
        reason = str(state.get("reason"))
        assert reason.startswith(f"snapshot could not be unpacked: snapshot '{snapshot_id}'") and "\n" not in reason
    assert store.quarantined() == [store.snapshot_archive(snapshot_id)]
    other_index.refresh()
    assert other_index.experiment(other_exps[0].experiment_id)[2].state == "succeeded"
