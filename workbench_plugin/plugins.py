"""Engines and the gateway looked up by name, imported only when asked for.

The small interface through which the core (``workbench_plugin``) reaches the folders above it:
it never imports ``engines`` or ``gateway`` at module level.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workbench_plugin._exceptions import ConfigError
from workbench_plugin.config import Config
from workbench_plugin.store import Store

if TYPE_CHECKING:
    from engines.base import Engine
    from gateway.control import KillResult
    from gateway.gateway import Gateway
    from workbench_plugin.index import ProjectIndex

__all__ = ["ENGINE_CLASSES", "GATEWAY_CLASS", "KILL_FUNCTION", "kill", "load_engine", "load_gateway"]

ENGINE_CLASSES = {"local": "engines.local:LocalEngine", "spark": "engines.spark:SparkEngine"}
GATEWAY_CLASS = "gateway.gateway:Gateway"
#: How a page stops experiments (``gateway.control.kill``), looked up like the gateway.
KILL_FUNCTION = "gateway.control:kill"


def _lookup(target: str) -> Any:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def load_engine(config: Config, store: Store, *, submitting: bool = True, **overrides: Any) -> Engine:
    """The configured engine, built by its class from the config (``overrides`` win).

    ``submitting=False``: only to ask about capacity and resources (settings that only submitting
    needs are not required then).
    """
    try:
        target = ENGINE_CLASSES[config.engine]
    except KeyError:
        raise ConfigError(
            f"engine.name: {config.engine!r} is not an engine; use one of {', '.join(ENGINE_CLASSES)}"
        ) from None
    engine: Engine = _lookup(target).from_config(config, store, submitting=submitting, **overrides)
    return engine


def load_gateway(store: Store, engine: Engine, **options: Any) -> Gateway:
    """A gateway submitting ``store``'s queued experiments to ``engine`` (options as for ``Gateway``)."""
    gateway: Gateway = _lookup(GATEWAY_CLASS)(store, engine, **options)
    return gateway


def kill(index: ProjectIndex, engine: Engine, ident: str, **options: Any) -> list[KillResult]:
    """Kill the experiments ``ident`` names (``gateway.control.kill``: ``by``, ``grace_seconds``)."""
    results: list[KillResult] = _lookup(KILL_FUNCTION)(index, engine, ident, **options)
    return results
