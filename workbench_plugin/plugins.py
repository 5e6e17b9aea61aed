"""Engines looked up by name, imported only when asked for (the core never imports them)."""

from __future__ import annotations

import importlib
from typing import Any

from workbench_plugin._exceptions import ConfigError
from workbench_plugin.config import Config
from workbench_plugin.store import Store

__all__ = ["ENGINE_CLASSES", "load_engine"]

ENGINE_CLASSES = {"local": "engines.local:LocalEngine", "spark": "engines.spark:SparkEngine"}


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
    if config.engine == "spark":
        options.update(
            slots=config.slots, master=config.spark_master, deploy_mode=config.spark_deploy_mode,
            spark_submit=config.spark_submit, python=config.spark_python,
            driver_memory=config.spark_driver_memory, executor_memory=config.spark_executor_memory,
            rm_url=config.yarn_rm_url, hadoop_conf_dir=config.hadoop_conf_dir,
        )
    options.update(overrides)
    return engine_cls(store, **options)
