"""The store on HDFS, over the NameNode's WebHDFS REST API, through HdfsCLI (``hdfs``).

Same contract as :class:`workbench_plugin.fs.LocalFileSystem`: every file is written under a
temporary name in its final folder, then published with ``RENAME``, which HDFS refuses (it
answers ``{"boolean": false}``) when the destination exists. So a writer killed at any moment
leaves nothing visible, nothing is ever replaced, and two writers racing for a name have exactly
one winner (experiment claims rely on it).

The client is HdfsCLI's ``InsecureClient`` (``security.auth = none``: ``user.name``),
``KerberosClient`` (SPNEGO, :mod:`workbench_plugin.kerberos`) or ``TokenClient`` (a delegation
token from ``security.token_file``, inside YARN containers), each with one configured
``requests.Session`` (``verify`` from ``security.verify``; proxies from the environment, as
requests does). With several NameNodes HdfsCLI moves to the next one when a NameNode does not
answer or answers StandbyException/RetriableException; which one serves is :attr:`active_url`,
logged once when it is not the first.

The raw operations are HdfsCLI's request handlers called with ``strict=False``, so the status
codes are translated here, in one place: every failure is one line — :class:`StoreError` naming
the URL, :class:`StoreUnavailable` (the gateway keeps its queue and retries) naming every NameNode
tried, or :class:`FileNotFoundError`.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import posixpath
import threading
import uuid
from typing import Any, BinaryIO, NamedTuple

import requests
from hdfs.client import Client, InsecureClient, TokenClient, _Request
from hdfs.util import HdfsError

from workbench_plugin._exceptions import StoreError, StoreUnavailable
from workbench_plugin.config import HdfsSettings, SecuritySettings, hdfs_settings
from workbench_plugin.fs import TMP_PREFIX
from workbench_plugin.hadoop_conf import namenode_urls

__all__ = ["DelegationToken", "WebHDFSFileSystem", "webhdfs_for"]

#: Seconds to wait for the NameNode or a DataNode before calling it unreachable.
TIMEOUT = 30.0
#: Where failovers are told.
log = logging.getLogger("hypertuner.store")
# HdfsCLI logs each request and "No reachable host"; our one-line errors say it once.
logging.getLogger("hdfs").addHandler(logging.NullHandler())
#: A delegation token file longer than this is not a token.
MAX_TOKEN_CHARS = 64 * 1024
#: Remote exceptions that mean "not now" (safe mode after a restart, a standby NameNode, overload).
_RETRIABLE = ("RetriableException", "SafeModeException", "StandbyException", "ServerTooBusyException")
#: WebHDFS operation -> HdfsCLI's request handler.
_HANDLERS = {"OPEN": "_open", "CREATE": "_create", "RENAME": "_rename", "DELETE": "_delete",
             "LISTSTATUS": "_list_status", "GETFILESTATUS": "_get_file_status", "MKDIRS": "_mkdirs",
             "GETDELEGATIONTOKEN": "_get_delegation_token", "RENEWDELEGATIONTOKEN": "_renew_delegation_token",
             "CANCELDELEGATIONTOKEN": "_cancel_delegation_token"}


class DelegationToken(NamedTuple):
    """An HDFS delegation token as WebHDFS hands it out (``urlString``), and when it expires
    (epoch milliseconds; None until it was renewed once, as GETDELEGATIONTOKEN does not say)."""

    url_string: str
    expires_ms: int | None = None


class _Attempts(threading.local):
    """What each NameNode answered during the current call (per thread)."""

    def __init__(self) -> None:
        self.tried: list[tuple[str, str]] = []


class _Tracking(Client):
    """Mixed into HdfsCLI's clients: the delegation-token operations HdfsCLI lacks (a Client
    itself, so that HdfsCLI's metaclass turns each :class:`_Request` into a handler named after the
    attribute), and a record of each NameNode's failure, for one message naming every one tried."""

    _get_delegation_token = _Request("GET")
    _renew_delegation_token = _Request("PUT")
    _cancel_delegation_token = _Request("PUT")
    urls: list[str]
    attempts: _Attempts

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        host = next((u for u in self.urls if url.startswith(u.rstrip("/") + "/")), None)
        try:
            response: requests.Response = super()._request(method, url, **kwargs)
        except requests.RequestException as exc:
            if host:
                self.attempts.tried.append((host, _reason(exc)))
            raise
        if host and response.status_code == 403:
            remote = _remote_exception(response)
            if "StandbyException" in remote or "RetriableException" in remote:
                self.attempts.tried.append((host, "standby" if "StandbyException" in remote else "retry later"))
        return response


