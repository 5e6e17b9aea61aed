"""The experiment page's built-in views, each an :class:`~panel_app.experiment_page.plugins.ExperimentView`
registered in the ``hypertuner.views`` entry point group (``pyproject.toml``)."""

from __future__ import annotations

__all__: list[str] = []
