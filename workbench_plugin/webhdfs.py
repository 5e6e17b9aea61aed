"""The store on HDFS, over the NameNode's WebHDFS REST API.

Same contract as :class:`workbench_plugin.fs.LocalFileSystem`: every file is written under a
temporary name in its final folder, then published with ``RENAME``, which HDFS refuses (it
answers ``{"boolean": false}``) when the destination exists. So a writer killed at any moment
leaves nothing visible, nothing is ever replaced, and two writers racing for a name have exactly
one winner (experiment claims rely on it).

Plain HTTP (``requests``): a file is created in two steps (the NameNode names a DataNode, the
data goes there), read with ``OPEN`` following the redirect. Every failure is a
:class:`StoreError` naming the URL; an unreachable NameNode says so in one line, and the gateway
keeps its queue and retries.
"""

from __future__ import annotations

import contextlib
import getpass
import posixpath
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from workbench_plugin._exceptions import StoreError, StoreUnavailable
from workbench_plugin.config import ENV_WEBHDFS, HdfsSettings, hdfs_settings
from workbench_plugin.fs import TMP_PREFIX

__all__ = ["WebHDFSFileSystem", "webhdfs_for"]

#: Seconds to wait for the NameNode or a DataNode before calling it unreachable.
TIMEOUT = 30.0


class WebHDFSFileSystem:
    """A store root on HDFS: ``WebHDFSFileSystem("http://nn:9870", "/user/me/hypertuner")``."""

    def __init__(self, http_url: str, root: str, *, user: str | None = None) -> None:
        self.http_url = http_url.rstrip("/")
        self.root = "/" + root.strip("/")
        self.user = user or hdfs_settings().user or getpass.getuser()
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"WebHDFSFileSystem({self.http_url!r}, {self.root!r})"

    # ---- plumbing ---------------------------------------------------------------------------
    def join(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in parts if p)

    def _abs(self, path: str) -> str:
        return posixpath.join(self.root, path) if path else self.root

    def hdfs_path(self, path: str) -> str | None:
        """The absolute HDFS path of a store path (what YARN localizes from, for instance)."""
        return self._abs(path)

    def _url(self, path: str) -> str:
        return f"{self.http_url}/webhdfs/v1{quote(self._abs(path))}"

    def _call(self, method: str, path: str, op: str, *, ok: tuple[int, ...] = (200,),
              data: bytes | None = None, allow_redirects: bool = True, shown: str | None = None,
              **params: Any) -> requests.Response:
        """One WebHDFS call; ``shown`` is what messages name instead of the path (a temporary
        file's folder: its random name would make every retry of an outage look new)."""
        url = self._url(path)
        shown = shown or self._abs(path)
        query = {"op": op, "user.name": self.user, **{k: str(v).lower() if isinstance(v, bool) else v
                                                     for k, v in params.items()}}
        try:
            response = self._session.request(method, url, params=query, data=data, timeout=TIMEOUT,
                                             allow_redirects=allow_redirects)
        except requests.ConnectionError as exc:
            raise StoreUnavailable(f"store: the NameNode at {self.http_url} is unreachable ({_reason(exc)})") from exc
        except requests.Timeout as exc:
            raise StoreUnavailable(f"store: the NameNode at {self.http_url} did not answer in {TIMEOUT:.0f} s") \
                from exc
        except requests.RequestException as exc:  # a reply cut short, a bad redirect
            raise StoreUnavailable(f"store: WebHDFS {op} of {shown} on {self.http_url} failed ({_reason(exc)})") \
                from exc
        if response.status_code == 404 and 404 not in ok:
            raise FileNotFoundError(f"store: {shown} does not exist on {self.http_url}")
        if response.status_code not in ok and _retriable(response):
            raise StoreUnavailable(f"store: the NameNode at {self.http_url} cannot serve {op} right now "
                                   f"({response.status_code}: {_remote_message(response)})")
        if response.status_code not in ok:
            raise StoreError(f"store: WebHDFS {op} of {shown} on {self.http_url} failed "
                             f"({response.status_code}: {_remote_message(response)})")
        return response

    def _create(self, path: str, data: bytes, shown: str) -> None:
        """CREATE in two steps: the NameNode answers with the DataNode URL, the data goes there."""
        first = self._call("PUT", path, "CREATE", ok=(307, 200), allow_redirects=False, shown=shown,
                           overwrite=False, noredirect=True)
        try:
            location = first.headers.get("Location") or (first.json().get("Location") if first.content else None)
        except ValueError:
            location = None
        if not location:
            raise StoreError(f"store: WebHDFS CREATE of {shown} on {self.http_url}: no DataNode named")
        try:
            response = self._session.put(location, data=data, timeout=TIMEOUT,
                                         headers={"Content-Type": "application/octet-stream"})
        except requests.RequestException as exc:
            raise StoreUnavailable(f"store: cannot write {shown}: DataNode {urlsplit(location).netloc} "
                                   f"is unreachable ({_reason(exc)})") from exc
        if response.status_code != 201:
            raise StoreError(f"store: cannot write {shown} ({response.status_code}: "
                             f"{_remote_message(response)})")

    def _delete(self, path: str) -> None:
        # a leftover temporary file is invisible to readers; never mask the real error
        with contextlib.suppress(StoreError):
            self._call("DELETE", path, "DELETE", ok=(200, 404), recursive=False)

    # ---- the FileSystem interface --------------------------------------------------------------
    def local_path(self, path: str) -> str | None:
        return None

    def read_bytes(self, path: str) -> bytes:
        return self._call("GET", path, "OPEN").content

    def _publish(self, path: str, data: bytes) -> bool:
        folder, name = posixpath.split(path)
        tmp = posixpath.join(folder, f"{TMP_PREFIX}{name}.{uuid.uuid4().hex[:12]}")
        shown = f"a file in {self._abs(folder)}"
        try:
            # a CREATE that failed half-way (DataNode full, reply lost) may have left the file
            self._create(tmp, data, shown)
            response = self._call("PUT", tmp, "RENAME", shown=shown, destination=self._abs(path))
            published = bool(response.json().get("boolean"))
        except BaseException:
            self._delete(tmp)
            raise
        if not published:  # the destination exists (or its folder vanished): never replace it
            self._delete(tmp)
            if not self.exists(path):
                raise StoreError(f"store: cannot publish {self._abs(path)} on {self.http_url}")
        return published

    def write_atomic(self, path: str, data: bytes) -> None:
        if not self._publish(path, data):
            raise StoreError(f"store: {self._abs(path)} already exists on {self.http_url}; "
                             "store files are never rewritten")

    def create_exclusive(self, path: str, data: bytes) -> bool:
        return self._publish(path, data)

    def listdir(self, path: str) -> list[str]:
        response = self._call("GET", path, "LISTSTATUS", ok=(200, 404))
        if response.status_code == 404:
            return []
        statuses = response.json().get("FileStatuses", {}).get("FileStatus", [])
        if len(statuses) == 1 and statuses[0].get("pathSuffix") == "" and statuses[0].get("type") == "FILE":
            return []  # the path is a file
        return sorted(s["pathSuffix"] for s in statuses if not s["pathSuffix"].startswith(TMP_PREFIX))

    def exists(self, path: str) -> bool:
        return self._call("GET", path, "GETFILESTATUS", ok=(200, 404)).status_code == 200

    def makedirs(self, path: str) -> None:
        response = self._call("PUT", path, "MKDIRS")
        if not response.json().get("boolean"):
            raise StoreError(f"store: cannot create folder {self._abs(path)} on {self.http_url}")

    def move(self, src: str, dst: str) -> None:
        """RENAME, which HDFS refuses when ``dst`` exists (a file is never replaced)."""
        if not self.exists(src):
            raise FileNotFoundError(f"store: {self._abs(src)} does not exist on {self.http_url}")
        self.makedirs(posixpath.dirname(dst))
        response = self._call("PUT", src, "RENAME", destination=self._abs(dst))
        if not response.json().get("boolean"):
            if not self.exists(src):  # another reader moved it first
                raise FileNotFoundError(f"store: {self._abs(src)} does not exist on {self.http_url}")
            raise StoreError(f"store: cannot move {self._abs(src)} to {self._abs(dst)} on {self.http_url}"
                             " (the destination exists)")

    def close(self) -> None:
        self._session.close()


