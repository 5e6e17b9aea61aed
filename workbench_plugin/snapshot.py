"""Snapshots ("build images"): content-addressed archives of a project's files.

The snapshot id is the hash of the manifest (path, size, content hash, executable bit of every
file copied), so unchanged files give the same id and the archive is stored once. Files that
are skipped — ``.git``, the store, caches, virtualenvs, ``.gitignore``d files — are not part of
the id. Files over the size limit are not copied either; they are recorded as *data references*
(path, size, modification time) whose hash is the ``data_id``: same code with changed data is a
*similar* experiment, not a redundant one.

Symbolic links are followed only to targets inside the project that are not skipped, and are
copied as their content (plain files unpack the same in any container). Links out of the
project, broken links, links into skipped folders and links that loop back are left out and
listed in :attr:`Snapshot.left_out`; ``hypertuner plan`` names them.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pathspec

from workbench_plugin import flags
from workbench_plugin._exceptions import SnapshotError
from workbench_plugin.flags import RETRY, FlagSet, unknown
from workbench_plugin.store import Store

__all__ = ["Snapshot", "SKIPPED_DIRS", "build_manifest", "create_snapshot", "extract_snapshot", "snapshot_flags"]

#: Folders never copied into a snapshot, wherever they appear.
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".hypertuner", "__pycache__", ".ipynb_checkpoints", ".pytest_cache",
     ".mypy_cache", ".ruff_cache", ".hypothesis", ".venv", "venv", "node_modules", ".tox"}
)
_MAX_TOTAL = 2 * 1024**3


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    data_id: str
    files: list[dict[str, object]]
    data_refs: list[dict[str, object]]
    reused: bool = False
    #: symbolic links not followed: ``{"path", "target", "why"}``, e.g. a target outside the project
    left_out: tuple[dict[str, object], ...] = ()

    @property
    def size(self) -> int:
        return sum(int(f["size"]) for f in self.files)  # type: ignore[call-overload]


def _ignore_spec(root: Path) -> pathspec.GitIgnoreSpec:
    lines: list[str] = []
    for name in (".gitignore", ".hypertunerignore"):
        file = root / name
        if file.is_file():
            lines += file.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Scan:
    """One walk over a project folder: files to copy, data references and links left out."""

    def __init__(self, top: Path, max_file_bytes: int, exclude: tuple[str, ...]) -> None:
        self.top = top
        self.max_file_bytes = max_file_bytes
        self.spec = _ignore_spec(top)
        self.excluded = {Path(e).resolve() for e in exclude}
        self.files: list[dict[str, object]] = []
        self.data: list[dict[str, object]] = []
        self.left_out: list[dict[str, object]] = []

    def skipped(self, real: Path, is_dir: bool) -> bool:
        """Whether a real path inside the project is skipped (SKIPPED_DIRS, excluded or ignored)."""
        rel = real.relative_to(self.top)
        if any(real.is_relative_to(e) for e in self.excluded) or any(
                part in SKIPPED_DIRS for part in rel.parts[:-1 if not is_dir else None]):
            return True
        return bool(rel.parts) and self.spec.match_file(rel.as_posix() + ("/" if is_dir else ""))

    def leave_out(self, rel: str, link: Path, why: str) -> None:
        try:
            target = os.readlink(link)
        except OSError:
            target = "?"
        self.left_out.append({"path": rel, "target": target, "why": why})

    def walk(self, folder: Path, prefix: str, chain: tuple[Path, ...]) -> None:
        """List ``folder`` (a real path) whose files appear under ``prefix`` in the snapshot."""
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return  # vanished or unreadable folder: nothing to copy
        for entry in entries:
            rel = prefix + entry.name
            full = Path(entry.path)
            if entry.is_symlink():
                self.link(full, rel, chain)
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in SKIPPED_DIRS or full in self.excluded or self.spec.match_file(rel + "/"):
                    continue
                self.walk(full, rel + "/", (*chain, full))
            elif not (self.spec.match_file(rel) or full in self.excluded):
                self.file(full, rel)

    def link(self, full: Path, rel: str, chain: tuple[Path, ...]) -> None:
        """A link is followed only to a target inside the project (copied as its content, so that the
        archive holds plain files and unpacks the same anywhere); any other is left out and named."""
        if self.spec.match_file(rel) or full in self.excluded:
            return
        try:
            target = full.resolve(strict=True)
        except (OSError, RuntimeError):  # missing target, or a cycle of links
            self.leave_out(rel, full, "its target does not exist")
            return
        if not target.is_relative_to(self.top):
            self.leave_out(rel, full, "its target is outside the project")
            return
        is_dir = target.is_dir()
        if self.skipped(target, is_dir):
            self.leave_out(rel, full, "its target is skipped or ignored")
        elif is_dir and (target in chain or any(folder.is_relative_to(target) for folder in chain)):
            self.leave_out(rel, full, "it loops back to a folder above it")
        elif is_dir:
            self.walk(target, rel + "/", (*chain, target))
        else:
            self.file(target, rel)

    def file(self, full: Path, rel: str) -> None:
        try:
            st = full.stat()
        except OSError:
            return  # vanished file
        if not stat.S_ISREG(st.st_mode):
            return
        if st.st_size > self.max_file_bytes:
            self.data.append({"path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
            return
        self.files.append({"path": rel, "size": st.st_size, "sha256": _sha256(full),
                           "exec": bool(st.st_mode & stat.S_IXUSR)})


def _scan(root: str | os.PathLike[str], max_file_bytes: int, exclude: tuple[str, ...]) -> _Scan:
    top = Path(root).resolve()
    if not top.is_dir():
        raise SnapshotError(f"project folder {str(top)!r}: not a folder")
    scan = _Scan(top, max_file_bytes, exclude)
    scan.walk(top, "", (top,))
    scan.files.sort(key=lambda f: str(f["path"]))
    scan.data.sort(key=lambda f: str(f["path"]))
    if sum(int(f["size"]) for f in scan.files) > _MAX_TOTAL:  # type: ignore[call-overload]
        raise SnapshotError(
            f"project folder {str(top)!r}: more than 2 GiB of files to snapshot;"
            " add large data to .hypertunerignore or lower snapshot.max_file_mb"
        )
    return scan


def build_manifest(
    root: str | os.PathLike[str], *, max_file_bytes: int, exclude: tuple[str, ...] = ()
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(files to copy, data references) of a project folder, sorted by path."""
    scan = _scan(root, max_file_bytes, exclude)
    return scan.files, scan.data


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


