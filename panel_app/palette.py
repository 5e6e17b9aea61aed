"""Colours every page draws states with."""

from __future__ import annotations

from workbench_plugin.lifecycle import State

__all__ = ["STATE_COLORS"]

STATE_COLORS: dict[str, str] = {
    State.QUEUED: "#9e9e9e",
    State.SUBMITTED: "#90caf9",
    State.RUNNING: "#1e88e5",
    State.SUCCEEDED: "#43a047",
    State.FAILED: "#e53935",
    State.KILLED: "#fb8c00",
    State.LOST: "#6d4c41",
}
