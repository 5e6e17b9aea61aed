from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from workbench_plugin import ConfigError
from workbench_plugin.config import DEFAULTS, is_loopback, load_config

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
