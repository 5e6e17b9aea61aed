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


# ---- resource options, limits, estimates --------------------------------------------------
def test_resource_options_and_limits_from_the_file(tmp_path: Path) -> None:
    default = load_config({})
    assert [(o.name, o.kind, o.free) for o in default.resources] == [("local", "local", True)]
    assert default.limits.max_budget == 0 and default.default_seconds == 60
    file = tmp_path / "c.toml"
    file.write_text('[estimates]\ndefault_seconds = 120\n[limits]\nmax_budget = 500\nmax_experiments = 200\n'
                    'max_deadline_hours = 48\n'
                    '[resources.onprem]\nkind = "yarn"\nprice_per_vcore_hour = 0.02\nprice_per_gb_hour = 0.005\n'
                    '[resources.cloud]\nkind = "priced"\nslots = 16\nprice_per_hour = 0.40\n'
                    'description = "cloud cluster"\n')
    config = load_config({"HYPERTUNER_CONFIG": str(file)})
    assert [o.name for o in config.resources] == ["local", "onprem", "cloud"]
    onprem, cloud = config.resource("onprem"), config.resource("cloud")
    assert onprem.queue == "default" and onprem.price_per_gb_hour == 0.005 and not onprem.free
    assert cloud.slots == 16 and cloud.price_per_hour == 0.40 and cloud.currency == "USD"
    assert config.default_seconds == 120
    assert (config.limits.max_budget, config.limits.max_experiments, config.limits.max_deadline_hours) == (500, 200, 48)
    assert config.limits.problems(count=300, money=600.0, currency="USD", wall_seconds=49 * 3600) == [
        "300 experiments exceed limits.max_experiments = 200; select fewer experiments",
        "600.00 USD exceeds limits.max_budget = 500 USD; select fewer experiments or a cheaper resource option",
        "49.0 h of wall time exceeds limits.max_deadline_hours = 48; select fewer experiments or an option with "
        "more slots"]
    assert config.limits.problems(count=10, money=5.0, currency="USD", wall_seconds=60) == []
    with pytest.raises(ConfigError, match="resource option 'gpu': not configured; use one of local, onprem, cloud"):
        config.resource("gpu")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[resources.cloud]\nkind = "priced"\nslots = 4\nprice_per_hour = -1\n',
         "resources.cloud.price_per_hour: -1 is not allowed; give a price >= 0, as in 0.40"),
        ('[resources.cloud]\nkind = "priced"\nslots = 4\nprice_per_hour = nan\n',
         "resources.cloud.price_per_hour: nan is not allowed"),
        ('[resources.cloud]\nkind = "priced"\nprice_per_hour = 1\n',
         "resources.cloud.slots: 0 is not allowed for a priced option"),
        ('[resources.cloud]\nkind = "vm"\n', "resources.cloud.kind: 'vm' is not a kind of resource option; "
         "use one of local, yarn, priced"),
        ('[resources.cloud]\nkind = "priced"\nslots = 2\nspeed = 3\n', "resources.cloud: unknown key 'speed'"),
        ('[resources.onprem]\nkind = "yarn"\nqueue = "a b;rm -rf"\n',
         "resources.onprem.queue: 'a b;rm -rf' is not a YARN queue name"),
        ('[resources.cloud]\nkind = "priced"\nslots = 2\nqueue = "ml"\n', "a queue is only for kind 'yarn'"),
        ('[resources.x]\nkind = "local"\ndescription = "' + "d" * 300 + '"\n',
         "resources.x.description: 'ddddd"),
        ('[resources.x]\nkind = "local"\ndescription = "a\\u0007b"\n', "unprintable characters"),
        ('[resources.x]\nkind = "priced"\nslots = 1\ncurrency = "<b>"\n',
         "resources.x.currency: '<b>' is not a currency"),
        ('[resources."bad name!"]\nkind = "local"\n', "resources: the name 'bad name!' is not allowed"),
        ('[resources]\nlocal = 3\n', "resources.'local' is 3, not a table"),
        ('[limits]\nmax_budget = -5\n', "limits.max_budget: -5.0 is not allowed; give an amount >= 0"),
        ('[limits]\nmax_deadline_hours = inf\n', "limits.max_deadline_hours: inf is not allowed"),
        ('[limits]\nmax_experiments = -1\n', "limits.max_experiments: -1 is not allowed"),
        ('[limits]\nmax_budget = 10\n[resources.eu]\nkind = "priced"\nslots = 1\nprice_per_hour = 1\n'
         'currency = "EUR"\n',
         "resources.eu.currency: 'EUR' differs from limits.currency 'USD'"),
        ('[estimates]\ndefault_seconds = 0\n', "estimates.default_seconds: 0.0 is not allowed; give seconds > 0"),
    ],
)
def test_bad_resource_options_and_limits_are_one_line_errors(tmp_path: Path, toml: str, message: str) -> None:
    file = tmp_path / "c.toml"
    file.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config({"HYPERTUNER_CONFIG": str(file)})
    assert message in str(info.value) and "\n" not in str(info.value)
    assert len(str(info.value)) < 300
