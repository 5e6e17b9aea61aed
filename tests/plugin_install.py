"""Register experiment views the way an installed package does: a ``*.dist-info`` folder with an
``entry_points.txt`` on ``sys.path`` (what ``pip install`` writes), so that
:func:`importlib.metadata.entry_points` finds them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from panel_app.experiment_page.plugins import ENTRY_POINT_GROUP

__all__ = ["install_views"]


def install_views(site: Path, views: Mapping[str, str], dist: str = "hypertuner_test_views") -> Path:
    """Write a distribution ``dist`` into folder ``site`` registering ``views`` (name -> "module:attr");
    put ``site`` on ``sys.path`` (or PYTHONPATH) to install it."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in views.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    return info
