"""Addresses from the cluster's configuration folder (``HADOOP_CONF_DIR``) and from store URLs.

* :func:`namenode_urls` resolves a store URL to the NameNodes' HTTP(S) addresses:
  ``webhdfs://nn:9870/path`` (HTTP), ``swebhdfs://nn:9871/path`` (HTTPS), several NameNodes
  ``webhdfs://nn1:9870;nn2:9870/path``, or a nameservice ``webhdfs://mycluster/path`` /
  ``hdfs://mycluster/path`` from ``hdfs-site.xml`` (``dfs.nameservices``,
  ``dfs.ha.namenodes.<ns>``, ``dfs.namenode.http[s]-address.<ns>.<nn>``; HTTPS when
  ``dfs.http.policy`` is HTTPS_ONLY or the scheme is swebhdfs).
* :func:`resourcemanager_urls` reads the ResourceManagers' web addresses from ``yarn-site.xml``
  (``yarn.resourcemanager.ha.rm-ids``, ``yarn.resourcemanager.webapp[.https].address[.<id>]``).

The folder comes from the config (``yarn.hadoop_conf_dir``), never from this process's
environment, so the gateway and a container resolve the same names the same way.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import NamedTuple

from workbench_plugin._exceptions import ConfigError, StoreError

__all__ = ["NameNodes", "namenode_urls", "read_site", "resourcemanager_urls", "split_urls"]

#: A configuration file larger than this is not a Hadoop site file.
MAX_SITE_BYTES = 4 * 1024 * 1024
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
_HOST_PORT = re.compile(rf"({_HOST})(?::(\d{{1,5}}))?")
_SCHEMES = {"webhdfs": "http", "swebhdfs": "https", "hdfs": "http"}


class NameNodes(NamedTuple):
    """Where a store URL points: the NameNodes' HTTP(S) base URLs, in order, and the store root."""

    urls: tuple[str, ...]
    root: str


def read_site(conf_dir: str, name: str) -> dict[str, str]:
    """The properties of ``<conf_dir>/<name>`` (``hdfs-site.xml``...), {} when there is no such file;
    a damaged file is one :class:`ConfigError` line."""
    if not conf_dir:
        return {}
    path = os.path.join(conf_dir, name)
    try:
        if os.path.getsize(path) > MAX_SITE_BYTES:
            raise ConfigError(f"yarn.hadoop_conf_dir: {path} is larger than {MAX_SITE_BYTES // 2**20} MiB; "
                              "is it a Hadoop site file?")
        tree = ET.parse(path)
    except FileNotFoundError:
        return {}
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(f"yarn.hadoop_conf_dir: cannot read {path} ({' '.join(str(exc).split())[:200]})") from exc
    values: dict[str, str] = {}
    for prop in tree.getroot().iter("property"):
        key, value = prop.findtext("name"), prop.findtext("value")
        if key and value is not None:
            values[key.strip()] = value.strip()
    return values


def split_urls(text: str) -> list[str]:
    """Several URLs separated by ``;`` or ``,`` (``yarn.rm_url``, ``hdfs.webhdfs_url``)."""
    return [u.strip().rstrip("/") for u in re.split(r"[;,]", text) if u.strip()]


def _bad(url: str, why: str) -> StoreError:
    return StoreError(f"store.url: {url[:200]!r} {why}; write webhdfs://HOST:PORT/PATH, "
                      "webhdfs://NN1:PORT;NN2:PORT/PATH, swebhdfs://HOST:PORT/PATH or webhdfs://NAMESERVICE/PATH")


