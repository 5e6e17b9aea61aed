"""HyperTuner core: concepts, search-space grammar, planning, store, tracking SDK, CLI."""

from __future__ import annotations

from workbench_plugin._exceptions import (
    ArtifactError,
    BatchTooLarge,
    ConfigError,
    EngineError,
    ExperimentNotFound,
    HyperTunerError,
    KerberosError,
    NotFound,
    ProjectNotFound,
    RunNotFound,
    SnapshotError,
    SpecError,
    StoreError,
    StoreUnavailable,
)

__all__ = [
    "ArtifactError",
    "BatchTooLarge",
    "ConfigError",
    "EngineError",
    "KerberosError",
    "ExperimentNotFound",
    "HyperTunerError",
    "NotFound",
    "ProjectNotFound",
    "RunNotFound",
    "SnapshotError",
    "SpecError",
    "StoreError",
    "StoreUnavailable",
]
__version__ = "0.1.0"
