"""The filesystem under the store: one small interface, a local backend (HDFS: ``webhdfs.py``).

The store is append-only. Every file is written to a temporary name in its final folder and
then published under its final name without ever replacing an existing file; readers skip the
temporary names. So a writer killed at any moment leaves either nothing visible or the whole
file, and two writers can race for a name (:meth:`FileSystem.create_exclusive`) with exactly one
winner — the store uses that for experiment claims.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from typing import TYPE_CHECKING, Protocol

from workbench_plugin._exceptions import StoreError

if TYPE_CHECKING:
    from workbench_plugin.config import HdfsSettings

__all__ = ["FileSystem", "LocalFileSystem", "TMP_PREFIX", "filesystem_for"]

#: Files being written carry this prefix until they are published.
TMP_PREFIX = ".tmp."


class FileSystem(Protocol):
    """What the store needs from a filesystem. Paths are ``/``-separated strings."""

    def join(self, *parts: str) -> str: ...

    def read_bytes(self, path: str) -> bytes: ...

    def write_atomic(self, path: str, data: bytes) -> None:
        """Publish ``data`` at ``path``; raise :class:`StoreError` if ``path`` exists."""
        ...

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Publish ``data`` at ``path`` unless it exists; True when this call created it."""
        ...

    def create_exclusive_file(self, path: str, source: str) -> bool:
        """:meth:`create_exclusive` of the local file ``source``, streamed: a build image of a
        gigabyte is never held in memory."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Names of published files and folders in ``path``; ``[]`` when it does not exist."""
        ...

    def remove(self, path: str) -> None:
        """Remove a file, or a folder with everything in it; nothing when it does not exist. Only
        for derived files (a compaction's old generations): the store's records are never removed."""
        ...

    def exists(self, path: str) -> bool: ...

    def makedirs(self, path: str) -> None: ...

    def move(self, src: str, dst: str) -> None:
        """Move a published file to ``dst`` (folders made as needed), never replacing a file:
        :class:`StoreError` when ``dst`` exists, ``FileNotFoundError`` when ``src`` does not."""
        ...

    def local_path(self, path: str) -> str | None:
        """A path the OS can open directly, or None when the backend is remote."""
        ...

    def hdfs_path(self, path: str) -> str | None:
        """The absolute HDFS path of a store path (what YARN localizes from), or None off HDFS."""
        ...


class LocalFileSystem:
    """The store on a local (or NFS-mounted) folder."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))

    def __repr__(self) -> str:
        return f"LocalFileSystem({self.root!r})"

    def join(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in parts if p)

    def _abs(self, path: str) -> str:
        return os.path.join(self.root, path) if path else self.root

    def local_path(self, path: str) -> str | None:
        return self._abs(path)

    def hdfs_path(self, path: str) -> str | None:
        return None

    def read_bytes(self, path: str) -> bytes:
        try:
            with open(self._abs(path), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreError(f"store: cannot read {self._abs(path)!r} ({exc.strerror})") from exc

    def _publish(self, path: str, data: bytes, source: str | None = None) -> bool:
        final = self._abs(path)
        folder, name = os.path.split(final)
        tmp = os.path.join(folder, f"{TMP_PREFIX}{name}.{uuid.uuid4().hex[:12]}")
        try:
            try:
                os.makedirs(folder, exist_ok=True)
                with open(tmp, "xb") as fh:
                    if source is None:
                        fh.write(data)
                    else:
                        with open(source, "rb") as src:
                            shutil.copyfileobj(src, fh, 1 << 20)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                # the folder, not the file: names differ on every retry, the outage does not
                raise StoreError(f"store: cannot write into {folder!r} ({_reason(exc)})") from exc
            try:
                # A hard link publishes atomically and, unlike rename, never replaces a file.
                os.link(tmp, final)
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise StoreError(f"store: cannot publish into {folder!r} ({_reason(exc)})") from exc
            # Filesystems without hard links: rename, after checking (a small race remains).
            if os.path.exists(final):
                return False
            try:
                os.rename(tmp, final)
            except OSError as exc:
                raise StoreError(f"store: cannot publish into {folder!r} ({_reason(exc)})") from exc
            return True
        finally:
            # never leave the temporary file behind, whatever happened (ENOSPC, EIO, an interrupt)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def write_atomic(self, path: str, data: bytes) -> None:
        if not self._publish(path, data):
            raise StoreError(f"store: {self._abs(path)!r} already exists; store files are never rewritten")

    def create_exclusive(self, path: str, data: bytes) -> bool:
        return self._publish(path, data)

    def create_exclusive_file(self, path: str, source: str) -> bool:
        return self._publish(path, b"", source)

    def listdir(self, path: str) -> list[str]:
        try:
            names = os.listdir(self._abs(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise StoreError(f"store: cannot list {self._abs(path)!r} ({exc.strerror})") from exc
        return sorted(n for n in names if not n.startswith(TMP_PREFIX))

    def remove(self, path: str) -> None:
        target = self._abs(path)
        try:
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"store: cannot remove {target!r} ({_reason(exc)})") from exc

    def exists(self, path: str) -> bool:
        return os.path.exists(self._abs(path))

    def makedirs(self, path: str) -> None:
        try:
            os.makedirs(self._abs(path), exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store: cannot create {self._abs(path)!r} ({exc.strerror})") from exc

    def move(self, src: str, dst: str) -> None:
        source, target = self._abs(src), self._abs(dst)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.link(source, target)  # never replaces target (FileExistsError)
            os.unlink(source)
        except FileNotFoundError:
            raise
        except FileExistsError:
            raise StoreError(f"store: cannot move {source!r}: {target!r} already exists") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise StoreError(f"store: cannot move {source!r} to {target!r} ({_reason(exc)})") from exc
            if os.path.exists(target):
                raise StoreError(f"store: cannot move {source!r}: {target!r} already exists") from None
            try:
                os.rename(source, target)
            except OSError as exc2:
                raise StoreError(f"store: cannot move {source!r} to {target!r} ({_reason(exc2)})") from exc2


def _reason(exc: OSError) -> str:
    """An OS error in a few stable words: its errno name and text, without the file name."""
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{name}: {text}" if name else text


def filesystem_for(url: str, hdfs: HdfsSettings | None = None) -> FileSystem:
    """The backend for a store URL: a local folder, ``webhdfs://`` or ``hdfs://``.

    ``hdfs``: how to reach HDFS (``Config.hdfs``); without it, read from the environment.
    """
    if "://" in url:
        scheme = url.split("://", 1)[0]
        if scheme == "file":
            return LocalFileSystem(url.split("://", 1)[1])
        if scheme in ("hdfs", "webhdfs", "swebhdfs"):
            from workbench_plugin.webhdfs import webhdfs_for

            return webhdfs_for(url, settings=hdfs)
        raise StoreError(
            f"store.url: scheme {scheme!r} in {url!r} is not supported; use a local folder, "
            "webhdfs://HOST:PORT/PATH, swebhdfs://HOST:PORT/PATH or hdfs://HOST:PORT/PATH"
        )
    return LocalFileSystem(url)
