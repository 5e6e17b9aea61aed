"""Configuration: read once (defaults, then a file, then the environment), validated, frozen.

Nothing else in HyperTuner reads ``os.environ`` for settings; the loaded :class:`Config` is
passed down. ``conf/hypertuner.toml`` documents the same defaults as :data:`DEFAULTS` (a unit
test keeps the two equal).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench_plugin._exceptions import ConfigError
from workbench_plugin._toml import read_toml
from workbench_plugin.resources_config import (
    DEFAULT_LIMITS,
    DEFAULT_RESOURCES,
    Limits,
    ResourceOption,
    parse_limits,
    parse_resources,
)
from workbench_plugin.spark_settings import check_spark_conf

__all__ = [
    "Config",
    "DEFAULTS",
    "ENGINES",
    "ENV_FAULT_POINTS",
    "ENV_TOKEN_FILE",
    "ENV_WEBHDFS",
    "HdfsSettings",
    "Limits",
    "ResourceOption",
    "SecuritySettings",
    "check_password_hash",
    "container_id",
    "fault_points",
    "hash_password",
    "hdfs_settings",
    "is_loopback",
    "load_config",
    "security_settings",
    "verify_password",
]

#: The engines HyperTuner knows, looked up by name (see ``workbench_plugin.plugins``).
ENGINES = ("local", "spark")
#: How a run's experiments become Spark applications: one each, or one task each in one application.
PACKINGS = ("none", "tasks")

DEFAULTS: dict[str, dict[str, Any]] = {
    "store": {"url": "~/.hypertuner/store"},
    "engine": {"name": "local", "slots": 0},
    "batch": {"max_experiments": 10000},
    "snapshot": {"max_file_mb": 50},
    "wrapper": {"flush_seconds": 2.0, "work_dir": ""},
    "server": {"host": "127.0.0.1", "port": 5006, "user": "", "password": "", "password_hash": ""},
    "spark": {"master": "yarn", "deploy_mode": "", "submit": "", "python": "", "driver_memory": "512m",
              "executor_memory": "512m", "packing": "none", "home": "", "java_home": "", "local_ip": "",
              "image": "auto", "docker_image": "", "conf": {}},
    "yarn": {"rm_url": "", "hadoop_conf_dir": "", "max_running": 0, "submit_concurrency": 4},
    "compaction": {"on_end": True, "interval_seconds": 300.0, "min_files": 500},
    "hdfs": {"webhdfs_url": "", "user": ""},
    "security": {"auth": "none", "principal": "", "keytab": "", "krb5_conf": "", "ca_bundle": "",
                 "verify_tls": True, "token_file": ""},
    "estimates": {"default_seconds": 60.0},
    "limits": dict(DEFAULT_LIMITS),
    "resources": {name: dict(table) for name, table in DEFAULT_RESOURCES.items()},
}
#: Sections whose keys are names the user chooses (``[resources.<name>]``), each a table of its own.
_NAMED_SECTIONS = frozenset({"resources"})

#: The environment variable naming the NameNode's HTTP address for ``hdfs://`` store URLs.
ENV_WEBHDFS = "HYPERTUNER_WEBHDFS"

#: A file holding an HDFS delegation token (URL-safe string, as WebHDFS GETDELEGATIONTOKEN answers):
#: set by the engine inside YARN containers of a Kerberized cluster, where there is no ticket.
ENV_TOKEN_FILE = "HYPERTUNER_HDFS_TOKEN_FILE"

#: Test-only: comma-separated named points at which a process SIGKILLs itself (``workbench_plugin.faults``).
ENV_FAULT_POINTS = "HYPERTUNER_FAULT_POINTS"

# environment variable -> (section, key)
_ENV = {
    "HYPERTUNER_STORE": ("store", "url"),
    "HYPERTUNER_ENGINE": ("engine", "name"),
    "HYPERTUNER_SLOTS": ("engine", "slots"),
    "HYPERTUNER_MAX_BATCH": ("batch", "max_experiments"),
    "HYPERTUNER_MAX_FILE_MB": ("snapshot", "max_file_mb"),
    "HYPERTUNER_FLUSH_SECONDS": ("wrapper", "flush_seconds"),
    "HYPERTUNER_COMPACTION_ON_END": ("compaction", "on_end"),
    "HYPERTUNER_COMPACTION_INTERVAL": ("compaction", "interval_seconds"),
    "HYPERTUNER_WORK_DIR": ("wrapper", "work_dir"),
    "HYPERTUNER_HOST": ("server", "host"),
    "HYPERTUNER_PORT": ("server", "port"),
    "HYPERTUNER_PASSWORD": ("server", "password"),
    "HYPERTUNER_PASSWORD_HASH": ("server", "password_hash"),
    "HYPERTUNER_SERVER_USER": ("server", "user"),
    "HYPERTUNER_SPARK_MASTER": ("spark", "master"),
    "HYPERTUNER_SPARK_SUBMIT": ("spark", "submit"),
    "HYPERTUNER_SPARK_PYTHON": ("spark", "python"),
    "HYPERTUNER_PACKING": ("spark", "packing"),
    "HYPERTUNER_YARN_RM": ("yarn", "rm_url"),
    "HADOOP_CONF_DIR": ("yarn", "hadoop_conf_dir"),
    "HYPERTUNER_YARN_MAX_RUNNING": ("yarn", "max_running"),
    "HYPERTUNER_YARN_SUBMIT_CONCURRENCY": ("yarn", "submit_concurrency"),
    "SPARK_HOME": ("spark", "home"),
    "JAVA_HOME": ("spark", "java_home"),
    "SPARK_LOCAL_IP": ("spark", "local_ip"),
    ENV_WEBHDFS: ("hdfs", "webhdfs_url"),
    "HADOOP_USER_NAME": ("hdfs", "user"),
    "HYPERTUNER_AUTH": ("security", "auth"),
    "HYPERTUNER_PRINCIPAL": ("security", "principal"),
    "HYPERTUNER_KEYTAB": ("security", "keytab"),
    "KRB5_CONFIG": ("security", "krb5_conf"),
    "HYPERTUNER_CA_BUNDLE": ("security", "ca_bundle"),
    "HYPERTUNER_VERIFY_TLS": ("security", "verify_tls"),
    ENV_TOKEN_FILE: ("security", "token_file"),
}
#: The environment variables of the [hdfs] section (also what child processes are given).
_HDFS_ENV = {key: name for name, (section, key) in _ENV.items() if section == "hdfs"}
#: The environment variables of the [security] section.
_SECURITY_ENV = {key: name for name, (section, key) in _ENV.items() if section == "security"}
#: How the clients of HDFS and of the ResourceManager authenticate.
AUTHS = ("none", "kerberos")


@dataclass(frozen=True)
class SecuritySettings:
    """The [security] section: one authentication for WebHDFS, the ResourceManager's REST API,
    spark-submit and the dashboard's own calls.

    ``auth = "kerberos"`` uses SPNEGO with the user's ticket cache, or logs in from ``keytab`` as
    ``principal`` when both are given. ``ca_bundle`` (a PEM file) verifies HTTPS endpoints
    (``swebhdfs://``, ``https://`` ResourceManagers) against a private CA; ``verify_tls = false``
    turns verification off (never on a production cluster). ``token_file`` holds an HDFS
    delegation token: the engine sets it inside YARN containers, which have no ticket."""

    auth: str = "none"
    principal: str = ""
    keytab: str = ""
    krb5_conf: str = ""
    ca_bundle: str = ""
    verify_tls: bool = True
    token_file: str = ""

    def __post_init__(self) -> None:
        if self.auth not in AUTHS:
            raise ConfigError(f"security.auth: {_short(self.auth)} is not allowed; use one of {', '.join(AUTHS)}")
        if self.keytab and not self.principal:
            raise ConfigError(f"security.keytab: {_short(self.keytab)} is set without security.principal; "
                              "name the principal the keytab holds, as in alice@EXAMPLE.COM")
        if self.principal and (self.principal != self.principal.strip() or not self.principal.isprintable()
                               or len(self.principal) > 256):
            raise ConfigError(f"security.principal: {_short(self.principal)} is not a principal; "
                              "write it like alice@EXAMPLE.COM or alice/host@EXAMPLE.COM")

    @property
    def kerberos(self) -> bool:
        return self.auth == "kerberos"

    @property
    def verify(self) -> bool | str:
        """What ``requests`` takes as ``verify``: the CA bundle, else whether to verify at all."""
        return self.ca_bundle or self.verify_tls

    def environment(self) -> dict[str, str]:
        """The variables that carry these settings to a child process (only those that differ from
        the defaults)."""
        values: dict[str, str] = {}
        for key, name in _SECURITY_ENV.items():
            value = getattr(self, key)
            if value != getattr(SecuritySettings, key):
                values[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return values


@dataclass(frozen=True)
class HdfsSettings:
    """How to reach HDFS for ``hdfs://`` stores: the NameNode's HTTP address, the user to act as,
    and how to authenticate (the [security] section)."""

    webhdfs_url: str = ""   # e.g. http://namenode:9870; empty: only webhdfs:// store URLs work
    user: str = ""          # empty: the login name
    security: SecuritySettings = field(default_factory=SecuritySettings)
    #: The cluster's configuration folder (``yarn.hadoop_conf_dir``, ``HADOOP_CONF_DIR``): resolves a
    #: nameservice (``webhdfs://mycluster/path``) from its hdfs-site.xml. Not passed on by
    #: :meth:`environment`: the engine sets HADOOP_CONF_DIR for child processes itself.
    hadoop_conf_dir: str = ""

    def __post_init__(self) -> None:
        if self.webhdfs_url and not self.webhdfs_url.startswith(("http://", "https://")):
            raise ConfigError(f"hdfs.webhdfs_url: {self.webhdfs_url!r} is not an HTTP address; "
                              "write it like http://namenode:9870")

    def environment(self) -> dict[str, str]:
        """The variables that carry these settings to a child process (only those that are set)."""
        values = {_HDFS_ENV[key]: value for key, value in (("webhdfs_url", self.webhdfs_url), ("user", self.user))
                  if value}
        values.update(self.security.environment())
        return values


def security_settings(environ: Mapping[str, str] | None = None) -> SecuritySettings:
    """The [security] settings from the environment alone (the container side)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for key, name in _SECURITY_ENV.items():
        if name in env:
            values[key] = _coerce(name, env[name], DEFAULTS["security"][key])
    return SecuritySettings(**values)


def hdfs_settings(environ: Mapping[str, str] | None = None) -> HdfsSettings:
    """The [hdfs] and [security] settings from the environment alone, for code that is handed a
    bare store URL (the container side, ``Store(url)``): what the engine passed on to the child
    process."""
    env = os.environ if environ is None else environ
    return HdfsSettings(**{key: env.get(name, "") for key, name in _HDFS_ENV.items()},
                        security=security_settings(env), hadoop_conf_dir=env.get("HADOOP_CONF_DIR", ""))


def fault_points(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Test-only: the named points (``after-claim``, ...) at which this process kills itself with
    SIGKILL, from :data:`ENV_FAULT_POINTS`; empty, as always outside the crash tests."""
    env = os.environ if environ is None else environ
    return frozenset(p.strip() for p in env.get(ENV_FAULT_POINTS, "").split(",") if p.strip())


def container_id(environ: Mapping[str, str] | None = None) -> str:
    """The id of the YARN container this process runs in (``CONTAINER_ID``, set by the
    NodeManager), or "" outside YARN: the wrapper reports it, so an engine can find the
    application again when its submission was never recorded."""
    env = os.environ if environ is None else environ
    return env.get("CONTAINER_ID", "")


@dataclass(frozen=True)
class Config:
    """Validated settings. Build with :func:`load_config`; change with :meth:`with_`."""

    store_url: str
    engine: str = "local"
    slots: int = 0
    max_batch: int = 10000
    max_file_mb: float = 50
    flush_seconds: float = 2.0
    #: compact a run when it ends (``[compaction] on_end``), and every ``interval_seconds`` (0: never)
    #: a live run with ``min_files`` files its newest compaction does not cover
    compaction_on_end: bool = True
    compaction_interval: float = 300.0
    compaction_min_files: int = 500
    work_dir: str = ""
    host: str = "127.0.0.1"
    port: int = 5006
    user: str = ""
    password: str = ""
    password_hash: str = ""
    spark_master: str = "yarn"
    spark_deploy_mode: str = ""
    spark_submit: str = ""
    spark_python: str = ""
    spark_driver_memory: str = "512m"
    spark_executor_memory: str = "512m"
    packing: str = "none"
    yarn_rm_url: str = ""
    hadoop_conf_dir: str = ""
    #: This user's applications at once on YARN (``yarn.max_running``); 0: as many as the queue holds.
    yarn_max_running: int = 0
    #: spark-submit clients running at once (``yarn.submit_concurrency``); 1: one at a time, in the gateway's step.
    yarn_submit_concurrency: int = 4
    #: Spark settings for every application (``[spark.conf]``), over the engine's defaults.
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    spark_home: str = ""
    java_home: str = ""
    spark_local_ip: str = ""
    #: Build images on YARN (``spark.image``): "auto", "always" or "off" (:mod:`workbench_plugin.build_image`).
    spark_image: str = "auto"
    #: A Docker image the YARN containers run in (``spark.docker_image``); set, no build image is made.
    spark_docker_image: str = ""
    webhdfs_url: str = ""
    hdfs_user: str = ""
    #: How HDFS, the ResourceManager, spark-submit and the dashboard authenticate (``[security]``).
    security: SecuritySettings = field(default_factory=SecuritySettings)
    #: Expected duration of an experiment with no history to estimate from (``estimates.default_seconds``).
    default_seconds: float = 60.0
    #: Where a batch can run, with capacity and prices (``[resources.<name>]``), in the file's order.
    resources: tuple[ResourceOption, ...] = field(
        default=(ResourceOption(name="local", kind="local", description="this machine"),))
    #: Caps an administrator sets for every batch (``[limits]``).
    limits: Limits = field(default_factory=Limits)

    @property
    def compaction_options(self) -> dict[str, Any]:
        """``[compaction]`` as the gateway's options."""
        return {"compact_on_end": self.compaction_on_end, "compact_interval": self.compaction_interval,
                "compact_min_files": self.compaction_min_files}

    def __post_init__(self) -> None:
        if not self.store_url:
            raise ConfigError("store.url: empty; give a folder or an HDFS URL")
        if "\x00" in self.store_url:
            raise ConfigError(f"store.url: {_short(self.store_url)} contains a NUL character; remove it")
        if self.engine not in ENGINES:
            raise ConfigError(
                f"engine.name: {self.engine!r} is not an engine; use one of {', '.join(ENGINES)}"
            )
        _check_range("engine.slots", self.slots, 0, 4096)
        _check_range("batch.max_experiments", self.max_batch, 1, 10_000_000)
        _check_range("snapshot.max_file_mb", self.max_file_mb, 0, 1_000_000)
        _check_range("wrapper.flush_seconds", self.flush_seconds, 0.05, 3600)
        _check_range("compaction.interval_seconds", self.compaction_interval, 0, 7 * 86400)
        _check_range("compaction.min_files", self.compaction_min_files, 1, 10**9)
        _check_range("server.port", self.port, 0, 65535)
        _check_range("yarn.max_running", self.yarn_max_running, 0, 100_000)
        _check_range("yarn.submit_concurrency", self.yarn_submit_concurrency, 1, 64)
        if self.password and self.password_hash:
            raise ConfigError("server.password: set either server.password or server.password_hash, "
                              "not both (make a hash with `hypertuner hash-password`)")
        if self.password_hash:
            check_password_hash(self.password_hash)
        if self.user and (self.user != self.user.strip() or not self.user.isprintable()):
            raise ConfigError(f"server.user: {self.user!r} has spaces at an end or unprintable "
                              "characters; use a plain login name")
        if self.packing not in PACKINGS:
            raise ConfigError(f"spark.packing: {self.packing!r}; use one of {', '.join(PACKINGS)}")
        if self.spark_image not in ("auto", "always", "off"):
            raise ConfigError(f"spark.image: {_short(self.spark_image)}; use auto, always or off")
        if self.spark_docker_image and (len(self.spark_docker_image) > 512
                                        or not re.fullmatch(r"[\w./:@-]+", self.spark_docker_image)):
            raise ConfigError(f"spark.docker_image: {_short(self.spark_docker_image)} is not an image name; "
                              "give one like registry.example.com/team/train:1.4")
        if self.spark_deploy_mode not in ("", "cluster", "client"):
            raise ConfigError(f"spark.deploy_mode: {self.spark_deploy_mode!r}; use cluster, client or leave it empty")
        HdfsSettings(webhdfs_url=self.webhdfs_url, user=self.hdfs_user)  # validates the [hdfs] settings
        if isinstance(self.default_seconds, bool) or not 0.001 <= self.default_seconds <= 10 * 365 * 86400:
            raise ConfigError(f"estimates.default_seconds: {self.default_seconds!r} is not allowed; give seconds "
                              "> 0, as in 60")
        names = [option.name for option in self.resources]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"resources: names {names!r} must be unique and at least one; keep [resources.local]")

    def resource(self, name: str) -> ResourceOption:
        """The resource option called ``name``; a one-line error naming the ones there are."""
        for option in self.resources:
            if option.name == name:
                return option
        known = ", ".join(option.name for option in self.resources)
        raise ConfigError(f"resource option {_short(name)}: not configured; use one of {known} "
                          "([resources.<name>] in the config)")

    @property
    def hdfs(self) -> HdfsSettings:
        return HdfsSettings(webhdfs_url=self.webhdfs_url, user=self.hdfs_user, security=self.security,
                            hadoop_conf_dir=self.hadoop_conf_dir)

    @property
    def effective_slots(self) -> int:
        """Parallel experiments on the local engine (0 in the config means one per core)."""
        return self.slots or (os.cpu_count() or 1)

    @property
    def store_path(self) -> str:
        """The store URL with ``~`` expanded for local folders."""
        if "://" in self.store_url:
            return self.store_url
        return str(Path(self.store_url).expanduser())

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @property
    def login_required(self) -> bool:
        """Whether the dashboard asks for a login (a password or its hash is set)."""
        return bool(self.password or self.password_hash)

    def login(self) -> tuple[str, str]:
        """The dashboard's user name and password hash (server.password hashed now, if that is
        what is set); the user defaults to the login name of whoever serves."""
        import getpass

        user = self.user or getpass.getuser()
        return user, self.password_hash or hash_password(self.password)


# ---- password hashes -------------------------------------------------------------------------
#: scrypt's cost: 2**14 x 8 x 1 (16 MiB, some 50 ms a check), as OWASP's minimum suggests.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_HASH_FORMAT = "scrypt$N$r$p$<salt, base64>$<hash, base64>"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password``, as ``server.password_hash`` holds it."""
    if not password:
        raise ConfigError("password: empty; give one of at least 1 character")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    """The parts of a hash from :func:`hash_password`; a one-line error if it is not one."""
    shown = text if len(text) <= 24 else text[:24] + "..."
    problem = (f"server.password_hash: {shown!r} is not a password hash; expected {_HASH_FORMAT} "
               "(make one with `hypertuner hash-password`)")
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ConfigError(problem)
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        raise ConfigError(problem) from None
    if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16
            and len(salt) >= 8 and len(digest) >= 16):
        raise ConfigError(problem)
    return n, r, p, salt, digest


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (compared in constant time)."""
    n, r, p, salt, digest = check_password_hash(password_hash)
    got = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p,
                         maxmem=2 * 128 * r * (n + p + 2), dklen=len(digest))
    return hmac.compare_digest(got, digest)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_range(field: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{field}: {value!r} is out of range; allowed {low}..{high}")


def _short(raw: Any, limit: int = 60) -> str:
    shown = repr(raw)
    return shown if len(shown) <= limit else f"{shown[:limit - 5]}...{shown[-1]}"


_BOOLS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _coerce(field: str, raw: Any, default: Any) -> Any:
    kind = type(default)
    if isinstance(raw, str) and "\x00" in raw:
        raise ConfigError(f"{field}: {_short(raw)} contains a NUL character; remove it")
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _BOOLS:
            return _BOOLS[raw.strip().lower()]
        raise ConfigError(f"{field}: {_short(raw)} is not true or false")
    if isinstance(raw, kind) and not isinstance(raw, bool):
        return raw
    try:
        if kind is int and (isinstance(raw, str) or isinstance(raw, float) and raw.is_integer()):
            return int(raw.strip() if isinstance(raw, str) else raw)
        if kind is float and isinstance(raw, str | int) and not isinstance(raw, bool):
            return float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):  # int() of more than 4300 digits is a ValueError too
        pass
    else:
        if kind is str and isinstance(raw, str):
            return raw
        if kind is not str:
            raise ConfigError(f"{field}: {_short(raw)} has the wrong type; expected a {kind.__name__}")
        raise ConfigError(f"{field}: {_short(raw)} has the wrong type; expected a string")
    raise ConfigError(f"{field}: {_short(raw)} is not a number; give a {kind.__name__} such as {default!r}")


def _merge(into: dict[str, dict[str, Any]], data: Mapping[str, Any], origin: str) -> None:
    for section, values in data.items():
        if section in _NAMED_SECTIONS and isinstance(values, Mapping):
            for name, table in values.items():  # each named table over the default of that name, if any
                if not isinstance(table, Mapping):
                    raise ConfigError(f"{origin}: {section}.{_short(name)} is {_short(table)}, not a table; "
                                      f"write [{section}.<name>] tables")
                into[section][name] = {**into[section].get(name, {}), **table}
            continue
        if section not in into or not isinstance(values, Mapping):
            allowed = ", ".join(sorted(into))
            raise ConfigError(f"{origin}: unknown section [{section}]; allowed: {allowed}")
        for key, raw in values.items():
            if (section, key) == ("spark", "conf"):  # a free-form table of Spark settings, merged key by key
                into[section][key] = {**into[section][key], **check_spark_conf(f"{origin}: spark.conf", raw)}
                continue
            if key not in into[section]:
                allowed = ", ".join(sorted(into[section]))
                hint = ("; Spark settings go in [spark.conf] (a queue: queue = \"...\" in a [resources.<name>] "
                        "option of kind \"yarn\")") if section == "spark" else ""
                raise ConfigError(f"{origin}: unknown key {section}.{key}; allowed: {allowed}{hint}")
            into[section][key] = _coerce(f"{section}.{key}", raw, DEFAULTS[section][key])


def load_config(
    environ: Mapping[str, str] | None = None, *, path: str | os.PathLike[str] | None = None
) -> Config:
    """Defaults, then the file (``path`` or ``$HYPERTUNER_CONFIG``), then the environment."""
    env = os.environ if environ is None else environ
    merged = {section: dict(values) for section, values in DEFAULTS.items()}
    file = path or env.get("HYPERTUNER_CONFIG")
    if file:
        if isinstance(file, str) and "\x00" in file:
            raise ConfigError(f"HYPERTUNER_CONFIG: {_short(file)} contains a NUL character; remove it")
        data = read_toml(Path(file), ConfigError, name="HYPERTUNER_CONFIG")
        _merge(merged, data, str(file))
    for name, (section, key) in _ENV.items():
        if name in env:
            merged[section][key] = _coerce(name, env[name], DEFAULTS[section][key])
    limits = parse_limits(merged["limits"])
    return Config(
        store_url=merged["store"]["url"],
        engine=merged["engine"]["name"],
        slots=merged["engine"]["slots"],
        max_batch=merged["batch"]["max_experiments"],
        max_file_mb=merged["snapshot"]["max_file_mb"],
        flush_seconds=merged["wrapper"]["flush_seconds"],
        work_dir=merged["wrapper"]["work_dir"],
        host=merged["server"]["host"],
        port=merged["server"]["port"],
        user=merged["server"]["user"],
        password=merged["server"]["password"],
        password_hash=merged["server"]["password_hash"],
        spark_master=merged["spark"]["master"],
        spark_deploy_mode=merged["spark"]["deploy_mode"],
        spark_submit=merged["spark"]["submit"],
        spark_python=merged["spark"]["python"],
        spark_driver_memory=merged["spark"]["driver_memory"],
        spark_executor_memory=merged["spark"]["executor_memory"],
        packing=merged["spark"]["packing"],
        yarn_rm_url=merged["yarn"]["rm_url"],
        hadoop_conf_dir=merged["yarn"]["hadoop_conf_dir"],
        yarn_max_running=merged["yarn"]["max_running"],
        compaction_on_end=merged["compaction"]["on_end"],
        compaction_interval=merged["compaction"]["interval_seconds"],
        compaction_min_files=merged["compaction"]["min_files"],
        yarn_submit_concurrency=merged["yarn"]["submit_concurrency"],
        spark_conf=dict(merged["spark"]["conf"]),
        spark_home=merged["spark"]["home"],
        java_home=merged["spark"]["java_home"],
        spark_local_ip=merged["spark"]["local_ip"],
        spark_image=merged["spark"]["image"],
        spark_docker_image=merged["spark"]["docker_image"],
        webhdfs_url=merged["hdfs"]["webhdfs_url"],
        hdfs_user=merged["hdfs"]["user"],
        security=SecuritySettings(**merged["security"]),
        default_seconds=merged["estimates"]["default_seconds"],
        resources=parse_resources(merged["resources"], limits),
        limits=limits,
    )
