"""engines.tokens: when delegation tokens are renewed and cancelled (a fake clock and an in-memory
NameNode; the real one is in tests/cluster/test_kerberized_engine.py), how the token file is
written, and how spark-submit's command line carries it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engines.spark import JOBS, token_args
from engines.tokens import TOKEN_LINK, TokenKeeper, renewer_of, write_token_file
from workbench_plugin._exceptions import StoreError
from workbench_plugin.config import HdfsSettings, SecuritySettings
from workbench_plugin.webhdfs import DelegationToken

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class NameNode:
    """Hands out tokens that expire a day after each renewal, as dfs.namenode.delegation.token.renew-interval."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.renewals: list[str] = []
        self.cancelled: list[str] = []
        self.issued = 0
        self.down = False

    def get_delegation_token(self, renewer: str) -> DelegationToken | None:
        self.issued += 1
        return DelegationToken(f"tok{self.issued}-{renewer}")

    def renew_delegation_token(self, token: str) -> int:
        if self.down:
            raise StoreError("webhdfs: http://nn:9870 is unreachable")
        self.renewals.append(token)
        return int((self.clock.now + DAY) * 1000)

    def cancel_delegation_token(self, token: str) -> None:
        self.cancelled.append(token)


def test_a_token_is_renewed_after_three_quarters_of_its_interval_while_its_application_runs() -> None:
    clock = Clock()
    nn = NameNode(clock)
    keeper = TokenKeeper(nn, "alice", clock=clock)
    token = keeper.issue()
    assert token is not None and token.token == "tok1-alice"
    assert token.expires_at == clock.now + DAY  # learned from a first renewal
    keeper.keep("yarn:application_1_0001", token)
    nn.renewals.clear()

    clock.now += 0.74 * DAY
    assert keeper.tend(lambda _id: True) == [] and nn.renewals == []
    clock.now += 0.02 * DAY
    assert keeper.tend(lambda _id: True) == ["yarn:application_1_0001"]
    assert token.expires_at == clock.now + DAY  # the NameNode's new expiry
    # the next renewal counts from this one
    clock.now += 0.5 * DAY
    assert keeper.tend(lambda _id: True) == []


def test_a_failed_renewal_is_said_and_tried_again_at_the_next_step() -> None:
    clock = Clock()
    nn = NameNode(clock)
    keeper = TokenKeeper(nn, "alice", clock=clock)
    token = keeper.issue()
    assert token is not None
    keeper.keep("yarn:application_1_0001", token)
    clock.now += 0.8 * DAY
    nn.down = True
    assert keeper.tend(lambda _id: True) == []
    assert keeper.problems and "unreachable" in keeper.problems[-1]
    nn.down = False
    assert keeper.tend(lambda _id: True) == ["yarn:application_1_0001"]


def test_the_token_of_an_ended_application_is_cancelled_once() -> None:
    clock = Clock()
    nn = NameNode(clock)
    keeper = TokenKeeper(nn, "alice", clock=clock)
    for app in ("yarn:a", "yarn:b"):
        token = keeper.issue()
        assert token is not None
        keeper.keep(app, token)
    keeper.tend(lambda engine_id: engine_id == "yarn:b")
    assert nn.cancelled == ["tok1-alice"] and list(keeper.tokens) == ["yarn:b"]
    keeper.tend(lambda engine_id: engine_id == "yarn:b")
    assert nn.cancelled == ["tok1-alice"]
    keeper.cancel_all()
    assert nn.cancelled == ["tok1-alice", "tok2-alice"] and not keeper.tokens


def test_an_open_cluster_hands_out_no_token() -> None:
    class Open(NameNode):
        def get_delegation_token(self, renewer: str) -> DelegationToken | None:
            return None

    assert TokenKeeper(Open(Clock()), "alice").issue() is None


def test_the_renewer_is_the_gateways_short_name() -> None:
    kerberos = SecuritySettings(auth="kerberos", principal="alice/gw.example.com@EXAMPLE.COM")
    assert renewer_of(HdfsSettings(security=kerberos)) == "alice"
    assert renewer_of(HdfsSettings(user="bob", security=SecuritySettings(auth="kerberos"))) == "bob"


