"""Spark and YARN settings a user passes through: ``[spark.conf]``, resource options, ``--conf K=V``.

Layers, each over the one before: the engine's defaults < ``[spark.conf]`` in the config < the
resource option a batch runs on (queue, node label, memory, cores, its own ``conf``) < ``--conf``
on the command line. The settings HyperTuner must own (the tags it finds its applications by,
fire-and-forget submission, the archives it ships) are refused in every layer, in one line naming
the key.

Also here: which ``HYPERTUNER_*`` settings travel into YARN containers (never a gateway-local
keytab, ticket cache or password), and how many applications a queue holds at once.

Light on purpose (no Spark, no requests): the config loads it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from workbench_plugin._exceptions import ConfigError

__all__ = [
    "FORWARD_NEVER",
    "OVERHEAD_MB",
    "OWNED_KEYS",
    "QueueSlots",
    "RUN_MAX_RUNNING",
    "RUN_SPARK_CONF",
    "app_memory_mb",
    "check_spark_conf",
    "check_spark_setting",
    "container_env_conf",
    "forwarded_environment",
    "memory_mb",
    "parse_conf_args",
    "queue_slots",
]

#: Settings HyperTuner sets itself on every application; a user's value would break it.
OWNED_KEYS: dict[str, str] = {
    "spark.yarn.tags": "HyperTuner finds its applications by these tags",
    "spark.yarn.submit.waitAppCompletion": "HyperTuner submits and returns; the gateway follows the application",
    "spark.yarn.dist.archives": "HyperTuner ships the project snapshot (and build image) itself",
    "spark.archives": "HyperTuner ships the project snapshot (and build image) itself",
}
#: Keys that look like a setting but are not one Spark reads, with the one meant.
_MISTAKES: dict[str, str] = {
    "spark.queue": "spark.yarn.queue (or queue = \"...\" in a [resources.<name>] option)",
    "spark.yarn.nodeLabelExpression": "spark.yarn.am.nodeLabelExpression and spark.yarn.executor.nodeLabelExpression "
                                      "(or node_label = \"...\" in a [resources.<name>] option)",
}
_SIZE_KEYS = frozenset({"spark.driver.memory", "spark.executor.memory", "spark.driver.memoryOverhead",
                        "spark.executor.memoryOverhead"})
_KEY_RE = re.compile(r"^spark\.[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_MAX_VALUE = 1000
_MAX_SETTINGS = 200
_SIZE_RE = re.compile(r"(\d{1,9})([kmgt]?)b?")

#: Where a run records the Spark settings its batch was launched with (``Run.extra``): the resource
#: option's and the command line's (``[spark.conf]`` is the engine's own and not copied).
RUN_SPARK_CONF = "spark_conf"
#: Where a run records its resource option's ``max_running`` (``Run.extra``), when set.
RUN_MAX_RUNNING = "yarn_max_running"

#: Memory YARN adds to every container on top of what Spark asks for (Spark's minimum overhead).
OVERHEAD_MB = 384

#: Settings never carried into a container: paths that exist only on the gateway (a keytab, a
#: ticket cache, a krb5.conf, a delegation token file the engine replaces with the container's
#: own) and the dashboard's password.
FORWARD_NEVER = frozenset({"HYPERTUNER_KEYTAB", "KRB5CCNAME", "KRB5_CONFIG", "HYPERTUNER_HDFS_TOKEN_FILE",
                           "HYPERTUNER_PASSWORD", "HYPERTUNER_PASSWORD_HASH"})


def _short(raw: Any, limit: int = 60) -> str:
    shown = repr(raw)
    return shown if len(shown) <= limit else f"{shown[:limit - 5]}...{shown[-1]}"


def check_spark_setting(field: str, key: Any, value: Any) -> tuple[str, str]:
    """One Spark setting as ``(key, value text)``; a one-line error naming the key when it is not a
    Spark or Hadoop setting (``spark.*``, ``spark.hadoop.*``), is owned by HyperTuner, or its value
    is not a one-line string, number or boolean."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ConfigError(f"{field}: {_short(key)} is not a Spark setting; give keys that start with 'spark.' "
                          "(Hadoop settings as 'spark.hadoop.<name>'), as in spark.yarn.maxAppAttempts")
    if key in OWNED_KEYS:
        raise ConfigError(f"{field}: {key} cannot be set; {OWNED_KEYS[key]}")
    if key in _MISTAKES:
        raise ConfigError(f"{field}: {key} is not a setting Spark reads; use {_MISTAKES[key]}")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int) or isinstance(value, float) and math.isfinite(value):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ConfigError(f"{field}.{key}: {_short(value)} has the wrong type; give a string, number or boolean")
    if len(text) > _MAX_VALUE or not text.isprintable():
        raise ConfigError(f"{field}.{key}: {_short(text)} is longer than {_MAX_VALUE} characters or has "
                          "unprintable characters; give one plain line")
    if key in _SIZE_KEYS:  # slots are counted from these: a wrong one is refused now, not in the gateway
        memory_mb(f"{field}.{key}", text)
    if key == "spark.executor.instances" and not text.strip().isdigit():
        raise ConfigError(f"{field}.{key}: {_short(text)} is not a count; give one as in 2")
    return key, text


