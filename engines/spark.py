"""SparkEngine: each experiment its own Spark application (on YARN: its own YARN application).

``spark-submit --master yarn --deploy-mode cluster spark_jobs/experiment_job.py ...`` runs the
experiment wrapper as the driver, in the ApplicationMaster's container. The snapshot travels
from the store (HDFS) as a YARN archive, unpacked by the NodeManager; Spark's own jars are never
uploaded per application (``spark.yarn.jars=local:...`` points at the jars installed on every
node, here pyspark's); Python resolves through ``PYSPARK_PYTHON`` and the AM's environment.
The engine id is ``yarn:<application id>``; state, kill and usage come from the
ResourceManager.

With ``local[*]`` or ``spark://`` masters the driver runs here (client mode) in its own process
session; the engine id is then ``spark:<pid>:<start ticks>`` like the local engine's.

Task packing (chosen per run, ``run.extra["packing"] == "tasks"``): one application for a group
of experiments of a run, one Spark task per experiment (``spark_jobs/packed_run.py``); every
experiment of the group carries the same engine id.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engines.base import Capacity, EngineBase, Liveness, Resources
from engines.processes import (
    kill_session,
    machine_memory_gib,
    parse_pid_id,
    pid_id,
    process_liveness,
    reap,
    start_ticks,
    track,
)
from engines.resource_manager import ResourceManagerClient
from workbench_plugin._exceptions import ConfigError, EngineError
from workbench_plugin.config import Config, HdfsSettings, SecuritySettings
from workbench_plugin.store import Experiment, Run, Store

__all__ = ["SparkEngine"]

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "spark_jobs"
_APP_ID = re.compile(r"application_\d+_\d+")
#: ``container_[e<epoch>_]<cluster timestamp>_<application>_<attempt>_<container>``
_CONTAINER_ID = re.compile(r"container_(?:e\d+_)?(\d+)_(\d+)_\d+_\d+")
#: Memory YARN adds to every container on top of what Spark asks for (spark's default minimum).
_OVERHEAD_MB = 384
#: Seconds after an application finished before its usage totals are read as final.
USAGE_SETTLE_SECONDS = 8.0
#: Seconds spark-submit may take to hand an application to YARN.
SUBMIT_TIMEOUT = 180.0


def _memory_mb(text: str) -> int:
    m = re.fullmatch(r"(\d+)([kmgt]?)b?", text.strip().lower())
    if not m:
        raise ConfigError(f"spark memory: {text!r} is not a size; write it like 512m or 2g")
    factor = {"k": 1 / 1024, "": 1 / (1024 * 1024), "m": 1, "g": 1024, "t": 1024 * 1024}[m[2]]
    return max(1, int(int(m[1]) * factor))


def default_spark_submit(spark_home: str = "") -> str:
    """``<spark_home>/bin/spark-submit`` (``spark.home``, ``$SPARK_HOME``), else pyspark's own (the
    wheel ships Spark with YARN support)."""
    home = spark_home
    if home and (Path(home) / "bin" / "spark-submit").is_file():
        return str(Path(home) / "bin" / "spark-submit")
    try:
        import pyspark
    except ImportError as exc:
        raise ConfigError("spark.submit: pyspark is not installed; pip install 'hypertuner[cluster]' "
                          "or set spark.submit to a spark-submit executable") from exc
    return str(Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit")


class SparkEngine(EngineBase):
    name = "spark"
    packs = True

    def __init__(
        self, store: Store, *, slots: int = 0, work_dir: str = "", flush_seconds: float = 2.0,
        master: str = "yarn", deploy_mode: str = "", rm_url: str = "", spark_submit: str = "",
        python: str = "", driver_memory: str = "512m", executor_memory: str = "512m",
        executor_cores: int = 1, conf: dict[str, str] | None = None, hadoop_conf_dir: str = "",
        log_dir: str = "", spark_home: str = "", java_home: str = "", local_ip: str = "",
        hdfs: HdfsSettings | None = None, submitting: bool = True,
    ) -> None:
        """``submitting=False``: an engine only asked about capacity and resources (``hypertuner
        resources``), which needs neither spark-submit nor the Hadoop configuration folder."""
        self.store = store
        self.master = master
        self.yarn = master == "yarn"
        self.deploy_mode = deploy_mode or ("cluster" if self.yarn else "client")
        if self.deploy_mode not in ("cluster", "client"):
            raise ConfigError(f"spark.deploy_mode: {deploy_mode!r}; use cluster or client")
        hdfs = hdfs or HdfsSettings()
        # yarn.rm_url may name several RMs; empty, they come from hadoop_conf_dir's yarn-site.xml
        # (the client says in one line when neither names one)
        self.rm = ResourceManagerClient(rm_url, security=hdfs.security, hadoop_conf_dir=hadoop_conf_dir) \
            if self.yarn else None
        self.rm_url = rm_url or (";".join(self.rm.urls) if self.rm else "")
        self.accounts_usage = self.yarn
        self.fixed_slots = slots
        self.work_dir = work_dir
        self.flush_seconds = flush_seconds
        self.spark_home = spark_home
        self.spark_submit = spark_submit or (default_spark_submit(spark_home) if submitting else "")
        self.python = python or sys.executable
        self.driver_memory = driver_memory
        self.executor_memory = executor_memory
        self.executor_cores = executor_cores
        self.conf = dict(conf or {})
        self.hadoop_conf_dir = hadoop_conf_dir
        self.java_home = java_home
        self.local_ip = local_ip
        self.hdfs = hdfs
        self.log_dir = log_dir
        if self.yarn and submitting and not self.hadoop_conf_dir:
            raise ConfigError("yarn.hadoop_conf_dir: empty; spark-submit --master yarn needs the cluster's "
                              "configuration folder (core-site.xml, yarn-site.xml): set HADOOP_CONF_DIR")
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @classmethod
    def from_config(cls, config: Config, store: Store, *, submitting: bool = True, **overrides: Any) -> SparkEngine:
        """The engine the config describes (``overrides`` win)."""
        options: dict[str, Any] = {
            "slots": config.slots, "work_dir": config.work_dir, "flush_seconds": config.flush_seconds,
            "master": config.spark_master, "deploy_mode": config.spark_deploy_mode,
            "spark_submit": config.spark_submit, "python": config.spark_python,
            "driver_memory": config.spark_driver_memory, "executor_memory": config.spark_executor_memory,
            "rm_url": config.yarn_rm_url, "hadoop_conf_dir": config.hadoop_conf_dir,
            "spark_home": config.spark_home, "java_home": config.java_home, "local_ip": config.spark_local_ip,
            "hdfs": config.hdfs,
        }
        options.update(overrides)
        return cls(store, submitting=submitting, **options)

    # ---- building the command ----------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # the settings this engine was given, for spark-submit and the wrapper (no-ops when they came
        # from this environment)
        env.update(self.hdfs.environment())
        for name, value in (("SPARK_HOME", self.spark_home), ("JAVA_HOME", self.java_home),
                            ("SPARK_LOCAL_IP", self.local_ip)):
            if value:
                env[name] = value
        env["PYSPARK_PYTHON"] = self.python
        env["PYSPARK_DRIVER_PYTHON"] = self.python
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        if self.hadoop_conf_dir:
            env["HADOOP_CONF_DIR"] = self.hadoop_conf_dir
            env["YARN_CONF_DIR"] = self.hadoop_conf_dir
        env.update(kerberos_env(self.hdfs.security, env))
        if self.yarn and "PYSPARK_ARCHIVES_PATH" not in env:
            # pyspark's own Python archives are on every node with Spark: use them in place
            archives = sorted((Path(self.spark_submit).resolve().parents[1] / "python" / "lib").glob("*.zip"))
            if archives:
                env["PYSPARK_ARCHIVES_PATH"] = ",".join(f"local:{a}" for a in archives)
        return env

    def _common(self, name: str, tags: Sequence[str]) -> list[str]:
        jars = Path(self.spark_submit).resolve().parents[1] / "jars"
        conf: dict[str, str] = {
            "spark.ui.enabled": "false",
            "spark.driver.memory": self.driver_memory,
            "spark.executor.memory": self.executor_memory,
            "spark.executor.cores": str(self.executor_cores),
            "spark.pyspark.python": self.python,
            "spark.pyspark.driver.python": self.python,
            "spark.executorEnv.PYSPARK_PYTHON": self.python,
            "spark.executorEnv.PYTHONPATH": str(ROOT),
        }
        if self.yarn:
            java_home = self.java_home or str(Path(os.path.realpath(_which("java"))).parents[1])
            conf.update({
                "spark.yarn.jars": f"local:{jars}/*",
                "spark.yarn.tags": ",".join(["hypertuner", *tags]),
                "spark.yarn.submit.waitAppCompletion": "false",
                "spark.yarn.maxAppAttempts": "1",
                "spark.yarn.appMasterEnv.PYSPARK_PYTHON": self.python,
                "spark.yarn.appMasterEnv.PYTHONPATH": str(ROOT),
                "spark.yarn.appMasterEnv.JAVA_HOME": java_home,
                "spark.executorEnv.JAVA_HOME": java_home,
            })
            if self.local_ip:  # set here (a one-machine cluster): the containers need it too
                conf["spark.yarn.appMasterEnv.SPARK_LOCAL_IP"] = self.local_ip
                conf["spark.executorEnv.SPARK_LOCAL_IP"] = self.local_ip
        conf.update(self.conf)
        conf.update(kerberos_java_conf(self.hdfs.security, conf))
        argv = [self.spark_submit, "--master", self.master, "--deploy-mode", self.deploy_mode, "--name", name,
                *kerberos_submit_args(self.hdfs.security)]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        return argv

    def _wrapper_args(self, run: Run) -> list[str]:
        return ["--store", self.store.url, "--project", run.project, "--run", run.run_id,
                "--flush-seconds", str(self.flush_seconds), "--python", self.python]

    def _snapshot_archive(self, run: Run) -> list[str]:
        """``--archives <store snapshot>#snapshot`` where YARN can fetch it (HDFS stores)."""
        snapshot = self.store.fs.hdfs_path(self.store.snapshot_archive(run.snapshot_id))
        if not self.yarn or snapshot is None:
            return []
        default_fs = _default_fs(self.hadoop_conf_dir)
        return ["--archives", f"{default_fs}{snapshot}#snapshot"]

    # ---- the Engine interface ----------------------------------------------------------------
    def _queue(self, queue: str | None) -> list[str]:
        """``--queue Q`` for a batch (or a row) launched on a YARN resource option."""
        return ["--queue", queue] if self.yarn and queue else []

    def submit(self, run: Run, experiment: Experiment, *, generation: int = 0) -> str:
        exp = experiment.experiment_id
        argv = self._common(f"hypertuner {exp}", [exp]) + self._queue(run.yarn_queue_of(exp))
        archive = self._snapshot_archive(run)
        argv += archive
        argv += [str(JOBS / "experiment_job.py"), *self._wrapper_args(run), "--experiment", exp,
                 "--generation", str(generation)]
        if archive:
            argv += ["--snapshot-dir", "snapshot"]
        if self.work_dir:
            argv += ["--work-dir", self.work_dir]
        return self._launch(argv, exp)

    def submit_packed(self, run: Run, experiments: Sequence[Experiment]) -> str:
        """One application, one task per experiment; the same engine id for all of them."""
        ids = [e.experiment_id for e in experiments]
        argv = self._common(f"hypertuner {run.run_id} x{len(ids)}", [run.run_id]) + self._queue(run.yarn_queue)
        argv += ["--conf", "spark.task.maxFailures=1", "--conf", "spark.python.worker.reuse=false"]
        argv += [str(JOBS / "packed_run.py"), *self._wrapper_args(run), "--experiments", ",".join(ids)]
        return self._launch(argv, run.run_id)

    def _launch(self, argv: list[str], label: str) -> str:
        log = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            log = open(os.path.join(self.log_dir, f"{label}.spark-submit.log"), "ab")  # noqa: SIM115
        try:
            if self.yarn:
                return self._submit_to_yarn(argv, label, log)
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL,
                                        stderr=log or subprocess.DEVNULL, env=self._env(), start_new_session=True)
            except OSError as exc:
                raise EngineError(f"spark engine: cannot start {argv[0]!r} ({exc.strerror})") from exc
            track(self._children, proc)
            return pid_id("spark", proc.pid, start_ticks(proc.pid))
        finally:
            if log is not None:
                log.close()

    def _submit_to_yarn(self, argv: list[str], label: str, log: Any) -> str:
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=self._env(),
                                  timeout=SUBMIT_TIMEOUT, check=False)
        except OSError as exc:
            raise EngineError(f"spark engine: cannot start {argv[0]!r} ({exc.strerror})") from exc
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"spark engine: spark-submit for {label} did not hand the application to YARN "
                              f"within {SUBMIT_TIMEOUT:.0f} s") from exc
        output = (done.stdout or b"").decode(errors="replace") + (done.stderr or b"").decode(errors="replace")
        if log is not None:
            log.write(output.encode())
        found = _APP_ID.findall(output)
        if done.returncode != 0 or not found:
            lines = [ln for ln in output.splitlines() if ln.strip()]
            why = next((ln for ln in reversed(lines) if "Exception" in ln or "Error" in ln),
                       lines[-1] if lines else "no output")
            if "Connection refused" in output or "RetryingFailoverProxy" in output:
                why = f"the ResourceManager ({self.rm.url if self.rm else '?'}) is unreachable"
            raise EngineError(f"spark engine: spark-submit for {label} failed (exit {done.returncode}): "
                              f"{why.strip()[:300]}")
        return f"yarn:{found[0]}"

    def poll(self, engine_id: str) -> Liveness:
        kind, rest = engine_id.split(":", 1)
        if kind == "yarn":
            assert self.rm is not None
            return "gone" if self.rm.application(rest).terminal else "alive"
        pid, ticks = _parse_local(engine_id)
        return process_liveness(self._children, pid, ticks)

    def adopt(self, reported: Mapping[str, Any]) -> str | None:
        """``yarn:<application id>`` from the YARN container the wrapper reported running in."""
        found = _CONTAINER_ID.fullmatch(str(reported.get("container_id") or ""))
        return f"yarn:application_{found[1]}_{found[2]}" if found and self.yarn else None

    def ended_by(self, engine_id: str) -> str | None:
        kind, rest = engine_id.split(":", 1)
        if kind != "yarn":
            return None
        assert self.rm is not None
        report = self.rm.application(rest)
        if report.state != "KILLED" and report.final_status != "KILLED":
            return None
        said = report.diagnostics.strip().splitlines()[0][:200] if report.diagnostics.strip() else ""
        return f"YARN application {rest} was killed" + (f" ({said})" if said else "")

    def kill(self, engine_id: str, *, grace_seconds: float = 10.0) -> None:
        kind, rest = engine_id.split(":", 1)
        if kind == "yarn":
            assert self.rm is not None
            self.rm.kill(rest)
            deadline = time.time() + grace_seconds
            while time.time() < deadline and not self.rm.application(rest).terminal:
                time.sleep(0.2)
            return
        pid, _ = _parse_local(engine_id)  # spark-submit leads its session
        kill_session(pid, lambda: self.poll(engine_id) == "alive", grace_seconds)

    def capacity(self) -> Capacity:
        reap(self._children)
        if self.rm is not None:
            # Asked every gateway step: an unreachable RM stops submissions before anything is
            # claimed (spark-submit itself would wait for it, silently, for minutes).
            res = self.rm.resources()
            return Capacity(slots=self._yarn_slots(res.total_mb), running=res.apps_running)
        if self.fixed_slots:
            return Capacity(slots=self.fixed_slots, running=len(self._children))
        return Capacity(slots=os.cpu_count() or 1, running=len(self._children))

    def _yarn_slots(self, total_mb: int) -> int:
        per_app = _memory_mb(self.driver_memory) + _OVERHEAD_MB
        return self.fixed_slots or max(1, total_mb // per_app)

    def resources(self) -> Resources:
        """On YARN the ResourceManager's cluster resources and queues; else this machine's."""
        if self.rm is not None:
            res = self.rm.resources()
            return Resources(engine=self.name, where=self.rm.active_url, slots=self._yarn_slots(res.total_mb),
                             cluster=res)
        return Resources(engine=self.name, where=f"Spark master {self.master} on this machine",
                         slots=self.capacity().slots, cores=os.cpu_count() or 1, memory_gib=machine_memory_gib())

    def usage(self, engine_id: str) -> dict[str, Any]:
        kind, rest = engine_id.split(":", 1)
        if kind == "yarn":
            assert self.rm is not None
            report = self.rm.application(rest)
            # YARN adds a container's usage when the NodeManager reports it finished, a heartbeat
            # or two after the application itself finished: read the totals once they have settled.
            settled = report.terminal and time.time() * 1000 - report.finished_ms >= USAGE_SETTLE_SECONDS * 1000
            return report.usage() if settled else {}
        return {}


# ---- Kerberos ([security] auth = "kerberos") -------------------------------------------------------
#: The JVMs of a Spark application that talk to a Kerberized cluster: the driver (in cluster mode
#: the application master), the executors, and in client mode the application master.
_KRB5_JAVA_KEYS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions",
                   "spark.yarn.am.extraJavaOptions")


