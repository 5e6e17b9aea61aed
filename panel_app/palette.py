"""Colours every page draws with: one per experiment, one per state."""

from __future__ import annotations

from workbench_plugin.lifecycle import State

__all__ = ["PALETTE", "STATE_COLORS"]

#: One colour per experiment, cycling: Category10 first, then its lighter Category20 partners.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)

STATE_COLORS: dict[str, str] = {
    State.QUEUED: "#9e9e9e",
    State.SUBMITTED: "#90caf9",
    State.RUNNING: "#1e88e5",
    State.SUCCEEDED: "#43a047",
    State.FAILED: "#e53935",
    State.KILLED: "#fb8c00",
    State.LOST: "#6d4c41",
}
