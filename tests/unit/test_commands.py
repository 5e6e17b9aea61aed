"""argv building: flag styles, templates, and values that arrive as one literal argv element each."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench_plugin._exceptions import SpecError
from workbench_plugin.commands import FlagStyle, build_argv, render_command
from workbench_plugin.space import SearchSpec

ECHO = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"
NASTY = ["1; rm -rf /", "$(touch pwned)", "`touch pwned`", "a b", "'\"", "*", "x > pwned", "-- --help", "ü ☃"]
#: Text an argv element can hold: anything but NUL (surrogates cannot be encoded).
ARG_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1)


@pytest.fixture
def echo(tmp_path: Path) -> Path:
    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    return script


def run_script(argv: list[str], cwd: Path) -> list[str]:
    """Start ``python argv...`` without a shell, as the engines do; return what the script saw."""
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd, timeout=60, check=True)
    seen: list[str] = json.loads(proc.stdout)
    return seen


def test_styles() -> None:
    params = {"batch_size": 32, "lr": 0.0001, "opt": "adam"}
    assert build_argv("t.py", params) == ["t.py", "--batch_size", "32", "--lr", "0.0001", "--opt", "adam"]
    assert build_argv("t.py", params, "equals") == ["t.py", "--batch_size=32", "--lr=0.0001", "--opt=adam"]
    assert build_argv("t.py", params, "{batch_size} {lr} {opt}") == ["t.py", "32", "0.0001", "adam"]
    assert build_argv("t.py", params, "--bs {batch_size} '--lr={lr}' {opt}:{{x}}") == [
        "t.py", "--bs", "32", "--lr=0.0001", "adam:{x}"]
    assert build_argv("t.py", {"model.depth": 3, "drop-out": 0.5}, "{model.depth} {drop-out}") == ["t.py", "3", "0.5"]
    assert build_argv("t.py", params, FlagStyle.parse("equals", prefix="")) == [
        "t.py", "batch_size=32", "lr=0.0001", "opt=adam"]
    assert build_argv("t.py", {"x": 1}, FlagStyle.parse("space", prefix="-")) == ["t.py", "-x", "1"]
    style = FlagStyle.parse(" {b} {a} {b} ")
    assert style.kind == "template" and style.placeholders == ("b", "a")
    assert style.args({"a": 1, "b": 2}) == ["2", "1", "2"]
    assert FlagStyle.parse(style) is style and FlagStyle.parse("SPACE").kind == "space"


def test_values_come_from_the_search_space() -> None:
    spec = SearchSpec.from_assignments(["batch_size=28..256 *2", "num_epochs=1,3"])
    argvs = [build_argv("bike.py", p, "{batch_size} {num_epochs}") for p in spec.expand()]
    assert argvs[0] == ["bike.py", "28", "1"] and argvs[-1] == ["bike.py", "224", "3"] and len(argvs) == 8
    lrs = [build_argv("t.py", p, "equals")[1] for p in SearchSpec.parse({"lr": "0.3..0.7 +0.2"}).expand()]
    assert lrs == ["--lr=0.3", "--lr=0.5", "--lr=0.7"]


@pytest.mark.parametrize(
    ("style", "needles"),
    [
        ("", ["''", "'space', 'equals' or a template"]),
        ("spaces", ["'spaces'", "as in '{batch_size} {num_epochs}'"]),
        ("{a", ["unbalanced braces", "{{"]),
        ("{a} }", ["unbalanced braces"]),
        ('"{a}', ["No closing quotation", "balance its quotes"]),
        ("{a:.3f}", ["{a:.3f}", "plain {a}"]),
        ("{a!r}", ["{a!r}", "plain {a}"]),
        ("{}", ["empty placeholder"]),
        ("{0}", ["{0}", "not a flag name"]),
        ("{a[0]}", ["{a[0]}", "not a flag name"]),
        ("'' {{}}", ["does not use flag 'a'"]),
    ],
)
def test_bad_flag_styles_are_one_line(style: str, needles: list[str]) -> None:
    try:
        FlagStyle.parse(style).args({"a": 1})
    except SpecError as exc:
        message = str(exc)
    else:
        pytest.fail(f"{style!r} was accepted")
    assert message.startswith("flag_style: ") and "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_template_must_match_the_flags() -> None:
    with pytest.raises(SpecError, match=r"^flag_style: template '\{a\}' does not use flag 'b'; add \{b\} or remove"):
        build_argv("t.py", {"a": 1, "b": 2}, "{a}")
    with pytest.raises(SpecError, match=r"^flag_style: template '\{a\} \{c\}' uses \{c\}, which is not a flag; the"):
        build_argv("t.py", {"a": 1}, "{a} {c}")
    with pytest.raises(SpecError, match="prefix"):
        FlagStyle.parse("space", prefix="- -")
    with pytest.raises(SpecError, match="not allowed"):
        build_argv("t.py", {"bad name": 1})


@pytest.mark.parametrize("style", ["space", "equals", "--opt {opt} {n}", "'--opt={opt}' {n}"])
def test_shell_text_arrives_as_one_literal_element(style: str, echo: Path, tmp_path: Path) -> None:
    spec = SearchSpec.parse({"opt": NASTY, "n": 1})
    for params in spec.expand():
        argv = build_argv(str(echo), params, style)
        seen = run_script(argv, tmp_path)
        assert seen == argv[1:]
        assert params["opt"] in seen or f"--opt={params['opt']}" in seen
    assert not (tmp_path / "pwned").exists()


def test_shell_text_through_each_style_exactly(echo: Path, tmp_path: Path) -> None:
    params = {"opt": "1; rm -rf /"}
    assert run_script(build_argv(str(echo), params), tmp_path) == ["--opt", "1; rm -rf /"]
    assert run_script(build_argv(str(echo), params, "equals"), tmp_path) == ["--opt=1; rm -rf /"]
    assert run_script(build_argv(str(echo), params, "{opt}"), tmp_path) == ["1; rm -rf /"]
    assert run_script(build_argv(str(echo), params, "-o {opt}"), tmp_path) == ["-o", "1; rm -rf /"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=ARG_TEXT)
def test_any_text_value_arrives_unchanged(value: str, echo: Path, tmp_path: Path) -> None:
    argv = build_argv(str(echo), {"v": value, "w": value}, "{v} --w={w}")
    assert run_script(argv, tmp_path) == [value, f"--w={value}"]


@given(argv=st.lists(ARG_TEXT, max_size=5), interpreter=st.sampled_from(["python", "python3 -u", ""]))
def test_render_command_is_display_only_but_faithful(argv: list[str], interpreter: str) -> None:
    shown = render_command(argv, interpreter=interpreter)
    assert shlex.split(shown) == [*shlex.split(interpreter), *argv]


def test_render_command_quotes_for_display() -> None:
    argv = build_argv("train.py", {"opt": "1; rm -rf /", "lr": 0.1})
    assert render_command(argv) == "python train.py --opt '1; rm -rf /' --lr 0.1"
    assert render_command(argv, interpreter="") == "train.py --opt '1; rm -rf /' --lr 0.1"


def test_build_argv_does_not_mutate_or_reorder() -> None:
    params: dict[str, Any] = {"b": 2, "a": 1}
    assert build_argv("s.py", params) == ["s.py", "--b", "2", "--a", "1"]
    assert params == {"b": 2, "a": 1}

