"""Shared fixtures: a clean environment, a store per backend, a small project folder."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench_plugin.store import Store

ROOT = Path(__file__).resolve().parents[1]

#: Real components, started once per session when a test asks for them: Chromium, the mini cluster.
pytest_plugins = ["tests.browser_fixtures", "tests.cluster_fixtures"]

#: Store backends the shared store suite runs on. The HDFS backend joins with the cluster issue.
STORE_BACKENDS = ["local"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's HyperTuner settings or store."""
    for name in list(os.environ):
        if name.startswith("HYPERTUNER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HYPERTUNER_STORE", str(tmp_path_factory.mktemp("default-store")))


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield Store(str(tmp_path / "store"))
    else:  # pragma: no cover - filled in by the cluster backends
        raise AssertionError(f"unknown store backend {request.param}")


TINY_SCRIPT = textwrap.dedent(
    """
    import argparse, sys, time
    from workbench_plugin import tracking as ht
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--fail", type=int, default=0)
    a = ap.parse_args()
    for e in range(1, a.epochs + 1):
        ht.log(epoch=e, loss=a.x / e, acc=1 - a.x / (e + 1))
        print(f"epoch {e} done", flush=True)
        time.sleep(a.sleep)
    ht.summary(score=a.x * 10)
    if a.fail:
        print("something broke", file=sys.stderr)
        sys.exit(a.fail)
    """
)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "train.py").write_text(TINY_SCRIPT)
    (folder / "hypertuner.toml").write_text('[project]\nname = "tiny"\nscript = "train.py"\n')
    return folder


def python() -> str:
    return sys.executable


#: Figures a test measured, printed after the run's summary (``pytest -ra`` output, the CI log).
FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test appends here are printed at the end of the test session."""
    lines: list[str] = []
    yield lines
    request.config.stash.setdefault(FIGURES, []).extend(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("figures measured by the tests")
        for line in lines:
            terminalreporter.write_line(line)
