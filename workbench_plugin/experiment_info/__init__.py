"""What the experiment and comparison pages show, as plain data (no panel imports).

* :func:`metric_family` and :func:`metric_goal`: which metrics share a y axis (loss and
  accuracy never do) and whether larger is better.
* :func:`experiment_header`: the experiment page's header (command, snapshot, state, engine,
  duration, usage and cost); :func:`log_tail` and :func:`bounded_log` cut its logs for showing.
"""

from __future__ import annotations

from workbench_plugin.experiment_info._families import FAMILIES, metric_family, metric_goal
from workbench_plugin.experiment_info._header import (
    LOG_TAIL_LINES,
    MAX_LOG_BYTES,
    ExperimentHeader,
    LogPart,
    bounded_log,
    duration_of,
    experiment_header,
    log_tail,
    usage_cost,
)

__all__ = ["FAMILIES", "LOG_TAIL_LINES", "MAX_LOG_BYTES", "ExperimentHeader", "LogPart", "bounded_log",
           "duration_of", "experiment_header", "log_tail", "metric_family", "metric_goal", "usage_cost"]
