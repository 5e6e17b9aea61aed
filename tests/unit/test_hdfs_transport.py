"""Where HDFS and YARN addresses come from (store URLs with several NameNodes or a nameservice,
hdfs-site.xml / yarn-site.xml), the clients each security setting gives, and the one-line errors a
user sees when an address or a Kerberos ticket is wrong. The I/O itself runs against the mini
cluster (tests/cluster/test_ha_transport.py and the shared store suite)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hdfs.client import InsecureClient, TokenClient

from engines.resource_manager import ResourceManagerClient
from workbench_plugin._exceptions import ConfigError, KerberosError, StoreError
from workbench_plugin.config import HdfsSettings, SecuritySettings, hdfs_settings
from workbench_plugin.fs import filesystem_for
from workbench_plugin.hadoop_conf import namenode_urls, resourcemanager_urls
from workbench_plugin.kerberos import login
from workbench_plugin.webhdfs import WebHDFSFileSystem, webhdfs_for


def site(folder: Path, name: str, props: dict[str, str]) -> None:
    body = "".join(f"<property><name>{k}</name><value>{v}</value></property>" for k, v in props.items())
    (folder / name).write_text(f"<?xml version='1.0'?><configuration>{body}</configuration>")


HA_HDFS = {"dfs.nameservices": "mycluster,other", "dfs.ha.namenodes.mycluster": "nn1,nn2",
           "dfs.namenode.http-address.mycluster.nn1": "nn1.example:9870",
           "dfs.namenode.http-address.mycluster.nn2": "nn2.example:9870",
           "dfs.namenode.https-address.mycluster.nn1": "nn1.example:9871",
           "dfs.namenode.https-address.mycluster.nn2": "nn2.example:9871"}


def test_webhdfs_and_swebhdfs_urls_with_one_or_several_namenodes() -> None:
    assert namenode_urls("webhdfs://nn:9870/a/b") == (("http://nn:9870",), "/a/b")
    assert namenode_urls("swebhdfs://nn:9871/a") == (("https://nn:9871",), "/a")
    assert namenode_urls("webhdfs://nn1:9870;nn2:9870/x/") == (("http://nn1:9870", "http://nn2:9870"), "/x")
    fs = filesystem_for("webhdfs://127.0.0.1:1;127.0.0.1:2/data")
    assert isinstance(fs, WebHDFSFileSystem)
    assert fs.urls == ("http://127.0.0.1:1", "http://127.0.0.1:2") and fs.active_url == "http://127.0.0.1:1"


@pytest.mark.parametrize("url", ["webhdfs://nn1:9870;;nn2:9870/x", "webhdfs://nn1:9870;/x", "webhdfs://nn:99999/x",
                                 "webhdfs://user@nn:9870/x", "webhdfs://nn:9870/x?op=DELETE", "webhdfs:///x",
                                 "webhdfs://nn1:9870;nn2/x", "webhdfs://nn/x", "swebhdfs://n n:1/x"])
def test_malformed_store_urls_are_one_line_naming_store_url(url: str) -> None:
    with pytest.raises(StoreError) as info:
        filesystem_for(url, HdfsSettings())
    message = str(info.value)
    assert message.startswith("store.url: ") and "\n" not in message and "webhdfs://" in message


def test_a_nameservice_resolves_from_hdfs_site(tmp_path: Path) -> None:
    site(tmp_path, "hdfs-site.xml", HA_HDFS)
    conf = str(tmp_path)
    assert namenode_urls("webhdfs://mycluster/ht", conf_dir=conf).urls == ("http://nn1.example:9870",
                                                                           "http://nn2.example:9870")
    assert namenode_urls("hdfs://mycluster/ht", conf_dir=conf).urls == ("http://nn1.example:9870",
                                                                        "http://nn2.example:9870")
    assert namenode_urls("swebhdfs://mycluster/ht", conf_dir=conf).urls == ("https://nn1.example:9871",
                                                                            "https://nn2.example:9871")
    site(tmp_path, "hdfs-site.xml", {**HA_HDFS, "dfs.http.policy": "HTTPS_ONLY"})
    assert namenode_urls("webhdfs://mycluster/ht", conf_dir=conf).urls[0] == "https://nn1.example:9871"
    with pytest.raises(StoreError, match="nameservice 'other' has no dfs.namenode.https-address for other"):
        namenode_urls("webhdfs://other/ht", conf_dir=conf)
    with pytest.raises(StoreError, match="'nope' is not a nameservice in .*hdfs-site.xml"):
        namenode_urls("webhdfs://nope/ht", conf_dir=conf)


def test_the_conf_dir_reaches_the_store_from_config_and_from_the_environment(tmp_path: Path) -> None:
    site(tmp_path, "hdfs-site.xml", HA_HDFS)
    fs = filesystem_for("webhdfs://mycluster/ht", HdfsSettings(hadoop_conf_dir=str(tmp_path)))
    assert isinstance(fs, WebHDFSFileSystem) and fs.urls == ("http://nn1.example:9870", "http://nn2.example:9870")
    assert hdfs_settings({"HADOOP_CONF_DIR": str(tmp_path)}).hadoop_conf_dir == str(tmp_path)
    with pytest.raises(StoreError, match="HADOOP_CONF_DIR"):
        filesystem_for("webhdfs://mycluster/ht", HdfsSettings())


def test_a_damaged_site_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "hdfs-site.xml").write_text("<configuration><property>")
    with pytest.raises(ConfigError, match=r"^yarn.hadoop_conf_dir: cannot read .*hdfs-site.xml \(") as info:
        namenode_urls("webhdfs://mycluster/ht", conf_dir=str(tmp_path))
    assert "\n" not in str(info.value)


def test_resourcemanagers_from_yarn_site(tmp_path: Path) -> None:
    site(tmp_path, "yarn-site.xml", {"yarn.resourcemanager.ha.enabled": "true",
                                     "yarn.resourcemanager.ha.rm-ids": "rm1,rm2",
                                     "yarn.resourcemanager.webapp.address.rm1": "rm1.example:8088",
                                     "yarn.resourcemanager.hostname.rm2": "rm2.example"})
    assert resourcemanager_urls(str(tmp_path)) == ["http://rm1.example:8088", "http://rm2.example:8088"]
    rm = ResourceManagerClient("", hadoop_conf_dir=str(tmp_path))
    assert rm.urls == ("http://rm1.example:8088", "http://rm2.example:8088")
    assert ResourceManagerClient("http://a:8088;http://b:8088/, http://c:8088").urls == (
        "http://a:8088", "http://b:8088", "http://c:8088")
    with pytest.raises(ConfigError, match=r"^yarn.rm_url: empty and .*yarn-site.xml names none"):
        ResourceManagerClient("", hadoop_conf_dir=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"^yarn.rm_url: 'rm:8088' is not an HTTP address"):
        ResourceManagerClient("http://a:8088;rm:8088")


def test_the_client_follows_the_security_settings(tmp_path: Path) -> None:
    fs = WebHDFSFileSystem("http://nn:9870", "/x", user="etl", security=SecuritySettings(ca_bundle="/etc/ca.pem"))
    assert isinstance(fs._hdfs, InsecureClient) and fs._session.params["user.name"] == "etl"
    assert fs._session.verify == "/etc/ca.pem"
    token = tmp_path / "token"
    token.write_text("HgAFYWxpY2UEeWFybgCKAZQ_abc-_\n")
    fs = WebHDFSFileSystem("http://nn:9870", "/x", user="etl", security=SecuritySettings(token_file=str(token)))
    assert isinstance(fs._hdfs, TokenClient) and fs._session.params["delegation"] == "HgAFYWxpY2UEeWFybgCKAZQ_abc-_"
    assert "user.name" not in fs._session.params
    token.write_text("not a token; rm -rf /\n")
    with pytest.raises(StoreError, match=r"^security.token_file: .* does not hold a delegation token"):
        WebHDFSFileSystem("http://nn:9870", "/x", user="etl", security=SecuritySettings(token_file=str(token)))
    with pytest.raises(StoreError, match=r"^security.token_file: cannot read"):
        webhdfs_for("webhdfs://nn:9870/x", settings=HdfsSettings(
            security=SecuritySettings(token_file=str(tmp_path / "missing"))))


def test_no_kerberos_ticket_is_one_line_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty ticket cache and no keytab: what a user who forgot kinit sees, before any request."""
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty-cache'}")
    security = SecuritySettings(auth="kerberos", principal="alice@EXAMPLE.COM")
    for attempt in (lambda: login(security),
                    lambda: WebHDFSFileSystem("http://nn:9870", "/x", user="alice", security=security),
                    lambda: ResourceManagerClient("http://127.0.0.1:1", security=security).resources()):
        with pytest.raises(KerberosError) as info:
            attempt()
        assert str(info.value) == ("security: no Kerberos ticket for alice@EXAMPLE.COM; run kinit "
                                   "alice@EXAMPLE.COM or set security.keytab")
    with pytest.raises(KerberosError, match=r"^security.keytab: '/nonexistent.keytab' is not a file"):
        login(SecuritySettings(auth="kerberos", principal="alice@EXAMPLE.COM", keytab="/nonexistent.keytab"))


