"""Fuzzing every parser of user input (issue 9): the grammar, config loading, hypertuner.toml and
the CLI's arguments. Whatever the input, the outcome is a result or a one-line HyperTunerError
(exit code 2 from the CLI): never a traceback, never a message over several lines.

The budget is fixed (``max_examples``) so that the whole file runs in well under a minute; set
``FUZZ_EXAMPLES`` to multiply it for a longer hunt: ``FUZZ_EXAMPLES=20 pytest tests/unit/test_fuzz_input.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench_plugin._exceptions import ConfigError, HyperTunerError
from workbench_plugin.cli import main
from workbench_plugin.config import _ENV, load_config
from workbench_plugin.project import find_project
from workbench_plugin.space import SearchSpec
from workbench_plugin.store import Store

SCALE = int(os.environ.get("FUZZ_EXAMPLES", "1"))


def budget(n: int) -> Any:
    return settings(max_examples=n * SCALE, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def one_line(call: Callable[[], object], allowed: type[HyperTunerError] = HyperTunerError) -> object:
    """``call()``'s result, or the one-line error it raised (anything else fails the test)."""
    try:
        return call()
    except allowed as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        return exc


# ---- the grammar ---------------------------------------------------------------------------------
# Characters the grammar cares about, plus a little of everything else.
_GRAMMAR = st.lists(st.sampled_from([*"0123456789.,+-*/eE log", "..", " ", "\t", "\n", "\x00", "nan", "inf",
                                      "1e400", "1e-400", "9" * 400]), max_size=16).map("".join)
_ANY_TEXT = st.text(max_size=60)
_SPEC_TEXT = st.one_of(_GRAMMAR, _ANY_TEXT, st.builds(lambda a, b, op: f"{a}..{b} {op}", _GRAMMAR, _GRAMMAR,
                                                       _GRAMMAR))
_SCALARS = st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), _ANY_TEXT, st.binary(max_size=4))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ANY_TEXT, inner,
                                                                                              max_size=3),
                       max_leaves=8)
_NAMES = st.one_of(st.sampled_from(["x", "lr", "batch_size", "_a.b-c"]), _ANY_TEXT)


@budget(1200)
@given(spec=_SPEC_TEXT)
def test_any_spec_text_is_a_result_or_one_line(spec: str) -> None:
    one_line(lambda: SearchSpec.parse({"x": spec}))


@budget(600)
@given(items=st.lists(st.one_of(_ANY_TEXT, st.builds(lambda n, s: f"{n}={s}", _NAMES, _SPEC_TEXT)), max_size=4))
def test_any_assignments_are_a_result_or_one_line(items: list[str]) -> None:
    one_line(lambda: SearchSpec.from_assignments(items))


@budget(600)
@given(obj=st.one_of(st.dictionaries(_NAMES, _VALUES, max_size=4), _VALUES,
                     st.dictionaries(st.just("params"), st.dictionaries(_NAMES, _VALUES, max_size=3))))
def test_any_mapping_is_a_result_or_one_line(obj: Any) -> None:
    one_line(lambda: SearchSpec.from_any(obj))


# ---- files: config and hypertuner.toml ----------------------------------------------------------
_TOML_KEYS = st.sampled_from(["url", "name", "slots", "max_experiments", "max_file_mb", "flush_seconds", "packing",
                              "master", "script", "flag_style", "interpreter", "stdout_patterns", "x"])
_TOML_SECTIONS = st.sampled_from(["store", "engine", "batch", "snapshot", "wrapper", "spark", "yarn", "hdfs",
                                  "project", "nope"])
_TOML_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "nan", "inf", '"(unclosed"', '["(?P<loss>x)"]', '["(x"]', "[1, 2]", '"a\\u0000b"',
                     '"{bs} {unclosed"', '"space"', '"train.py"', '"../x.py"', '""', "[" * 300 + "]" * 300,
                     '"' + "9" * 5000 + '"']),
    st.text(max_size=20).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)


