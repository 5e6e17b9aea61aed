"""Build images on the real mini cluster: a project's own venv, packed, uploaded to HDFS once and
run by YARN containers as ``./env/bin/python``, with nothing from the gateway's checkout on the path.

The project's venv (``python -m venv --without-pip``, no network) holds ``htprobe``, a package the
gateway's environment lacks, and the packages HyperTuner's wrapper imports (copied from the
gateway's environment with their dist-info, as pip would have installed them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.test_yarn_engine import hypertuner, index_of, yarn  # noqa: F401 - the fixture
from workbench_plugin.build_image import IMAGE_FOLDER, RUNTIME_REQUIREMENTS
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow

GATEWAY_SITE = next(Path("/work/main/.venv/lib").glob("python3.*/site-packages"))
#: The wrapper's requirements and theirs, as folders (or modules) in site-packages.
COPIED = ("pyarrow", "requests", "urllib3", "idna", "charset_normalizer", "certifi", "pathspec",
          "typing_extensions")

TRAIN = '''\
import argparse, sys
import htprobe
import workbench_plugin.tracking as tracking
ap = argparse.ArgumentParser()
ap.add_argument("--x", type=float, default=1.0)
args = ap.parse_args()
print(f"probe={htprobe.VALUE}")
print("executable:", sys.executable)
print("tracking:", tracking.__file__)
print(f"loss={args.x / 2}")
'''


def make_project_venv(folder: Path) -> Path:
    base = os.path.realpath("/work/main/.venv/bin/python")
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    site = next((folder / "lib").glob("python3.*/site-packages"))
    for name in COPIED:
        source = GATEWAY_SITE / name
        if source.is_dir():
            shutil.copytree(source, site / name)
        else:
            shutil.copy2(GATEWAY_SITE / f"{name}.py", site / f"{name}.py")
        [info] = GATEWAY_SITE.glob(f"{name}-*.dist-info")
        shutil.copytree(info, site / info.name)
    probe = site / "htprobe"
    probe.mkdir()
    (probe / "__init__.py").write_text("VALUE = 41 + 1\n")
    info = site / "htprobe-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: htprobe\nVersion: 0.1\n")
    return folder


def test_a_project_venv_runs_on_yarn_from_its_image_uploaded_once(
        yarn: dict[str, str], minicluster: Any, tmp_path: Path) -> None:  # noqa: F811
    assert set(RUNTIME_REQUIREMENTS) <= set(COPIED)
    with pytest.raises(ImportError):
        import htprobe  # type: ignore[import-not-found]  # noqa: F401 - the gateway lacks it
    project = tmp_path / "probe"
    project.mkdir()
    (project / "train.py").write_text(TRAIN)
    make_project_venv(project / ".venv")
    done = hypertuner(yarn, "init", str(project), "--script", "train.py")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    toml = project / "hypertuner.toml"
    toml.write_text(toml.read_text().replace('interpreter = ""', 'interpreter = ""\nenvironment = ".venv"'))

    planned = hypertuner(yarn, "plan", "x=1", "--project", str(project))
    assert planned.returncode == 0, planned.stdout[-2000:] + planned.stderr[-2000:]
    assert re.search(r"image: must be built from .*\.venv \(\d+ packages", planned.stdout), planned.stdout

    started = time.monotonic()
    first = hypertuner(yarn, "run", "x=1", "--project", str(project))
    first_seconds = time.monotonic() - started
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "1 succeeded" in first.stdout, first.stdout[-3000:] + first.stderr[-3000:]
    assert "build image: packing" in first.stderr and "build image: uploaded in" in first.stderr, first.stderr[-3000:]
    # Spark's jars travel from the store too (spark.yarn.archive): the node needs no Spark
    assert re.search(r"spark jars: spark-[0-9a-f]{24} [\d.]+ MB uploaded", first.stderr), first.stderr[-3000:]

    store = Store(yarn["HYPERTUNER_STORE"])
    images = store.fs.listdir(IMAGE_FOLDER)
    assert len([n for n in images if n.startswith("env-")]) == 2, images  # the archive and its record
    assert len([n for n in images if n.startswith("spark-")]) == 1, images
    index = index_of(yarn, "probe")
    [run_id] = index.runs
    [exp] = index.runs[run_id].experiments
    out = store.read_log("probe", run_id, exp.experiment_id, "stdout")
    assert "probe=42" in out, out
    executable = re.search(r"executable: (\S+)", out)
    assert executable and re.search(r"/container_[^/]+/env/bin/python$", executable[1]), out
    tracking = re.search(r"tracking: (\S+)", out)
    assert tracking and "_hypertuner_runtime/workbench_plugin/tracking.py" in tracking[1], out
    assert not tracking[1].startswith(str(Path(__file__).resolve().parents[2]) + "/workbench_plugin"), out

    planned = hypertuner(yarn, "plan", "x=2", "--project", str(project))
    assert re.search(r"image: env-[0-9a-f]{24} built, \d+ MB", planned.stdout), planned.stdout
    started = time.monotonic()
    second = hypertuner(yarn, "run", "x=2", "--project", str(project))
    second_seconds = time.monotonic() - started
    assert second.returncode == 0 and "1 succeeded" in second.stdout, second.stdout[-3000:] + second.stderr[-3000:]
    assert "build image: packing" not in second.stderr and "spark jars: packing" not in second.stderr
    assert second.stderr.count("nothing to upload") == 2, second.stderr[-3000:]
    assert store.fs.listdir(IMAGE_FOLDER) == images
    print(f"\nbuild image: first run {first_seconds:.1f} s, second run {second_seconds:.1f} s; "
          + " | ".join(line for line in first.stderr.splitlines() if line.startswith(("build image:", "spark jars:"))))
