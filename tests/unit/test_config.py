from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from workbench_plugin import ConfigError
from workbench_plugin.config import DEFAULTS, HdfsSettings, hdfs_settings, is_loopback, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_documented_defaults_match_the_code() -> None:
    data = tomllib.loads((ROOT / "conf" / "hypertuner.toml").read_text())
    assert data == DEFAULTS


def test_environment_overrides_file(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[engine]\nslots = 3\n[batch]\nmax_experiments = 50\n')
    config = load_config({"HYPERTUNER_CONFIG": str(file), "HYPERTUNER_SLOTS": "5"})
    assert config.slots == 5 and config.max_batch == 50
    assert config.effective_slots == 5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HYPERTUNER_SLOTS": "many"}, "HYPERTUNER_SLOTS: 'many' is not a number"),
        ({"HYPERTUNER_MAX_BATCH": "0"}, "batch.max_experiments: 0 is out of range"),
        ({"HYPERTUNER_ENGINE": "mesos"}, "engine.name: 'mesos' is not an engine"),
        ({"HYPERTUNER_CONFIG": "/no/such.toml"}, "no such file"),
    ],
)
def test_bad_settings_are_one_line_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text("[engine]\nslot = 3\n")
    with pytest.raises(ConfigError, match="unknown key engine.slot; allowed: name, slots"):
        load_config({"HYPERTUNER_CONFIG": str(file)})


def test_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")


def test_spark_and_hdfs_settings_from_the_environment(tmp_path: Path) -> None:
    env = {"SPARK_HOME": "/opt/spark", "JAVA_HOME": "/opt/java", "SPARK_LOCAL_IP": "127.0.0.1",
           "HYPERTUNER_WEBHDFS": "http://nn.example:9870", "HADOOP_USER_NAME": "etl"}
    config = load_config(env)
    assert (config.spark_home, config.java_home, config.spark_local_ip) == ("/opt/spark", "/opt/java", "127.0.0.1")
    assert config.hdfs == HdfsSettings(webhdfs_url="http://nn.example:9870", user="etl")
    assert hdfs_settings(env) == config.hdfs
    assert config.hdfs.environment() == {"HYPERTUNER_WEBHDFS": "http://nn.example:9870", "HADOOP_USER_NAME": "etl"}
    assert HdfsSettings().environment() == {}
    file = tmp_path / "c.toml"
    file.write_text('[hdfs]\nwebhdfs_url = "http://nn.file:9870"\n[spark]\nhome = "/srv/spark"\n')
    from_file = load_config({"HYPERTUNER_CONFIG": str(file)})
    assert from_file.webhdfs_url == "http://nn.file:9870" and from_file.spark_home == "/srv/spark"


def test_webhdfs_url_must_be_an_http_address() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"HYPERTUNER_WEBHDFS": "nn.example:9870"})
    assert "hdfs.webhdfs_url: 'nn.example:9870' is not an HTTP address" in str(info.value)
    assert "\n" not in str(info.value)
