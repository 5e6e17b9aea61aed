"""What the built-in artifact views share: reading an artifact, and the one line shown instead of a view."""

from __future__ import annotations

import html

import panel as pn

from panel_app.experiment_page.plugins import ExperimentData
from workbench_plugin._exceptions import ArtifactError
from workbench_plugin.flags import one_line

__all__ = ["ERROR_CLASS", "error_line", "read_artifact"]

#: The CSS class of the one line a view shows when its artifact cannot be drawn.
ERROR_CLASS = "ht-view-error"


def read_artifact(data: ExperimentData, name: str) -> bytes:
    """The artifact's bytes, or one :class:`ArtifactError` line naming it."""
    try:
        return data.read_artifact(name)
    except KeyError as exc:
        raise ArtifactError(str(exc.args[0]) if exc.args else f"artifact {name}: not recorded") from None
    except OSError as exc:
        raise ArtifactError(f"artifact {name}: cannot be read ({one_line(exc, 200)})") from None


def error_line(message: object) -> pn.pane.HTML:
    """One escaped line where the view would be."""
    text = one_line(message, 400)
    return pn.pane.HTML(f'<div class="{ERROR_CLASS}" role="alert" style="color:#b71c1c">{html.escape(text)}</div>',
                        sizing_mode="stretch_width", css_classes=[ERROR_CLASS])
