"""The demo project: a scikit-learn digits classifier trained epoch by epoch (``train.py``, the
script its runs use), with two more scripts for the experiment page's other views: ``kmeans.py``
(k-means inertia per k: the elbow chart) and ``binary.py`` (a binary classifier: ROC and
precision-recall curves, a confusion matrix whose examples are table rows)."""

from __future__ import annotations

import shutil
from pathlib import Path

from workbench_plugin.project import PROJECT_FILE, ProjectSettings, find_project, write_project_file
from workbench_plugin.store import Store

__all__ = ["DEMO_NAME", "DEMO_SCRIPTS", "DEMO_SECOND_VALUES", "DEMO_VALUES", "prepare_demo", "touch_project"]

DEMO_NAME = "digits-demo"
#: The first batch: three flags, two values each, as in the client's own example.
DEMO_VALUES = ("batch_size=32..64 *2", "num_epochs=6,12", "alpha=0.0001,1.0")
#: The second batch, after a change to the project (so its snapshot differs): alpha between the first
#: two values for the best batch size and epochs. Its alpha=0.0001 row is *similar* to the first run's
#: (same setting, other snapshot); a next batch built from its locks meets *redundant* rows. The
#: first batch leaves ``hidden_units`` at its default (64), for "add hyperparameter" to explore.
DEMO_SECOND_VALUES = ("batch_size=32", "num_epochs=12", "alpha=0.0001,0.01")
_NOTES = """# digits demo: what we learned

- First batch: 12 epochs beat 6; alpha=1.0 regularises far too much.
- Second batch: alpha between 0.0001 and 1.0, at batch_size 32 and 12 epochs.
- Next: lock batch_size and num_epochs, add hidden_units (default 64).
"""
_SOURCE = Path(__file__).resolve().parent / "digits"
#: The scripts copied into the demo project (the runs use the first).
DEMO_SCRIPTS = ("train.py", "kmeans.py", "binary.py")


def prepare_demo(store: Store, folder: Path) -> ProjectSettings:
    """Create (or reuse) the demo project folder and register it in the store."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for name in DEMO_SCRIPTS:
        script = folder / name
        if not script.exists():
            shutil.copyfile(_SOURCE / name, script)
    if (folder / PROJECT_FILE).exists():
        settings = find_project(folder)
    else:
        settings = write_project_file(folder, name=DEMO_NAME, script="train.py")
    store.create_project(settings.name, settings.root)
    return settings


def touch_project(folder: Path) -> bool:
    """Write the demo's NOTES.md (the change between its two batches); False if it was there."""
    notes = Path(folder) / "NOTES.md"
    if notes.exists():
        return False
    notes.write_text(_NOTES, encoding="utf-8")
    return True