def _toml(draw: st.DrawFn) -> bytes:
    lines: list[str] = []
    for section in draw(st.lists(_TOML_SECTIONS, max_size=3)):
        lines.append(f"[{section}]")
        for key, value in draw(st.lists(st.tuples(_TOML_KEYS, _TOML_VALUES), max_size=4)):
            lines.append(f"{key} = {value}")
    text = "\n".join(lines).encode("utf-8")
    return draw(st.sampled_from([text, text + b"\xff\xfe", draw(st.binary(max_size=40)), text.replace(b"=", b"")]))


toml_bytes = st.composite(_toml)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@budget(500)
@given(content=toml_bytes())
def test_any_config_file_is_a_result_or_one_line(fuzz_dir: Path, content: bytes) -> None:
    file = fuzz_dir / "config.toml"
    file.write_bytes(content)
    one_line(lambda: load_config({}, path=file), ConfigError)


@budget(500)
@given(env=st.dictionaries(st.sampled_from(sorted(_ENV)), st.one_of(st.text(max_size=30),
                                                                     st.sampled_from(["9" * 5000, "1e999", "-1", "nan",
                                                                                      "a\x00b", "0x10", " 3 "])),
                           max_size=4))
def test_any_environment_is_a_result_or_one_line(env: dict[str, str]) -> None:
    one_line(lambda: load_config(env), ConfigError)


@budget(500)
@given(content=toml_bytes())
def test_any_project_file_is_a_result_or_one_line(fuzz_dir: Path, content: bytes) -> None:
    folder = fuzz_dir / "project"
    folder.mkdir(exist_ok=True)
    (folder / "train.py").write_text("")
    (folder / "hypertuner.toml").write_bytes(content)
    one_line(lambda: find_project(folder))


@budget(400)
@given(content=st.one_of(toml_bytes(), st.recursive(_SCALARS.filter(lambda v: not isinstance(v, bytes)),
                                                    lambda inner: st.lists(inner, max_size=3)
                                                    | st.dictionaries(_ANY_TEXT, inner, max_size=3),
                                                    max_leaves=8).map(lambda v: json.dumps(v).encode())),
       suffix=st.sampled_from([".toml", ".json", ".yaml"]))
def test_any_spec_file_is_a_result_or_one_line(fuzz_dir: Path, content: bytes, suffix: str) -> None:
    file = fuzz_dir / f"space{suffix}"
    file.write_bytes(content)
    one_line(lambda: SearchSpec.from_any(str(file)))


# ---- the command line --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("cli")
    folder = root / "proj"
    folder.mkdir()
    (folder / "train.py").write_text("print('loss=0.5')\n")
    (folder / "hypertuner.toml").write_text('[project]\nname = "tiny"\nscript = "train.py"\n')
    store = root / "store"
    Store(str(store)).create_project("tiny", str(folder))
    yield str(folder), str(store)


_ARG = st.one_of(_ANY_TEXT, st.builds(lambda n, s: f"{n}={s}", _NAMES, _SPEC_TEXT),
                 st.sampled_from(["--json", "--log", "--spec", "--project", "", "-", "--", "=", "x=", "x=1..3 +1",
                                  "--store", "--config", "\x00"]))


@budget(120)
@given(command=st.sampled_from(["plan", "status", "show", "kill"]), args=st.lists(_ARG, max_size=4))
def test_any_cli_arguments_give_exit_0_or_one_line_and_2(tiny: tuple[str, str], command: str,
                                                         args: list[str]) -> None:
    folder, store = tiny
    argv = ["--store", store, command, *args, "--project", folder]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
        sys.exit(main(argv))
    code = info.value.code or 0
    assert code in (0, 2), (argv, code, err.getvalue())
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hypertuner"), (argv, err.getvalue())
    assert "Traceback" not in err.getvalue()

