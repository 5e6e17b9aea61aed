"""The run page: one run's experiments in a linked table, bar chart and scatter matrix.

* :mod:`~panel_app.run_page.model`: ``RunPageModel``, the page's state (no panel, no bokeh);
* :mod:`~panel_app.run_page.view_state`: what a link (``?view=``) or a note restores;
* :mod:`~panel_app.run_page.view`: ``RunPage``, the ``pn.viewable.Viewer``, with its
  components :mod:`~panel_app.run_page.table`, :mod:`~panel_app.run_page.sliders` and
  :mod:`~panel_app.run_page.notes`, and its HTML in :mod:`~panel_app.run_page.templates`;
* :mod:`~panel_app.run_page.session`: a page for the current server session
  (``new_run_page``, ``build_run_page``).

Names are imported from those modules: importing this package imports nothing else, so that
the model can be used (and tested) without panel or bokeh.
"""

from __future__ import annotations

__all__: list[str] = []
