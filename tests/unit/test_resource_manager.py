"""The ResourceManager client over responses recorded from the mini cluster's RM, served on 127.0.0.1.

The same client runs against the live mini cluster in ``tests/cluster``; these recorded answers
pin down the parsing (and let it be checked in a second).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engines.resource_manager import AppReport, ResourceManagerClient
from workbench_plugin._exceptions import EngineError

RECORDED = Path(__file__).resolve().parents[1] / "data" / "rm"


class _Recorded(BaseHTTPRequestHandler):
    """Answers GET /ws/v1/cluster/<name> with tests/data/rm/<name>.json; records PUTs."""

    puts: list[tuple[str, dict[str, object]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/cluster", "/cluster/cluster"):  # yarn-api-client's "is this RM active" probe
            self._send(200, b"<html>ResourceManager state: ACTIVE</html>")
            return
        name = path.removeprefix("/ws/v1/cluster").strip("/").replace("/", "_") or "info"
        file = RECORDED / f"{name}.json"
        if file.exists():
            self._send(200, file.read_bytes())
        else:
            self._send(404, json.dumps({"RemoteException": {"message": f"no {path}"}}).encode())

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        _Recorded.puts.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
        self._send(202, b'{"state": "KILLED"}')


@pytest.fixture()
def rm() -> Iterator[ResourceManagerClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorded.puts.clear()
    try:
        yield ResourceManagerClient(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_resources_from_metrics_and_scheduler(rm: ResourceManagerClient) -> None:
    metrics = json.loads((RECORDED / "metrics.json").read_text())["clusterMetrics"]
    res = rm.resources()
    assert (res.total_mb, res.available_mb) == (metrics["totalMB"], metrics["availableMB"])
    assert (res.total_vcores, res.active_nodes) == (metrics["totalVirtualCores"], metrics["activeNodes"]) != (0, 0)
    assert [q.name for q in res.queues] == ["root.default"]
    assert res.queues[0].capacity_percent == pytest.approx(100.0)


def test_application_report_and_usage(rm: ResourceManagerClient) -> None:
    recorded = json.loads(next(RECORDED.glob("apps_application_*.json")).read_text())["app"]
    report = rm.application(recorded["id"])
    assert isinstance(report, AppReport) and report.terminal
    assert report.state == recorded["state"] and report.final_status == recorded["finalStatus"]
    usage = report.usage()
    assert usage["vcore_seconds"] == recorded["vcoreSeconds"] > 0
    assert usage["memory_mb_seconds"] == recorded["memorySeconds"] > 0
    assert usage["yarn_app_id"] == recorded["id"]


def test_kill_of_a_finished_application_sends_nothing(rm: ResourceManagerClient) -> None:
    recorded = json.loads(next(RECORDED.glob("apps_application_*.json")).read_text())["app"]
    rm.kill(recorded["id"])
    assert _Recorded.puts == []


def test_unknown_application_is_one_line(rm: ResourceManagerClient) -> None:
    with pytest.raises(EngineError) as info:
        rm.application("application_1_0099")
    assert "application_1_0099" in str(info.value) and "\n" not in str(info.value)
