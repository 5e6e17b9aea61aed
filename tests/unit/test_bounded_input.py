"""Every parser of user input is bounded: 1 MB inputs return (a result or a one-line error) quickly,
numbers that Python cannot hold are one-line errors, never tracebacks or silent zeros.

The times are printed (``pytest -s``); the only bound is a generous sanity one (5 s), so this is not
a speed test: ``bench/parsers.py`` measures speed with ratios.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench_plugin._exceptions import HyperTunerError, SpecError
from workbench_plugin.cli import main
from workbench_plugin.config import load_config
from workbench_plugin.patterns import MAX_METRIC_LINE, StdoutParser
from workbench_plugin.project import find_project
from workbench_plugin.space import SearchSpec

MB = 1 << 20
SANITY_S = 5.0


def _timed(label: str, call: Callable[[], object]) -> object:
    """Run ``call``; a HyperTunerError is an accepted outcome if it is one line. Prints the time."""
    t0 = time.perf_counter()
    try:
        result: object = call()
    except HyperTunerError as exc:
        assert "\n" not in str(exc), f"{label}: error message spans lines"
        assert len(str(exc)) < 1000, f"{label}: error message is {len(str(exc))} characters"
        result = exc
    took = time.perf_counter() - t0
    print(f"{label}: {took * 1000:.1f} ms")
    assert took < SANITY_S, f"{label} took {took:.1f} s"
    return result


# ---- the stdout parser -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "line"),
    [
        ("one 1 MB word before '='", "a" * MB + "=1"),
        ("1 MB of 'a=1 '", "a=1 " * (MB // 4)),
        ("call opened and never closed", "f(" + "a" * MB + "=1"),
        ("1 MB of digits after '='", "loss=" + "1" * MB + "x"),
        ("1 MB of keras parts", "loss: 1 - " * (MB // 10)),
        ("1 MB of spaces and '='", " " * MB + "x=1"),
    ],
)
def test_stdout_lines_of_1_mb_return_quickly(label: str, line: str) -> None:
    _timed(f"stdout parser, {label}", lambda: StdoutParser().feed(line))


def test_metrics_are_read_from_the_first_4_kb_of_a_line_only() -> None:
    parser = StdoutParser()
    pad = "x" * (MAX_METRIC_LINE - len("loss=0.5 "))
    assert parser.feed(f"loss=0.5 {pad}acc=0.9")[0].metrics == {"loss": 0.5}
    custom = StdoutParser([r"loss=(?P<loss>\S+)"])
    assert custom.feed("y" * MAX_METRIC_LINE + " loss=0.5") == []
    assert custom.feed("loss=0.25 " + "y" * MB)[0].metrics == {"loss": 0.25}


def test_a_metric_name_glued_to_a_long_word_is_still_found_once() -> None:
    # the linear rewrite keeps what the old patterns found
    assert StdoutParser().feed("epoch=2 val.loss=0.5 Namespace(lr=0.1) acc=0.75")[0] == (
        "epoch", 2, None, {"val.loss": 0.5, "acc": 0.75})


# ---- the value grammar -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("1 MB word", "a" * MB),
        ("1 MB of digits", "1" * MB),
        ("1 MB list", "1," * (MB // 2) + "1"),
        ("1 MB before a spaced '..'", "1" * MB + " .. a"),
        ("1 MB of '1 '", "1 " * (MB // 2)),
        ("1 MB range end", "1.." + "9" * MB + " +1"),
    ],
)
def test_values_of_1_mb_return_quickly(label: str, value: str) -> None:
    _timed(f"grammar, {label}", lambda: SearchSpec.from_assignments([f"x={value}"]))


def test_long_values_are_a_one_line_error_naming_the_limit() -> None:
    with pytest.raises(SpecError, match=r"^x: values of 1,048,576 characters .* at most 10,000") as info:
        SearchSpec.from_assignments(["x=" + "a" * MB])
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(SpecError, match=r"^x: value of 5,000 characters .* at most 4,096"):
        SearchSpec.parse({"x": ["a" * 5000]})


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("1" * 5000, "5,000 digits"),  # more than Python's int-string limit (4300)
        ("-" + "7" * 4301, "4,301 digits"),
        ("1..1e3999999999999999999999 +1", "out of the float range"),
        ("1e-400", "'1e-400' is below the smallest float"),
        ("1e400", "'1e400' is above the largest float"),
        ("1e-400,1", "'1e-400' is below the smallest float"),
        ("a\x00b", "NUL"),
    ],
)
def test_numbers_python_cannot_hold_are_one_line_errors(value: str, needle: str) -> None:
    with pytest.raises(SpecError) as info:
        SearchSpec.from_assignments([f"x={value}"])
    message = str(info.value)
    assert message.startswith("x: ") and needle in message and "\n" not in message


def test_nul_and_huge_ints_in_lists_are_one_line_errors() -> None:
    with pytest.raises(SpecError, match="NUL"):
        SearchSpec.parse({"x": ["a\x00"]})
    with pytest.raises(SpecError, match="digits"):
        SearchSpec.parse({"x": [10**5000]})


def test_small_and_large_floats_that_fit_are_kept() -> None:
    assert SearchSpec.from_assignments(["x=1e-300,1e300,0.0"]).params["x"] == (1e-300, 1e300, 0.0)
    assert SearchSpec.from_assignments(["x=0e5"]).params["x"] == (0.0,)


# ---- toml files --------------------------------------------------------------------------------
def test_1_mb_toml_strings_return_quickly(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")
    (tmp_path / "hypertuner.toml").write_text(
        f'[project]\nname = "p"\nscript = "train.py"\ninterpreter = "{"i" * MB}"\n', encoding="utf-8")
    _timed("hypertuner.toml with a 1 MB string", lambda: find_project(tmp_path))
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\nurl = "{"u" * MB}"\n', encoding="utf-8")
    _timed("config file with a 1 MB string", lambda: load_config({}, path=config))


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_deeply_nested_spec_files_are_one_line_errors(tmp_path: Path, suffix: str) -> None:
    file = tmp_path / f"space{suffix}"
    file.write_text(("x = " if suffix == ".toml" else "") + "[" * 5000 + "]" * 5000)
    with pytest.raises(SpecError, match="nested too deeply") as info:
        SearchSpec.from_any(str(file))
    assert "\n" not in str(info.value)
    with pytest.raises(SpecError, match="NUL"):
        SearchSpec.from_any(str(tmp_path / "a\x00.toml"))


@pytest.mark.parametrize("pattern", [r"(?P<loss>(a+)+)b", r"loss=(?P<loss>(\d*\.?)*)x", r"(?P<x>(?:\w|\s)+)*!"])
def test_custom_patterns_that_backtrack_exponentially_are_refused(pattern: str) -> None:
    with pytest.raises(SpecError, match=r"^stdout_patterns: .* repeats a repetition") as info:
        StdoutParser([pattern])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("pattern", [r"loss=(?P<loss>\S+)", r"(?P<loss>\d+(\.\d+)?)", r"(?P<loss>(?:\d+,)*+\d+)",
                                     r"epoch (?P<epoch>\d+)/(?P<of>\d+)", r"(?P<loss>(?>\d+\.)*\d+)"])
def test_ordinary_custom_patterns_are_accepted_and_stay_fast(pattern: str) -> None:
    parser = StdoutParser([pattern])
    _timed(f"custom pattern {pattern!r} on 1 MB", lambda: parser.feed("9" * MB + "x"))


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("x=" + "1" * 5000, "5,000 digits"),
        ("x=1..1e3999999999999999999999 +1", "out of the float range"),
        ("x=1e-400", "'1e-400' is below the smallest float"),
        ("x=" + "1" * 40_000 + " .. 2", "at most 10,000 characters"),
        ("x=a\rb\x00", "NUL"),
    ],
)
def test_plan_answers_bad_values_in_one_line(capsys: pytest.CaptureFixture[str], project_dir: Path, tmp_path: Path,
                                             value: str, needle: str) -> None:
    store = str(tmp_path / "store")
    main(["--store", store, "init", str(project_dir), "--script", "train.py"])
    with pytest.raises(SystemExit) as info:
        sys.exit(main(["--store", store, "plan", "--project", str(project_dir), value]))
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert info.value.code == 2 and len(lines) == 1 and needle in lines[0] and len(lines[0]) < 400, err
