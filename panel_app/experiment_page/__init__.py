"""The experiment page (to come): one experiment in depth.

What will live here, as the run page does it (a ``model.py`` without panel imports, a thin
``view.py``, components of their own): the experiment's header (state, command line, snapshot,
cost), the epoch replay of its curves, the confusion matrix with the misclassified examples,
the elbow chart, its notes, star and archive. It will be served at ``?experiment=<id>``; until
then the server shows the run page of the experiment's run with that experiment selected.
"""

from __future__ import annotations

__all__: list[str] = []
