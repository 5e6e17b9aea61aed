"""A real mini Hadoop cluster (HDFS + YARN) on 127.0.0.1, for tests and hand trials.

One JVM (``src/main/java/hypertuner/minicluster/MiniCluster.java``, Hadoop 3.4.2 from Maven
Central) runs a NameNode with WebHDFS and one DataNode (``MiniDFSCluster``), a ResourceManager
with its REST API and one NodeManager (8 GiB, 8 vcores, one ``default`` queue). This module builds
it (Maven, once; a stamp of the sources makes later starts skip the build), chooses free ports,
starts it, waits until WebHDFS and the ResourceManager answer, and drives it over the JVM's stdin::

    with MiniCluster.start(Path("/tmp/mc")) as cluster:
        cluster.conf_dir      # HADOOP_CONF_DIR for spark-submit --master yarn, hdfs clients
        cluster.webhdfs_url   # http://127.0.0.1:<port>
        cluster.rm_url        # http://127.0.0.1:<port>  (REST: /ws/v1/cluster/...)
        cluster.stop_rm(); cluster.start_rm()   # same ports; the NodeManager registers again

From a shell: ``python -m scripts.minicluster.minicluster start --dir .minicluster`` (or
``make minicluster``) runs it in the foreground until Ctrl-C; type ``stop-rm`` / ``start-rm`` /
``status`` to drive it by hand. HDFS is formatted afresh at each start. The ResourceManager keeps
its applications across ``stop_rm``/``start_rm`` (recovery on, work-preserving: a running Spark
application finishes normally) but not across JVMs. The NodeManager has no web UI (one JVM-wide
Guice pipeline would let it take over the ResourceManager's REST API); container logs are under
``<workdir>/yarn/nm-logs``, the cluster's own under ``<workdir>/logs``.

Spark (pip's pyspark) submits to it with, besides ``HADOOP_CONF_DIR`` (see :meth:`MiniCluster.
client_env` and :meth:`MiniCluster.spark_conf`):

- ``SPARK_HOME=<site-packages>/pyspark`` so its ``bin/spark-submit`` does not hunt for one;
- ``spark.yarn.jars=local:<pyspark>/jars/*`` and ``PYSPARK_ARCHIVES_PATH=local:<pyspark>/python/
  lib/pyspark.zip,local:<...>/py4j-*-src.zip``: nothing but the script and ``__spark_conf__.zip``
  is uploaded per application;
- ``spark.yarn.appMasterEnv.PYSPARK_PYTHON`` and ``spark.executorEnv.PYSPARK_PYTHON`` = the
  venv's python; ``...JAVA_HOME`` for both (the NodeManager also passes its own JAVA_HOME on);
- ``SPARK_LOCAL_IP=127.0.0.1`` for the client and, through ``appMasterEnv``/``executorEnv``, for
  the driver and executors: when the hostname resolves to 127.0.0.1 Spark otherwise binds a
  non-loopback interface;
- 512m driver (the application master in cluster mode) and executor memory, one executor.

Kerberized mode, ``MiniCluster.start(workdir, kerberos=True)``: the same JVM also runs Hadoop's
MiniKdc (realm ``EXAMPLE.COM``, TCP on 127.0.0.1), and HDFS RPC, data transfer (SASL), WebHDFS
(SPNEGO), YARN RPC and the ResourceManager's REST API (SPNEGO) all require Kerberos. The cluster
hands out a test user ``<login user>@EXAMPLE.COM`` with its own keytab (:attr:`MiniCluster.
user_principal`, :attr:`MiniCluster.user_keytab`) and a krb5.conf for clients
(:attr:`MiniCluster.krb5_conf`, also ``conf/krb5.conf``). :meth:`MiniCluster.client_env` then adds
``KRB5_CONFIG`` and ``SPARK_SUBMIT_OPTS=-Djava.security.krb5.conf=...``, :meth:`MiniCluster.
spark_conf` the same JVM option for the driver, the executors and the application master;
spark-submit still needs ``--principal/--keytab`` or a ticket cache (``kinit``, ``KRB5CCNAME``).
Why each Hadoop setting is there is written next to it in ``MiniCluster.java``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

__all__ = ["MiniCluster", "MiniClusterError", "build", "spark_home"]

HERE = Path(__file__).resolve().parent
TARGET = HERE / "target"
LIB = TARGET / "lib"
JAR = LIB / "hypertuner-minicluster.jar"
STAMP = TARGET / "build.stamp"
MAIN_CLASS = "hypertuner.minicluster.MiniCluster"

#: The ports the JVM binds, all on 127.0.0.1, chosen here.
PORT_NAMES = (
    "nn-port", "nn-http-port", "dn-port", "dn-http-port", "dn-ipc-port",
    "rm-port", "rm-scheduler-port", "rm-tracker-port", "rm-admin-port", "rm-webapp-port",
    "nm-port", "nm-localizer-port", "nm-webapp-port",
)

#: Java 17 closes the JDK internals that Hadoop's Guice/cglib, Jersey and netty reach into;
#: without these the ResourceManager and NodeManager die in ExceptionInInitializerError.
JAVA_OPENS = tuple(
    f"--add-opens=java.base/{package}=ALL-UNNAMED"
    for package in (
        "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio",
        "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "sun.nio.ch",
        "sun.nio.cs", "sun.security.action", "sun.util.calendar",
    )
)
JVM_HEAP = "-Xmx2g"
#: MiniKdc refreshes the JDK's Kerberos configuration through sun.security.krb5.Config.
KERBEROS_JAVA_OPTS = (
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
)

BUILD_TIMEOUT = 900.0
COMMAND_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
LOG_TAIL_LINES = 25


class MiniClusterError(RuntimeError):
    """The mini cluster could not be built, started or driven; the message says why and what to do."""


# ---------------------------------------------------------------------------------------- build
def _source_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([HERE / "pom.xml", *(HERE / "src").rglob("*")]):
        if path.is_file():
            digest.update(str(path.relative_to(HERE)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise MiniClusterError(f"mini cluster: `{name}` is not on PATH; {hint}")
    return found


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return _tool("java", "install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME")


def _java_home(java: str) -> str:
    return str(Path(os.path.realpath(java)).parent.parent)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    TARGET.mkdir(parents=True, exist_ok=True)
    with open(TARGET / ".build.lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(*, force: bool = False) -> Path:
    """Build the cluster's jar and copy its dependencies into ``target/lib`` (once; a stamp of the
    sources makes later calls instant). Returns the folder of jars."""
    digest = _source_digest()
    if not force and JAR.is_file() and STAMP.is_file() and STAMP.read_text().strip() == digest:
        return LIB
    mvn = _tool("mvn", "install Maven 3.8+ (Debian: apt-get install maven); it fetches Hadoop's jars "
                       "from Maven Central once")
    _java()
    with _build_lock():
        if not force and JAR.is_file() and STAMP.is_file() and STAMP.read_text().strip() == digest:
            return LIB  # another process built it while we waited
        shutil.rmtree(LIB, ignore_errors=True)  # no stale jars from an older pom
        STAMP.unlink(missing_ok=True)
        command = [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(HERE / "pom.xml"), "package"]
        try:
            done = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise MiniClusterError(f"mini cluster: `{' '.join(command)}` did not finish in {BUILD_TIMEOUT:.0f} s "
                                   "(is Maven Central reachable?)") from exc
        if done.returncode != 0 or not JAR.is_file():
            tail = _tail_text(done.stdout + done.stderr)
            raise MiniClusterError(f"mini cluster: the Maven build failed (exit {done.returncode}) running "
                                   f"`{' '.join(command)}`; fix the error below and run it again.\n{tail}")
        STAMP.write_text(digest + "\n")
    return LIB


# ---------------------------------------------------------------------------------------- helpers
def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail_text(text: str, lines: int = LOG_TAIL_LINES) -> str:
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line[:400] for line in kept) or "    (empty)"


def _tail_file(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64_000))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "    (no log)"
    return _tail_text(text, lines)


def _get_json(url: str, timeout: float = 5.0) -> Any:
    """GET a JSON document; ``OSError`` (refused, reset, HTTP error) when it does not answer."""
    try:
        with urlopen(url, timeout=timeout) as response:
            return json.loads(response.read().decode())
    except HTTPError as exc:
        exc.close()
        raise


def _answers(url: str) -> bool:
    try:
        _get_json(url, timeout=3.0)
    except (OSError, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------------------- cluster
class MiniCluster:
    """A running mini cluster (one JVM). Start it with :meth:`start`; always :meth:`stop` it."""

    conf_dir: Path
    hdfs_url: str
    webhdfs_url: str
    rm_url: str

    def __init__(self, *, workdir: Path, process: subprocess.Popen[str], lines: queue.Queue[str | None],
                 reader: threading.Thread, err_handle: Any, ports: dict[str, int]) -> None:
        self.workdir = workdir
        self.conf_dir = workdir / "conf"
        self.log_path = workdir / "logs" / "minicluster.log"
        self.out_path = workdir / "logs" / "minicluster.out"
        self.ports = ports
        self.hdfs_url = f"hdfs://127.0.0.1:{ports['nn-port']}"
        self.webhdfs_url = f"http://127.0.0.1:{ports['nn-http-port']}"
        self.rm_url = f"http://127.0.0.1:{ports['rm-webapp-port']}"
        self.java_home = ""
        # Kerberized mode (start(kerberos=True)); empty otherwise.
        self.kerberos = False
        self.realm = ""
        self.krb5_conf = ""
        self.user_principal = ""
        self.user_keytab = ""
        self.service_principal = ""
        self._process = process
        self._lines = lines
        self._reader = reader
        self._err_handle = err_handle
        self._stopped = False

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"pid {self.pid}"
        return f"MiniCluster({self.workdir}, {state}, rm={self.rm_url}, webhdfs={self.webhdfs_url})"

    @property
    def pid(self) -> int:
        return self._process.pid

    # ---- start ---------------------------------------------------------------------------
    @classmethod
    def start(cls, workdir: Path, *, timeout: float = 300, nm_memory_mb: int = 8192, nm_vcores: int = 8,
              rm_recovery: bool = True, kerberos: bool = False,
              settings: Mapping[str, str] | None = None) -> MiniCluster:
        """Build if needed, start the JVM in ``workdir`` and wait until WebHDFS and the
        ResourceManager's REST API answer. ``rm_recovery`` keeps applications across
        :meth:`stop_rm`/:meth:`start_rm`, as on a production cluster. ``kerberos`` starts a KDC
        and requires Kerberos everywhere (module docstring); then "answers" means answers 401.
        ``settings``: more Hadoop settings (``--set key=value``), as in a second CapacityScheduler queue."""
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        java = _java()
        lib = build()
        for attempt in range(3):
            cluster = cls._launch(workdir, java, lib, nm_memory_mb=nm_memory_mb, nm_vcores=nm_vcores,
                                  rm_recovery=rm_recovery, kerberos=kerberos, settings=settings or {})
            try:
                cluster._await_ready(deadline, timeout)
                return cluster
            except MiniClusterError as exc:
                cluster.stop()
                port_clash = "BindException" in str(exc) or "Address already in use" in str(exc)
                if not port_clash or attempt == 2:
                    raise
            except BaseException:
                cluster.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def _launch(cls, workdir: Path, java: str, lib: Path, *, nm_memory_mb: int, nm_vcores: int,
                rm_recovery: bool, kerberos: bool = False,
                settings: Mapping[str, str] | None = None) -> MiniCluster:
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES)), strict=True))
        command = [
            java, JVM_HEAP, *JAVA_OPENS, f"-Dminicluster.log.file={logs / 'minicluster.log'}",
            "-cp", f"{lib / JAR.name}{os.pathsep}{lib}/*", MAIN_CLASS,
            "--work-dir", str(workdir), "--conf-dir", str(workdir / "conf"),
            *[part for name, port in ports.items() for part in (f"--{name}", str(port))],
            "--nm-memory-mb", str(nm_memory_mb), "--nm-vcores", str(nm_vcores),
            "--rm-recovery", str(rm_recovery).lower(),
            *[part for key, value in (settings or {}).items() for part in ("--set", f"{key}={value}")],
        ]
        if kerberos:
            command[2:2] = KERBEROS_JAVA_OPTS
            command += ["--kerberos", "true"]

        java_home = _java_home(java)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HADOOP_", "YARN_", "SPARK_"))}
        # The NodeManager hands JAVA_HOME and HADOOP_CONF_DIR on to every container it launches.
        env.update(JAVA_HOME=java_home, HADOOP_CONF_DIR=str(workdir / "conf"))
        err_handle = open(logs / "minicluster.out", "a")  # noqa: SIM115 - closed in stop()
        try:
            process = subprocess.Popen(
                command, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err_handle, text=True, bufsize=1, start_new_session=True,
            )
        except OSError as exc:
            err_handle.close()
            raise MiniClusterError(f"mini cluster: cannot run {java} ({exc}); "
                                   "install a JDK 17 or set JAVA_HOME") from exc
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(process, lines), name="minicluster-stdout", daemon=True)
        reader.start()
        cluster = cls(workdir=workdir, process=process, lines=lines, reader=reader, err_handle=err_handle,
                      ports=ports)
        cluster.java_home = java_home
        return cluster

    def _await_ready(self, deadline: float, timeout: float) -> None:
        line = self._expect("READY", deadline, what=f"start within {timeout:.0f} s")
        info = json.loads(line.split(" ", 1)[1])
        self.hdfs_url, self.webhdfs_url, self.rm_url = info["hdfs_url"], info["webhdfs_url"], info["rm_url"]
        self.conf_dir = Path(info["conf_dir"])
        if info.get("kerberos"):
            self.kerberos = True
            self.realm, self.krb5_conf = info["realm"], info["krb5_conf"]
            self.user_principal, self.user_keytab = info["user_principal"], info["user_keytab"]
            self.service_principal = info["service_principal"]
        while not (self._answers(f"{self.webhdfs_url}/webhdfs/v1/?op=GETFILESTATUS")
                   and self._live_nodes() >= 1):
            if time.monotonic() > deadline:
                raise self._error(f"WebHDFS ({self.webhdfs_url}) or the ResourceManager ({self.rm_url}) "
                                  f"did not answer within {timeout:.0f} s")
            time.sleep(0.2)

    # ---- control -------------------------------------------------------------------------
    def _send(self, command: str) -> None:
        if self._stopped or self._process.poll() is not None:
            raise self._error(f"cannot send {command!r}: the cluster is not running")
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
        except OSError as exc:
            raise self._error(f"cannot send {command!r}: {exc}") from exc

    def _expect(self, prefix: str, deadline: float, *, what: str) -> str:
        """The next protocol line starting with ``prefix``; an error for ``ERR`` or a dead JVM."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._error(f"the cluster did not {what}")
            try:
                line = self._lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if line is None:
                code = self._process.wait(timeout=10)
                raise self._error(f"the cluster JVM exited with code {code} before it could {what}")
            if line.startswith(prefix):
                return line
            if line.startswith("ERR "):
                raise self._error(f"the cluster answered: {line[4:]}")

    def _command(self, command: str, timeout: float = COMMAND_TIMEOUT) -> None:
        self._send(command)
        self._expect(f"OK {command}", time.monotonic() + timeout, what=f"acknowledge {command!r} in {timeout:.0f} s")

    def _answers(self, url: str) -> bool:
        """Whether ``url`` answers; on a Kerberized cluster a 401 (no ticket sent) counts."""
        if not self.kerberos:
            return _answers(url)
        try:
            _get_json(url, timeout=3.0)
        except HTTPError as exc:
            return exc.code == 401
        except (OSError, ValueError):
            return False
        return True

    def _live_nodes(self) -> int:
        if self.kerberos:
            # The REST API wants a ticket; the JVM counts its nodes itself.
            if not self._answers(f"{self.rm_url}/ws/v1/cluster/metrics"):
                return 0
            return int(self.status().get("live_nodes", 0))
        try:
            metrics = _get_json(f"{self.rm_url}/ws/v1/cluster/metrics", timeout=3.0)
        except (OSError, ValueError):
            return 0
        return int(metrics["clusterMetrics"]["activeNodes"])

    def stop_rm(self) -> None:
        """Stop the ResourceManager only (HDFS and the NodeManager keep running); returns once its
        REST API no longer answers."""
        self._command("stop-rm")
        self._until_silent(f"{self.rm_url}/ws/v1/cluster/info", "the ResourceManager", "stop-rm")

    def start_rm(self) -> None:
        """Start the ResourceManager again on the same ports; returns once its REST API answers
        and the NodeManager has registered again."""
        self._command("start-rm")
        deadline = time.monotonic() + 60
        while self._live_nodes() < 1:
            if time.monotonic() > deadline:
                raise self._error("the ResourceManager has no active node 60 s after start-rm")
            time.sleep(0.2)

    def stop_nn(self) -> None:
        """Stop the NameNode only (the DataNode, YARN and running containers keep going); returns
        once WebHDFS no longer answers."""
        self._command("stop-nn")
        self._until_silent(f"{self.webhdfs_url}/webhdfs/v1/?op=GETFILESTATUS", "WebHDFS", "stop-nn")

    def _until_silent(self, url: str, what: str, command: str, timeout: float = 30) -> None:
        """Return once ``url`` no longer answers (a stopped service)."""
        deadline = time.monotonic() + timeout
        while self._answers(url):
            if time.monotonic() > deadline:
                raise self._error(f"{what} still answers {timeout:.0f} s after {command}")
            time.sleep(0.1)

    def start_nn(self) -> None:
        """Start the NameNode again on the same ports with the same name folders; returns once
        the DataNode has reported its blocks and writes are accepted."""
        self._command("start-nn", timeout=120)

    def status(self) -> dict[str, Any]:
        """What the JVM reports: URLs, whether the ResourceManager runs, live nodes."""
        self._send("status")
        line = self._expect("OK status", time.monotonic() + 30, what="report its status")
        return dict(json.loads(line.split(" ", 2)[2]))

    # ---- clients -------------------------------------------------------------------------
    def client_env(self) -> dict[str, str]:
        """Environment for clients of this cluster (spark-submit, hdfs tools): add it to os.environ."""
        env = {"HADOOP_CONF_DIR": str(self.conf_dir), "JAVA_HOME": self.java_home, "SPARK_LOCAL_IP": "127.0.0.1"}
        if self.kerberos:
            env["KRB5_CONFIG"] = self.krb5_conf
            env["SPARK_SUBMIT_OPTS"] = f"-Djava.security.krb5.conf={self.krb5_conf}"
        home = spark_home()
        if home is not None:
            # spark-submit finds pyspark's own Spark; its Python archives are used in place, not uploaded.
            env["SPARK_HOME"] = home
            archives = sorted(Path(home, "python", "lib").glob("*.zip"))
            if archives:
                env["PYSPARK_ARCHIVES_PATH"] = ",".join(f"local:{path}" for path in archives)
        return env

    def spark_conf(self, python: str | None = None) -> dict[str, str]:
        """The ``--conf`` settings a ``spark-submit --master yarn`` needs on this cluster (module docstring)."""
        python = python or sys.executable
        conf = {
            "spark.master": "yarn",
            "spark.driver.memory": "512m",
            "spark.executor.memory": "512m",
            "spark.executor.instances": "1",
            "spark.executor.cores": "1",
            "spark.yarn.maxAppAttempts": "1",
            "spark.yarn.appMasterEnv.PYSPARK_PYTHON": python,
            "spark.executorEnv.PYSPARK_PYTHON": python,
            "spark.yarn.appMasterEnv.JAVA_HOME": self.java_home,
            "spark.executorEnv.JAVA_HOME": self.java_home,
            # Spark picks a non-loopback interface when the hostname resolves to 127.0.0.1.
            "spark.yarn.appMasterEnv.SPARK_LOCAL_IP": "127.0.0.1",
            "spark.executorEnv.SPARK_LOCAL_IP": "127.0.0.1",
        }
        if self.kerberos:
            option = f"-Djava.security.krb5.conf={self.krb5_conf}"
            for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions",
                        "spark.yarn.am.extraJavaOptions"):
                conf[key] = option
        home = spark_home()
        if home is not None:
            conf["spark.yarn.jars"] = f"local:{home}/jars/*"  # no jar upload per application
        return conf

    # ---- stop ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Shut the cluster down; kill the JVM (by PID) and its containers if it does not exit in time."""
        if self._stopped:
            return
        self._stopped = True
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert process.stdin is not None
                process.stdin.write("stop\n")
                process.stdin.flush()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        _kill_containers(self.workdir)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        self._reader.join(timeout=10)
        self._err_handle.close()

    def __enter__(self) -> MiniCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _error(self, what: str) -> MiniClusterError:
        return MiniClusterError(
            f"mini cluster in {self.workdir}: {what}. Its JVM (pid {self._process.pid}) logs to "
            f"{self.log_path} and {self.out_path}; check that java 17 and the ports on 127.0.0.1 are "
            f"usable, or rebuild with `mvn -f {HERE / 'pom.xml'} package`.\n"
            f"Last lines of {self.out_path.name}:\n{_tail_file(self.out_path)}\n"
            f"Last lines of {self.log_path.name}:\n{_tail_file(self.log_path)}"
        )


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Move the JVM's stdout (the protocol) into a queue; ``None`` marks its end."""
    stream = process.stdout
    try:
        if stream is not None:
            for line in stream:
                lines.put(line.rstrip("\n"))
    except (OSError, ValueError):
        pass
    finally:
        lines.put(None)


