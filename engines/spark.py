"""SparkEngine: each experiment its own Spark application (on YARN: its own YARN application).

``spark-submit --master yarn --deploy-mode cluster spark_jobs/experiment_job.py ...`` runs the
experiment wrapper as the driver, in the ApplicationMaster's container. The snapshot travels
from the store (HDFS) as a YARN archive, unpacked by the NodeManager; Spark's own jars are never
uploaded per application (``spark.yarn.jars=local:...`` points at the jars installed on every
node, here pyspark's); Python resolves through ``PYSPARK_PYTHON`` and the AM's environment.
A run whose project names its environment ships a build image instead
(:mod:`workbench_plugin.build_image`: ``--archives <image>#env``, ``./env/bin/python``, Spark's
jars as ``spark.yarn.archive``, all uploaded to the store once).
The engine id is ``yarn:<application id>``; state, kill and usage come from the
ResourceManager.

spark-submit returns once the ResourceManager accepted the application
(``spark.yarn.submit.waitAppCompletion=false``, owned); the gateway runs up to
``yarn.submit_concurrency`` of these clients at once from threads (:attr:`submit_concurrency`), so
submissions overlap and the gateway never waits for one. The client and the ApplicationMaster are
short-lived JVMs that do no Spark work: they get :data:`SHORT_JVM_OPTIONS` (a user's settings win).

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
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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
from engines.resource_manager import ClusterResources, ResourceManagerClient
from engines.tokens import TOKEN_LINK, KeptToken, TokenKeeper, renewer_of, write_token_file
from workbench_plugin._exceptions import ConfigError, EngineError, StoreError
from workbench_plugin.build_image import (
    IMAGE_FOLDER,
    BuildImageError,
    ImageRecord,
    SparkArchives,
    build_image,
    default_progress,
    image_environment,
    image_path,
    spark_archives,
)
from workbench_plugin.config import ENV_TOKEN_FILE, Config, HdfsSettings, SecuritySettings
from workbench_plugin.spark_settings import (
    OWNED_KEYS,
    RUN_MAX_RUNNING,
    QueueSlots,
    app_memory_mb,
    container_env_conf,
    queue_slots,
)
from workbench_plugin.store import Experiment, Run, Store

__all__ = ["SparkEngine"]

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "spark_jobs"
_APP_ID = re.compile(r"application_\d+_\d+")
#: ``container_[e<epoch>_]<cluster timestamp>_<application>_<attempt>_<container>``
_CONTAINER_ID = re.compile(r"container_(?:e\d+_)?(\d+)_(\d+)_\d+_\d+")
#: Seconds after an application finished before its usage totals are read as final.
USAGE_SETTLE_SECONDS = 8.0
#: The Python of a build image, in the container's working folder (the archive unpacks as ``env``).
IMAGE_PYTHON = "./env/bin/python"
#: Seconds spark-submit may take to hand an application to YARN.
SUBMIT_TIMEOUT = 180.0
#: JVM options for the short-lived JVMs of one application per experiment on YARN: the spark-submit
#: client (``SPARK_SUBMIT_OPTS``) and the ApplicationMaster that hosts the driver (cluster mode,
#: ``spark.driver.extraJavaOptions``). Neither runs Spark work (the driver asks for no executors):
#: the client quick compiler alone and one GC thread nearly halve their CPU (bench/yarn_overhead.py:
#: spark-submit 4.6 against 7.9 CPU-seconds, the AM until the script starts 5.1 against 9.7). A
#: user's settings, and their ``SPARK_SUBMIT_OPTS``, come after these and win.
SHORT_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


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
        hdfs: HdfsSettings | None = None, submitting: bool = True, max_running: int = 0,
        image: str = "auto", docker_image: str = "",
        image_progress: Callable[[str], None] | None = default_progress, submit_concurrency: int = 4,
    ) -> None:
        """``submitting=False``: an engine only asked about capacity and resources (``hypertuner
        resources``), which needs neither spark-submit nor the Hadoop configuration folder.

        ``image`` (``spark.image``: auto, always, off) and ``docker_image`` choose what the YARN
        containers run (:meth:`_image_for`); ``image_progress`` gets the build lines."""
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
        self.conf = dict(conf or {})  # [spark.conf]: over the engine's defaults, under a run's own
        self.max_running = max_running  # [yarn] max_running: this user's applications at once; 0: no limit
        self.hadoop_conf_dir = hadoop_conf_dir
        self.java_home = java_home
        self.local_ip = local_ip
        self.hdfs = hdfs
        self.log_dir = log_dir
        if self.yarn and submitting and not self.hadoop_conf_dir:
            raise ConfigError("yarn.hadoop_conf_dir: empty; spark-submit --master yarn needs the cluster's "
                              "configuration folder (core-site.xml, yarn-site.xml): set HADOOP_CONF_DIR")
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        image_environment(image, "", "")  # validates the mode
        self.image = image
        self.docker_image = docker_image
        self.image_progress = image_progress
        self._images: dict[str, ImageRecord | None] = {}  # run id -> its image (built once per run)
        self._spark_libs: SparkArchives | None = None  # Spark's jars and Python archives in the store
        self._tokens: TokenKeeper | None = None  # HDFS delegation tokens for the containers (Kerberos)
        # packed submissions and clients that return at once (local, spark://) stay in the gateway's step
        self.submit_concurrency = max(1, submit_concurrency) if self.yarn else 1
        self._prepare = threading.RLock()  # images, Spark's archives, tokens: one submission at a time

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
            "hdfs": config.hdfs, "conf": dict(config.spark_conf), "max_running": config.yarn_max_running,
            "image": config.spark_image, "docker_image": config.spark_docker_image,
            "submit_concurrency": config.yarn_submit_concurrency,
        }
        options.update(overrides)
        return cls(store, submitting=submitting, **options)

    # ---- building the command ----------------------------------------------------------------
    def _env(self, *, image: bool = False) -> dict[str, str]:
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
        if image:
            _without_checkout(env)
            if self._spark_libs is not None and "PYSPARK_ARCHIVES_PATH" not in env:
                env["PYSPARK_ARCHIVES_PATH"] = ",".join(self._hdfs_url(p) for p in self._spark_libs.python)
        if self.yarn and "PYSPARK_ARCHIVES_PATH" not in env:
            # pyspark's own Python archives are on every node with Spark: use them in place
            archives = sorted((Path(self.spark_submit).resolve().parents[1] / "python" / "lib").glob("*.zip"))
            if archives:
                env["PYSPARK_ARCHIVES_PATH"] = ",".join(f"local:{a}" for a in archives)
        return env

    def _common(self, name: str, tags: Sequence[str], user_conf: Mapping[str, str] | None = None,
                image: ImageRecord | None = None, defaults: Mapping[str, str] | None = None) -> list[str]:
        """spark-submit and its ``--conf`` settings: the engine's defaults (and ``defaults``), the
        HYPERTUNER_* settings the containers need, the build image's, then ``user_conf``
        (:meth:`_user_conf`), then the settings HyperTuner owns."""
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
            **(defaults or {}),
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
            conf.update(container_env_conf(self.hdfs.environment()))
        user = dict(self.conf if user_conf is None else user_conf)
        conf.update(self._image_conf(image))
        if image is not None:  # the image carries our code: no path to the gateway's checkout
            conf.pop("spark.executorEnv.PYTHONPATH", None)
            conf.pop("spark.yarn.appMasterEnv.PYTHONPATH", None)
            libs = self._spark_libs_conf(user)
            if libs:  # spark.yarn.jars, even empty, would win over the archive
                conf.pop("spark.yarn.jars", None)
            conf.update(libs)
        conf.update(self._docker_conf())
        conf.update(user)
        if self.yarn:  # owned: refused in every layer when loaded, and set last here all the same
            conf.update({"spark.yarn.tags": ",".join(["hypertuner", *tags]),
                         "spark.yarn.submit.waitAppCompletion": "false"})
            for key in OWNED_KEYS.keys() - {"spark.yarn.tags", "spark.yarn.submit.waitAppCompletion"}:
                conf.pop(key, None)
        conf.update(kerberos_java_conf(self.hdfs.security, conf))
        argv = [self.spark_submit, "--master", self.master, "--deploy-mode", self.deploy_mode, "--name", name,
                *kerberos_submit_args(self.hdfs.security)]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        return argv

    def _wrapper_args(self, run: Run, image: ImageRecord | None = None) -> list[str]:
        # with an image the wrapper runs the script with the image's Python (made absolute there)
        python = IMAGE_PYTHON if image is not None else self.python
        return ["--store", self.store.url, "--project", run.project, "--run", run.run_id,
                "--flush-seconds", str(self.flush_seconds), "--python", python]

    def _snapshot_archive(self, run: Run) -> list[str]:
        """``--archives <store snapshot>#snapshot`` where YARN can fetch it (HDFS stores)."""
        snapshot = self.store.fs.hdfs_path(self.store.snapshot_archive(run.snapshot_id))
        if not self.yarn or snapshot is None:
            return []
        default_fs = _default_fs(self.hadoop_conf_dir)
        return ["--archives", f"{default_fs}{snapshot}#snapshot"]

    def _user_conf(self, run: Run, experiment_id: str | None = None) -> dict[str, str]:
        """The user's Spark settings for ``run`` (or one experiment of it): ``[spark.conf]``, then the
        batch's resource option's queue, then what the run recorded (its option's settings and
        ``--conf``), then the queue of a row launched on an option of its own."""
        conf = dict(self.conf)
        queue = run.yarn_queue
        if queue:  # runs recorded before their settings were: only the queue
            conf["spark.yarn.queue"] = queue
        conf.update(run.spark_conf)
        row_queue = run.yarn_queue_of(experiment_id) if experiment_id else None
        if row_queue and row_queue != queue:
            conf["spark.yarn.queue"] = row_queue
        return conf

    # ---- build images (workbench_plugin.build_image) ------------------------------------------
    def _image_for(self, run: Run) -> ImageRecord | None:
        """The run's build image, built and uploaded at its first submission (once per store, as the
        id is the environment's content): on YARN with an HDFS store, no Docker image, and
        ``spark.image`` asking for one (:func:`image_environment`). None: today's behaviour."""
        if not self.yarn or self.docker_image or self.store.fs.hdfs_path(IMAGE_FOLDER) is None:
            return None
        environment = image_environment(self.image, run.interpreter, self.python)
        if environment is None:
            return None
        if run.run_id not in self._images:
            try:
                self._images[run.run_id] = build_image(self.store, environment, progress=self.image_progress)
            except BuildImageError as exc:
                raise EngineError(f"spark engine: {exc}") from exc
        return self._images[run.run_id]

    def _spark_libs_conf(self, user_conf: Mapping[str, str]) -> dict[str, str]:
        """With an image, Spark's jars travel too (``spark.yarn.archive`` on HDFS, uploaded once), so
        a NodeManager needs nothing but Java and YARN; unless the user's settings name
        spark.yarn.jars/archive."""
        if any(key in user_conf for key in ("spark.yarn.jars", "spark.yarn.archive")):
            return {}
        if self._spark_libs is None:
            home = Path(self.spark_submit).resolve().parents[1]
            try:
                self._spark_libs = spark_archives(self.store, home, progress=self.image_progress)
            except BuildImageError as exc:
                raise EngineError(f"spark engine: {exc}") from exc
        return {"spark.yarn.archive": self._hdfs_url(self._spark_libs.archive)}

    def _hdfs_url(self, store_path: str) -> str:
        path = self.store.fs.hdfs_path(store_path)
        assert path is not None  # images are used only with an HDFS store
        return f"{_default_fs(self.hadoop_conf_dir)}{path}"

    def _image_archive(self, image: ImageRecord | None) -> list[str]:
        """``--archives <hdfs url of the image>#env``."""
        path = self.store.fs.hdfs_path(image_path(image.image_id)) if image is not None else None
        if path is None:
            return []
        return ["--archives", f"{_default_fs(self.hadoop_conf_dir)}{path}#env"]

    @staticmethod
    def _image_conf(image: ImageRecord | None) -> dict[str, str]:
        """Every Python of the application is the image's (``./env/bin/python``); our code comes from
        the image too, so no PYTHONPATH to the gateway's checkout."""
        if image is None:
            return {}
        return {key: IMAGE_PYTHON for key in (
            "spark.pyspark.python", "spark.pyspark.driver.python", "spark.executorEnv.PYSPARK_PYTHON",
            "spark.yarn.appMasterEnv.PYSPARK_PYTHON")}

    def _docker_conf(self) -> dict[str, str]:
        """YARN's Docker runtime for the ApplicationMaster and the executors (``spark.docker_image``)."""
        if not self.yarn or not self.docker_image:
            return {}
        conf: dict[str, str] = {}
        for prefix in ("spark.yarn.appMasterEnv.", "spark.executorEnv."):
            conf[f"{prefix}YARN_CONTAINER_RUNTIME_TYPE"] = "docker"
            conf[f"{prefix}YARN_CONTAINER_RUNTIME_DOCKER_IMAGE"] = self.docker_image
        return conf

    # ---- the Engine interface ----------------------------------------------------------------
    def submit(self, run: Run, experiment: Experiment, *, generation: int = 0) -> str:
        """The experiment as its own application; on YARN this returns once the ResourceManager
        accepted it (``spark.yarn.submit.waitAppCompletion=false``): its state comes from the RM.
        Safe to call from several threads (:attr:`submit_concurrency`)."""
        exp = experiment.experiment_id
        # the driver (the ApplicationMaster's JVM in cluster mode) runs no Spark work
        defaults = {"spark.driver.extraJavaOptions": SHORT_JVM_OPTIONS} if self._short_jvms else {}
        with self._prepare:
            image = self._image_for(run)
            argv = self._common(f"hypertuner {exp}", [exp], self._user_conf(run, exp), image, defaults)
        archive = self._snapshot_archive(run)
        argv += _merge_archives(archive, self._image_archive(image))
        argv += [str(JOBS / "experiment_job.py"), *self._wrapper_args(run, image), "--experiment", exp,
                 "--generation", str(generation)]
        if archive:
            argv += ["--snapshot-dir", "snapshot"]
        if self.work_dir:
            argv += ["--work-dir", self.work_dir]
        return self._launch_with_token(argv, exp, image=image is not None)

    def submit_packed(self, run: Run, experiments: Sequence[Experiment]) -> str:
        """One application, one task per experiment; the same engine id for all of them."""
        ids = [e.experiment_id for e in experiments]
        image = self._image_for(run)
        argv = self._common(f"hypertuner {run.run_id} x{len(ids)}", [run.run_id], self._user_conf(run), image)
        # Python workers are reused: a fresh one per task cost seconds (measured 2.6 s a task against
        # 0.25 s on a busy 2-core machine); each experiment's script still runs as its own process
        argv += ["--conf", "spark.task.maxFailures=1", "--conf", "spark.python.worker.reuse=true"]
        argv += self._image_archive(image)
        argv += [str(JOBS / "packed_run.py"), *self._wrapper_args(run, image), "--experiments", ",".join(ids)]
        return self._launch_with_token(argv, run.run_id, image=image is not None)

    def _launch(self, argv: list[str], label: str, *, image: bool = False) -> str:
        log = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            log = open(os.path.join(self.log_dir, f"{label}.spark-submit.log"), "ab")  # noqa: SIM115
        try:
            if self.yarn:
                return self._submit_to_yarn(argv, label, log, image=image)
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

    @property
    def _short_jvms(self) -> bool:
        """On YARN in cluster mode, the client and the ApplicationMaster are short-lived and do no
        Spark work (:data:`SHORT_JVM_OPTIONS`)."""
        return self.yarn and self.deploy_mode == "cluster"

    def _submit_to_yarn(self, argv: list[str], label: str, log: Any, *, image: bool = False) -> str:
        env = self._env(image=image)
        if self._short_jvms:  # the user's own SPARK_SUBMIT_OPTS come after, and win
            env["SPARK_SUBMIT_OPTS"] = f"{SHORT_JVM_OPTIONS} {env.get('SPARK_SUBMIT_OPTS', '')}".strip()
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
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

    # ---- HDFS delegation tokens (engines.tokens) --------------------------------------------
    def _token_keeper(self) -> TokenKeeper | None:
        """The keeper of this engine's tokens: on YARN, with [security] auth kerberos and an HDFS
        store (its filesystem hands out tokens); None otherwise (open clusters get none)."""
        if not (self.yarn and self.hdfs.security.kerberos):
            return None
        if self._tokens is None:
            fs = self.store.fs
            fs = getattr(fs, "inner", fs)  # the patient wrapper around WebHDFS
            if not hasattr(fs, "get_delegation_token"):
                return None
            self._tokens = TokenKeeper(fs, renewer_of(self.hdfs))
        return self._tokens

    def _launch_with_token(self, argv: list[str], label: str, *, image: bool = False) -> str:
        """:meth:`_launch`, with a new HDFS delegation token shipped to the application when the
        cluster is Kerberized (:func:`token_args`); the private file is removed once spark-submit
        has copied it into the application's staging folder, the token kept for renewal."""
        with self._prepare:
            keeper = self._token_keeper()
            try:
                token = keeper.issue() if keeper is not None else None
            except StoreError as exc:
                raise EngineError(f"spark engine: no HDFS delegation token for {label}: {exc}") from exc
        if keeper is None or token is None:  # open clusters; or the NameNode hands out none (no HDFS security)
            return self._launch(argv, label, image=image)
        with tempfile.TemporaryDirectory(prefix="hypertuner-token-") as folder:
            os.chmod(folder, 0o700)
            path = write_token_file(token.token, folder)
            try:
                engine_id = self._launch(token_args(argv, path), label, image=image)
            except EngineError:
                with self._prepare:
                    keeper.discard(token)
                raise
        with self._prepare:
            keeper.keep(engine_id, token)
        return engine_id

    def tend_credentials(self) -> list[str]:
        """Renew the delegation tokens of applications still running, cancel those of ended ones
        (the gateway calls this at each step); the lines saying what failed, for the gateway's log."""
        if self._tokens is None:
            return []
        with self._prepare:  # submissions in flight add tokens
            if self._tokens.tokens:
                self._tokens.tend(lambda engine_id: self.poll(engine_id) == "alive")
            problems, self._tokens.problems = self._tokens.problems, []
        return problems

    def kept_tokens(self) -> dict[str, KeptToken]:
        """The tokens kept now, by engine id (for ``hypertuner`` diagnostics and tests)."""
        with self._prepare:
            return dict(self._tokens.tokens) if self._tokens is not None else {}

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

    def capacity(self, run: Run | None = None) -> Capacity:
        """Slots: on YARN, as many applications as the queue (``run``'s when given, else the
        configured one) holds, at most the user's limit; ``engine.slots`` when set."""
        reap(self._children)
        if self.rm is not None:
            # Asked every gateway step: an unreachable RM stops submissions before anything is
            # claimed (spark-submit itself would wait for it, silently, for minutes).
            res = self.rm.resources()
            return Capacity(slots=self.fixed_slots or self.queue_slots(res, run).slots, running=res.apps_running)
        if self.fixed_slots:
            return Capacity(slots=self.fixed_slots, running=len(self._children))
        return Capacity(slots=os.cpu_count() or 1, running=len(self._children))

    def queue_slots(self, res: ClusterResources, run: Run | None = None) -> QueueSlots:
        """How many applications the queue ``run`` is submitted to holds (see
        :func:`~workbench_plugin.spark_settings.queue_slots`); a queue the scheduler does not list
        counts as the whole cluster."""
        conf = {"spark.driver.memory": self.driver_memory, "spark.executor.memory": self.executor_memory,
                **(self._user_conf(run) if run is not None else self.conf)}
        wanted = conf.get("spark.yarn.queue") or "default"
        found = next((q for q in res.queues if q.name in (wanted, f"root.{wanted}")
                      or q.name.rsplit(".", 1)[-1] == wanted), None)
        limit = self.max_running
        if run is not None and isinstance(run.extra.get(RUN_MAX_RUNNING), int):
            limit = run.extra[RUN_MAX_RUNNING]
        return queue_slots(found.name if found else wanted, res.total_mb,
                           found.max_capacity_percent if found else 100.0, app_memory_mb(conf), limit)

    def resources(self) -> Resources:
        """On YARN the ResourceManager's cluster resources and queues; else this machine's."""
        if self.rm is not None:
            res = self.rm.resources()
            queue = self.queue_slots(res)
            return Resources(engine=self.name, where=self.rm.active_url, slots=self.fixed_slots or queue.slots,
                             cluster=res, notes=(queue.describe(),))
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