def webhdfs_for(url: str, http_url: str | None = None, *, settings: HdfsSettings | None = None) -> WebHDFSFileSystem:
    """The HDFS backend for ``webhdfs://nn:9870/path`` or ``hdfs://nn:8020/path``.

    An ``hdfs://`` URL names the NameNode's RPC address; its HTTP address comes from
    ``http_url`` or the settings' ``webhdfs_url`` (``hdfs.webhdfs_url``, ``$HYPERTUNER_WEBHDFS``,
    e.g. ``http://nn:9870``). Without ``settings`` they are read from the environment, through
    :func:`workbench_plugin.config.hdfs_settings`.
    """
    settings = settings or hdfs_settings()
    user = settings.user or None
    parts = urlsplit(url)
    if parts.scheme == "webhdfs":
        if not parts.netloc:
            raise StoreError(f"store.url: {url!r} names no NameNode; write webhdfs://HOST:PORT/PATH")
        return WebHDFSFileSystem(f"http://{parts.netloc}", parts.path or "/", user=user)
    if parts.scheme == "hdfs":
        http = http_url or settings.webhdfs_url
        if not http:
            raise StoreError(f"store.url: {url!r} is an HDFS URL; set {ENV_WEBHDFS} to the NameNode's "
                             "HTTP address (e.g. http://namenode:9870) or use webhdfs://HOST:PORT/PATH")
        return WebHDFSFileSystem(http, parts.path or "/", user=user)
    raise StoreError(f"store.url: {url!r} is not an HDFS URL; use webhdfs://HOST:PORT/PATH or hdfs://HOST:PORT/PATH")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


#: Remote exceptions that mean "not now" (safe mode after a restart, a standby NameNode, overload).
_RETRIABLE = ("RetriableException", "SafeModeException", "StandbyException", "ServerTooBusyException")


def _retriable(response: requests.Response) -> bool:
    if response.status_code in (502, 503, 504):
        return True
    try:
        remote = response.json()["RemoteException"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(name in str(remote.get("exception", "")) + str(remote.get("javaClassName", ""))
               for name in _RETRIABLE)


def _remote_message(response: requests.Response) -> str:
    try:
        return str(response.json()["RemoteException"]["message"]).splitlines()[0][:300]
    except (ValueError, KeyError, TypeError):
        return response.text.strip().splitlines()[0][:300] if response.text.strip() else response.reason
