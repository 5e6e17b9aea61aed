"""HA and TLS against the real mini cluster: a dead or standby first NameNode / ResourceManager,
all of them dead, and WebHDFS over HTTPS through a TLS-terminating proxy in front of the real
NameNode (a private CA made here). The standby servers are small local fakes answering with the
recorded shapes of a standby NameNode (403 + RemoteException StandbyException) and of a standby RM
(``/ws/v1/cluster/info`` with haState STANDBY): one JVM cannot show a second, standby NameNode."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engines.resource_manager import ResourceManagerClient
from scripts.minicluster.minicluster import MiniCluster
from workbench_plugin._exceptions import EngineError, StoreUnavailable
from workbench_plugin.config import HdfsSettings, SecuritySettings
from workbench_plugin.store import Store
from workbench_plugin.webhdfs import WebHDFSFileSystem, webhdfs_for

STANDBY_NN = {"RemoteException": {
    "exception": "StandbyException", "javaClassName": "org.apache.hadoop.ipc.StandbyException",
    "message": "Operation category READ is not supported in state standby. Visit https://s.apache.org/sbnn-error"}}
STANDBY_RM = {"clusterInfo": {"id": 1, "state": "STARTED", "haState": "STANDBY", "rmStateStoreName":
                              "org.apache.hadoop.yarn.server.resourcemanager.recovery.NullRMStateStore"}}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Standby(BaseHTTPRequestHandler):
    """A standby NameNode for every WebHDFS call; a standby RM for /ws/v1/cluster/info."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        if self.path.startswith("/ws/v1/cluster/info"):
            status, body = 200, STANDBY_RM
        else:
            status, body = 403, STANDBY_NN
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _answer


def _serve(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture()
def standby() -> Iterator[str]:
    yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), _Standby))


def test_a_dead_first_namenode_fails_over_and_says_which_one_is_used(
        minicluster: MiniCluster, caplog: pytest.LogCaptureFixture) -> None:
    nn = minicluster.webhdfs_url.split("://", 1)[1]
    dead = closed_port()
    store = Store(f"webhdfs://127.0.0.1:{dead};{nn}/ha/{uuid.uuid4().hex}")
    fs = store.fs
    assert isinstance(fs, WebHDFSFileSystem)
    with caplog.at_level(logging.WARNING, logger="hypertuner.store"):
        fs.write_atomic("a/b.json", b"{}")
    assert fs.read_bytes("a/b.json") == b"{}" and fs.active_url == minicluster.webhdfs_url
    assert [r.getMessage() for r in caplog.records if r.name == "hypertuner.store"] == [
        f"store: using NameNode {minicluster.webhdfs_url} (http://127.0.0.1:{dead} did not answer as active)"]
    assert fs.create_exclusive("a/c.json", b"1") and not fs.create_exclusive("a/c.json", b"2")
    assert fs.read_bytes("a/c.json") == b"1"


def test_a_standby_first_namenode_fails_over(minicluster: MiniCluster, standby: str) -> None:
    nn = minicluster.webhdfs_url.split("://", 1)[1]
    fs = webhdfs_for(f"webhdfs://{standby};{nn}/ha/{uuid.uuid4().hex}", settings=HdfsSettings())
    fs.write_atomic("x.json", b"[1]")
    assert fs.listdir("") == ["x.json"] and fs.active_url == minicluster.webhdfs_url


def test_when_no_namenode_answers_one_line_names_every_one_tried(standby: str) -> None:
    dead = closed_port()
    fs = webhdfs_for(f"webhdfs://127.0.0.1:{dead};{standby}/x", settings=HdfsSettings())
    with pytest.raises(StoreUnavailable) as info:
        fs.listdir("")
    assert str(info.value) == (f"store: no NameNode answered (tried http://127.0.0.1:{dead} (connection refused), "
                               f"http://{standby} (standby))")


