"""What the experiment and comparison pages show, as plain data (no panel imports).

* :func:`metric_family` and :func:`metric_goal`: which metrics share a y axis (loss and
  accuracy never do) and whether larger is better.
"""

from __future__ import annotations

from workbench_plugin.experiment_info._families import FAMILIES, metric_family, metric_goal

__all__ = ["FAMILIES", "metric_family", "metric_goal"]
