"""scripts/import_graph.py: the repository follows the import direction; a wrong arrow is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "import_graph.py"


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_repository_follows_the_direction() -> None:
    done = _run(ROOT)
    assert done.returncode == 0, done.stderr
    assert "engines           -> workbench_plugin" in done.stdout
    assert "workbench_plugin/plugins.py" in done.stdout  # the allowed exceptions are listed


def test_a_forbidden_arrow_is_named_with_file_and_line(tmp_path: Path) -> None:
    for folder in ("workbench_plugin", "engines", "spark_jobs", "gateway", "panel_app"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "workbench_plugin" / "store.py").write_text("X = 1\n")
    (tmp_path / "workbench_plugin" / "cli.py").write_text("from typing import TYPE_CHECKING\n"
                                                          "if TYPE_CHECKING:\n    from engines import base\n")
    (tmp_path / "workbench_plugin" / "core.py").write_text('"""doc"""\n\nfrom gateway.gateway import Gateway\n')
    (tmp_path / "engines" / "local.py").write_text("def f():\n    from panel_app import server\n")
    (tmp_path / "spark_jobs" / "job.py").write_text("from workbench_plugin import store\nimport workbench_plugin.cli\n")
    (tmp_path / "gateway" / "gateway.py").write_text("from engines import local\n"
                                                     "from workbench_plugin.store import X\n")
    done = _run(tmp_path)
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if ln.count(":") >= 2 and not ln.startswith("import_graph")]
    assert len(lines) == 3, done.stderr
    assert lines[0].startswith("engines/local.py:2: engines -> panel_app (deferred import")
    assert lines[1].startswith("spark_jobs/job.py:2: spark_jobs -> workbench_plugin.cli")
    assert lines[2].startswith("workbench_plugin/core.py:3: workbench_plugin -> gateway (module import")
    assert "gateway           -> engines                   1" in done.stdout
