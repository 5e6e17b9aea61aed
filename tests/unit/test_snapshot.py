from __future__ import annotations

import json
from pathlib import Path

from workbench_plugin.snapshot import build_manifest, create_snapshot, extract_snapshot
from workbench_plugin.store import Store

MB = 1024 * 1024


def make_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('hi')\n")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0" * 10)
    (root / ".gitignore").write_text("*.log\noutputs/\n")
    (root / "run.log").write_text("noise\n")
    (root / "outputs").mkdir()
    (root / "outputs" / "model.bin").write_bytes(b"1" * 100)
    return root


def test_manifest_skips_vcs_caches_and_ignored(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    files, data = build_manifest(root, max_file_bytes=MB)
    assert [f["path"] for f in files] == [".gitignore", "pkg/util.py", "train.py"]
    assert data == []


def test_large_files_become_data_references(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    (root / "data.csv").write_bytes(b"x" * 2000)
    files, data = build_manifest(root, max_file_bytes=1000)
    assert "data.csv" not in [f["path"] for f in files]
    assert [d["path"] for d in data] == ["data.csv"]


def test_unchanged_files_give_the_same_snapshot_stored_once(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    store = Store(str(tmp_path / "store"))
    first = create_snapshot(store, root, max_file_bytes=MB)
    (root / "run.log").write_text("more ignored noise\n")
    second = create_snapshot(store, root, max_file_bytes=MB)
    assert second.snapshot_id == first.snapshot_id and second.reused and not first.reused
    assert store.fs.listdir("snapshots") == sorted([f"{first.snapshot_id}.json", f"{first.snapshot_id}.tar.gz"])
    (root / "train.py").write_text("print('changed')\n")
    third = create_snapshot(store, root, max_file_bytes=MB)
    assert third.snapshot_id != first.snapshot_id
    assert third.data_id == first.data_id


def test_data_change_keeps_code_id_but_changes_data_id(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    (root / "big.bin").write_bytes(b"a" * 5000)
    store = Store(str(tmp_path / "store"))
    first = create_snapshot(store, root, max_file_bytes=1000)
    (root / "big.bin").write_bytes(b"b" * 6000)
    second = create_snapshot(store, root, max_file_bytes=1000)
    assert second.snapshot_id == first.snapshot_id and second.data_id != first.data_id


def test_store_inside_the_project_is_not_snapshotted(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    store = Store(str(root / "mystore"))
    snap = create_snapshot(store, root, max_file_bytes=MB, exclude=(str(root / "mystore"),))
    assert not any(str(f["path"]).startswith("mystore") for f in snap.files)


def test_extract_roundtrip(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    store = Store(str(tmp_path / "store"))
    snap = create_snapshot(store, root, max_file_bytes=MB)
    out = tmp_path / "out"
    extract_snapshot(store, snap.snapshot_id, out)
    assert (out / "pkg" / "util.py").read_text() == "X = 1\n"
    assert not (out / ".git").exists() and not (out / "run.log").exists()
    assert (out / "run.sh").stat().st_mode & 0o100
    manifest = json.loads(store.fs.read_bytes(f"snapshots/{snap.snapshot_id}.json"))
    assert len(manifest["files"]) == len(snap.files)
