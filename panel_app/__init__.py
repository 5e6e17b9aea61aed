"""The HoloViews/Panel dashboard: pages over a shared linked-views kit, behind one server.

* :mod:`panel_app.server`: the one server module; routes ``?run=``, ``?experiment=``,
  ``?compare=`` and carries ``?view=`` (``route_of``), serves a project (``serve_dashboard``)
  or one run page on a thread (``serve_run_page``);
* :mod:`panel_app.linked`: the kit every page draws with (selection mask, hit tests beside
  their JavaScript twins, density layers, axes, the Bokeh plots);
* :mod:`panel_app.run_page`: the run page (a model without panel imports, a thin view);
* :mod:`panel_app.experiment_page`, :mod:`panel_app.compare_page`, :mod:`panel_app.new_run`:
  the next pages, to come;
* :mod:`panel_app.palette`: the colours every page draws with.
"""

from __future__ import annotations

__all__: list[str] = []
