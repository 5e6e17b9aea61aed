"""Store URLs for HDFS: which NameNode address and root a URL means (the I/O itself is tested on
the mini cluster by the shared store suite)."""

from __future__ import annotations

import pytest

from workbench_plugin._exceptions import StoreError
from workbench_plugin.config import HdfsSettings
from workbench_plugin.fs import filesystem_for
from workbench_plugin.webhdfs import WebHDFSFileSystem


def test_webhdfs_url_names_the_http_address_and_root() -> None:
    fs = filesystem_for("webhdfs://nn.example:9870/user/me/hypertuner")
    assert isinstance(fs, WebHDFSFileSystem)
    assert (fs.http_url, fs.root) == ("http://nn.example:9870", "/user/me/hypertuner")
    assert fs.hdfs_path("snapshots/s1.tar.gz") == "/user/me/hypertuner/snapshots/s1.tar.gz"


def test_hdfs_url_needs_the_namenode_http_address(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreError, match="HYPERTUNER_WEBHDFS"):
        filesystem_for("hdfs://nn.example:8020/data/ht")
    monkeypatch.setenv("HYPERTUNER_WEBHDFS", "http://nn.example:9870")
    fs = filesystem_for("hdfs://nn.example:8020/data/ht")
    assert isinstance(fs, WebHDFSFileSystem) and fs.root == "/data/ht"


def test_unknown_scheme_is_one_line() -> None:
    with pytest.raises(StoreError) as info:
        filesystem_for("s3://bucket/x")
    assert "'s3'" in str(info.value) and "webhdfs://" in str(info.value) and "\n" not in str(info.value)


def test_hdfs_settings_passed_down_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERTUNER_WEBHDFS", "http://nn.env:9870")
    monkeypatch.setenv("HADOOP_USER_NAME", "from-env")
    fs = filesystem_for("hdfs://nn.example:8020/data/ht", HdfsSettings(webhdfs_url="http://nn.cfg:9870", user="etl"))
    assert isinstance(fs, WebHDFSFileSystem) and (fs.http_url, fs.user) == ("http://nn.cfg:9870", "etl")
    fs = filesystem_for("webhdfs://nn.example:9870/data/ht")
    assert isinstance(fs, WebHDFSFileSystem) and fs.user == "from-env"
