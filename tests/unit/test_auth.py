"""The dashboard's login settings and checks without a server: password hashes, the
``server.*`` keys, ``hypertuner hash-password`` and the per-client throttle."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from panel_app.auth import LoginProvider, LoginThrottle
from workbench_plugin._exceptions import ConfigError
from workbench_plugin.cli import cmd_hash_password
from workbench_plugin.config import check_password_hash, hash_password, load_config, verify_password

ROOT = Path(__file__).resolve().parents[2]


# ---- hashes --------------------------------------------------------------------------------
def test_a_hash_is_salted_and_verifies_only_its_password() -> None:
    a, b = hash_password("s3cret"), hash_password("s3cret")
    assert a != b and a.startswith("scrypt$16384$8$1$")  # a fresh salt each time
    assert "s3cret" not in a
    assert verify_password("s3cret", a) and verify_password("s3cret", b)
    assert not verify_password("s3cret ", a) and not verify_password("", a)
    assert hash_password("pw", salt=b"0123456789abcdef") == hash_password("pw", salt=b"0123456789abcdef")


@pytest.mark.parametrize("text", ["s3cret", "scrypt$16384$8$1$abc", "scrypt$3$8$1$AAAAAAAAAAA=$" + "A" * 44,
                                  "bcrypt$16384$8$1$AAAAAAAAAAA=$" + "A" * 44,
                                  "scrypt$16384$8$1$!!!$" + "A" * 44])
def test_a_malformed_hash_is_a_one_line_error_naming_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^server\.password_hash: .* is not a password hash; "
                                          r"expected scrypt\$N\$r\$p\$.*hypertuner hash-password") as info:
        check_password_hash(text)
    assert "\n" not in str(info.value)


def test_an_empty_password_cannot_be_hashed() -> None:
    with pytest.raises(ConfigError, match="^password: empty"):
        hash_password("")


# ---- settings ------------------------------------------------------------------------------
def test_password_hash_and_user_from_the_environment() -> None:
    digest = hash_password("pw")
    config = load_config({"HYPERTUNER_PASSWORD_HASH": digest, "HYPERTUNER_SERVER_USER": "ada"})
    assert config.login_required and config.login() == ("ada", digest)


def test_a_clear_password_is_hashed_when_the_server_starts() -> None:
    config = load_config({"HYPERTUNER_PASSWORD": "pw"})
    user, digest = config.login()
    assert user  # the login name of whoever serves
    assert digest.startswith("scrypt$") and verify_password("pw", digest)
    assert not load_config({}).login_required


def test_both_a_password_and_a_hash_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text(f'[server]\npassword = "pw"\npassword_hash = "{hash_password("pw")}"\n')
    with pytest.raises(ConfigError, match="^server.password: set either server.password or "
                                          "server.password_hash, not both"):
        load_config({}, path=file)


def test_a_bad_hash_in_the_config_file_is_refused_at_load(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[server]\npassword_hash = "hunter2"\n')
    with pytest.raises(ConfigError, match=r"^server.password_hash: 'hunter2' is not a password hash"):
        load_config({}, path=file)


# ---- the command ---------------------------------------------------------------------------
def test_hash_password_reads_stdin_and_prints_a_config_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_hash_password(io.StringIO("pw\n")) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith('password_hash = "scrypt$') and line.endswith('"')
    assert verify_password("pw", line.split('"')[1])


def test_hash_password_needs_no_store_and_says_one_line_on_empty_input(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "workbench_plugin.cli", "hash-password"],
                         input="\n", capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "HYPERTUNER_STORE": str(tmp_path / "none"),
                              "PATH": "/usr/bin:/bin"})
    assert run.returncode == 2
    assert run.stderr == "hypertuner: error: password: empty; give one of at least 1 character\n"
    assert not (tmp_path / "none").exists()


# ---- throttle ------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_attempt_after_max_failures_in_the_window_is_locked_out() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=120, clock=clock)
    assert [throttle.attempt("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.attempt("a") == 120  # the 4th: locked, whatever its password
    assert throttle.attempt("b") == 0.0  # per client
    clock.now += 100
    assert throttle.attempt("a") == pytest.approx(20)
    clock.now += 21
    assert throttle.attempt("a") == 0.0  # the lockout is over


def test_failures_leave_the_window_and_a_success_clears_them() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=2, window_s=60, lockout_s=120, clock=clock)
    throttle.attempt("a")
    clock.now += 61
    throttle.attempt("a")
    assert throttle.attempt("a") == 0.0  # the first left the window: 2 in it so far
    assert throttle.attempt("a") == 120
    throttle = LoginThrottle(max_failures=2, window_s=60, lockout_s=120, clock=clock)
    throttle.attempt("a")
    throttle.succeeded("a")
    assert throttle.attempt("a") == 0.0 and throttle.attempt("a") == 0.0


def test_the_throttle_remembers_a_bounded_number_of_clients() -> None:
    throttle = LoginThrottle(max_failures=1, max_clients=100)
    for i in range(1000):
        throttle.attempt(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle._attempts) == 100  # noqa: SLF001 - the bound is the point


def test_the_provider_checks_user_and_password() -> None:
    provider = LoginProvider("ada", hash_password("pw"))
    assert provider.check("ada", "pw")
    assert not provider.check("bob", "pw") and not provider.check("ada", "PW")
    assert not provider.check("", "") and not provider.check("ada ", "pw")
    with pytest.raises(ConfigError, match="^server.password_hash"):
        LoginProvider("ada", "pw")
