"""The shared linked-views kit under the pages: what every linked dashboard draws with.

* :mod:`~panel_app.linked.axes`: how a column is plotted and slid (``AxisInfo``, ``SliderInfo``);
* :mod:`~panel_app.linked.selection`: the selection mask and the browser code that draws it;
* :mod:`~panel_app.linked.hit_box_lasso`, :mod:`~panel_app.linked.hit_tap`: the hit tests,
  each numpy function beside its JavaScript twin;
* :mod:`~panel_app.linked.density`: density images, the binning in numpy and in JavaScript,
  and the highlight layers (``DensityLayer``);
* :mod:`~panel_app.linked.plots`: the Bokeh plots over one shared source (``LinkedPlots``),
  with the stateless figure helpers of :mod:`~panel_app.linked.figures`.

Names are imported from those modules. Importing this package imports nothing else: a page
model (which must not import bokeh) takes the pure modules (axes, selection, hit tests) alone.
"""

from __future__ import annotations

__all__: list[str] = []
