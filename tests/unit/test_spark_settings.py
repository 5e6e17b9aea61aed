"""Spark/YARN settings passed through: [spark.conf], resource options, --conf; owned keys refused;
the HYPERTUNER_* settings forwarded into containers; slots from the queue's capacity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engines.resource_manager import _queues
from engines.spark import SparkEngine
from workbench_plugin._exceptions import ConfigError
from workbench_plugin.config import HdfsSettings, SecuritySettings, load_config
from workbench_plugin.spark_settings import (
    app_memory_mb,
    check_spark_conf,
    container_env_conf,
    forwarded_environment,
    parse_conf_args,
    queue_slots,
)
from workbench_plugin.store import Run, Store

RECORDED = Path(__file__).resolve().parents[1] / "data" / "rm"


def _config(tmp_path: Path, text: str, **env: str):  # type: ignore[no-untyped-def]
    file = tmp_path / "c.toml"
    file.write_text(text)
    return load_config({"HYPERTUNER_CONFIG": str(file), **env})


def _run(extra: dict[str, object] | None = None) -> Run:
    return Run("r1", "p", 0.0, "me", "train.py", "python", "gnu", {}, {}, "s", "d", "spark", 1,
               extra=dict(extra or {}))


def _engine(tmp_path: Path, conf: dict[str, str] | None = None, **kw: object) -> SparkEngine:
    options: dict[str, object] = {"spark_submit": "/bin/true", **kw}
    return SparkEngine(Store(str(tmp_path / "store")), rm_url="http://127.0.0.1:1", hadoop_conf_dir=str(tmp_path),
                       java_home="/usr", conf=conf, **options)  # type: ignore[arg-type]


def _conf_of(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")


# ---- checking settings ----------------------------------------------------------------------
def test_settings_are_strings_of_spark_keys() -> None:
    assert check_spark_conf("spark.conf", {"spark.yarn.maxAppAttempts": 2, "spark.hadoop.fs.x": True,
                                           "spark.memory.fraction": 0.5}) == {
        "spark.yarn.maxAppAttempts": "2", "spark.hadoop.fs.x": "true", "spark.memory.fraction": "0.5"}
    assert parse_conf_args(["spark.a=1", "spark.b=x=y", "spark.a=2"]) == {"spark.a": "2", "spark.b": "x=y"}


@pytest.mark.parametrize(("table", "message"), [
    ({"yarn.queue": "x"}, "'yarn.queue' is not a Spark setting; give keys that start with 'spark.'"),
    ({"spark.yarn.tags": "x"}, "spark.conf: spark.yarn.tags cannot be set; HyperTuner finds its applications"),
    ({"spark.yarn.submit.waitAppCompletion": True}, "spark.yarn.submit.waitAppCompletion cannot be set"),
    ({"spark.yarn.dist.archives": "a.zip"}, "spark.yarn.dist.archives cannot be set"),
    ({"spark.queue": "small"}, "spark.queue is not a setting Spark reads; use spark.yarn.queue"),
    ({"spark.x": [1]}, "spark.conf.spark.x: [1] has the wrong type"),
    ({"spark.x": "a\nb"}, "spark.conf.spark.x: 'a\\nb' is longer than 1000 characters or has unprintable"),
    ({"spark.x": "y" * 1001}, "is longer than 1000 characters"),
    ({"spark.driver.memory": "lots"}, "spark.conf.spark.driver.memory: 'lots' is not a size; write it like 512m"),
    ({"spark.executor.instances": "two"}, "spark.conf.spark.executor.instances: 'two' is not a count"),
])
def test_bad_settings_are_one_line_errors_naming_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_spark_conf("spark.conf", table)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_conf_argument_without_equals_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--conf: 'spark.a' is not KEY=VALUE"):
        parse_conf_args(["spark.a"])
    with pytest.raises(ConfigError, match="--conf: spark.yarn.tags cannot be set"):
        parse_conf_args(["spark.yarn.tags=mine"])


def test_config_reads_spark_conf_and_resource_options(tmp_path: Path) -> None:
    config = _config(tmp_path, """