def check_spark_conf(field: str, table: Any) -> dict[str, str]:
    """A table of Spark settings (``[spark.conf]``, a resource option's ``conf``), checked."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{field}: {_short(table)} is not a table; write it like "
                          "{ \"spark.yarn.maxAppAttempts\" = 2 }")
    if len(table) > _MAX_SETTINGS:
        raise ConfigError(f"{field}: {len(table)} settings; at most {_MAX_SETTINGS} are allowed")
    return dict(check_spark_setting(field, key, value) for key, value in table.items())


def parse_conf_args(items: Iterable[str], field: str = "--conf") -> dict[str, str]:
    """``--conf K=V`` arguments (repeatable; a later one wins), checked like ``[spark.conf]``."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"{field}: {_short(item)} is not KEY=VALUE; write it like "
                              "--conf spark.yarn.maxAppAttempts=2")
        checked_key, text = check_spark_setting(field, key.strip(), value)
        out[checked_key] = text
        if len(out) > _MAX_SETTINGS:
            raise ConfigError(f"{field}: more than {_MAX_SETTINGS} settings; give fewer")
    return out


def memory_mb(field: str, text: str) -> int:
    """A Spark size (``512m``, ``2g``, a bare number of bytes) in MB; one-line error otherwise."""
    m = _SIZE_RE.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if not m:
        raise ConfigError(f"{field}: {_short(text)} is not a size; write it like 512m or 2g")
    factor = {"k": 1 / 1024, "": 1 / (1024 * 1024), "m": 1, "g": 1024, "t": 1024 * 1024}[m[2]]
    return max(1, int(int(m[1]) * factor))


def _container_mb(memory: str, overhead: str | None, field: str) -> int:
    heap = memory_mb(field, memory)
    extra = memory_mb(f"{field}Overhead", overhead) if overhead else max(OVERHEAD_MB, heap // 10)
    return heap + extra


def app_memory_mb(conf: Mapping[str, str]) -> int:
    """The memory one application holds on YARN: the driver's container (heap + overhead), plus
    ``spark.executor.instances`` executor containers when that many are asked for."""
    total = _container_mb(conf.get("spark.driver.memory", "1g"), conf.get("spark.driver.memoryOverhead"),
                          "spark.driver.memory")
    instances = conf.get("spark.executor.instances", "0").strip()
    if not instances.isdigit():
        raise ConfigError(f"spark.executor.instances: {_short(instances)} is not a count; give one as in 2")
    if int(instances):
        total += int(instances) * _container_mb(conf.get("spark.executor.memory", "1g"),
                                                conf.get("spark.executor.memoryOverhead"), "spark.executor.memory")
    return total


class QueueSlots(NamedTuple):
    """How many applications a queue holds at once, and why."""

    queue: str                  # the queue's path as the ResourceManager names it (root.default)
    max_capacity_percent: float  # its absolute maximum capacity, % of the cluster
    total_mb: int               # the cluster's memory
    per_app_mb: int             # one application's memory (driver + overhead, + executors)
    fits: int                   # floor(total_mb x max % / per_app_mb), at least 1
    user_limit: int             # [yarn] max_running or the option's; 0: none

    @property
    def slots(self) -> int:
        return min(self.fits, self.user_limit) if self.user_limit > 0 else self.fits

    def describe(self) -> str:
        """One line, as ``hypertuner resources`` prints it."""
        limit = f"user limit {self.user_limit}" if self.user_limit > 0 else "no user limit"
        return (f"queue {self.queue}: max {self.max_capacity_percent:g}% of {self.total_mb} MB → "
                f"{self.fits} applications of {self.per_app_mb} MB; {limit}")


def queue_slots(queue: str, total_mb: int, max_capacity_percent: float, per_app_mb: int,
                user_limit: int = 0) -> QueueSlots:
    """Applications to run at once in a queue: as many as its maximum capacity
    (``total_mb`` × ``max_capacity_percent`` %) holds, at least one, and at most ``user_limit``
    (0: no limit)."""
    fits = max(1, int(total_mb * max_capacity_percent / 100) // max(1, per_app_mb))
    return QueueSlots(queue, max_capacity_percent, total_mb, per_app_mb, fits, max(0, user_limit))


def forwarded_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """Of the variables that carry the [hdfs] and [security] settings (``HdfsSettings.environment()``),
    those a YARN container needs: all but :data:`FORWARD_NEVER` (gateway-local paths and secrets)."""
    return {name: value for name, value in environment.items() if name not in FORWARD_NEVER}


def container_env_conf(environment: Mapping[str, str]) -> dict[str, str]:
    """The Spark settings that put :func:`forwarded_environment` into the ApplicationMaster's
    container (``spark.yarn.appMasterEnv.<NAME>``, where the wrapper runs in cluster mode) and the
    executors' (``spark.executorEnv.<NAME>``)."""
    conf: dict[str, str] = {}
    for name, value in sorted(forwarded_environment(environment).items()):
        conf[f"spark.yarn.appMasterEnv.{name}"] = value
        conf[f"spark.executorEnv.{name}"] = value
    return conf