def _archive(root: Path, files: list[dict[str, object]]) -> bytes:
    """A byte-for-byte reproducible tar.gz of the files (fixed times, owners, order)."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for f in files:
            path = str(f["path"])
            info = tarfile.TarInfo(path)
            info.size = int(f["size"])  # type: ignore[call-overload]
            info.mode = 0o755 if f["exec"] else 0o644
            info.mtime = 0
            info.uname = info.gname = ""
            real = (root / path).resolve()
            if not real.is_relative_to(root):  # a link changed since the manifest was made
                raise SnapshotError(f"project folder {str(root)!r}: {path!r} now points outside the project; "
                                    "plan again")
            with open(real, "rb") as fh:
                tar.addfile(info, fh)
    return raw.getvalue()


def create_snapshot(
    store: Store, root: str | os.PathLike[str], *, max_file_bytes: int, exclude: tuple[str, ...] = ()
) -> Snapshot:
    """Snapshot a project folder into the store, reusing a stored identical snapshot."""
    top = Path(root).resolve()
    scan = _scan(top, max_file_bytes, exclude)
    files, data = scan.files, scan.data
    snapshot_id = _digest(files)
    data_id = _digest(data)
    manifest = {"snapshot_id": snapshot_id, "files": files, "data_refs": data}
    archive_path = store.snapshot_archive(snapshot_id)
    reused = store.fs.exists(archive_path)
    if not reused:
        store.fs.create_exclusive(archive_path.removesuffix(".tar.gz") + ".json", json.dumps(manifest).encode())
        store.fs.create_exclusive(archive_path, _archive(top, files))
    return Snapshot(snapshot_id, data_id, files, data, reused, tuple(scan.left_out))


def extract_snapshot(store: Store, snapshot_id: str, dest: str | os.PathLike[str]) -> None:
    """Unpack a stored snapshot into ``dest`` (safe extraction: no paths outside ``dest``).

    A damaged archive (truncated, not gzip, not tar, members pointing outside) is set aside
    (:meth:`Store.set_aside`) and raises a one-line :class:`SnapshotError` naming it; the next
    launch of the project stores the snapshot again.
    """
    path = store.snapshot_archive(snapshot_id)
    try:
        blob = store.fs.read_bytes(path)
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {snapshot_id!r}: not in store {store.url!r}") from None
    try:
        # everything decoded before anything is written: damage is told apart from a full disk
        raw = io.BytesIO(gzip.decompress(blob))
        with tarfile.open(fileobj=raw, mode="r:") as tar:
            for member in tar.getmembers():
                tarfile.data_filter(member, os.fspath(dest))
                fh = tar.extractfile(member) if member.isfile() else None
                if fh is not None and len(fh.read()) != member.size:
                    raise tarfile.ReadError(f"{member.name!r} is cut short")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        store.set_aside(path, exc)
        raise SnapshotError(
            f"snapshot {snapshot_id!r}: the archive {path} in store {store.url!r} is damaged "
            f"({' '.join(str(exc).split()) or type(exc).__name__}); it was set aside, launch the run again"
        ) from None
    os.makedirs(dest, exist_ok=True)
    raw.seek(0)
    with tarfile.open(fileobj=raw, mode="r:") as tar:
        tar.extractall(dest, filter="data")


def snapshot_flags(store: Store, snapshot: Snapshot, root: str | os.PathLike[str], script: str,
                   interpreter: str, *, timeout: float = 20.0) -> FlagSet:
    """The flags of ``script`` in ``snapshot``, found once and stored beside the archive.

    Stored as ``snapshots/<id>.flags-<key>.json`` (``key``: the script's path and the interpreter),
    written once like every store file, and read back whenever the snapshot is reused: a second plan
    with unchanged files does not look again. The script is read from ``root`` (checked against the
    snapshot's manifest); only when reading it is not enough is the snapshot unpacked into a
    temporary folder to run ``interpreter script --help`` there. A ``--help`` that failed (as when
    the interpreter lacks a package) is not stored, so fixing the environment is seen at once.
    """
    path = store.snapshot_flags(snapshot.snapshot_id, _digest([script, interpreter])[:12])
    try:
        return FlagSet.from_json(store.fs.read_bytes(path))
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as exc:  # damaged: set aside, found again below
        store.set_aside(path, exc)
    entry = next((f for f in snapshot.files if f["path"] == script), None)
    source: bytes | None = None
    if entry is None:
        found = unknown(f"{script} is not in the snapshot (ignored, or larger than snapshot.max_file_mb)")
    else:
        with contextlib.suppress(OSError):
            data = (Path(root) / script).read_bytes()
            if hashlib.sha256(data).hexdigest() == entry["sha256"]:
                source = data

        def ask() -> FlagSet:
            with tempfile.TemporaryDirectory(prefix="hypertuner-flags-") as work:
                extract_snapshot(store, snapshot.snapshot_id, work)
                return flags.flags_from_help([interpreter or sys.executable], script, work, timeout=timeout)

        found = flags.discover(source, script, ask)
    if RETRY not in found.notes:
        store.fs.create_exclusive(path, found.to_json().encode())
    return found
