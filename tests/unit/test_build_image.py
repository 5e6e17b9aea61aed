"""Build images: the content id, the container-side code, and the spark-submit argv they make."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engines.spark import IMAGE_PYTHON, SparkEngine
from workbench_plugin.build_image import (
    BuildImageError,
    ImageRecord,
    SparkArchives,
    describe_environment,
    image_environment,
    image_id,
    runtime_files,
    spark_archives,
)
from workbench_plugin.fs import LocalFileSystem
from workbench_plugin.store import Experiment, Run, Store

BASE_PYTHON = os.path.realpath("/work/main/.venv/bin/python")


def make_venv(folder: Path) -> Path:
    """A venv without pip (no network), from the gateway's base interpreter."""
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return folder


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3.*/site-packages"))


def add_distribution(venv: Path, name: str, version: str) -> None:
    """An installed distribution as pip leaves it: the module and its dist-info."""
    site = site_packages(venv)
    (site / f"{name}.py").write_text("VALUE = 1\n")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("env") / "venv")


def test_the_same_environment_has_the_same_id_and_a_new_package_a_new_one(venv: Path) -> None:
    files = runtime_files()
    env = describe_environment(str(venv))
    assert env.kind == "venv" and env.prefix == str(venv)
    assert env.base_python == os.path.realpath(venv / "bin" / "python")
    first = image_id(env, files)
    assert first.startswith("env-") and first == image_id(describe_environment(str(venv / "bin" / "python")), files)
    add_distribution(venv, "htprobe_unit", "1.0")
    second = image_id(describe_environment(str(venv)), files)
    assert second != first
    (site_packages(venv) / "loose_module.py").write_text("")  # no dist-info: the top-level listing shows it
    assert image_id(describe_environment(str(venv)), files) != second


def test_the_environment_names_what_the_wrapper_lacks(venv: Path) -> None:
    env = describe_environment(str(venv))
    assert "pyarrow" in env.missing and "requests" in env.missing


def test_a_python_installation_is_not_an_environment() -> None:
    with pytest.raises(BuildImageError, match="not a venv or conda"):
        describe_environment(BASE_PYTHON)


def test_the_container_side_code_is_the_wrapper_and_what_it_imports() -> None:
    files = runtime_files()
    for needed in ("spark_jobs/experiment_wrapper.py", "spark_jobs/experiment_job.py", "spark_jobs/packed_run.py",
                   "workbench_plugin/tracking.py", "workbench_plugin/webhdfs.py", "workbench_plugin/__init__.py"):
        assert needed in files
    assert not any(f.startswith(("panel_app/", "engines/", "gateway/")) for f in files)
    assert "workbench_plugin/cli.py" not in files


def test_image_modes() -> None:
    assert image_environment("auto", "", "/gw/bin/python") is None
    assert image_environment("auto", "/p/.venv/bin/python", "/gw/bin/python") == "/p/.venv/bin/python"
    assert image_environment("always", "", "/gw/bin/python") == "/gw/bin/python"
    assert image_environment("off", "/p/.venv/bin/python", "/gw/bin/python") is None
    with pytest.raises(BuildImageError, match="spark.image: 'sometimes'"):
        image_environment("sometimes", "", "")


# ---- the argv ------------------------------------------------------------------------------------
class _HdfsLikeFileSystem(LocalFileSystem):
    """A local store that says where HDFS would hold its files (for the argv only)."""

    def hdfs_path(self, path: str) -> str | None:
        return f"/hypertuner/{path}"


def _engine(tmp_path: Path, **options: object) -> tuple[SparkEngine, list[list[str]]]:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "core-site.xml").write_text(
        "<configuration><property><name>fs.defaultFS</name><value>hdfs://nn:8020</value></property></configuration>")
    store = Store(str(tmp_path / "store"), _HdfsLikeFileSystem(str(tmp_path / "store")))
    engine = SparkEngine(store, master="yarn", rm_url="http://127.0.0.1:1", spark_submit="/bin/false",
                         hadoop_conf_dir=str(tmp_path / "conf"), java_home="/opt/java", **options)  # type: ignore[arg-type]
    seen: list[list[str]] = []

    def launch(argv: list[str], label: str, *, image: bool = False) -> str:
        seen.append(argv)
        return "yarn:application_1_0001"

    engine._launch = launch  # type: ignore[method-assign]
    return engine, seen


def _run(interpreter: str = "/p/.venv/bin/python") -> tuple[Run, Experiment]:
    run = Run(run_id="r1", project="p", created=0.0, author="a", script="train.py", interpreter=interpreter,
              flag_style="space", spec={}, scales={}, snapshot_id="s1", data_id="d1", engine="spark",
              n_experiments=1)
    return run, Experiment(experiment_id="r1-0", run_id="r1", index=0, params={}, argv=["train.py"])