class _InsecureClient(_Tracking, InsecureClient):
    pass


class _TokenClient(_Tracking, TokenClient):
    pass


def _client(urls: tuple[str, ...], user: str, security: SecuritySettings) -> Client:
    """The HdfsCLI client the settings call for, on one configured session."""
    from workbench_plugin.kerberos import http_session

    session = http_session(security)  # KerberosClient adds its own SPNEGO auth
    common: dict[str, Any] = {"timeout": TIMEOUT, "session": session}
    url = ";".join(urls)
    client: Client
    if security.token_file:
        client = _TokenClient(url, _read_token(security.token_file), **common)
    elif security.kerberos:
        from workbench_plugin import kerberos

        kerberos.requests_kerberos()  # HdfsCLI's extension imports it: say how to install it first
        from hdfs.ext.kerberos import KerberosClient

        class _KerberosClient(_Tracking, KerberosClient):
            pass

        client = _KerberosClient(url, mutual_auth="OPTIONAL", **common, **kerberos.hdfs_kwargs(security))
    else:
        client = _InsecureClient(url, user=user, **common)
    client.attempts = _Attempts()
    return client


def _read_token(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            token = handle.read(MAX_TOKEN_CHARS + 1).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"security.token_file: cannot read {path[:200]!r} ({type(exc).__name__}); "
                         "it should hold an HDFS delegation token (GETDELEGATIONTOKEN's urlString)") from exc
    if not token or len(token) > MAX_TOKEN_CHARS or not token.replace("-", "").replace("_", "").isalnum():
        raise StoreError(f"security.token_file: {path[:200]!r} does not hold a delegation token; "
                         "expected one URL-safe line as WebHDFS GETDELEGATIONTOKEN answers")
    return token