[spark.conf]
"spark.yarn.maxAppAttempts" = 2
"spark.yarn.queue" = "default"
[yarn]
max_running = 3
[resources.small]
kind = "yarn"
queue = "small"
node_label = "gpu"
driver_memory = "1g"
executor_cores = 2
max_running = 2
conf = { "spark.yarn.maxAppAttempts" = 3, "spark.speculation" = false }
""")
    assert config.spark_conf == {"spark.yarn.maxAppAttempts": "2", "spark.yarn.queue": "default"}
    assert config.yarn_max_running == 3
    option = config.resource("small")
    assert option.max_running == 2
    assert option.spark_conf() == {
        "spark.yarn.queue": "small", "spark.yarn.am.nodeLabelExpression": "gpu",
        "spark.yarn.executor.nodeLabelExpression": "gpu", "spark.driver.memory": "1g", "spark.executor.cores": "2",
        "spark.yarn.maxAppAttempts": "3", "spark.speculation": "false"}


@pytest.mark.parametrize(("toml", "message"), [
    ('[spark]\nqueue = "small"\n', "unknown key spark.queue; allowed:"),
    ('[spark.conf]\n"spark.yarn.tags" = "x"\n', "spark.conf: spark.yarn.tags cannot be set"),
    ('[resources.q]\nkind = "yarn"\nconf = { "spark.archives" = "a" }\n',
     "resources.q.conf: spark.archives cannot be set"),
    ('[resources.q]\nkind = "yarn"\ndriver_memory = "lots"\n', "resources.q.driver_memory: 'lots' is not a size"),
    ('[resources.q]\nkind = "local"\nnode_label = "gpu"\n', "resources.q.node_label: node_label is only for kind"),
    ('[resources.q]\nkind = "yarn"\nnode_label = "gpu; rm -rf"\n', "is not a node label expression"),
    ('[yarn]\nmax_running = -1\n', "yarn.max_running: -1 is out of range"),
    ('[yarn]\nsubmit_concurrency = 0\n', "yarn.submit_concurrency: 0 is out of range"),
])
def test_bad_config_is_one_line(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, toml)
    assert message in str(info.value) and "\n" not in str(info.value)


# ---- precedence ---------------------------------------------------------------------------------
def test_precedence_engine_defaults_then_config_then_option_then_command_line(tmp_path: Path) -> None:
    engine = _engine(tmp_path, conf={"spark.yarn.maxAppAttempts": "2", "spark.executor.cores": "3",
                                     "spark.speculation": "true", "spark.yarn.queue": "default"})
    run = _run({"lineage": {"queue": "small"},
                "spark_conf": {"spark.yarn.queue": "small", "spark.executor.cores": "4",  # the option's
                               "spark.speculation": "false"}})                           # --conf
    conf = _conf_of(engine._common("n", ["e"], engine._user_conf(run, "e")))
    assert conf["spark.ui.enabled"] == "false"            # engine default, untouched
    assert conf["spark.yarn.maxAppAttempts"] == "2"       # [spark.conf] over the engine's 1
    assert conf["spark.executor.cores"] == "4"            # the run's over [spark.conf]
    assert conf["spark.speculation"] == "false"
    assert conf["spark.yarn.queue"] == "small"
    assert conf["spark.yarn.tags"] == "hypertuner,e"      # owned: always ours
    assert conf["spark.yarn.submit.waitAppCompletion"] == "false"
    assert "--queue" not in engine._common("n", ["e"], engine._user_conf(run, "e"))


def test_a_rows_own_option_queue_wins_and_old_runs_keep_their_queue(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    run = _run({"lineage": {"queue": "default", "queues": {"e2": "small"}},
                "spark_conf": {"spark.yarn.queue": "default"}})
    assert engine._user_conf(run, "e1")["spark.yarn.queue"] == "default"
    assert engine._user_conf(run, "e2")["spark.yarn.queue"] == "small"
    old = _run({"lineage": {"queue": "small"}})  # recorded before settings were
    assert engine._user_conf(old, "e1")["spark.yarn.queue"] == "small"


def test_owned_keys_that_slip_through_are_still_ours(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    conf = _conf_of(engine._common("n", ["e"], {"spark.yarn.tags": "theirs", "spark.archives": "x.zip"}))
    assert conf["spark.yarn.tags"] == "hypertuner,e" and "spark.archives" not in conf


# ---- forwarded environment ----------------------------------------------------------------------
def test_forwarded_environment_leaves_out_gateway_paths_and_secrets() -> None:
    hdfs = HdfsSettings(webhdfs_url="http://nn:9870", user="alice", security=SecuritySettings(
        auth="kerberos", principal="alice@EXAMPLE.COM", keytab="/home/alice/alice.keytab",
        krb5_conf="/etc/krb5-gw.conf", ca_bundle="/etc/ssl/ca.pem", token_file="/tmp/gw-token"))
    sent = forwarded_environment({**hdfs.environment(), "KRB5CCNAME": "FILE:/tmp/krb5cc_0",
                                  "HYPERTUNER_PASSWORD": "secret"})
    assert sent == {"HYPERTUNER_WEBHDFS": "http://nn:9870", "HADOOP_USER_NAME": "alice",
                    "HYPERTUNER_AUTH": "kerberos", "HYPERTUNER_PRINCIPAL": "alice@EXAMPLE.COM",
                    "HYPERTUNER_CA_BUNDLE": "/etc/ssl/ca.pem"}
    conf = container_env_conf(hdfs.environment())
    assert conf["spark.yarn.appMasterEnv.HYPERTUNER_WEBHDFS"] == "http://nn:9870"
    assert conf["spark.executorEnv.HYPERTUNER_WEBHDFS"] == "http://nn:9870"
    assert not any("KEYTAB" in k or "TOKEN_FILE" in k or "KRB5" in k for k in conf)


def test_the_am_gets_the_hdfs_settings(tmp_path: Path) -> None:
    engine = _engine(tmp_path, hdfs=HdfsSettings(webhdfs_url="http://nn:9870"))
    conf = _conf_of(engine._common("n", ["e"]))
    assert conf["spark.yarn.appMasterEnv.HYPERTUNER_WEBHDFS"] == "http://nn:9870"


# ---- slots from the queue's capacity ------------------------------------------------------------
def test_app_memory_counts_driver_overhead_and_asked_executors() -> None:
    assert app_memory_mb({"spark.driver.memory": "512m"}) == 512 + 384
    assert app_memory_mb({"spark.driver.memory": "8g"}) == 8192 + 819
    assert app_memory_mb({"spark.driver.memory": "512m", "spark.executor.instances": "2",
                          "spark.executor.memory": "1g"}) == 896 + 2 * (1024 + 384)


def test_queue_slots_follow_max_capacity_and_user_limit() -> None:
    q = queue_slots("root.small", 8192, 30.0, 896)
    assert (q.fits, q.slots) == (2, 2)            # floor(2457 / 896)
    assert queue_slots("root.default", 8192, 100.0, 896, user_limit=4).slots == 4
    assert queue_slots("root.tiny", 8192, 1.0, 896).slots == 1  # at least one
    assert queue_slots("root.default", 8192, 100.0, 896, 4).describe() == (
        "queue root.default: max 100% of 8192 MB → 9 applications of 896 MB; user limit 4")


def test_engine_slots_from_recorded_scheduler_json(tmp_path: Path) -> None:
    from engines.resource_manager import ClusterResources

    scheduler = json.loads((RECORDED / "scheduler.json").read_text())
    res = ClusterResources(total_mb=8192, total_vcores=8, available_mb=8192, available_vcores=8, active_nodes=1,
                           apps_running=0, apps_pending=0, queues=tuple(_queues(scheduler)))
    engine = _engine(tmp_path, max_running=3)
    assert engine.queue_slots(res).slots == 3
    assert engine.queue_slots(res, _run({"yarn_max_running": 5})).slots == 5
    unlimited = _engine(tmp_path)
    assert unlimited.queue_slots(res).describe().startswith("queue root.default: max 100% of 8192 MB → 9 ")


def test_capacity_counts_the_queue_of_the_run_being_submitted(tmp_path: Path) -> None:
    from engines.resource_manager import ClusterResources, QueueResources

    queues = (QueueResources("root.default", 70.0, 0.0, 100.0, 0, 0),
              QueueResources("root.small", 30.0, 0.0, 30.0, 0, 0))
    res = ClusterResources(total_mb=8192, total_vcores=8, available_mb=8192, available_vcores=8, active_nodes=1,
                           apps_running=0, apps_pending=0, queues=queues)
    engine = _engine(tmp_path)
    assert engine.queue_slots(res).slots == 9                                    # default: 100 % of 8192 MB
    small = _run({"lineage": {"queue": "small"}, "spark_conf": {"spark.yarn.queue": "small"}})
    assert engine.queue_slots(res, small).describe() == (
        "queue root.small: max 30% of 8192 MB → 2 applications of 896 MB; no user limit")
    bigger = _run({"spark_conf": {"spark.yarn.queue": "root.default", "spark.driver.memory": "2g"}})
    assert engine.queue_slots(res, bigger).slots == 8192 // (2048 + 384)
    nowhere = _run({"spark_conf": {"spark.yarn.queue": "nowhere"}})                # not listed: the whole cluster
    assert engine.queue_slots(res, nowhere).describe().startswith("queue nowhere: max 100% of 8192 MB")


# ---- one application per experiment: the client and the ApplicationMaster ------------------------
def _recording_spark_submit(tmp_path: Path) -> Path:
    """A spark-submit that records its arguments and SPARK_SUBMIT_OPTS and says it submitted."""
    script = tmp_path / "spark-submit"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$SPARK_SUBMIT_OPTS" "$@" > "$0.argv"\n'
                      'echo "Submitted application application_1796204071204_0007"\n')
    script.chmod(0o755)
    return script


def test_per_experiment_applications_get_short_lived_jvm_options_that_users_override(tmp_path: Path) -> None:
    from workbench_plugin.store import Experiment

    submit = _recording_spark_submit(tmp_path)
    exp = Experiment("e1", "r1", 0, {}, ["train.py"])
    engine = _engine(tmp_path, spark_submit=str(submit))
    assert engine.submit(_run(), exp) == "yarn:application_1796204071204_0007"
    opts, *argv = (tmp_path / "spark-submit.argv").read_text().splitlines()
    assert opts == "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"  # the client JVM
    assert _conf_of(argv)["spark.driver.extraJavaOptions"] == opts  # the AM, which hosts the driver
    assert _conf_of(argv)["spark.yarn.submit.waitAppCompletion"] == "false"

    mine = _engine(tmp_path, conf={"spark.driver.extraJavaOptions": "-Xss4m"}, spark_submit=str(submit))
    mine.submit(_run(), exp)
    _, *argv = (tmp_path / "spark-submit.argv").read_text().splitlines()
    assert _conf_of(argv)["spark.driver.extraJavaOptions"] == "-Xss4m"

    client = _engine(tmp_path, deploy_mode="client", spark_submit=str(submit))  # the driver runs work here
    client.submit(_run(), exp)
    opts, *argv = (tmp_path / "spark-submit.argv").read_text().splitlines()
    assert "TieredStopAtLevel" not in opts and "spark.driver.extraJavaOptions" not in _conf_of(argv)