def _kill_containers(workdir: Path) -> None:
    """Kill container process groups the NodeManager left behind (only if the JVM died hard).

    The NodeManager writes each container's PID under nmPrivate and starts it with setsid, so the
    PID is also its process group; a process counts as ours only if it runs inside this workdir.
    """
    for pid_file in (workdir / "yarn" / "nm-local" / "nmPrivate").rglob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError):
            continue
        if cwd.startswith(str(workdir)):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def spark_home() -> str | None:
    """The Spark that pip's pyspark ships (its jars/, bin/spark-submit), found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parent)


# ---------------------------------------------------------------------------------------- CLI
def _serve(args: argparse.Namespace) -> int:
    started = time.monotonic()
    print(f"mini cluster: starting in {args.dir} (first run builds it with Maven) ...", flush=True)
    try:
        cluster = MiniCluster.start(Path(args.dir), timeout=args.timeout, kerberos=args.kerberos)
    except MiniClusterError as exc:
        print(exc, file=sys.stderr)
        return 1

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        print(f"mini cluster up in {time.monotonic() - started:.1f} s (JVM pid {cluster.pid})\n"
              f"  HDFS       {cluster.hdfs_url}\n"
              f"  WebHDFS    {cluster.webhdfs_url}/webhdfs/v1/\n"
              f"  YARN RM    {cluster.rm_url}  (REST {cluster.rm_url}/ws/v1/cluster/metrics)\n"
              f"  logs       {cluster.workdir / 'logs'}\n"
              f"  export HADOOP_CONF_DIR={cluster.conf_dir}\n"
              + (f"  export KRB5_CONFIG={cluster.krb5_conf}; kinit -kt {cluster.user_keytab} "
                 f"{cluster.user_principal}\n" if cluster.kerberos else "")
              + "Type stop-rm, start-rm or status; Ctrl-C stops the cluster.", flush=True)
        for raw in sys.stdin:
            command = raw.strip()
            if not command:
                continue
            try:
                if command == "stop-rm":
                    cluster.stop_rm()
                    print("ResourceManager stopped (HDFS and the NodeManager keep running)", flush=True)
                elif command == "start-rm":
                    cluster.start_rm()
                    print("ResourceManager running again, node registered", flush=True)
                elif command == "status":
                    print(json.dumps(cluster.status(), indent=2), flush=True)
                elif command in ("stop", "quit", "exit"):
                    break
                else:
                    print(f"unknown command {command!r}; use stop-rm, start-rm, status or stop", flush=True)
            except MiniClusterError as exc:
                print(exc, file=sys.stderr, flush=True)
        else:
            while cluster._process.poll() is None:  # stdin closed (not a terminal): run until a signal
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("mini cluster: stopping ...", flush=True)
        cluster.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.minicluster.minicluster",
                                     description="A real HDFS + YARN mini cluster on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="build if needed, start, run in the foreground until Ctrl-C")
    start.add_argument("--dir", required=True, help="work folder: HDFS data, YARN dirs, conf/, logs/")
    start.add_argument("--timeout", type=float, default=300, help="seconds to wait for the start (300)")
    start.add_argument("--kerberos", action="store_true", help="a Kerberized cluster with its own KDC (MiniKdc)")
    sub.add_parser("build", help="build the jars (Maven) and exit")
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            print(build(force=True))
        except MiniClusterError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
