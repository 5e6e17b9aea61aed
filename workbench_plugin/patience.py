"""A filesystem that rides out store outages: what runs inside an experiment's container.

An experiment must not be lost because the NameNode restarted or the network dropped for a
while: its wrapper keeps the script running and waits for the store, retrying each call that
failed with :class:`~workbench_plugin._exceptions.StoreUnavailable` (with backoff, up to
``patience`` seconds in all per call), and gives up only after that. Retries are safe because
store files are never rewritten: a write whose answer was lost may have published its file,
so before writing again the retry looks for it (same path, same bytes: done).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from workbench_plugin._exceptions import StoreUnavailable
from workbench_plugin.fs import FileSystem

__all__ = ["PatientFileSystem"]

T = TypeVar("T")

#: How long one call may wait for the store by default (a NameNode restart takes a minute or two).
DEFAULT_PATIENCE_SECONDS = 900.0


class PatientFileSystem:
    """Wraps a :class:`~workbench_plugin.fs.FileSystem`; every call retries while the store is
    unavailable. ``on_wait`` hears one message when an outage begins and one when it ends."""

    def __init__(self, inner: FileSystem, *, patience: float = DEFAULT_PATIENCE_SECONDS,
                 first_delay: float = 0.5, max_delay: float = 10.0,
                 on_wait: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.inner = inner
        self.patience = patience
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.on_wait = on_wait or (lambda message: None)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._outage: str | None = None

    def __repr__(self) -> str:
        return f"PatientFileSystem({self.inner!r}, patience={self.patience:g})"

    def _retry(self, call: Callable[[], T], *, after_failure: Callable[[], T | None] | None = None) -> T:
        deadline = time.monotonic() + self.patience
        delay = self.first_delay
        failed = False
        while True:
            try:
                if failed and after_failure is not None:
                    done = after_failure()
                    if done is not None:
                        self._recovered()
                        return done
                result = call()
            except StoreUnavailable as exc:
                failed = True
                self._waiting(str(exc))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                self._sleep(min(delay, left))
                delay = min(delay * 2, self.max_delay)
                continue
            if failed:
                self._recovered()
            return result

    def _waiting(self, message: str) -> None:
        with self._lock:
            first, self._outage = self._outage is None, message
        if first:
            self.on_wait(f"{message}; waiting up to {self.patience:.0f} s for the store")

    def _recovered(self) -> None:
        with self._lock:
            was, self._outage = self._outage, None
        if was is not None:
            self.on_wait("the store answers again")

    # ---- the FileSystem interface --------------------------------------------------------------
    def join(self, *parts: str) -> str:
        return self.inner.join(*parts)

    def read_bytes(self, path: str) -> bytes:
        return self._retry(lambda: self.inner.read_bytes(path))

    def _published(self, path: str, data: bytes) -> bool | None:
        """After a failed attempt: True when ``path`` holds ``data`` (that attempt published it)."""
        if self.inner.exists(path) and self.inner.read_bytes(path) == data:
            return True
        return None

    def write_atomic(self, path: str, data: bytes) -> None:
        def write() -> bool:
            self.inner.write_atomic(path, data)
            return True

        self._retry(write, after_failure=lambda: self._published(path, data))

    def create_exclusive(self, path: str, data: bytes) -> bool:
        return self._retry(lambda: self.inner.create_exclusive(path, data),
                           after_failure=lambda: self._published(path, data))

    def create_exclusive_file(self, path: str, source: str) -> bool:
        # each attempt reads the file again; after a failure a retry finds the name taken (False):
        # the callers (content-addressed images) need only that the file is there
        return self._retry(lambda: self.inner.create_exclusive_file(path, source))

    def move(self, src: str, dst: str) -> None:
        def move() -> bool:
            self.inner.move(src, dst)
            return True

        def moved() -> bool | None:  # after a failed attempt: the file is at ``dst`` already
            return True if self.inner.exists(dst) and not self.inner.exists(src) else None

        self._retry(move, after_failure=moved)

    def listdir(self, path: str) -> list[str]:
        return self._retry(lambda: self.inner.listdir(path))

    def remove(self, path: str) -> None:
        self._retry(lambda: self.inner.remove(path))

    def exists(self, path: str) -> bool:
        return self._retry(lambda: self.inner.exists(path))

    def makedirs(self, path: str) -> None:
        self._retry(lambda: self.inner.makedirs(path))

    def local_path(self, path: str) -> str | None:
        return self.inner.local_path(path)

    def hdfs_path(self, path: str) -> str | None:
        return self.inner.hdfs_path(path)
