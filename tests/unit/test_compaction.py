"""Compacted runs: the same frames as from the parts, idempotent, crash-safe, and followed live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench_plugin.compaction import compact_run, latest_compacted
from workbench_plugin.frames import RunFrames
from workbench_plugin.fs import LocalFileSystem
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import State
from workbench_plugin.store import METRIC_COLUMNS, Experiment, Run, Store

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("loss", "val_loss", "acc", "a,b \"q\"", "<img src=x onerror=alert(1)>", "état")


def make_run(store: Store, n: int, project: str = "p") -> Run:
    store.create_project(project, "/somewhere")
    run_id = store.new_run_id()
    run = Run(run_id=run_id, project=project, created=1.0, author="me", script="train.py", interpreter="",
              flag_style="space", spec={"lr": "x"}, scales={}, snapshot_id="s1", data_id="d1", engine="local",
              n_experiments=n)
    store.write_run(run, [Experiment(f"{run_id}-{i}", run_id, i, {"lr": 0.1 * (i + 1)}, []) for i in range(n)])
    return run


class Writer:
    """Writes parts the way wrappers do: each part one experiment's rows, its sequence numbers rising,
    times from one clock (rows logged together share a time)."""

    def __init__(self, store: Store, run: Run) -> None:
        self.store, self.run = store, run
        self.seq: dict[int, int] = {}
        self.clock = 1000.0

    def part(self, exp: int, rows: list[tuple[str, int | None, int | None, str, float]]) -> None:
        """rows: (kind, epoch, step, name, value); each row group of equal (kind, epoch, step) shares a time."""
        cols: dict[str, list[Any]] = {c: [] for c in METRIC_COLUMNS}
        last = None
        for kind, epoch, step, name, value in rows:
            if (kind, epoch, step) != last:
                self.clock += 1.0
                last = (kind, epoch, step)
            for c, v in zip(METRIC_COLUMNS, (f"{self.run.run_id}-{exp}", kind, epoch, step, self.clock, name,
                                             value, "sdk"), strict=True):
                cols[c].append(v)
        seq = self.seq.get(exp, 0)
        self.seq[exp] = seq + 1
        self.store.write_metrics_part(self.run.project, self.run.run_id, f"{self.run.run_id}-{exp}", seq, cols)

    def epochs(self, exp: int, first: int, last: int, names: tuple[str, ...] = ("loss", "val_loss")) -> None:
        self.part(exp, [("epoch", e, None, n, 1.0 / (e + 1) + i) for e in range(first, last + 1)
                        for i, n in enumerate(names)])


def plain(curves: pd.DataFrame) -> pd.DataFrame:
    return curves.astype({"experiment_id": str, "name": str}).reset_index(drop=True)


def assert_same(a: RunFrames, b: RunFrames) -> None:
    pd.testing.assert_frame_equal(a.experiments, b.experiments)
    assert a.metrics == b.metrics and a.hparams == b.hparams and a.scales == b.scales
    pd.testing.assert_frame_equal(plain(a.curves), plain(b.curves))
    assert a.curve_counts() == b.curve_counts()


def frames_of(store: Store, run: Run, *, compacted: bool) -> RunFrames:
    index = ProjectIndex(store, run.project, compacted=compacted)
    index.refresh()
    return index.frames(run.run_id)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


def test_a_compacted_run_opens_from_its_compaction_with_the_same_frames(store: Store) -> None:
    run = make_run(store, 4)
    w = Writer(store, run)
    for exp in range(4):
        w.epochs(exp, 0, 4)
        w.part(exp, [("summary", None, None, "acc", 0.5 + exp / 10)])
        store.append_state("p", run.run_id, f"{run.run_id}-{exp}", State.SUCCEEDED)
    result = compact_run(store, "p", run.run_id)
    assert result.written and result.files == 12 and result.points == 44
    compacted = ProjectIndex(store, "p")
    compacted.refresh()
    entry = compacted.entry(run.run_id)
    assert entry.compacted is not None and not entry.curves.parts  # no part was read
    assert all(s.state == State.SUCCEEDED for s in entry.states.values())
    frames = compacted.frames(run.run_id)
    assert frames._curves is None  # the curves are read only when asked for
    one = frames.curves_for([f"{run.run_id}-2"])
    assert set(one["experiment_id"].astype(str)) == {f"{run.run_id}-2"} and len(one) == 10
    assert list(frames.curves_of("val_loss")["value"])[:5] == [2.0, 1.5, 1 + 1 / 3, 1.25, 1.2]
    assert frames._curves is None
    assert_same(frames_of(store, run, compacted=False), frames)


def test_compaction_is_idempotent_and_a_new_part_makes_a_new_generation(store: Store) -> None:
    run = make_run(store, 2)
    w = Writer(store, run)
    w.epochs(0, 0, 2)
    first = compact_run(store, "p", run.run_id)
    again = compact_run(store, "p", run.run_id)
    assert first.written and not again.written and again.generation == first.generation
    assert "already compacted" in again.line()
    folder = Path(store.url) / "projects/p/runs" / run.run_id / "compacted"
    assert sorted(p.name for p in folder.glob("*.json")) == [f"{first.generation}.json"]
    w.epochs(1, 0, 1)  # a part the compaction does not cover
    newer = compact_run(store, "p", run.run_id)
    assert newer.written and newer.generation > first.generation
    latest = latest_compacted(store, "p", run.run_id)
    assert latest is not None and latest.generation == newer.generation
    parts = sorted(p.name for p in (folder.parent / "metrics").iterdir())
    assert len(parts) == 2  # no part was touched or replaced
    assert_same(frames_of(store, run, compacted=False), frames_of(store, run, compacted=True))


@pytest.mark.parametrize("point", ["compaction-after-curves", "compaction-before-manifest"])
def test_a_compaction_killed_midway_leaves_nothing_visible_and_a_rerun_completes_it(
        store: Store, tmp_path: Path, point: str) -> None:
    run = make_run(store, 3)
    w = Writer(store, run)
    for exp in range(3):
        w.epochs(exp, 0, 3)
    before = frames_of(store, run, compacted=False)
    env = {**os.environ, "HYPERTUNER_FAULT_POINTS": point, "PYTHONPATH": str(ROOT)}
    code = ("import sys; from workbench_plugin.store import Store; from workbench_plugin.compaction import "
            "compact_run; compact_run(Store(sys.argv[1]), 'p', sys.argv[2])")
    done = subprocess.run([sys.executable, "-c", code, store.url, run.run_id], env=env, capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == -9, done.stderr.decode()[-2000:]  # killed where it was armed
    folder = Path(store.url) / "projects/p/runs" / run.run_id / "compacted"
    assert not list(folder.glob("*.json"))  # no manifest: nothing of it is visible
    (folder / "leftover").mkdir(parents=True, exist_ok=True)
    (folder / "leftover" / ".tmp.reduced.parquet.0123").write_bytes(b"PAR1 half a file")  # cut mid-write
    assert latest_compacted(store, "p", run.run_id) is None
    assert_same(before, frames_of(store, run, compacted=True))  # readers read the parts
    result = compact_run(store, "p", run.run_id)
    assert result.written
    index = ProjectIndex(store, "p")
    index.refresh()
    assert index.entry(run.run_id).compacted is not None
    assert_same(before, index.frames(run.run_id))


def test_a_damaged_manifest_is_set_aside_and_the_parts_are_read(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    run = make_run(store, 2)
    w = Writer(store, run)
    w.epochs(0, 0, 2)
    result = compact_run(store, "p", run.run_id)
    path = Path(store.url) / "projects/p/runs" / run.run_id / "compacted" / f"{result.generation}.json"
    path.write_text('{"format": 1, "curves": ')  # damaged on disk
    assert_same(frames_of(store, run, compacted=False), frames_of(store, run, compacted=True))
    assert not path.exists() and any("is damaged" in r.getMessage() for r in caplog.records)
    assert compact_run(store, "p", run.run_id).written  # and compacting again works


def test_state_events_after_the_compaction_fold_with_the_compacted_ones(store: Store) -> None:
    run = make_run(store, 2)
    e0 = f"{run.run_id}-0"
    store.claim("p", run.run_id, e0, gateway="g1")
    store.append_state("p", run.run_id, e0, State.SUBMITTED, engine_id="pid-1")
    store.append_state("p", run.run_id, e0, State.RUNNING)
    compact_run(store, "p", run.run_id)
    store.append_state("p", run.run_id, e0, State.SUCCEEDED, exit_code=0)
    index = ProjectIndex(store, "p")
    index.refresh()
    entry = index.entry(run.run_id)
    state = entry.states[e0]
    assert state.state == State.SUCCEEDED and state.claimed and state.engine_id == "pid-1"
    assert [e["state"] for e in entry.events[e0]] == ["submitted", "running", "succeeded"]
    assert entry.claims[e0]["gateway"] == "g1"
    plain_index = ProjectIndex(store, "p", compacted=False)
    plain_index.refresh()
    assert plain_index.entry(run.run_id).states[e0] == state


def test_a_compacted_run_answers_states_claims_and_usage_as_its_parts_do(store: Store) -> None:
    run = make_run(store, 5)
    ids = [f"{run.run_id}-{i}" for i in range(5)]
    for i, (eid, final) in enumerate(zip(ids[:4], [State.SUCCEEDED, State.FAILED, None, State.KILLED], strict=True)):
        store.claim("p", run.run_id, eid, gateway=f"g{i}")
        store.append_state("p", run.run_id, eid, State.SUBMITTED, engine_id=f"app-{i}", usage_expected=i < 2)
        if final is not None:
            store.append_state("p", run.run_id, eid, final, exit_code=i)
    store.append_state("p", run.run_id, ids[0], "usage", vcore_seconds=12)  # the first's usage came
    compact_run(store, "p", run.run_id)

    def answers(compacted: bool) -> Any:
        index = ProjectIndex(store, "p", compacted=compacted)
        index.refresh()
        entry = index.entry(run.run_id)
        assert (entry.compacted is not None) == compacted
        return ({eid: entry.states[eid] for eid in ids}, {eid: entry.claims.get(eid) for eid in ids},
                entry.counts(), entry.progress(), entry.done, entry.awaiting_usage(), list(entry.states))

    compacted = answers(True)
    assert compacted == answers(False)
    states, claims, counts, _, done, awaiting, order = compacted
    assert [states[e].state for e in ids] == ["succeeded", "failed", "submitted", "killed", "queued"]
    assert claims[ids[2]]["gateway"] == "g2" and claims[ids[4]] is None
    assert counts[State.SUBMITTED] == 1 and not done and order == ids
    assert awaiting == [ids[1]]  # ended, usage expected and not recorded; the first has its usage


_row = st.tuples(st.sampled_from(["epoch", "epoch", "step", "summary"]), st.integers(0, 4),
                 st.sampled_from(NAMES[:4]),
                 st.one_of(st.floats(-5, 5), st.sampled_from([float("nan"), float("inf"), -float("inf")])))
_part = st.tuples(st.integers(0, 3), st.lists(_row, min_size=1, max_size=6))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_part, min_size=1, max_size=10), split=st.integers(0, 10), data=st.data(),
       range_points=st.sampled_from([1, 5, 1_000_000]))
def test_frames_read_with_and_without_compaction_are_identical(tmp_path_factory: pytest.TempPathFactory,
                                                               parts: list[Any], split: int, data: Any,
                                                               range_points: int) -> None:
    store = Store(str(tmp_path_factory.mktemp("s") / "store"))
    run = make_run(store, 4)
    w = Writer(store, run)
    live = ProjectIndex(store, "p")  # a page open since the start
    for k, (exp, rows) in enumerate(parts):
        if k == split:
            compact_run(store, "p", run.run_id, range_points=range_points)
            if data.draw(st.booleans()):
                live.refresh()
        w.part(exp, [(kind, n if kind == "epoch" else None, n if kind == "step" else None, name, value)
                     for kind, n, name, value in rows])
    live.refresh()
    reference = frames_of(store, run, compacted=False)
    assert_same(reference, frames_of(store, run, compacted=True))
    assert_same(reference, live.frames(run.run_id))
    fresh = frames_of(store, run, compacted=True)
    for name in {str(n) for n in reference.curves["name"]}:
        pd.testing.assert_frame_equal(plain(reference.curves_of(name)), plain(fresh.curves_of(name)))
    ids = [f"{run.run_id}-{i}" for i in (0, 2)]
    pd.testing.assert_frame_equal(plain(reference.curves_for(ids)), plain(fresh.curves_for(ids)))


def test_the_compact_command_and_the_spark_job(store: Store, tmp_path: Path) -> None:
    run = make_run(store, 2)
    Writer(store, run).epochs(0, 0, 2)
    env = {**os.environ, "HYPERTUNER_STORE": store.url, "PYTHONPATH": str(ROOT)}
    job = [sys.executable, str(ROOT / "spark_jobs" / "compact_runs.py")]
    done = subprocess.run([*job, "--project", "p"], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"compact {run.run_id}: 1 files, 6 points -> ")
    again = subprocess.run([*job, "--all"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and "already compacted" in again.stdout
    bad = subprocess.run([*job, "--project", "p", "nope"], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "'nope': not in project 'p'" in bad.stderr
    manifest = json.loads(next((Path(store.url) / "projects/p/runs" / run.run_id / "compacted").glob("*.json"))
                          .read_text())
    assert manifest["covered"]["metrics"] == 1 and manifest["experiments"] == 2


def _mixed_parts(store: Store, run: Run) -> None:
    """Parts as packed tasks and the synthetic bench write them: each part several experiments' rows
    (named after its first), names that sort unlike launch order (-10 before -2), an experiment
    not in the batch, a point without an experiment, repeated points and summaries."""
    rid = run.run_id

    def part(first: int, rows: list[tuple[str | None, str, int | None, float, str, float]]) -> None:
        cols: dict[str, list[Any]] = {c: [] for c in METRIC_COLUMNS}
        for eid, kind, epoch, t, name, value in rows:
            for c, v in zip(METRIC_COLUMNS, (eid, kind, epoch, None, t, name, value, "sdk"), strict=True):
                cols[c].append(v)
        store.write_metrics_part("p", rid, f"{rid}-{first}", 0, cols, format="parquet")

    part(10, [(f"{rid}-{e}", "epoch", ep, 100.0 + ep, n, e + ep / 10) for e in (10, 11, 2)
              for ep in range(3) for n in ("loss", "acc")])
    part(2, [(f"{rid}-2", "epoch", 1, 103.0, "loss", -1.0), (f"{rid}-2", "summary", None, 104.0, "acc", 9.0),
             (f"{rid}-0", "epoch", 0, 99.0, "zeta", 0.5), (None, "epoch", 0, 50.0, "first", 1.0)])
    part(0, [(f"{rid}-{e}", "epoch", ep, 10.0 * e + ep, "loss", float(e * ep)) for e in range(12)
             for ep in range(2)])
    part(99, [(f"{rid}-99", "epoch", ep, 1.0, "loss", 3.0) for ep in range(2)])  # not in the batch


@pytest.mark.parametrize("range_points", [1, 7, 40])
def test_a_compaction_in_several_ranges_writes_what_one_range_writes(store: Store, range_points: int) -> None:
    import pyarrow.parquet as pq

    run = make_run(store, 12)
    _mixed_parts(store, run)
    reference = frames_of(store, run, compacted=False)
    whole = compact_run(store, "p", run.run_id)
    one = latest_compacted(store, "p", run.run_id)
    assert one is not None and whole.points == 48
    in_one = {name: pq.read_table(path) for name, path in
              ((n, Path(store.url) / p) for n, p in one.curve_files.items())}
    states_one = pq.read_table(Path(store.url) / one.path("states.parquet"))
    reduced_one = pq.read_table(Path(store.url) / one.path("reduced.parquet"))
    (Path(store.url) / "projects/p/runs" / run.run_id / "compacted" / f"{one.generation}.json").unlink()
    ranged = compact_run(store, "p", run.run_id, range_points=range_points)
    assert ranged.written and ranged.generation != whole.generation and ranged.points == 48
    many = latest_compacted(store, "p", run.run_id)
    assert many is not None and many.manifest["curves"] == one.manifest["curves"]
    assert many.manifest["names"] == ["acc", "first", "loss", "zeta"]
    assert sorted(p.name for p in (Path(store.url) / many.folder).iterdir()) == [
        "covered.parquet", "curves", "reduced.parquet", "states.parquet"]  # its working files are gone
    for name, table in in_one.items():
        assert pq.read_table(Path(store.url) / many.curve_files[name]).equals(table), name
    assert pq.read_table(Path(store.url) / many.path("states.parquet")).equals(states_one)
    assert pq.read_table(Path(store.url) / many.path("reduced.parquet")).to_pylist() == reduced_one.to_pylist()
    fresh = frames_of(store, run, compacted=True)
    assert_same(reference, fresh)
    ids = [f"{run.run_id}-{i}" for i in (2, 10, 99)]
    pd.testing.assert_frame_equal(plain(reference.curves_for(ids)), plain(fresh.curves_for(ids)))
    assert fresh.curve_counts()[f"{run.run_id}-2"] == 6  # epoch 1 of loss logged twice: the later one kept


def test_old_generations_are_removed_after_their_grace_and_the_newest_is_kept(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import time

    from workbench_plugin.compaction import SUPERSEDED_GRACE, UNFINISHED_GRACE, remove_old_generations

    run = make_run(store, 3)
    w = Writer(store, run)
    generations = []
    for exp in range(3):
        w.epochs(exp, 0, 2)
        generations.append(compact_run(store, "p", run.run_id).generation)
    folder = Path(store.url) / "projects/p/runs" / run.run_id / "compacted"
    assert remove_old_generations(store, "p", run.run_id) == []  # superseded just now: a page may hold them
    # a page opened on the first generation still reads its curves
    assert sorted(p.name for p in folder.iterdir()) == sorted([*generations, *(f"{g}.json" for g in generations)])
    # the second and third manifests written two hours ago: the first two generations are superseded
    for g in generations[1:]:
        manifest = json.loads((folder / f"{g}.json").read_text())
        (folder / f"{g}.json").write_text(json.dumps({**manifest, "time": time.time() - SUPERSEDED_GRACE - 3600}))
    killed = f"{time.time_ns() - int((UNFINISHED_GRACE + 60) * 1e9):020d}~abcdef"  # a compaction killed a day ago
    (folder / killed / "curves").mkdir(parents=True)
    (folder / killed / "curves" / "m00000.parquet").write_bytes(b"PAR1")
    (folder / killed / ".tmp.work-0123" ).mkdir()
    running = f"{time.time_ns() - int(60e9):020d}~fedcba"  # one still writing
    (folder / running).mkdir()
    (folder / "notes.txt").write_text("not a generation")  # names a compaction does not write stay
    caplog.set_level(logging.INFO, logger="hypertuner.compaction")
    again = compact_run(store, "p", run.run_id)  # nothing new: it only tidies
    assert not again.written and again.generation == generations[2]
    assert again.removed == (generations[0], generations[1], killed)
    assert again.line().endswith("; removed 3 old generations")
    lines = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert lines == [f"compact {run.run_id}: removed 3 old generations ({generations[0]}, {generations[1]}, "
                     f"{killed})"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([generations[2], f"{generations[2]}.json", running,
                                                               "notes.txt"])
    assert_same(frames_of(store, run, compacted=False), frames_of(store, run, compacted=True))
    # a day later the unfinished folder goes too; the newest generation never does
    later = time.time() + UNFINISHED_GRACE + 120
    assert remove_old_generations(store, "p", run.run_id, now=later) == [running]
    assert remove_old_generations(store, "p", run.run_id, now=later * 2) == []
    assert latest_compacted(store, "p", run.run_id) is not None


class _RemoteLikeFileSystem(LocalFileSystem):
    """A store read and written as HDFS is: no local path (bytes read whole, files streamed up)."""

    def local_path(self, path: str) -> str | None:
        return None


def test_a_store_without_local_paths_is_compacted_through_its_filesystem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    store = Store(str(tmp_path / "store"), _RemoteLikeFileSystem(str(tmp_path / "store")))
    run = make_run(store, 12)
    _mixed_parts(store, run)
    result = compact_run(store, "p", run.run_id, range_points=3)
    assert result.written and result.points == 48
    assert not list(work.iterdir())  # its working files are gone
    generation = Path(store.url) / "projects/p/runs" / run.run_id / "compacted" / str(result.generation)
    assert sorted(p.name for p in generation.iterdir()) == ["covered.parquet", "curves", "reduced.parquet",
                                                           "states.parquet"]
    assert_same(frames_of(store, run, compacted=False), frames_of(store, run, compacted=True))


def test_an_open_index_moves_to_a_newer_compaction_before_its_old_generation_is_removed(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dashboard server's index outlives a live run's compactions: it must not keep reading a
    generation that a later compaction removes."""
    import time

    from workbench_plugin import index as index_module
    from workbench_plugin.compaction import SUPERSEDED_GRACE, remove_old_generations

    run = make_run(store, 2)
    w = Writer(store, run)
    w.epochs(0, 0, 2)
    first = compact_run(store, "p", run.run_id).generation
    index = ProjectIndex(store, "p")
    index.refresh()
    assert index.entry(run.run_id).compacted.generation == first  # type: ignore[union-attr]
    w.epochs(1, 0, 3)
    second = compact_run(store, "p", run.run_id).generation
    index.refresh()  # looked at less often than every refresh
    version = index.entry(run.run_id).version
    assert index.entry(run.run_id).compacted.generation == first  # type: ignore[union-attr]
    monkeypatch.setattr(index_module, "COMPACTION_CHECK_SECONDS", 0.0)
    assert index.refresh()
    entry = index.entry(run.run_id)
    assert entry.compacted.generation == second and entry.version > version  # type: ignore[union-attr]
    # the first generation goes an hour later; the open index reads every curve still
    assert remove_old_generations(store, "p", run.run_id, now=time.time() + SUPERSEDED_GRACE + 60)
    assert_same(index.frames(run.run_id), frames_of(store, run, compacted=False))
    assert entry.curves.for_experiments([f"{run.run_id}-0"]).shape[0] == 6