def kerberos_submit_args(security: SecuritySettings) -> list[str]:
    """``--principal/--keytab`` when [security] names both: spark-submit logs in from the keytab,
    ships it to the application master (which renews the delegation tokens of long runs). Without
    them spark-submit uses the ticket cache (``kinit``; ``KRB5CCNAME`` is passed on as is)."""
    if not security.kerberos or not (security.principal and security.keytab):
        return []
    return ["--principal", security.principal, "--keytab", security.keytab]


def _krb5_option(security: SecuritySettings) -> str:
    return f"-Djava.security.krb5.conf={security.krb5_conf}" if security.kerberos and security.krb5_conf else ""


def kerberos_java_conf(security: SecuritySettings, conf: Mapping[str, str]) -> dict[str, str]:
    """The ``extraJavaOptions`` that point Spark's JVMs at the cluster's krb5.conf (a JVM ignores
    ``KRB5_CONFIG``), appended to what ``conf`` already sets."""
    option = _krb5_option(security)
    if not option:
        return {}
    return {key: f"{conf[key]} {option}" if conf.get(key) else option
            for key in _KRB5_JAVA_KEYS if option not in conf.get(key, "")}


def kerberos_env(security: SecuritySettings, env: Mapping[str, str]) -> dict[str, str]:
    """spark-submit's own JVM: the krb5.conf option in ``SPARK_SUBMIT_OPTS`` (appended), and
    ``KRB5_CONFIG`` for anything MIT-based it starts."""
    option = _krb5_option(security)
    if not option:
        return {}
    current = env.get("SPARK_SUBMIT_OPTS", "")
    return {"KRB5_CONFIG": security.krb5_conf,
            "SPARK_SUBMIT_OPTS": current if option in current else f"{current} {option}".strip()}


def _parse_local(engine_id: str) -> tuple[int, str]:
    found = parse_pid_id("spark", engine_id)
    if found is None:
        raise EngineError(f"engine id {engine_id!r}: not a Spark engine id ('yarn:<app>' or 'spark:<pid>:<ticks>')")
    return found


def _which(name: str) -> str:
    import shutil

    found = shutil.which(name)
    if not found:
        raise ConfigError(f"JAVA_HOME: not set and no {name!r} on PATH; Spark needs a Java runtime")
    return found


def _default_fs(conf_dir: str) -> str:
    """``fs.defaultFS`` from core-site.xml (``hdfs://nn:8020``), without a trailing slash."""
    import xml.etree.ElementTree as ET

    path = Path(conf_dir) / "core-site.xml"
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(f"yarn.hadoop_conf_dir: cannot read {path} ({exc})") from exc
    for prop in root.iter("property"):
        if prop.findtext("name") == "fs.defaultFS":
            return (prop.findtext("value") or "").rstrip("/")
    raise ConfigError(f"yarn.hadoop_conf_dir: {path} sets no fs.defaultFS")
