"""Engines looked up by name, imported only when asked for (the core never imports them)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workbench_plugin._exceptions import ConfigError
from workbench_plugin.config import Config
from workbench_plugin.store import Store

if TYPE_CHECKING:
    from engines.base import Engine

__all__ = ["ENGINE_CLASSES", "load_engine"]

ENGINE_CLASSES = {"local": "engines.local:LocalEngine", "spark": "engines.spark:SparkEngine"}


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
    module, cls = target.split(":")
    engine_cls = getattr(importlib.import_module(module), cls)
    engine: Engine = engine_cls.from_config(config, store, submitting=submitting, **overrides)
    return engine
