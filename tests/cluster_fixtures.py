"""A real mini cluster (HDFS + YARN on 127.0.0.1), started once per test session and always stopped.

It needs java 17 and Maven (the first start builds it from Maven Central). If it cannot start, the
tests that use it fail with the reason and the tail of its logs; they are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.minicluster.minicluster import MiniCluster, MiniClusterError


@pytest.fixture(scope="session")
def minicluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniCluster]:
    workdir = tmp_path_factory.mktemp("minicluster")
    try:
        cluster = MiniCluster.start(workdir)
    except MiniClusterError as exc:
        pytest.fail(f"the mini cluster did not start: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()
