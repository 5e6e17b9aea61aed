"""A store backend that fails writes from below, as the real backends fail them (tests only)."""

from __future__ import annotations

import errno
import os
import random
from typing import TYPE_CHECKING, Any

import pytest

from workbench_plugin.fs import LocalFileSystem
from workbench_plugin.store import Store

if TYPE_CHECKING:
    import requests

__all__ = ["FaultyBackend", "raw_names"]


class FaultyBackend:
    """Fails writes of the store's real backend from below, raising what that backend meets.

    Local disk: the temporary file gets half its data, then ``fsync`` fails (ENOSPC, EIO, NFS's
    ETIMEDOUT), or publishing (the hard link) fails (EIO). HDFS: the NameNode times out on CREATE,
    the DataNode's connection resets after half the data arrived, or the RENAME's reply is lost
    after the NameNode did it. While ``outage`` is set every write fails; ``rate`` starts outages
    of 1-10 writes at random. Reads and the clean-up of temporary files are left alone.
    """

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch, *, seed: int = 9, rate: float = 0.0,
                 limit: int = 10**9) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.limit = limit  # then the store works again
        self.outage = False
        self.streak = 0  # writes left to fail in the current random outage
        self.failed = 0
        self.outages = 0
        if isinstance(store.fs, LocalFileSystem):
            self._patch_local(monkeypatch)
        else:
            self._patch_hdfs(store, monkeypatch)

    def fail_now(self) -> bool:
        if self.outage:
            self.failed += 1
            return True
        if self.failed >= self.limit:
            return False
        if self.streak == 0 and self.rate and self.rng.random() < self.rate:
            self.streak = self.rng.randint(1, 10)
            self.outages += 1
        if self.streak:
            self.streak -= 1
            self.failed += 1
            return True
        return False

    def _patch_local(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_fsync, real_link = os.fsync, os.link

        def fsync(fd: int) -> None:
            if self.fail_now():
                size = os.fstat(fd).st_size
                os.ftruncate(fd, size // 2)  # part of the data reached the disk
                code = self.rng.choice([errno.ENOSPC, errno.EIO, errno.ETIMEDOUT])
                raise OSError(code, os.strerror(code))
            real_fsync(fd)

        def link(src: str, dst: str, **kwargs: object) -> None:
            if self.fail_now():
                raise OSError(errno.EIO, os.strerror(errno.EIO), dst)
            real_link(src, dst, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "link", link)

    def _patch_hdfs(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        import requests

        session = store.fs._session  # type: ignore[attr-defined]
        real_request, real_put = session.request, session.put

        def request(method: str, url: str, **kwargs: Any) -> requests.Response:
            op = (kwargs.get("params") or {}).get("op")
            if op is None and method == "PUT":  # HdfsCLI sends the data to the DataNode here
                data = kwargs.pop("data", b"") or b""
                if self.fail_now():
                    real_request(method, url, data=data[: len(data) // 2], **kwargs)  # half of it got there
                    raise requests.ConnectionError("Connection reset by peer")
                return real_request(method, url, data=data, **kwargs)
            if op in ("CREATE", "RENAME") and self.fail_now():
                if op == "RENAME" and self.rng.random() < 0.5:
                    real_request(method, url, **kwargs)
                    raise requests.ConnectionError("Connection reset by peer (the reply was lost)")
                raise requests.Timeout("timed out")
            return real_request(method, url, **kwargs)

        def put(url: str, data: bytes = b"", **kwargs: Any) -> requests.Response:
            if self.fail_now():
                real_put(url, data=data[: len(data) // 2], **kwargs)  # half of it reached the DataNode
                raise requests.ConnectionError("Connection reset by peer")
            return real_put(url, data=data, **kwargs)

        monkeypatch.setattr(session, "request", request)
        monkeypatch.setattr(session, "put", put)


def raw_names(store: Store, folder: str = "") -> list[str]:
    """Every file under ``folder``, temporary ones included (``listdir`` hides them)."""
    if isinstance(store.fs, LocalFileSystem):
        root = store.fs._abs(folder)
        return [os.path.relpath(os.path.join(d, n), store.fs.root) for d, _, names in os.walk(root) for n in names]
    out = []
    response = store.fs._call("GET", folder, "LISTSTATUS", ok=(200, 404))  # type: ignore[attr-defined]
    for status in response.json().get("FileStatuses", {}).get("FileStatus", []) if response.ok else []:
        path = f"{folder}/{status['pathSuffix']}".strip("/")
        out.extend(raw_names(store, path) if status["type"] == "DIRECTORY" else [path])
    return out
