"""The mini cluster itself: WebHDFS round trips, the ResourceManager's REST API, a ResourceManager
restart that HDFS and the NodeManager live through."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from scripts.minicluster.minicluster import MiniCluster

pytestmark = pytest.mark.slow

USER = "hypertuner-test"


def _request(method: str, url: str, data: bytes | None = None) -> bytes:
    with urlopen(Request(url, data=data, method=method), timeout=30) as response:
        return bytes(response.read())


def _json(method: str, url: str) -> Any:
    return json.loads(_request(method, url))


def _webhdfs(cluster: MiniCluster, path: str, op: str, **params: str) -> str:
    query = urlencode({"op": op, "user.name": USER, **params})
    return f"{cluster.webhdfs_url}/webhdfs/v1{path}?{query}"


def _write(cluster: MiniCluster, path: str, data: bytes) -> None:
    # Two steps, as WebHDFS wants: the NameNode names a DataNode, the bytes go there.
    location = _json("PUT", _webhdfs(cluster, path, "CREATE", noredirect="true"))["Location"]
    assert location.startswith("http://127.0.0.1:"), location
    _request("PUT", location, data)


def _read(cluster: MiniCluster, path: str) -> bytes:
    return _request("GET", _webhdfs(cluster, path, "OPEN"))  # urllib follows the redirect


def _status_code(url: str) -> int:
    try:
        with urlopen(url, timeout=30) as response:
            return int(response.status)
    except HTTPError as exc:
        exc.close()
        return exc.code


def _metrics(cluster: MiniCluster) -> dict[str, Any]:
    return dict(_json("GET", f"{cluster.rm_url}/ws/v1/cluster/metrics")["clusterMetrics"])


def test_conf_dir_names_the_cluster(minicluster: MiniCluster) -> None:
    def props(name: str) -> dict[str, str]:
        root = ET.parse(minicluster.conf_dir / name).getroot()
        return {p.findtext("name", ""): p.findtext("value", "") for p in root.iter("property")}

    assert props("core-site.xml")["fs.defaultFS"] == minicluster.hdfs_url
    assert minicluster.hdfs_url.startswith("hdfs://127.0.0.1:")
    assert props("hdfs-site.xml")["dfs.namenode.http-address"] == minicluster.webhdfs_url.removeprefix("http://")
    yarn = props("yarn-site.xml")
    assert yarn["yarn.resourcemanager.webapp.address"] == minicluster.rm_url.removeprefix("http://")
    assert yarn["yarn.resourcemanager.address"].startswith("127.0.0.1:")


def test_webhdfs_write_read_rename_round_trip(minicluster: MiniCluster) -> None:
    folder = f"/tmp/roundtrip-{uuid.uuid4().hex[:8]}"
    payload = b"epoch,loss\n1,0.5\n2,0.25\n" * 1000
    assert _json("PUT", _webhdfs(minicluster, folder, "MKDIRS"))["boolean"] is True
    _write(minicluster, f"{folder}/.tmp-part", payload)
    assert _read(minicluster, f"{folder}/.tmp-part") == payload

    renamed = _json("PUT", _webhdfs(minicluster, f"{folder}/.tmp-part", "RENAME", destination=f"{folder}/part-0"))
    assert renamed["boolean"] is True
    # HDFS refuses to rename onto an existing file: the store's append-only publishing relies on it.
    _write(minicluster, f"{folder}/.tmp-other", b"other")
    clash = _json("PUT", _webhdfs(minicluster, f"{folder}/.tmp-other", "RENAME", destination=f"{folder}/part-0"))
    assert clash["boolean"] is False

    assert _status_code(_webhdfs(minicluster, f"{folder}/.tmp-part", "GETFILESTATUS")) == 404
    assert _read(minicluster, f"{folder}/part-0") == payload
    listing = _json("GET", _webhdfs(minicluster, folder, "LISTSTATUS"))["FileStatuses"]["FileStatus"]
    assert sorted((s["pathSuffix"], s["length"]) for s in listing) == [(".tmp-other", 5), ("part-0", len(payload))]
    assert _json("DELETE", _webhdfs(minicluster, folder, "DELETE", recursive="true"))["boolean"] is True


def test_resource_manager_reports_one_node_with_the_configured_resources(minicluster: MiniCluster) -> None:
    metrics = _metrics(minicluster)
    assert metrics["activeNodes"] == 1
    assert metrics["totalMB"] == 8192
    assert metrics["totalVirtualCores"] == 8
    nodes = _json("GET", f"{minicluster.rm_url}/ws/v1/cluster/nodes")["nodes"]["node"]
    assert [node["state"] for node in nodes] == ["RUNNING"]
    scheduler = _json("GET", f"{minicluster.rm_url}/ws/v1/cluster/scheduler")["scheduler"]["schedulerInfo"]
    queues = [queue["queueName"] for queue in scheduler["queues"]["queue"]]
    assert queues == ["default"]


def test_stop_rm_leaves_hdfs_up_and_start_rm_brings_the_node_back(minicluster: MiniCluster) -> None:
    started_on = _json("GET", f"{minicluster.rm_url}/ws/v1/cluster/info")["clusterInfo"]["startedOn"]
    minicluster.stop_rm()
    try:
        with pytest.raises(URLError):
            urlopen(f"{minicluster.rm_url}/ws/v1/cluster/info", timeout=5).close()
        path = f"/tmp/during-rm-outage-{uuid.uuid4().hex[:8]}"
        _write(minicluster, path, b"hdfs does not need yarn")
        assert _read(minicluster, path) == b"hdfs does not need yarn"
    finally:
        minicluster.start_rm()

    info = _json("GET", f"{minicluster.rm_url}/ws/v1/cluster/info")["clusterInfo"]
    assert info["state"] == "STARTED"
    assert info["startedOn"] > started_on  # a new ResourceManager, on the same port
    assert _metrics(minicluster)["activeNodes"] == 1
    assert minicluster.status()["rm_running"] is True
