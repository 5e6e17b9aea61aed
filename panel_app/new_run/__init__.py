"""The new-run panel (to come): plan and launch the next batch.

What will live here (a model without panel imports, a thin view): the search-space editor
(lists, linear, multiplicative and log steps per hyperparameter, starting from the locks), the
preview of the batch from ``workbench_plugin`` (count, exact command lines, redundant and
similar experiments with links to their results, duration and cost per resource option,
recommendations), and the launch that writes the chosen experiments to the store as queued.
"""

from __future__ import annotations

__all__: list[str] = []