def namenode_urls(url: str, *, conf_dir: str = "", webhdfs_url: str = "") -> NameNodes:
    """The NameNodes a store URL names. ``hdfs://HOST:PORT`` names an RPC address: its HTTP address
    is ``webhdfs_url`` (``hdfs.webhdfs_url``, several allowed) unless it is a nameservice."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        raise _bad(url, "is not an HDFS URL")
    if any(c in rest for c in "?#@ \t\n\\") or not rest.isprintable():
        raise _bad(url, "has a query, user, space or unprintable character")
    authority, slash, path = rest.partition("/")
    root = "/" + path.strip("/") if slash else "/"
    if not authority:
        raise _bad(url, "names no NameNode")
    entries = authority.split(";")
    parsed: list[tuple[str, str | None]] = []
    for entry in entries:
        match = _HOST_PORT.fullmatch(entry)
        if not match or (match.group(2) is not None and not 0 < int(match.group(2)) < 65536):
            raise _bad(url, f"has a malformed NameNode {entry[:100]!r}")
        parsed.append((match.group(1), match.group(2)))
    site = read_site(conf_dir, "hdfs-site.xml")
    https = scheme == "swebhdfs" or site.get("dfs.http.policy", "").upper() == "HTTPS_ONLY"
    if len(parsed) == 1 and parsed[0][1] is None:
        nameservice = parsed[0][0]
        resolved = _nameservice(site, nameservice, https=https)
        if resolved:
            return NameNodes(resolved, root)
        if scheme != "hdfs":
            where = f"in {os.path.join(conf_dir, 'hdfs-site.xml')}" if conf_dir else \
                "(set yarn.hadoop_conf_dir / HADOOP_CONF_DIR to resolve a nameservice)"
            raise _bad(url, f"names no port and {nameservice!r} is not a nameservice {where}")
    if scheme == "hdfs":
        if webhdfs_url:
            return NameNodes(tuple(split_urls(webhdfs_url)), root)
        raise StoreError(f"store.url: {url[:200]!r} is an HDFS URL; set HYPERTUNER_WEBHDFS to the NameNode's "
                         "HTTP address (e.g. http://namenode:9870), name a nameservice of HADOOP_CONF_DIR's "
                         "hdfs-site.xml, or use webhdfs://HOST:PORT/PATH")
    if any(port is None for _, port in parsed):
        raise _bad(url, "names a NameNode without a port")
    http = _SCHEMES[scheme]
    return NameNodes(tuple(f"{http}://{host}:{port}" for host, port in parsed), root)


def _nameservice(site: dict[str, str], name: str, *, https: bool) -> tuple[str, ...]:
    if name not in split_urls(site.get("dfs.nameservices", "")):
        return ()
    key = "dfs.namenode.https-address" if https else "dfs.namenode.http-address"
    ids = split_urls(site.get(f"dfs.ha.namenodes.{name}", ""))
    addresses = [site.get(f"{key}.{name}.{nn}", "") for nn in ids] if ids else [site.get(f"{key}.{name}", "")]
    missing = [nn for nn, address in zip(ids or [name], addresses, strict=True) if not address]
    if missing:
        raise StoreError(f"store.url: nameservice {name!r} has no {key} for {', '.join(missing)} in hdfs-site.xml; "
                         f"add {key}.{name}.<namenode> = host:port")
    scheme = "https" if https else "http"
    return tuple(a if "://" in a else f"{scheme}://{a}" for a in addresses)


def resourcemanager_urls(conf_dir: str) -> list[str]:
    """The ResourceManagers' web addresses from ``yarn-site.xml`` (every RM of an HA pair, in the
    order of ``yarn.resourcemanager.ha.rm-ids``), [] when the folder names none."""
    site = read_site(conf_dir, "yarn-site.xml")
    https = site.get("yarn.http.policy", "").upper() == "HTTPS_ONLY"
    key = "yarn.resourcemanager.webapp.https.address" if https else "yarn.resourcemanager.webapp.address"
    default_port = "8090" if https else "8088"
    ids = split_urls(site.get("yarn.resourcemanager.ha.rm-ids", "")) \
        if site.get("yarn.resourcemanager.ha.enabled", "").lower() == "true" else []
    addresses: list[str] = []
    for suffix in [f".{rm}" for rm in ids] or [""]:
        address = site.get(key + suffix, "")
        if not address and site.get(f"yarn.resourcemanager.hostname{suffix}"):
            address = f"{site[f'yarn.resourcemanager.hostname{suffix}']}:{default_port}"
        if address:
            addresses.append(address if "://" in address else f"{'https' if https else 'http'}://{address}")
    return addresses
