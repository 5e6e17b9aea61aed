"""The engine interface without running anything: protocol defaults, ids, adoption, building from a Config."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from engines.base import Capacity, Engine, EngineBase, Resources
from engines.local import LocalEngine
from engines.processes import parse_pid_id, pid_id, start_ticks
from engines.spark import SparkEngine
from gateway.gateway import engine_id_of
from workbench_plugin._exceptions import ConfigError, EngineError
from workbench_plugin.config import load_config
from workbench_plugin.lifecycle import ExperimentState, State
from workbench_plugin.plugins import load_engine
from workbench_plugin.store import Run, Store


class _Minimal(EngineBase):
    """Only what every engine must do; the optional abilities come from EngineBase."""

    name = "minimal"

    def capacity(self, run: Run | None = None) -> Capacity:
        return Capacity(slots=3, running=0)


def test_engine_base_defaults() -> None:
    engine = _Minimal()
    assert (engine.packs, engine.accounts_usage) == (False, False)
    assert engine.usage("minimal:1") == {}
    assert engine.adopt({"pid": 12, "start_ticks": "34"}) is None
    with pytest.raises(EngineError, match="minimal engine: cannot pack"):
        engine.submit_packed(None, [])  # type: ignore[arg-type]
    res = engine.resources()
    assert isinstance(res, Resources) and res.slots == 3 and res.where == "this machine"
    assert res.cores == (os.cpu_count() or 1) and res.cluster is None


def test_default_wait_returns_when_stopped() -> None:
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    _Minimal().wait(30, stop)
    assert time.monotonic() - started < 5


def test_pid_ids_round_trip() -> None:
    assert pid_id("local", 12, "345") == "local:12:345"
    assert parse_pid_id("local", "local:12:345") == (12, "345")
    assert parse_pid_id("spark", "local:12:345") is None
    assert parse_pid_id("local", "local:x:345") is None and parse_pid_id("local", "yarn:app") is None
    assert start_ticks(os.getpid()) != "0"


def test_local_engine_adopts_what_its_wrapper_reported(store: Store) -> None:
    engine = LocalEngine(store, slots=1)
    assert engine.adopt({"pid": 12, "start_ticks": "345"}) == "local:12:345"
    assert engine.adopt({"pid": 12}) is None
    running = ExperimentState(state=State.RUNNING, claimed=True, fields={"pid": 12, "start_ticks": "345"})
    assert engine_id_of(engine, running) == "local:12:345"
    submitted = ExperimentState(state=State.SUBMITTED, claimed=True, fields={"engine_id": "local:1:2", "pid": 9})
    assert engine_id_of(engine, submitted) == "local:1:2"
    with pytest.raises(EngineError, match="not a local engine id"):
        engine.poll("spark:1:2")


def test_spark_engine_does_not_adopt_a_wrapper_pid(store: Store) -> None:
    engine: Engine = SparkEngine(store, master="local[1]", spark_submit="/bin/false")
    state = ExperimentState(state=State.RUNNING, claimed=True, fields={"pid": 12, "start_ticks": "345"})
    assert engine_id_of(engine, state) is None  # the wrapper is spark-submit's grandchild, not its session
    assert engine.packs and not engine.accounts_usage


def test_spark_on_yarn_adopts_the_application_of_the_container_its_wrapper_reported(
        store: Store, tmp_path: Path) -> None:
    (tmp_path / "core-site.xml").write_text("<configuration/>")
    engine = SparkEngine(store, master="yarn", rm_url="http://127.0.0.1:1", spark_submit="/bin/false",
                         hadoop_conf_dir=str(tmp_path))
    running = {"pid": 12, "start_ticks": "345", "container_id": "container_1796204071204_0002_01_000001"}
    assert engine.adopt(running) == "yarn:application_1796204071204_0002"
    epoch = {"container_id": "container_e17_1796204071204_0031_02_000003"}  # with an RM epoch
    assert engine.adopt(epoch) == "yarn:application_1796204071204_0031"
    assert engine.adopt({"pid": 12}) is None and engine.adopt({"container_id": "x_1_2"}) is None
    state = ExperimentState(state=State.RUNNING, claimed=True, fields=running)
    assert engine_id_of(engine, state) == "yarn:application_1796204071204_0002"


def test_engines_build_from_config(store: Store, tmp_path: Path) -> None:
    env = {"HYPERTUNER_STORE": store.url, "HYPERTUNER_ENGINE": "spark", "HYPERTUNER_SPARK_MASTER": "yarn",
           "HYPERTUNER_YARN_RM": "http://rm.example:8088", "HADOOP_CONF_DIR": str(tmp_path),
           "JAVA_HOME": "/opt/java", "SPARK_LOCAL_IP": "127.0.0.1", "HYPERTUNER_SPARK_SUBMIT": "/bin/false",
           "HYPERTUNER_WEBHDFS": "http://nn.example:9870", "HADOOP_USER_NAME": "etl"}
    engine = load_engine(load_config(env), store)
    assert isinstance(engine, SparkEngine) and engine.accounts_usage
    assert (engine.hadoop_conf_dir, engine.java_home, engine.local_ip) == (str(tmp_path), "/opt/java", "127.0.0.1")
    argv = engine._common("x", [])
    assert "spark.yarn.appMasterEnv.JAVA_HOME=/opt/java" in argv
    assert "spark.executorEnv.SPARK_LOCAL_IP=127.0.0.1" in argv
    child = engine._env()
    assert child["HYPERTUNER_WEBHDFS"] == "http://nn.example:9870" and child["HADOOP_USER_NAME"] == "etl"
    local = load_engine(load_config({"HYPERTUNER_STORE": store.url, "HYPERTUNER_SLOTS": "2"}), store)
    assert isinstance(local, LocalEngine) and local.capacity().slots == 2


def test_spark_on_yarn_needs_the_hadoop_conf_dir_only_to_submit(store: Store) -> None:
    env = {"HYPERTUNER_STORE": store.url, "HYPERTUNER_ENGINE": "spark", "HYPERTUNER_YARN_RM": "http://rm:8088"}
    with pytest.raises(ConfigError, match="yarn.hadoop_conf_dir: empty"):
        load_engine(load_config(env), store)
    assert isinstance(load_engine(load_config(env), store, submitting=False), SparkEngine)


def test_resources_records_as_the_cli_prints_them() -> None:
    from engines.resource_manager import ClusterResources, QueueResources
    from workbench_plugin.cli import _format_resources

    local = Resources(engine="local", where="this machine", slots=4, cores=8, memory_gib=(3.25, 15.5))
    assert _format_resources(local) == ("local engine on this machine: 8 cores, "
                                        "memory 3.2 GiB available of 15.5 GiB; 4 slots")
    assert "memory unknown; 1 slots" in _format_resources(Resources(engine="local", where="this machine", slots=1))
    queue = QueueResources("root.default", 100.0, 12.5, 100.0, 1, 0)
    cluster = ClusterResources(total_mb=8192, total_vcores=8, available_mb=6144, available_vcores=6, active_nodes=1,
                               apps_running=1, apps_pending=0, queues=(queue,))
    text = _format_resources(Resources(engine="spark", where="http://rm:8088", slots=9, cluster=cluster))
    assert text.splitlines()[:2] == ["YARN at http://rm:8088: 1 active nodes",
                                     "  memory       6.0 GiB free of 8.0 GiB"]
    assert "root.default" in text
