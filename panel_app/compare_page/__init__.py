"""The compare page (patent FIG 28): 2 to 10 experiments side by side.

Served at ``?compare=<id>,<id>,...`` (:func:`panel_app.server.route_of`), of one run or several
runs of the project. :mod:`~panel_app.compare_page.model` holds the state (no panel imports)
over :func:`workbench_plugin.experiment_info.comparison_info`; :mod:`~panel_app.compare_page.view`
draws it; :mod:`~panel_app.compare_page.templates` is its escaped HTML, including the run page's
Compare link; :mod:`~panel_app.compare_page.session` builds one for a server session.
"""

from __future__ import annotations

__all__: list[str] = []