class WebHDFSFileSystem:
    """A store root on HDFS: ``WebHDFSFileSystem("http://nn:9870", "/user/me/hypertuner")``;
    ``http_url`` may name several NameNodes separated by ``;``."""

    def __init__(self, http_url: str, root: str, *, user: str | None = None,
                 security: SecuritySettings | None = None) -> None:
        self.urls = tuple(u.strip().rstrip("/") for u in http_url.split(";") if u.strip())
        if not self.urls:
            raise StoreError("store.url: names no NameNode; write webhdfs://HOST:PORT/PATH")
        self.http_url = ";".join(self.urls)
        self.root = "/" + root.strip("/")
        settings = None if user and security else hdfs_settings()
        self.user = user or (settings.user if settings else "") or getpass.getuser()
        self.security = security or (settings.security if settings else SecuritySettings())
        self._hdfs = _client(self.urls, self.user, self.security)
        self._announced = self.urls[0]

    def __repr__(self) -> str:
        return f"WebHDFSFileSystem({self.http_url!r}, {self.root!r})"

    @property
    def _session(self) -> requests.Session:
        """The one session every request goes through (HdfsCLI's, configured here)."""
        session: requests.Session = self._hdfs._session
        return session

    @property
    def active_url(self) -> str:
        """The NameNode that answered last (the first one until a failover)."""
        return str(self._hdfs._urls[0])

    # ---- plumbing ---------------------------------------------------------------------------
    def join(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in parts if p)

    def _abs(self, path: str) -> str:
        return posixpath.join(self.root, path) if path else self.root

    def hdfs_path(self, path: str) -> str | None:
        """The absolute HDFS path of a store path (what YARN localizes from, for instance)."""
        return self._abs(path)

    def _call(self, method: str, path: str, op: str, *, ok: tuple[int, ...] = (200,),
              shown: str | None = None, **params: Any) -> requests.Response:
        """One WebHDFS call (``method`` is HdfsCLI's for ``op``; kept for readers and tests);
        ``shown`` is what messages name instead of the path (a temporary file's folder: its
        random name would make every retry of an outage look new)."""
        shown = shown or self._abs(path)
        handler = getattr(self._hdfs, _HANDLERS[op])
        query = {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
        attempts: list[tuple[str, str]] = self._hdfs.attempts.tried
        attempts.clear()
        try:
            response: requests.Response = handler(self._abs(path), strict=False, **query)
        except requests.exceptions.SSLError as exc:
            raise StoreUnavailable(self._none_answered(attempts, exc) + "; if the NameNode's certificate "
                                   "is signed by a private CA, set security.ca_bundle to its PEM file") from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise StoreUnavailable(self._none_answered(attempts, exc)) from exc
        except requests.RequestException as exc:  # a reply cut short, a bad redirect, SPNEGO failed
            if type(exc).__name__ == "KerberosExchangeError":
                raise StoreError(f"store: Kerberos authentication to {self.active_url} failed "
                                 f"({_first_line(exc)}); check the ticket (klist) or security.keytab and that "
                                 "the NameNode's HTTP principal exists") from exc
            raise StoreUnavailable(f"store: WebHDFS {op} of {shown} on {self.active_url} failed "
                                   f"({_reason(exc)})") from exc
        except HdfsError as exc:
            if getattr(exc, "exception", None) in ("StandbyException", "RetriableException"):
                # every NameNode answered standby / retry later
                raise StoreUnavailable(self._none_answered(attempts, exc)) from exc
            if "Authentication failure" in str(exc):  # HdfsCLI raises on 401 even when not strict
                raise StoreError(f"store: the NameNode at {self.active_url} refused {op} of {shown}: not "
                                 f"authenticated (401); check security.auth ({self.security.auth}) and the "
                                 "Kerberos ticket or delegation token") from exc
            raise StoreError(f"store: WebHDFS {op} of {shown} on {self.active_url} failed "
                             f"({_first_line(exc)})") from exc
        except KeyError as exc:  # HdfsCLI reading an error that is JSON but no RemoteException
            raise StoreError(f"store: WebHDFS {op} of {shown} on {self.active_url} failed (an error answer "
                             "that is not WebHDFS's; is this a NameNode's HTTP address?)") from exc
        self._announce()
        if response.status_code == 404 and 404 not in ok:
            raise FileNotFoundError(f"store: {shown} does not exist on {self.active_url}")
        if response.status_code not in ok and _retriable(response):
            raise StoreUnavailable(f"store: the NameNode at {self.active_url} cannot serve {op} right now "
                                   f"({response.status_code}: {_remote_message(response)})")
        if response.status_code not in ok:
            raise StoreError(f"store: WebHDFS {op} of {shown} on {self.active_url} failed "
                             f"({response.status_code}: {_remote_message(response)})")
        return response

    def _none_answered(self, attempts: list[tuple[str, str]], exc: BaseException) -> str:
        if len(self.urls) == 1:
            if isinstance(exc, HdfsError):
                return f"store: the NameNode at {self.urls[0]} cannot serve requests right now ({_first_line(exc)})"
            if isinstance(exc, requests.Timeout):
                return f"store: the NameNode at {self.urls[0]} did not answer in {TIMEOUT:.0f} s"
            return f"store: the NameNode at {self.urls[0]} is unreachable ({_reason(exc)})"
        seen = dict(attempts)
        tried = ", ".join(f"{url} ({seen.get(url, 'not tried')})" for url in self.urls)
        return f"store: no NameNode answered (tried {tried})"

    def _announce(self) -> None:
        active = self.active_url
        if active != self._announced:
            self._announced = active
            log.warning("store: using NameNode %s (%s did not answer as active)", active,
                        ", ".join(u for u in self.urls if u != active))

    def _create(self, path: str, data: bytes | BinaryIO, shown: str) -> None:
        """CREATE in two steps: the NameNode answers with the DataNode URL, the data goes there."""
        first = self._call("PUT", path, "CREATE", ok=(307, 200), shown=shown, overwrite=False, noredirect=True)
        try:
            location = first.headers.get("Location") or (first.json().get("Location") if first.content else None)
        except ValueError:
            location = None
        if not location:
            raise StoreError(f"store: WebHDFS CREATE of {shown} on {self.active_url}: no DataNode named")
        try:
            response = self._hdfs._request("PUT", location, data=data)
        except requests.RequestException as exc:
            host = requests.utils.urlparse(location).netloc
            raise StoreUnavailable(f"store: cannot write {shown}: DataNode {host} is unreachable "
                                   f"({_reason(exc)})") from exc
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
        response = self._call("GET", path, "OPEN")
        try:
            return response.content
        except requests.RequestException as exc:
            raise StoreUnavailable(f"store: reading {self._abs(path)} from {self.active_url} was cut short "
                                   f"({_reason(exc)})") from exc

    def _publish(self, path: str, data: bytes, source: str | None = None) -> bool:
        folder, name = posixpath.split(path)
        tmp = posixpath.join(folder, f"{TMP_PREFIX}{name}.{uuid.uuid4().hex[:12]}")
        shown = f"a file in {self._abs(folder)}"
        try:
            # a CREATE that failed half-way (DataNode full, reply lost) may have left the file
            if source is None:
                self._create(tmp, data, shown)
            else:
                with open(source, "rb") as stream:  # requests streams a file in chunks
                    self._create(tmp, stream, shown)
            # the handler, not Client.rename, which raises one HdfsError for "exists" and for
            # every other refusal: {"boolean": false} is how HDFS says the name is taken
            response = self._call("PUT", tmp, "RENAME", shown=shown, destination=self._abs(path))
            published = bool(response.json().get("boolean"))
        except BaseException:
            self._delete(tmp)
            raise
        if not published:  # the destination exists (or its folder vanished): never replace it
            self._delete(tmp)
            if not self.exists(path):
                raise StoreError(f"store: cannot publish {self._abs(path)} on {self.active_url}")
        return published

    def write_atomic(self, path: str, data: bytes) -> None:
        if not self._publish(path, data):
            raise StoreError(f"store: {self._abs(path)} already exists on {self.active_url}; "
                             "store files are never rewritten")

    def create_exclusive(self, path: str, data: bytes) -> bool:
        return self._publish(path, data)

    def create_exclusive_file(self, path: str, source: str) -> bool:
        return self._publish(path, b"", source)

    def listdir(self, path: str) -> list[str]:
        response = self._call("GET", path, "LISTSTATUS", ok=(200, 404))
        if response.status_code == 404:
            return []
        statuses = response.json().get("FileStatuses", {}).get("FileStatus", [])
        if len(statuses) == 1 and statuses[0].get("pathSuffix") == "" and statuses[0].get("type") == "FILE":
            return []  # the path is a file
        return sorted(s["pathSuffix"] for s in statuses if not s["pathSuffix"].startswith(TMP_PREFIX))

    def remove(self, path: str) -> None:
        self._call("DELETE", path, "DELETE", ok=(200, 404), recursive=True)

    def exists(self, path: str) -> bool:
        return self._call("GET", path, "GETFILESTATUS", ok=(200, 404)).status_code == 200

    def makedirs(self, path: str) -> None:
        response = self._call("PUT", path, "MKDIRS")
        if not response.json().get("boolean"):
            raise StoreError(f"store: cannot create folder {self._abs(path)} on {self.active_url}")

    def move(self, src: str, dst: str) -> None:
        """RENAME, which HDFS refuses when ``dst`` exists (a file is never replaced)."""
        if not self.exists(src):
            raise FileNotFoundError(f"store: {self._abs(src)} does not exist on {self.active_url}")
        self.makedirs(posixpath.dirname(dst))
        response = self._call("PUT", src, "RENAME", destination=self._abs(dst))
        if not response.json().get("boolean"):
            if not self.exists(src):  # another reader moved it first
                raise FileNotFoundError(f"store: {self._abs(src)} does not exist on {self.active_url}")
            raise StoreError(f"store: cannot move {self._abs(src)} to {self._abs(dst)} on {self.active_url}"
                             " (the destination exists)")

    # ---- delegation tokens (the gateway hands them to containers) --------------------------------
    def get_delegation_token(self, renewer: str) -> DelegationToken | None:
        """A new HDFS delegation token that ``renewer`` (usually YARN's principal, e.g. ``yarn``) may
        renew; None on a cluster without security, where WebHDFS answers ``{"Token": null}``."""
        response = self._call("GET", "/", "GETDELEGATIONTOKEN", renewer=renewer)
        token = _json(response).get("Token")
        if not token:
            return None
        return DelegationToken(str(token["urlString"]))

    def renew_delegation_token(self, token: str) -> int:
        """Renew a token (as its renewer); the new expiry in epoch milliseconds."""
        response = self._call("PUT", "/", "RENEWDELEGATIONTOKEN", shown="a delegation token", token=token)
        return int(_json(response).get("long", 0))

    def cancel_delegation_token(self, token: str) -> None:
        """Cancel a token (when the batch it was made for has ended)."""
        self._call("PUT", "/", "CANCELDELEGATIONTOKEN", shown="a delegation token", token=token)

    def close(self) -> None:
        self._hdfs._session.close()


def webhdfs_for(url: str, http_url: str | None = None, *, settings: HdfsSettings | None = None) -> WebHDFSFileSystem:
    """The HDFS backend for a store URL: ``webhdfs://nn:9870/path``, ``swebhdfs://nn:9871/path``,
    ``webhdfs://nn1:9870;nn2:9870/path``, a nameservice ``webhdfs://mycluster/path`` of
    ``hdfs-site.xml`` in ``settings.hadoop_conf_dir``, or ``hdfs://nn:8020/path``.

    An ``hdfs://`` URL that is not a nameservice names the NameNode's RPC address; its HTTP address
    comes from ``http_url`` or the settings' ``webhdfs_url`` (``hdfs.webhdfs_url``,
    ``$HYPERTUNER_WEBHDFS``, e.g. ``http://nn:9870``). Without ``settings`` they are read from the
    environment, through :func:`workbench_plugin.config.hdfs_settings`.
    """
    settings = settings or hdfs_settings()
    namenodes = namenode_urls(url, conf_dir=settings.hadoop_conf_dir, webhdfs_url=http_url or settings.webhdfs_url)
    return WebHDFSFileSystem(";".join(namenodes.urls), namenodes.root, user=settings.user or getpass.getuser(),
                             security=settings.security)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return "TLS certificate not trusted" if marker == "CERTIFICATE_VERIFY_FAILED" else marker.lower()
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    return type(exc).__name__


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise StoreError(f"store: WebHDFS answered {response.url.split('?')[0][:200]} with something else than "
                         "JSON") from exc
    return data if isinstance(data, dict) else {}


def _remote_exception(response: requests.Response) -> str:
    try:
        remote = response.json()["RemoteException"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f"{remote.get('exception', '')} {remote.get('javaClassName', '')}".strip()


def _retriable(response: requests.Response) -> bool:
    if response.status_code in (502, 503, 504):
        return True
    return any(name in _remote_exception(response) for name in _RETRIABLE)


def _remote_message(response: requests.Response) -> str:
    try:
        return str(response.json()["RemoteException"]["message"]).splitlines()[0][:300]
    except (ValueError, KeyError, TypeError):
        return response.text.strip().splitlines()[0][:300] if response.text.strip() else response.reason
