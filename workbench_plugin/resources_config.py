"""Resource options and administrator limits, as ``conf/hypertuner.toml`` gives them.

``[resources.<name>]`` tables name where a batch can run (this machine, a YARN queue, a priced
cluster) and what it costs; ``[limits]`` holds caps an administrator sets that a batch may not
exceed. :mod:`workbench_plugin.config` merges the file over :data:`DEFAULT_RESOURCES` and calls
:func:`parse_resources` and :func:`parse_limits`, so a loaded ``Config`` carries them validated
and frozen. Every error is one line naming the field, the value and the fix.

This module is light on purpose (no numpy): the container side loads the config too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from workbench_plugin._exceptions import ConfigError
from workbench_plugin.spark_settings import check_spark_conf, memory_mb

__all__ = ["DEFAULT_LIMITS", "DEFAULT_RESOURCES", "KINDS", "Limits", "OPTION_KEYS", "ResourceKind",
           "ResourceOption", "parse_limits", "parse_resources"]

ResourceKind = Literal["local", "yarn", "priced"]
#: The kinds of resource option: this machine, a YARN queue (capacity from the ResourceManager),
#: or a cluster with a fixed number of slots and a price (a cloud cluster, a rented queue).
KINDS: tuple[str, ...] = ("local", "yarn", "priced")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
_CURRENCY_RE = re.compile(r"^[A-Za-z]{1,8}$|^[^\sA-Za-z0-9<>&\"'`\x00-\x1f\x7f]{1,3}$")
_MAX_DESCRIPTION = 200
_MAX_PRICE = 1e6
_MAX_OPTIONS = 32


@dataclass(frozen=True)
class ResourceOption:
    """Where a batch can run, with its capacity and prices (all prices per hour, ``currency``).

    ``slots`` is how many experiments run at once: for ``local`` the engine's slots, for
    ``yarn`` derived from the queue's free capacity when the ResourceManager answers (see
    :func:`workbench_plugin.estimates.resource_options`), else the configured value.
    """

    name: str
    kind: ResourceKind = "local"
    slots: int = 0                        # 0: local -> the engine's slots; yarn -> from the ResourceManager
    vcores_per_experiment: int = 1
    memory_mb_per_experiment: int = 1024
    price_per_vcore_hour: float = 0.0
    price_per_gb_hour: float = 0.0
    price_per_hour: float = 0.0           # flat, per experiment-hour (a cloud VM)
    currency: str = "USD"
    queue: str = ""                       # yarn: the queue name or path (root.default)
    description: str = ""
    note: str = ""                        # how slots were found, when it matters ("RM unreachable; ...")
    node_label: str = ""                  # yarn: a node label expression for the AM and the executors
    driver_memory: str = ""               # yarn: spark.driver.memory ("2g"); empty: [spark] driver_memory
    executor_memory: str = ""             # yarn: spark.executor.memory
    driver_cores: int = 0                 # yarn: spark.driver.cores; 0: Spark's default
    executor_cores: int = 0               # yarn: spark.executor.cores; 0: the engine's
    max_running: int = 0                  # yarn: this user's applications at once on it; 0: [yarn] max_running
    conf: tuple[tuple[str, str], ...] = ()  # yarn: more Spark settings, over [spark.conf]

    @property
    def free(self) -> bool:
        """No price at all: running here costs nothing that is counted."""
        return not (self.price_per_vcore_hour or self.price_per_gb_hour or self.price_per_hour)

    def spark_conf(self) -> dict[str, str]:
        """The Spark settings this option sets (a YARN option): its queue, node label, memory, cores
        and ``conf``, over ``[spark.conf]`` and under ``--conf`` on the command line."""
        if self.kind != "yarn":
            return {}
        conf = {"spark.yarn.queue": self.queue or "default"}
        if self.node_label:
            conf["spark.yarn.am.nodeLabelExpression"] = self.node_label
            conf["spark.yarn.executor.nodeLabelExpression"] = self.node_label
        for key, value in (("spark.driver.memory", self.driver_memory), ("spark.executor.memory", self.executor_memory),
                           ("spark.driver.cores", self.driver_cores), ("spark.executor.cores", self.executor_cores)):
            if value:
                conf[key] = str(value)
        conf.update(self.conf)
        return conf


@dataclass(frozen=True)
class Limits:
    """Caps an administrator sets for every batch; 0 means no cap."""

    max_budget: float = 0.0          # money per batch, in ``currency``
    max_experiments: int = 0         # experiments per batch (batch.max_experiments still applies)
    max_deadline_hours: float = 0.0  # the longest wall time a batch may be planned to take
    currency: str = "USD"            # the currency of max_budget

    def problems(self, *, count: int, money: float, currency: str, wall_seconds: float) -> list[str]:
        """One line per cap the batch exceeds (empty when it fits)."""
        out = []
        if self.max_experiments and count > self.max_experiments:
            out.append(f"{count} experiments exceed limits.max_experiments = {self.max_experiments}; "
                       "select fewer experiments")
        if self.max_budget and currency == self.currency and money > self.max_budget:
            out.append(f"{money:.2f} {currency} exceeds limits.max_budget = {self.max_budget:g} {self.currency}; "
                       "select fewer experiments or a cheaper resource option")
        if self.max_deadline_hours and wall_seconds > self.max_deadline_hours * 3600:
            out.append(f"{wall_seconds / 3600:.1f} h of wall time exceeds limits.max_deadline_hours = "
                       f"{self.max_deadline_hours:g}; select fewer experiments or an option with more slots")
        return out


#: ``[resources]`` as shipped: this machine only, free (nothing changes for existing users).
DEFAULT_RESOURCES: dict[str, dict[str, Any]] = {"local": {"kind": "local", "description": "this machine"}}
DEFAULT_LIMITS: dict[str, Any] = {"max_budget": 0.0, "max_experiments": 0, "max_deadline_hours": 0.0,
                                  "currency": "USD"}
#: The keys a ``[resources.<name>]`` table may have, with their types (defaults: :class:`ResourceOption`).
OPTION_KEYS: dict[str, type] = {
    "kind": str, "slots": int, "vcores_per_experiment": int, "memory_mb_per_experiment": int,
    "price_per_vcore_hour": float, "price_per_gb_hour": float, "price_per_hour": float,
    "currency": str, "queue": str, "description": str, "node_label": str, "driver_memory": str,
    "executor_memory": str, "driver_cores": int, "executor_cores": int, "max_running": int, "conf": dict,
}
#: Keys only a ``kind = "yarn"`` option may have.
_YARN_KEYS = ("queue", "node_label", "driver_memory", "executor_memory", "driver_cores", "executor_cores",
              "max_running", "conf")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_ ()&|!.-]{1,255}$")


def _short(raw: Any, limit: int = 60) -> str:
    shown = repr(raw)
    return shown if len(shown) <= limit else f"{shown[:limit - 5]}...{shown[-1]}"


def _number(field: str, raw: Any, kind: type, example: str) -> Any:
    """``raw`` as an int or float (a TOML number, or a string of one); one-line error otherwise."""
    value = raw
    if isinstance(raw, str):
        try:
            value = int(raw.strip()) if kind is int else float(raw.strip())
        except ValueError:
            raise ConfigError(f"{field}: {_short(raw)} is not a number; give one as in {example}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{field}: {_short(raw)} has the wrong type; give a number as in {example}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{field}: {_short(raw)} is not a whole number; give one as in {example}")
        return int(value)
    return float(value)


def _bounded(field: str, raw: Any, kind: type, low: float, high: float, what: str, example: str) -> Any:
    value = _number(field, raw, kind, example)
    if not math.isfinite(value) or not low <= value <= high:
        shown = _short(raw) if isinstance(raw, str) else f"{raw!r}"
        raise ConfigError(f"{field}: {shown} is not allowed; give {what}, as in {example}")
    return value


def _text(field: str, raw: Any, limit: int) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{field}: {_short(raw)} has the wrong type; expected a string")
    if len(raw) > limit or not raw.isprintable():
        raise ConfigError(f"{field}: {_short(raw)} is longer than {limit} characters or has unprintable "
                          "characters; shorten it to one plain line")
    return raw


def _currency(field: str, raw: Any) -> str:
    text = _text(field, raw, 8)
    if not _CURRENCY_RE.match(text):
        raise ConfigError(f"{field}: {_short(text)} is not a currency; give a code as in 'USD' or a symbol as in '€'")
    return text


def _option(name: str, table: Mapping[str, Any]) -> ResourceOption:
    prefix = f"resources.{name}"
    unknown = sorted(set(table) - set(OPTION_KEYS))
    if unknown:
        raise ConfigError(f"{prefix}: unknown key {_short(unknown[0])}; allowed: {', '.join(OPTION_KEYS)}")
    kind = table.get("kind", "")
    if kind not in KINDS:
        raise ConfigError(f"{prefix}.kind: {_short(kind)} is not a kind of resource option; use one of "
                          f"{', '.join(KINDS)}")
    prices = {key: _bounded(f"{prefix}.{key}", table.get(key, 0.0), float, 0, _MAX_PRICE, "a price >= 0",
                            example) for key, example in (("price_per_vcore_hour", "0.02"),
                                                          ("price_per_gb_hour", "0.005"),
                                                          ("price_per_hour", "0.40"))}
    slots = _bounded(f"{prefix}.slots", table.get("slots", 0), int, 0, 100_000, "a count of experiments at once",
                     "16 (0: from the engine or the ResourceManager)")
    if kind == "priced" and slots < 1:
        raise ConfigError(f"{prefix}.slots: {slots} is not allowed for a priced option; give the experiments "
                          "it runs at once, as in 16")
    queue = _text(f"{prefix}.queue", table.get("queue", ""), 255)
    if kind == "yarn" and not queue:
        queue = "default"
    if queue and not _QUEUE_RE.match(queue):
        raise ConfigError(f"{prefix}.queue: {_short(queue)} is not a YARN queue name; use letters, digits, "
                          "'_', '-' and '.', as in 'default' or 'root.ml'")
    for key in _YARN_KEYS:
        if key in table and kind != "yarn":
            what = "a queue is" if key == "queue" else f"{key} is"
            raise ConfigError(f"{prefix}.{key}: {what} only for kind 'yarn' (this option is {kind!r}); "
                              "remove it or set kind = \"yarn\"")
    node_label = _text(f"{prefix}.node_label", table.get("node_label", ""), 255)
    if node_label and not _LABEL_RE.match(node_label):
        raise ConfigError(f"{prefix}.node_label: {_short(node_label)} is not a node label expression; use "
                          "letters, digits, '_', '-', '.', '&&', '||' and '!', as in 'gpu' or 'gpu && ssd'")
    driver_memory, executor_memory = (_text(f"{prefix}.{key}", table.get(key, ""), 20)
                                      for key in ("driver_memory", "executor_memory"))
    for key, size in (("driver_memory", driver_memory), ("executor_memory", executor_memory)):
        if size:
            memory_mb(f"{prefix}.{key}", size)
    driver_cores, executor_cores = (_bounded(f"{prefix}.{key}", table.get(key, 0), int, 0, 1024,
                                             "a count of cores >= 0", "2")
                                    for key in ("driver_cores", "executor_cores"))
    max_running = _bounded(f"{prefix}.max_running", table.get("max_running", 0), int, 0, 100_000,
                           "a count of applications >= 0", "4 (0: [yarn] max_running)")
    conf = check_spark_conf(f"{prefix}.conf", table.get("conf", {}))
    return ResourceOption(
        name=name, kind=kind, slots=slots,
        vcores_per_experiment=_bounded(f"{prefix}.vcores_per_experiment", table.get("vcores_per_experiment", 1),
                                       int, 1, 1024, "a count of vcores >= 1", "1"),
        memory_mb_per_experiment=_bounded(f"{prefix}.memory_mb_per_experiment",
                                          table.get("memory_mb_per_experiment", 1024), int, 1, 16 * 1024 * 1024,
                                          "megabytes >= 1", "2048"),
        currency=_currency(f"{prefix}.currency", table.get("currency", "USD")),
        queue=queue, description=_text(f"{prefix}.description", table.get("description", ""), _MAX_DESCRIPTION),
        node_label=node_label, max_running=max_running, conf=tuple(conf.items()),
        driver_memory=driver_memory, executor_memory=executor_memory, driver_cores=driver_cores,
        executor_cores=executor_cores, **prices,
    )


def parse_resources(tables: Mapping[str, Any], limits: Limits | None = None) -> tuple[ResourceOption, ...]:
    """The ``[resources.<name>]`` tables as options, in the order given; one-line errors."""
    if not isinstance(tables, Mapping):
        raise ConfigError(f"resources: {_short(tables)} is not a table; write [resources.<name>] tables")
    if len(tables) > _MAX_OPTIONS:
        raise ConfigError(f"resources: {len(tables)} options; at most {_MAX_OPTIONS} are allowed")
    options = []
    for name, table in tables.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(f"resources: the name {_short(name)} is not allowed; use 1-40 letters, digits, "
                              "'_' or '-', as in [resources.onprem]")
        if not isinstance(table, Mapping):
            raise ConfigError(f"resources.{name}: {_short(table)} is not a table; write [resources.{name}] "
                              "with kind = \"local\", \"yarn\" or \"priced\"")
        option = _option(name, table)
        if limits is not None and limits.max_budget and not option.free and option.currency != limits.currency:
            raise ConfigError(f"resources.{name}.currency: {option.currency!r} differs from limits.currency "
                              f"{limits.currency!r}; give prices in {limits.currency} or change limits.currency")
        options.append(option)
    if not options:
        raise ConfigError("resources: no resource option; keep at least [resources.local] with kind = \"local\"")
    return tuple(options)


def parse_limits(table: Mapping[str, Any]) -> Limits:
    """The ``[limits]`` table (keys of :data:`DEFAULT_LIMITS`) as :class:`Limits`; one-line errors."""
    return Limits(
        max_budget=_bounded("limits.max_budget", table["max_budget"], float, 0, 1e12,
                            "an amount >= 0", "500 (0: no cap)"),
        max_experiments=_bounded("limits.max_experiments", table["max_experiments"], int, 0, 10_000_000,
                                 "a count >= 0", "200 (0: no cap)"),
        max_deadline_hours=_bounded("limits.max_deadline_hours", table["max_deadline_hours"], float, 0,
                                    24 * 366, "hours >= 0", "48 (0: no cap)"),
        currency=_currency("limits.currency", table["currency"]),
    )