def test_delegation_tokens_on_an_open_cluster_are_none(minicluster: MiniCluster) -> None:
    """Security off: WebHDFS answers GETDELEGATIONTOKEN with {"Token": null}; containers need none."""
    fs = webhdfs_for(f"{minicluster.webhdfs_url.replace('http', 'webhdfs', 1)}/", settings=HdfsSettings())
    assert requests.get(f"{minicluster.webhdfs_url}/webhdfs/v1/?op=GETDELEGATIONTOKEN&renewer=yarn&user.name=x",
                        timeout=10).json() == {"Token": None}
    assert fs.get_delegation_token("yarn") is None


def test_a_dead_or_standby_first_resourcemanager_fails_over(
        minicluster: MiniCluster, standby: str, caplog: pytest.LogCaptureFixture) -> None:
    dead = closed_port()
    for first in (f"http://127.0.0.1:{dead}", f"http://{standby}"):
        rm = ResourceManagerClient(f"{first};{minicluster.rm_url}")
        with caplog.at_level(logging.WARNING, logger="hypertuner.engine"):
            assert rm.resources().total_mb > 0
        assert rm.active_url == minicluster.rm_url
        assert f"YARN: using ResourceManager {minicluster.rm_url} ({first} did not answer as active)" in \
            [r.getMessage() for r in caplog.records]
    rm = ResourceManagerClient(f"http://127.0.0.1:{dead},http://{standby}")
    with pytest.raises(EngineError) as info:
        rm.resources()
    assert str(info.value) == ("YARN ResourceManager: none answered as active (tried "
                               f"http://127.0.0.1:{dead} (connection refused), http://{standby} (standby))")


# ---- TLS: a private CA, and a TLS-terminating proxy in front of the real NameNode ---------------------
def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HyperTuner test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _proxy_to(target: str) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        """Forwards every call to the NameNode as it is (redirects and JSON included)."""

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            answer = requests.request(self.command, f"{target}{self.path}", data=self.rfile.read(length) or None,
                                      allow_redirects=False, timeout=30)
            self.send_response(answer.status_code)
            for name in ("Content-Type", "Location"):
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_PUT = do_POST = do_DELETE = _forward

    return Proxy


@pytest.fixture()
def tls_namenode(minicluster: MiniCluster, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca, cert, key = _certificates(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_to(minicluster.webhdfs_url))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for address in _serve(server):
        yield address, ca


def test_swebhdfs_verifies_the_namenode_against_the_configured_ca(tls_namenode: tuple[str, Path]) -> None:
    address, ca = tls_namenode
    url = f"swebhdfs://{address}/tls/{uuid.uuid4().hex}"
    fs = webhdfs_for(url, settings=HdfsSettings(security=SecuritySettings(ca_bundle=str(ca))))
    assert fs.active_url == f"https://{address}"
    fs.write_atomic("t.json", b"{}")
    assert fs.read_bytes("t.json") == b"{}" and fs.listdir("") == ["t.json"]
    untrusted = webhdfs_for(url, settings=HdfsSettings())
    with pytest.raises(StoreUnavailable) as info:
        untrusted.listdir("")
    message = str(info.value)
    assert message == (f"store: the NameNode at https://{address} is unreachable (TLS certificate not trusted); "
                       "if the NameNode's certificate is signed by a private CA, set security.ca_bundle to its "
                       "PEM file")


@pytest.fixture()
def tls_resourcemanager(minicluster: MiniCluster, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca, cert, key = _certificates(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_to(minicluster.rm_url))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for address in _serve(server):
        yield address, ca


def test_an_https_resourcemanager_is_verified_against_the_configured_ca(
        tls_resourcemanager: tuple[str, Path]) -> None:
    address, ca = tls_resourcemanager
    rm = ResourceManagerClient(f"https://{address}", security=SecuritySettings(ca_bundle=str(ca)))
    assert rm.resources().total_mb > 0
    with pytest.raises(EngineError) as info:
        ResourceManagerClient(f"https://{address}").resources()
    assert str(info.value) == (f"YARN ResourceManager at https://{address} is unreachable (TLS certificate not "
                               "trusted; set security.ca_bundle to the PEM file of the CA that signed it)")