def _confs(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--conf"]
    return dict(p.split("=", 1) for p in pairs)


def test_a_run_with_an_image_ships_it_as_env_and_runs_its_python(tmp_path: Path) -> None:
    engine, seen = _engine(tmp_path)
    record = ImageRecord(image_id="env-abc", kind="venv", prefix="/p/.venv", python_version="3.11.7",
                         n_packages=3, size_bytes=1, built_seconds=0.0)
    engine._images["r1"] = record
    engine._spark_libs = SparkArchives(archive="images/spark-1/spark-jars.zip",
                                       python=("images/spark-1/py4j-0.10.9.9-src.zip", "images/spark-1/pyspark.zip"))
    engine.submit(*_run())
    argv = seen[0]
    archives = argv[argv.index("--archives") + 1].split(",")
    assert argv.count("--archives") == 1
    assert archives == ["hdfs://nn:8020/hypertuner/snapshots/s1.tar.gz#snapshot",
                        "hdfs://nn:8020/hypertuner/images/env-abc.tar.gz#env"]
    conf = _confs(argv)
    for key in ("spark.pyspark.python", "spark.pyspark.driver.python", "spark.executorEnv.PYSPARK_PYTHON",
                "spark.yarn.appMasterEnv.PYSPARK_PYTHON"):
        assert conf[key] == IMAGE_PYTHON == "./env/bin/python"
    assert "spark.yarn.appMasterEnv.PYTHONPATH" not in conf and "spark.executorEnv.PYTHONPATH" not in conf
    assert argv[argv.index("--python") + 1] == IMAGE_PYTHON
    env = engine._env(image=True)
    assert "PYTHONPATH" not in env
    # Spark's own jars and Python archives come from the store too: the node needs no Spark
    assert conf["spark.yarn.archive"] == "hdfs://nn:8020/hypertuner/images/spark-1/spark-jars.zip"
    assert "spark.yarn.jars" not in conf
    assert env["PYSPARK_ARCHIVES_PATH"] == ("hdfs://nn:8020/hypertuner/images/spark-1/py4j-0.10.9.9-src.zip,"
                                            "hdfs://nn:8020/hypertuner/images/spark-1/pyspark.zip")


def test_configured_spark_jars_are_kept_with_an_image(tmp_path: Path) -> None:
    engine, seen = _engine(tmp_path, conf={"spark.yarn.jars": "hdfs:///apps/spark/jars/*"})
    engine._images["r1"] = ImageRecord(image_id="env-abc", kind="venv", prefix="/p/.venv", python_version="3.11.7",
                                       n_packages=3, size_bytes=1, built_seconds=0.0)
    engine.submit(*_run())
    conf = _confs(seen[0])
    assert conf["spark.yarn.jars"] == "hdfs:///apps/spark/jars/*" and "spark.yarn.archive" not in conf


def test_spark_jars_are_uploaded_once(tmp_path: Path) -> None:
    home = tmp_path / "spark"
    (home / "jars").mkdir(parents=True)
    (home / "python" / "lib").mkdir(parents=True)
    (home / "jars" / "spark-core_2.13-4.0.1.jar").write_bytes(b"jar" * 100)
    (home / "python" / "lib" / "pyspark.zip").write_bytes(b"zip")
    store = Store(str(tmp_path / "store"))
    lines: list[str] = []
    first = spark_archives(store, home, progress=lines.append)
    assert store.fs.exists(first.archive) and all(store.fs.exists(p) for p in first.python)
    assert spark_archives(store, home, progress=lines.append) == first
    assert "uploaded" in lines[1] and "nothing to upload" in lines[2]
    (home / "jars" / "spark-sql_2.13-4.0.1.jar").write_bytes(b"jar")
    assert spark_archives(store, home).archive != first.archive


def test_a_gateway_environment_run_keeps_todays_argv_under_auto(tmp_path: Path) -> None:
    engine, seen = _engine(tmp_path)
    engine.submit(*_run(interpreter=""))
    conf = _confs(seen[0])
    assert conf["spark.pyspark.python"] == engine.python and "env-" not in " ".join(seen[0])
    assert seen[0][seen[0].index("--archives") + 1].endswith("#snapshot")


def test_a_docker_image_runs_the_containers_in_docker_and_builds_no_image(tmp_path: Path) -> None:
    engine, seen = _engine(tmp_path, docker_image="registry.example.com/team/train:1.4")
    engine.submit(*_run())  # the project names an environment, yet nothing is built
    conf = _confs(seen[0])
    for prefix in ("spark.yarn.appMasterEnv.", "spark.executorEnv."):
        assert conf[f"{prefix}YARN_CONTAINER_RUNTIME_TYPE"] == "docker"
        assert conf[f"{prefix}YARN_CONTAINER_RUNTIME_DOCKER_IMAGE"] == "registry.example.com/team/train:1.4"
    assert "#env" not in " ".join(seen[0]) and engine._images == {}


def test_the_project_environment_is_checked_in_one_line(tmp_path: Path) -> None:
    from workbench_plugin._exceptions import SpecError
    from workbench_plugin.project import ProjectSettings

    (tmp_path / "train.py").write_text("")
    with pytest.raises(SpecError, match=r"environment: 'nope' has no bin/python under"):
        ProjectSettings(name="p", root=str(tmp_path), script="train.py", environment="nope")
    with pytest.raises(SpecError, match="environment: .* control characters"):
        ProjectSettings(name="p", root=str(tmp_path), script="train.py", environment=".venv\n")
    make_venv(tmp_path / ".venv")
    settings = ProjectSettings(name="p", root=str(tmp_path), script="train.py", environment=".venv")
    assert settings.run_interpreter == str(tmp_path / ".venv" / "bin" / "python") == settings.python
    assert ProjectSettings(name="p", root=str(tmp_path), script="train.py", interpreter="/x/python",
                           environment=".venv").run_interpreter == "/x/python"


def test_image_settings_are_checked_in_one_line() -> None:
    from workbench_plugin._exceptions import ConfigError
    from workbench_plugin.config import load_config

    with pytest.raises(ConfigError, match="spark.image: 'maybe'; use auto, always or off"):
        load_config({"HYPERTUNER_STORE": "/tmp/s"}).with_(spark_image="maybe")
    with pytest.raises(ConfigError, match="spark.docker_image: .* is not an image name"):
        load_config({"HYPERTUNER_STORE": "/tmp/s"}).with_(spark_docker_image="a b;rm -rf")