def test_spark_on_yarn_takes_the_resourcemanagers_of_yarn_site_when_rm_url_is_empty(tmp_path: Path) -> None:
    from engines.spark import SparkEngine
    from workbench_plugin.store import Store

    store = Store(str(tmp_path / "store"))
    with pytest.raises(ConfigError, match=r"^yarn.rm_url: empty and .*yarn-site.xml names none; set"):
        SparkEngine(store, master="yarn", rm_url="", spark_submit="/bin/false", hadoop_conf_dir=str(tmp_path))
    site(tmp_path, "yarn-site.xml", {"yarn.resourcemanager.webapp.address": "rm.example:8088"})
    security = SecuritySettings(ca_bundle="/etc/ca.pem")
    engine = SparkEngine(store, master="yarn", rm_url="", spark_submit="/bin/false", hadoop_conf_dir=str(tmp_path),
                         hdfs=HdfsSettings(security=security))
    assert engine.rm is not None and engine.rm.urls == ("http://rm.example:8088",) and engine.rm.security == security


def test_a_keytab_login_that_cannot_get_a_ticket_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real keytab (MIT ktutil) and a krb5.conf whose KDC does not answer: the clients log in from
    the keytab by themselves, and say in one line why they could not."""
    import shutil
    import subprocess

    keytab, conf = tmp_path / "alice.keytab", tmp_path / "krb5.conf"
    ktutil = shutil.which("ktutil")
    assert ktutil, "MIT krb5's ktutil is needed (apt-get install krb5-user)"
    subprocess.run([ktutil], input=f"addent -password -p alice@EXAMPLE.COM -k 1 -e aes256-cts-hmac-sha1-96\n"
                   f"secret\nwkt {keytab}\nquit\n", text=True, capture_output=True, timeout=30, check=True)
    conf.write_text("[libdefaults]\n default_realm = EXAMPLE.COM\n dns_lookup_kdc = false\n"
                    "[realms]\n EXAMPLE.COM = {\n  kdc = 127.0.0.1:1\n }\n")
    monkeypatch.delenv("KRB5_CONFIG", raising=False)  # login sets it from security.krb5_conf; restored after
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty-cache'}")
    # MIT krb5 says only "no credentials" for a principal the keytab lacks: the message's fix covers it
    # (what MIT krb5 says of the unreachable KDC differs between its builds: the reason in brackets
    # is given when it is recognised, and the fix always)
    for principal in ("alice@EXAMPLE.COM", "bob@EXAMPLE.COM"):
        security = SecuritySettings(auth="kerberos", principal=principal, keytab=str(keytab), krb5_conf=str(conf))
        with pytest.raises(KerberosError) as info:
            WebHDFSFileSystem("http://nn:9870", "/x", user="alice", security=security)
        said = str(info.value)
        assert "\n" not in said
        assert re.fullmatch(rf"security\.keytab: no Kerberos ticket for {re.escape(principal)} from "
                            rf"{re.escape(str(keytab))}"
                            r"( \((cannot contact any KDC|no KDC for the realm|no credentials)\))?; "
                            r"check that the keytab holds the principal \(klist -kt\) and that the KDC is reachable",
                            said), said
