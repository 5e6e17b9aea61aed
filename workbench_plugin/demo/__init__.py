"""The demo project: a scikit-learn digits classifier trained epoch by epoch."""

from __future__ import annotations

import shutil
from pathlib import Path

from workbench_plugin.project import PROJECT_FILE, ProjectSettings, find_project, write_project_file
from workbench_plugin.store import Store

__all__ = ["DEMO_NAME", "DEMO_VALUES", "prepare_demo"]

DEMO_NAME = "digits-demo"
#: The first batch: three flags, two values each, as in the client's own example.
DEMO_VALUES = ("batch_size=32..64 *2", "num_epochs=6,12", "alpha=0.0001,1.0")
_SOURCE = Path(__file__).resolve().parent / "digits"


def prepare_demo(store: Store, folder: Path) -> ProjectSettings:
    """Create (or reuse) the demo project folder and register it in the store."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "train.py"
    if not script.exists():
        shutil.copyfile(_SOURCE / "train.py", script)
    if (folder / PROJECT_FILE).exists():
        settings = find_project(folder)
    else:
        settings = write_project_file(folder, name=DEMO_NAME, script="train.py")
    store.create_project(settings.name, settings.root)
    return settings
