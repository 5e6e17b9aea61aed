"""Symbolic links in a project folder (issue 9, defect 4): nothing outside the project is ever
copied into a snapshot; links that stay inside are copied as their content; `plan` names every
link it left out."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from workbench_plugin.cli import main
from workbench_plugin.snapshot import create_snapshot, extract_snapshot
from workbench_plugin.store import Store

MB = 1 << 20


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "secrets").mkdir(parents=True)
    (outside / "passwd").write_text("root:x:0:0\n")
    (outside / "secrets" / "key").write_text("SECRET\n")
    root = tmp_path / "p"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('hi')\n")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "passwd").symlink_to(outside / "passwd")  # ln -s /etc/passwd passwd
    (root / "secrets").symlink_to(outside / "secrets")
    (root / "relative_out").symlink_to("../outside/passwd")
    (root / "broken").symlink_to(root / "nowhere")
    (root / "loop").symlink_to(root / "pkg")  # a folder link inside: kept
    (root / "pkg" / "up").symlink_to(root)  # loops back to the top
    (root / "util_link.py").symlink_to("pkg/util.py")  # a file link inside: kept
    (root / "git_config").symlink_to(root / ".git" / "config")  # inside, but to a skipped folder
    return root


def test_links_out_of_the_project_are_never_copied(linked: Path, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    snap = create_snapshot(store, linked, max_file_bytes=MB)
    assert [f["path"] for f in snap.files] == ["loop/util.py", "pkg/util.py", "train.py", "util_link.py"]
    blob = store.fs.read_bytes(store.snapshot_archive(snap.snapshot_id))
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        contents = b"".join(tar.extractfile(m).read() for m in tar.getmembers())  # type: ignore[union-attr]
    assert b"root:x" not in contents and b"SECRET" not in contents and b"[core]" not in contents
    left = {link["path"]: link["why"] for link in snap.left_out}
    assert left == {
        "broken": "its target does not exist",
        "git_config": "its target is skipped or ignored",
        "loop/up": "it loops back to a folder above it",
        "passwd": "its target is outside the project",
        "pkg/up": "it loops back to a folder above it",
        "relative_out": "its target is outside the project",
        "secrets": "its target is outside the project",
    }
    dest = tmp_path / "unpacked"
    extract_snapshot(store, snap.snapshot_id, dest)
    assert (dest / "util_link.py").read_text() == "X = 1\n" and not (dest / "util_link.py").is_symlink()


def test_a_link_into_the_store_inside_the_project_is_left_out(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "train.py").write_text("")
    store = Store(str(root / "mystore"))
    store.create_project("p", str(root))
    (root / "peek").symlink_to(root / "mystore" / "projects")
    snap = create_snapshot(store, root, max_file_bytes=MB, exclude=(str(root / "mystore"),))
    assert [f["path"] for f in snap.files] == ["train.py"]
    assert [(link["path"], link["why"]) for link in snap.left_out] == [("peek", "its target is skipped or ignored")]


def test_plan_names_the_links_it_left_out(capsys: pytest.CaptureFixture[str], linked: Path, tmp_path: Path) -> None:
    (linked / "hypertuner.toml").write_text('[project]\nname = "p"\nscript = "train.py"\n')
    store = str(tmp_path / "store")
    Store(store).create_project("p", str(linked))
    with pytest.raises(SystemExit) as info:
        sys.exit(main(["--store", store, "plan", "--project", str(linked), "x=1"]))
    out, _ = capsys.readouterr()
    assert info.value.code == 0
    assert f"passwd -> {linked.parent / 'outside' / 'passwd'} (its target is outside the project)" in out
    assert "relative_out -> ../outside/passwd" in out and "secrets -> " in out
    assert "left out of the snapshot: 7 links" in out
