"""Engines looked up by name, imported only when asked for (the core never imports them)."""

from __future__ import annotations

import importlib
from typing import Any

from workbench_plugin._exceptions import ConfigError
from workbench_plugin.config import Config
from workbench_plugin.store import Store

__all__ = ["ENGINE_CLASSES", "load_engine"]

ENGINE_CLASSES = {"local": "engines.local:LocalEngine"}


def load_engine(config: Config, store: Store, **overrides: Any) -> Any:
    """The configured engine, built from the config (``overrides`` win)."""
    try:
        target = ENGINE_CLASSES[config.engine]
    except KeyError:
        raise ConfigError(
            f"engine.name: {config.engine!r} is not an engine; use one of {', '.join(ENGINE_CLASSES)}"
        ) from None
    module, cls = target.split(":")
    engine_cls = getattr(importlib.import_module(module), cls)
    options: dict[str, Any] = {
        "slots": config.effective_slots,
        "work_dir": config.work_dir,
        "flush_seconds": config.flush_seconds,
    }
    options.update(overrides)
    return engine_cls(store, **options)
