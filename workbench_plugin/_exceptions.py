"""The exception tree. Every error a user can cause is a :class:`HyperTunerError`.

Messages follow one order: what failed, the value, what is allowed or how to fix it.
The CLI prints ``str(error)`` on one line and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "HyperTunerError",
    "SpecError",
    "ConfigError",
    "StoreError",
    "StoreUnavailable",
    "NotFound",
    "ProjectNotFound",
    "RunNotFound",
    "ExperimentNotFound",
    "SnapshotError",
    "EngineError",
    "KerberosError",
    "BatchTooLarge",
    "ArtifactError",
]


class HyperTunerError(Exception):
    """Root of every error HyperTuner raises on purpose."""


class SpecError(HyperTunerError, ValueError):
    """A search-space, flag-style or pattern specification is invalid."""


class BatchTooLarge(SpecError):
    """The expanded batch has more experiments than the configured maximum."""


class ConfigError(HyperTunerError, ValueError):
    """A configuration value is invalid."""


class StoreError(HyperTunerError, OSError):
    """The store could not be read or written."""


class KerberosError(ConfigError):
    """No usable Kerberos credentials (no ticket, an expired one, or a keytab that does not hold
    the principal): the user must run kinit or configure a keytab."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now (network, NameNode down or in safe mode): the same
    call may succeed later, unlike a :class:`StoreError` about the file itself."""


class NotFound(HyperTunerError, KeyError):
    """Something named by the user does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class ProjectNotFound(NotFound):
    pass


class RunNotFound(NotFound):
    pass


class ExperimentNotFound(NotFound):
    pass


class SnapshotError(HyperTunerError):
    """The project folder could not be snapshotted."""


class EngineError(HyperTunerError, RuntimeError):
    """An engine could not submit, poll or kill an experiment."""


class ArtifactError(HyperTunerError, ValueError):
    """An artifact a script recorded (a confusion matrix, a curve, scores) is damaged or invalid;
    the message names the artifact, what is wrong and what is allowed."""
