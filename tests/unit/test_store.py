"""The shared store suite: every test runs on local disk and on the mini cluster's HDFS."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.faults import FaultyBackend, raw_names
from workbench_plugin import SnapshotError, StoreError
from workbench_plugin.fs import TMP_PREFIX, LocalFileSystem
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import State, fold_states
from workbench_plugin.memory import ProjectMemory, StoreMemory
from workbench_plugin.snapshot import create_snapshot, extract_snapshot
from workbench_plugin.store import Experiment, Run, Store

T = TypeVar("T")


@pytest.fixture(params=["local", "hdfs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield Store(str(tmp_path / "store"))
        return
    cluster = request.getfixturevalue("minicluster")
    host = cluster.webhdfs_url.split("://", 1)[1]
    yield Store(f"webhdfs://{host}/store-suite/{uuid.uuid4().hex}")


def break_publishing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next publish (local: the hard link; HDFS: the RENAME) die as if interrupted."""
    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    if isinstance(store.fs, LocalFileSystem):
        monkeypatch.setattr(os, "link", crash)
        return
    original = store.fs._call  # type: ignore[attr-defined]

    def call(method: str, path: str, op: str, **kwargs: object) -> object:
        if op == "RENAME":
            crash()
        return original(method, path, op, **kwargs)

    monkeypatch.setattr(store.fs, "_call", call)


def make_run(store: Store, n: int = 3, project: str = "p") -> Run:
    store.create_project(project, "/somewhere")
    run_id = store.new_run_id()
    run = Run(run_id=run_id, project=project, created=1.0, author="me", script="train.py",
              interpreter="", flag_style="space", spec={"x": "1,2,3"}, scales={"x": "linear"},
              snapshot_id="s1", data_id="d1", engine="local", n_experiments=n)
    exps = [Experiment(f"{run_id}-{i:03d}", run_id, i, {"x": i + 1}, ["train.py", "--x", str(i + 1)])
            for i in range(n)]
    store.write_run(run, exps)
    return run


def test_run_roundtrip(store: Store) -> None:
    run = make_run(store)
    assert store.runs("p") == [run.run_id]
    assert store.read_run("p", run.run_id) == run
    exps = store.read_experiments("p", run.run_id)
    assert [e.params["x"] for e in exps] == [1, 2, 3]
    assert exps[2].argv == ["train.py", "--x", "3"]


def test_files_are_never_rewritten(store: Store) -> None:
    store.fs.write_atomic("a/b.json", b"1")
    with pytest.raises(StoreError, match="never rewritten"):
        store.fs.write_atomic("a/b.json", b"2")
    assert store.fs.read_bytes("a/b.json") == b"1"