def test_the_token_file_is_private(tmp_path: Path) -> None:
    path = write_token_file("abc_DEF-1", str(tmp_path))
    assert Path(path).read_text() == "abc_DEF-1"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_the_token_travels_as_a_local_resource_named_in_the_containers_environment() -> None:
    script = str(JOBS / "experiment_job.py")
    argv = ["spark-submit", "--master", "yarn", "--conf", "spark.a=b", "--archives", "x#snapshot",
            script, "--store", "s"]
    shipped = token_args(argv, "/tmp/t/hypertuner-1.token")
    at = shipped.index(script)
    assert shipped[at:] == [script, "--store", "s"]  # the script's own arguments untouched
    assert shipped[shipped.index("--files") + 1] == f"/tmp/t/hypertuner-1.token#{TOKEN_LINK}"
    assert f"spark.yarn.appMasterEnv.HYPERTUNER_HDFS_TOKEN_FILE={TOKEN_LINK}" in shipped[:at]
    assert f"spark.executorEnv.HYPERTUNER_HDFS_TOKEN_FILE={TOKEN_LINK}" in shipped[:at]


def test_the_wrapper_makes_the_token_file_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spark_jobs.experiment_wrapper import absolute_token_file

    monkeypatch.chdir(tmp_path)
    env = {"HYPERTUNER_HDFS_TOKEN_FILE": TOKEN_LINK}
    absolute_token_file(env)
    assert env["HYPERTUNER_HDFS_TOKEN_FILE"] == str(tmp_path / TOKEN_LINK)
    empty: dict[str, str] = {}
    absolute_token_file(empty)
    assert empty == {}


def test_only_a_kerberized_yarn_engine_with_an_hdfs_store_hands_out_tokens(tmp_path: Path) -> None:
    from engines.spark import SparkEngine
    from workbench_plugin.store import Store

    kerberos = HdfsSettings(security=SecuritySettings(auth="kerberos", principal="alice@EXAMPLE.COM"))
    # the store's filesystem: anything that hands out tokens (a real one would log in here)
    hdfs_store = Store("webhdfs://127.0.0.1:9/hypertuner", fs=NameNode(Clock()))  # type: ignore[arg-type]

    def engine(store: Store, hdfs: HdfsSettings) -> SparkEngine:
        return SparkEngine(store, rm_url="http://127.0.0.1:9", submitting=False, hdfs=hdfs)

    assert engine(Store("webhdfs://127.0.0.1:9/hypertuner"), HdfsSettings())._token_keeper() is None  # open
    assert engine(Store(str(tmp_path / "store")), kerberos)._token_keeper() is None  # a local store
    keeper = engine(hdfs_store, kerberos)._token_keeper()
    assert keeper is not None and keeper.renewer == "alice"
    assert engine(hdfs_store, HdfsSettings()).kept_tokens() == {}


def test_the_engine_hands_renewal_problems_to_the_gateway_once() -> None:
    from engines.spark import SparkEngine
    from workbench_plugin.store import Store

    clock = Clock()
    nn = NameNode(clock)
    kerberos = HdfsSettings(security=SecuritySettings(auth="kerberos", principal="alice@EXAMPLE.COM"))
    engine = SparkEngine(Store("webhdfs://127.0.0.1:9/hypertuner", fs=nn),  # type: ignore[arg-type]
                         rm_url="http://127.0.0.1:9", submitting=False, hdfs=kerberos)
    keeper = engine._token_keeper()
    assert keeper is not None
    keeper.clock = clock
    token = keeper.issue()
    assert token is not None
    keeper.keep("yarn:application_1_0001", token)
    engine.poll = lambda _engine_id: "alive"  # type: ignore[method-assign]
    clock.now += DAY
    nn.down = True
    [line] = engine.tend_credentials()
    assert "renewing the HDFS delegation token of yarn:application_1_0001" in line and "unreachable" in line
    assert engine.tend_credentials() != [] and keeper.problems == []  # said again at the next failed step
    nn.down = False
    assert engine.tend_credentials() == []