def token_args(argv: list[str], token_path: str) -> list[str]:
    """``argv`` (a spark-submit command line) with the token file shipped as a local resource
    (``--files <path>#hypertuner.token``, in the user-private ``.sparkStaging`` folder) and
    ``HYPERTUNER_HDFS_TOKEN_FILE`` naming it in the ApplicationMaster's and executors' containers
    (relative: the wrapper makes it absolute in its working directory). Inserted before the
    application's script (one of :data:`JOBS`)."""
    jobs = f"{JOBS}{os.sep}"
    at = next((i for i, arg in enumerate(argv) if arg.startswith(jobs)), len(argv))
    extra = ["--files", f"{token_path}#{TOKEN_LINK}"]
    for prefix in ("spark.yarn.appMasterEnv.", "spark.executorEnv."):
        extra += ["--conf", f"{prefix}{ENV_TOKEN_FILE}={TOKEN_LINK}"]
    return [*argv[:at], *extra, *argv[at:]]


def _merge_archives(*groups: list[str]) -> list[str]:
    """One ``--archives a,b`` from several ``["--archives", a]`` (spark-submit keeps only the last)."""
    entries = [entry for group in groups for entry in group[1:]]
    return ["--archives", ",".join(entries)] if entries else []


def _without_checkout(env: dict[str, str]) -> None:
    """spark-submit's environment without our checkout on PYTHONPATH: Spark's YARN client copies
    its PYTHONPATH into the ApplicationMaster's, where the image's copy of our code must win."""
    env.pop("PYTHONPATH", None)


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