def test_a_large_local_file_is_published_streamed_and_never_replaced(store: Store, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Build images (hundreds of MB) are published from their file; reading it whole would fail here."""
    source = tmp_path / "image.tar.gz"
    payload = os.urandom(1 << 16) * 48  # 3 MiB, several chunks
    source.write_bytes(payload)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read whole"))
    assert store.fs.create_exclusive_file("images/env-1.tar.gz", str(source)) is True
    source.write_bytes(b"other")
    assert store.fs.create_exclusive_file("images/env-1.tar.gz", str(source)) is False
    assert store.fs.read_bytes("images/env-1.tar.gz") == payload
    assert store.fs.listdir("images") == ["env-1.tar.gz"]  # no temporary file left behind


def test_claims_have_exactly_one_winner(store: Store) -> None:
    run = make_run(store)
    exp_id = f"{run.run_id}-000"
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(store.claim("p", run.run_id, exp_id, engine="t"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_interrupted_write_leaves_no_visible_file(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run(store)
    break_publishing(store, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        store.append_state("p", run.run_id, f"{run.run_id}-000", "running")
    monkeypatch.undo()
    assert store.fs.listdir(f"projects/p/runs/{run.run_id}/states") == []
    index = ProjectIndex(store, "p")
    index.refresh()
    assert index.runs[run.run_id].states[f"{run.run_id}-000"].state == "queued"


def test_write_killed_before_rename_is_invisible(tmp_path: Path) -> None:
    """A writer killed with SIGKILL between writing and publishing leaves only a temp file."""
    root = tmp_path / "store"
    code = (
        "import os, signal, sys\n"
        "from workbench_plugin.fs import LocalFileSystem\n"
        "os.link = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"LocalFileSystem({str(root)!r}).write_atomic('runs/r/x.json', b'{{}}' * 1000)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    fs = LocalFileSystem(str(root))
    assert fs.listdir("runs/r") == []
    leftovers = os.listdir(root / "runs" / "r")
    assert len(leftovers) == 1 and leftovers[0].startswith(TMP_PREFIX)


def test_run_is_invisible_until_complete(store: Store) -> None:
    store.create_project("p", "/x")
    store.fs.write_atomic("projects/p/runs/r1/experiments.json", b"[]")  # run.json not yet written
    assert store.runs("p") == []


def test_index_reads_only_new_files(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run(store)
    index = ProjectIndex(store, "p")
    assert index.refresh()
    store.append_state("p", run.run_id, f"{run.run_id}-000", "running", pid=1)
    reads: list[str] = []
    original = store.fs.read_bytes
    monkeypatch.setattr(store.fs, "read_bytes", lambda path: reads.append(path) or original(path))
    assert index.refresh()
    assert len(reads) == 1 and "/states/" in reads[0]
    reads.clear()
    assert not index.refresh()
    assert reads == []
    assert index.runs[run.run_id].states[f"{run.run_id}-000"].state == "running"


def test_metrics_parts_fold_into_frames(store: Store) -> None:
    run = make_run(store, n=2)
    e0, e1 = f"{run.run_id}-000", f"{run.run_id}-001"
    rows = {"experiment_id": [e0, e0, e0, e1], "kind": ["epoch", "epoch", "summary", "epoch"],
            "epoch": [1, 2, None, 1], "step": [None] * 4, "time": [1.0, 2.0, 3.0, 1.0],
            "name": ["loss", "loss", "loss", "loss"], "value": [0.5, 0.4, 0.35, 0.9],
            "source": ["sdk"] * 4}
    store.write_metrics_part("p", run.run_id, e0, 0, rows)
    index = ProjectIndex(store, "p")
    index.refresh()
    frames = index.frames(run.run_id)
    assert frames.metrics == ("loss",)
    assert frames.experiments.set_index("experiment_id")["loss"].to_dict() == {e0: 0.35, e1: 0.9}
    assert len(frames.curves) == 3  # the summary is not a curve point


def test_state_fold_first_terminal_wins_and_lifecycle_order() -> None:
    events = [
        {"state": "running", "time": 1.0, "pid": 5},
        {"state": "submitted", "time": 1.5, "engine_id": "local:5:9"},
        {"state": "succeeded", "time": 2.0, "exit_code": 0},
        {"state": "lost", "time": 3.0, "reason": "late reconciler"},
    ]
    folded = fold_states(events, claim={"time": 0.5})
    assert folded.state == "succeeded"
    assert folded.get("exit_code") == 0 and folded.engine_id == "local:5:9"
    assert fold_states(events[:2]).state == "running"


def test_project_events_fold(store: Store) -> None:
    store.create_project("p", "/x")
    store.append_event("p", "lock", name="batch_size", value=32)
    store.append_event("p", "note", text="hello")
    assert [e["kind"] for e in store.events("p")] == ["lock", "note"]
    assert store.events("p", "note")[0]["text"] == "hello"


def test_records_are_json(store: Store) -> None:
    run = make_run(store)
    raw = store.fs.read_bytes(f"projects/p/runs/{run.run_id}/run.json")
    assert json.loads(raw)["run_id"] == run.run_id


def test_usage_recorded_after_the_end_is_folded_in() -> None:
    events = [
        {"state": "submitted", "time": 1.0, "engine_id": "yarn:application_1_0001"},
        {"state": "succeeded", "time": 2.0, "exit_code": 0},
        {"state": "usage", "time": 9.0, "vcore_seconds": 7, "memory_mb_seconds": 7373},
    ]
    folded = fold_states(events)
    assert folded.state == "succeeded" and folded.get("vcore_seconds") == 7
    assert folded.get("memory_mb_seconds") == 7373 and folded.get("usage_recorded")


# ---- injected write failures ------------------------------------------------------------------
def retry(errors: list[str], what: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Call ``what`` until it works, the way the gateway and the wrapper retry a failed write."""
    while True:
        try:
            return what(*args, **kwargs)
        except StoreError as exc:
            errors.append(str(exc))


def test_a_thousand_failed_writes_leave_no_partial_and_no_temporary_file(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run(store, n=1000)
    faults = FaultyBackend(store, monkeypatch, rate=0.15, limit=1000)
    rng = random.Random(1)
    errors: list[str] = []
    acked: dict[str, set[int]] = {"states": set(), "events": set(), "metrics": set(), "claims": set()}
    n = 0
    while faults.failed < 1000:
        n += 1
        kind = rng.choice(sorted(acked))
        exp_id = f"{run.run_id}-{n % 1000:03d}"
        if kind == "states":
            retry(errors, store.append_state, "p", run.run_id, exp_id, "running", n=n)
        elif kind == "events":
            retry(errors, store.append_event, "p", "note", run_id=run.run_id, text="x" * 300, n=n)
        elif kind == "metrics":
            rows = {"experiment_id": [exp_id] * 50, "kind": ["epoch"] * 50, "epoch": list(range(50)),
                    "step": [None] * 50, "time": [float(n)] * 50, "name": ["loss"] * 50,
                    "value": [float(n)] * 50, "source": ["sdk"] * 50}
            retry(errors, store.write_metrics_part, "p", run.run_id, exp_id, n, rows)
        elif n < 1000:
            retry(errors, store.claim, "p", run.run_id, exp_id, engine="t", n=n)
        else:
            continue
        acked[kind].add(n)
    monkeypatch.undo()  # the store works again

    assert faults.failed == 1000 and len(errors) == 1000
    assert not [name for name in raw_names(store) if os.path.basename(name).startswith(TMP_PREFIX)]
    # messages name the folder, never the temporary file: one outage reads as one message
    assert not [e for e in errors if TMP_PREFIX in e]
    # every published file reads back whole, and every acknowledged write is there
    base = f"projects/p/runs/{run.run_id}"
    found: dict[str, set[int]] = {kind: set() for kind in acked}
    for kind, folder in (("states", f"{base}/states"), ("claims", f"{base}/claims"), ("events", "projects/p/events")):
        for name in store.fs.listdir(folder):
            found[kind].add(store.read_record(f"{folder}/{name}")["n"])
    for path in store.run_files("p", run.run_id, "metrics"):
        table = store.read_metrics_part(path)
        assert table.num_rows == 50
        found["metrics"].add(int(table.column("time")[0].as_py()))
    for kind in acked:
        assert acked[kind] <= found[kind], kind
    index = ProjectIndex(store, "p")
    index.refresh()
    assert store.quarantined() == []  # nothing published was damaged


# ---- damaged files ----------------------------------------------------------------------------
def metric_rows(exp_id: str, value: float) -> dict[str, list[object]]:
    return {"experiment_id": [exp_id], "kind": ["epoch"], "epoch": [1], "step": [None], "time": [1.0],
            "name": ["loss"], "value": [value], "source": ["sdk"]}


def warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
    return lines


def test_damaged_parts_states_and_claims_are_set_aside_once(store: Store, caplog: pytest.LogCaptureFixture,
                                                           tmp_path: Path) -> None:
    run = make_run(store, n=40)
    ids = [f"{run.run_id}-{i:03d}" for i in range(40)]
    for exp_id in ids:
        store.claim("p", run.run_id, exp_id, engine="t")
        store.append_state("p", run.run_id, exp_id, "succeeded", exit_code=0)
    good = store.write_metrics_part("p", run.run_id, ids[1], 0, metric_rows(ids[1], 0.5))
    base = f"projects/p/runs/{run.run_id}"
    whole = store.fs.read_bytes(good)  # a CSV part, as the wrapper writes them
    parquet = Store(str(tmp_path / "other")).write_metrics_part("p", "r", "r-0", 0, metric_rows("r-0", 0.5),
                                                                format="parquet")
    whole_parquet = LocalFileSystem(str(tmp_path / "other")).read_bytes(parquet)
    state = store.fs.read_bytes(store.run_files("p", run.run_id, "states")[0])
    damaged = {
        f"{base}/metrics/{ids[0]}~000000~aaaaaa.parquet": whole_parquet[: len(whole_parquet) // 2],  # truncated
        f"{base}/metrics/{ids[2]}~000000~bbbbbb.parquet": b"garbage" * 20,
        f"{base}/metrics/{ids[6]}~000000~ffffff.csv": whole[: len(whole) - 5],  # truncated
        f"{base}/metrics/{ids[7]}~000000~abcabc.csv": whole.replace(b"0.5", b'"0.5'),  # a quote never closed
        f"{base}/metrics/{ids[8]}~000000~defdef.csv": whole_parquet,  # not CSV
        f"{base}/states/{ids[3]}~00000000000000000001~cccccc.json": state[: len(state) // 2],
        f"{base}/states/{ids[4]}~00000000000000000001~dddddd.json": b"[1, 2]",  # not a record
        f"{base}/states/{ids[5]}~00000000000000000001~eeeeee.json": b'{"experiment_id": 5, "state": "lost"}',
        f"{base}/claims/{run.run_id}-099.json": b"\x00\x01\xff",
    }
    for path, data in damaged.items():
        store.fs.write_atomic(path, data)
    index = ProjectIndex(store, "p")
    caplog.set_level(logging.WARNING)
    assert index.refresh()
    # everything else read: 40 succeeded (not "40 queued"), the good part in the frames
    assert index.runs[run.run_id].counts()[State.SUCCEEDED] == 40
    assert index.frames(run.run_id).experiments.set_index("experiment_id")["loss"].dropna().to_dict() == {ids[1]: 0.5}
    lines = warned(caplog)
    assert len(lines) == len(damaged)  # each named once, in one line
    for path in damaged:
        assert [line for line in lines if path in line and "\n" not in line and "set aside as quarantine/" in line
                and "/tmp/" not in line]
    assert store.quarantined() == sorted(damaged)  # moved, never deleted
    for path, data in damaged.items():
        assert store.fs.read_bytes(f"quarantine/{path}") == data
        assert path in store.read_record(f"quarantine/{path}.reason.json")["path"]
    assert not [p for p in store.run_files("p", run.run_id, "metrics") if p in damaged]
    store.append_state("p", run.run_id, ids[0], "usage", vcore_seconds=1)
    index.refresh()
    assert warned(caplog) == []  # named once
    assert ProjectIndex(store, "p").refresh() and warned(caplog) == []


def test_a_file_that_cannot_be_read_now_is_read_at_the_next_refresh(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run(store, n=2)
    exp_id = f"{run.run_id}-000"
    store.append_state("p", run.run_id, exp_id, "succeeded", exit_code=0)
    original = store.fs.read_bytes

    def unreachable(path: str) -> bytes:
        if "/states/" in path:
            raise StoreError("store: the NameNode at http://nn:9870 is unreachable (connection refused)")
        return original(path)

    monkeypatch.setattr(store.fs, "read_bytes", unreachable)
    index = ProjectIndex(store, "p")
    index.refresh()
    assert index.runs[run.run_id].states[exp_id].state == "queued"
    monkeypatch.undo()
    index.refresh()
    assert index.runs[run.run_id].states[exp_id].state == "succeeded"
    assert store.quarantined() == []
    # a run that has ended is not settled (no longer listed) while one of its files is unread
    store.append_state("p", run.run_id, f"{run.run_id}-001", "succeeded", exit_code=0)
    index.refresh()
    later = f"{run.run_id}-001"
    store.write_metrics_part("p", run.run_id, later, 0, metric_rows(later, 0.25))
    store.append_state("p", run.run_id, later, "note-from-later", text="x")
    monkeypatch.setattr(store.fs, "read_bytes", unreachable)
    for _ in range(3):
        index.refresh()
    assert not index.runs[run.run_id].settled
    monkeypatch.undo()
    index.refresh()
    assert index.frames(run.run_id).experiments.set_index("experiment_id")["loss"].to_dict()[later] == 0.25


@pytest.mark.parametrize("change", [{"extra": 1}, {"argv": None}])
def test_an_experiment_record_with_other_fields_is_damaged(store: Store, change: dict[str, Any]) -> None:
    run = make_run(store, n=2)
    path = f"projects/p/runs/{run.run_id}/experiments.json"
    rows = json.loads(store.fs.read_bytes(path))
    assert store.read_experiments("p", run.run_id) == [Experiment(**row) for row in rows]
    rows[1].update(change)
    if change.get("argv", 0) is None:
        del rows[1]["argv"]
    store.fs.write_atomic("projects/p/runs/r-other/experiments.json", json.dumps(rows).encode())
    with pytest.raises(TypeError):
        store.read_experiments("p", "r-other")


def test_a_damaged_run_record_skips_that_run_only(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    good = make_run(store, n=2)
    experiments = store.fs.read_bytes(f"projects/p/runs/{good.run_id}/experiments.json")
    record = store.fs.read_bytes(f"projects/p/runs/{good.run_id}/run.json")
    store.fs.write_atomic("projects/p/runs/r-cut/experiments.json", experiments)
    store.fs.write_atomic("projects/p/runs/r-cut/run.json", record[: len(record) // 2])
    store.fs.write_atomic("projects/p/runs/r-bad/experiments.json", b'{"not": "a list of experiments"}')
    store.fs.write_atomic("projects/p/runs/r-bad/run.json", record)
    caplog.set_level(logging.WARNING)
    index = ProjectIndex(store, "p")
    index.refresh()
    assert list(index.runs) == [good.run_id]
    assert index.frames(good.run_id).experiments.shape[0] == 2
    lines = warned(caplog)
    assert len(lines) == 2 and "projects/p/runs/r-bad/experiments.json is damaged (not a list" in lines[0]
    assert "projects/p/runs/r-cut/run.json is damaged" in lines[1]
    # the run goes with its damaged batch, so that no later command names it again
    assert store.quarantined() == ["projects/p/runs/r-bad/experiments.json", "projects/p/runs/r-bad/run.json",
                                   "projects/p/runs/r-cut/run.json"]
    assert "r-bad/experiments.json is damaged" in store.read_record(
        "quarantine/projects/p/runs/r-bad/run.json.reason.json")["reason"]
    index.refresh()
    assert warned(caplog) == []
    later = ProjectIndex(store, "p")  # the next command
    later.refresh()
    assert list(later.runs) == [good.run_id] and warned(caplog) == []


def test_a_damaged_project_event_is_set_aside(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.create_project("p", "/x")
    memory = ProjectMemory(StoreMemory(store, "p"))
    memory.lock("lr", run_id="r1", low=0.1, high=0.2)
    store.fs.write_atomic("projects/p/events/00000000000000000002~aaaaaa.json", b'{"kind": "lo')
    store.fs.write_atomic("projects/p/events/00000000000000000003~bbbbbb.json", b'"a string"')
    caplog.set_level(logging.WARNING)
    assert memory.locks()["lr"].describe() == "0.1..0.2"
    assert memory.notes("r1") == []
    assert len(warned(caplog)) == 2
    assert store.quarantined() == ["projects/p/events/00000000000000000002~aaaaaa.json",
                                   "projects/p/events/00000000000000000003~bbbbbb.json"]


def test_a_damaged_snapshot_fails_in_one_line_and_is_set_aside(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "train.py").write_text("print('hi')\n" * 100)
    snap = create_snapshot(store, folder, max_file_bytes=1 << 20)
    blob = store.fs.read_bytes(store.snapshot_archive(snap.snapshot_id))
    outside = io.BytesIO()
    with tarfile.open(fileobj=outside, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../etc/evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    for bad, data in (("cut", blob[: len(blob) // 2]), ("noise", b"noise" * 50), ("outside", outside.getvalue())):
        store.fs.write_atomic(store.snapshot_archive(bad), data)
        with pytest.raises(SnapshotError, match=rf"^snapshot '{bad}': the archive snapshots/{bad}.tar.gz") as err:
            extract_snapshot(store, bad, tmp_path / bad)
        assert "\n" not in str(err.value) and not (tmp_path / bad).exists()
        assert f"snapshots/{bad}.tar.gz" in store.quarantined()
    extract_snapshot(store, snap.snapshot_id, tmp_path / "out")
    assert (tmp_path / "out" / "train.py").read_text() == "print('hi')\n" * 100


def test_two_readers_setting_the_same_file_aside_say_it_once(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.fs.write_atomic("projects/p/events/1~aaaaaa.json", b"{")
    caplog.set_level(logging.WARNING)
    first = store.set_aside("projects/p/events/1~aaaaaa.json", ValueError("cut short"))
    second = store.set_aside("projects/p/events/1~aaaaaa.json", ValueError("cut short"))  # read before the move
    assert (first, second) == ("quarantine/projects/p/events/1~aaaaaa.json", None)
    assert len(warned(caplog)) == 1
    assert store.fs.read_bytes("quarantine/projects/p/events/1~aaaaaa.json") == b"{"


def test_a_damaged_project_record_is_set_aside_and_rebuilt(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    run = make_run(store, n=2)
    store.fs.move("projects/p/project.json", "elsewhere.json")  # a truncated record in its place:
    store.fs.write_atomic("projects/p/project.json", b'{"name": "p", "pa')
    caplog.set_level(logging.WARNING)
    assert store.project("p").name == "p"
    lines = warned(caplog)
    assert len(lines) == 1 and "projects/p/project.json is damaged" in lines[0]
    assert store.quarantined() == ["projects/p/project.json"]
    assert store.projects() == ["p"] and store.project("p").path == ""  # rebuilt: the folder is unknown
    assert warned(caplog) == []
    index = ProjectIndex(store, "p")
    index.refresh()
    assert list(index.runs) == [run.run_id]
