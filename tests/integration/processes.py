"""Real processes for integration tests: the ``hypertuner`` CLI as a user runs it, a served dashboard.

Every process started here is ended here, by its PID, even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from workbench_plugin.index import ProjectIndex
from workbench_plugin.planning import launch, make_plan
from workbench_plugin.project import find_project
from workbench_plugin.snapshot import create_snapshot
from workbench_plugin.space import SearchSpec
from workbench_plugin.store import Experiment, Store

HYPERTUNER = [sys.executable, "-m", "workbench_plugin.cli"]


def launch_batch(store: Store, folder: Path, values: dict[str, object]) -> tuple[ProjectIndex, list[Experiment]]:
    """Queue a batch the way ``hypertuner run`` does, without running it."""
    settings = find_project(folder)
    store.create_project(settings.name, settings.root)
    snap = create_snapshot(store, folder, max_file_bytes=1 << 20)
    index = ProjectIndex(store, settings.name)
    plan = make_plan(settings, SearchSpec.parse(values), snap, index, max_batch=100)
    _, exps = launch(store, plan, engine="local")
    index.refresh()
    return index, exps


def make_demo(base: Path) -> tuple[Store, Path, ProjectIndex]:
    """``hypertuner demo --no-serve`` into a fresh store under ``base``: (store, folder, refreshed index)."""
    from workbench_plugin.demo import DEMO_NAME

    store = Store(str(base / "store"))
    folder = base / "digits"
    done = cli(store, "demo", "--no-serve", "--folder", str(folder))
    assert done.returncode == 0, done.stdout + done.stderr
    index = ProjectIndex(store, DEMO_NAME)
    index.refresh()
    return store, folder, index


def cli(store: Store, *argv: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``hypertuner --store STORE ARGV...`` to completion in a child process."""
    return subprocess.run([*HYPERTUNER, "--store", store.url, *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=_env(), check=False)


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def served_dashboard(store: Store, project: Path, log: Path, *, gateway: bool = False,
                     extra_env: dict[str, str] | None = None, timeout: float = 60) -> Iterator[str]:
    """``hypertuner serve`` in a child process; yields its URL once it answers; interrupts it after."""
    port = free_port()
    argv = [*HYPERTUNER, "--store", store.url, "serve", "--project", str(project), "--port", str(port)]
    if not gateway:
        argv.append("--no-gateway")
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**_env(), **(extra_env or {})})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"hypertuner serve exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"hypertuner serve did not answer on {url} in {timeout:.0f} s:\n"
                                     f"{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15) -> int:
    """Ctrl-C the process (what a user does), then kill it if it does not stop in ``grace`` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
