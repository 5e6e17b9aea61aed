"""The compare page (to come): experiments side by side.

What will live here (a ``model.py`` without panel imports and a thin ``view.py``, over the
shared kit in :mod:`panel_app.linked`): the experiments' hyperparameters with their
differences marked, their curves on shared axes, their final metrics and costs. It will be
served at ``?compare=<id>,<id>,...``; until then the server shows the run page of their run
with those experiments selected.
"""

from __future__ import annotations

__all__: list[str] = []
