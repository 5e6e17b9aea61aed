"""The search-space grammar: ranges, lists, canonical values, one-line errors, batch limits."""

from __future__ import annotations

import itertools
import json
import math
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench_plugin._exceptions import BatchTooLarge, SpecError
from workbench_plugin.space import MAX_RANGE_VALUES, SearchSpec, Value, format_value, parse_values


def values(spec: object, name: str = "x") -> tuple[Value, ...]:
    return parse_values(name, spec)[0]


def numbers(spec: str) -> list[float]:
    """The values of a numeric spec (ints included), typed for arithmetic."""
    got = values(spec)
    assert all(isinstance(v, int | float) for v in got)
    return [v for v in got if not isinstance(v, str)]


def assert_one_line_error(name: str, spec: object, *needles: str) -> str:
    with pytest.raises(SpecError) as info:
        SearchSpec.parse({name: spec})
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{name.replace(chr(10), chr(92) + 'n')}: "), message
    for needle in needles:
        assert needle in message, message
    return message


# ---- the examples from the docs -----------------------------------------------------------------
def test_documented_examples() -> None:
    assert repr(list(values("0.3..0.7 +0.2"))) == "[0.3, 0.5, 0.7]"
    assert values("28..256 *2") == (28, 56, 112, 224)
    assert values("256..28 /2") == (256, 128, 64, 32)
    assert values("10..1 -3") == (10, 7, 4, 1)
    assert values("1..10 *1.5") == (1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375)
    assert repr(list(values("1e-4..1e-1 log 4"))) == "[0.0001, 0.001, 0.01, 0.1]"
    assert values("1..1000 log 4") == (1, 10, 100, 1000)
    assert values("5..5 log 1") == (5,)
    assert values("5..5 +1") == (5,)


def test_lists_constants_and_types() -> None:
    assert values(" 0.3, 0.5 ,0.7 ") == (0.3, 0.5, 0.7)
    assert values("adam,sgd") == ("adam", "sgd")
    assert values("32") == (32,) and type(values("32")[0]) is int
    assert values("1e3") == (1000.0,) and type(values("1e3")[0]) is float
    assert values("true,false") == ("true", "false")
    assert values("-3,+4,.5") == (-3, 4, 0.5)
    assert values("../data") == ("../data",)  # not a range: no step and not numbers
    assert values([1, 2.5, "adam", True]) == (1, 2.5, "adam", "true")
    assert values(["32"]) == ("32",)  # typed lists keep the user's types
    assert values(7) == (7,) and values(0.5) == (0.5,)
    assert all(type(v) is int for v in values("1..9 +2"))
    assert all(type(v) is float for v in values("1..2 +0.5"))
    assert all(type(v) is float for v in values("1.0..8 *2"))


def test_scales_and_sources() -> None:
    spec = SearchSpec.parse({"lr": "1e-4..1e-1 log 4", "bs": "28..256 *2", "opt": "adam,sgd", "m": "0.1..0.3 +0.1",
                             "e": 10, "l": [1, 2]})
    assert spec.scales == {"lr": "log", "bs": "log", "opt": "categorical", "m": "linear", "e": "linear", "l": "linear"}
    assert spec.sources["bs"] == "28..256 *2" and spec.sources["e"] == "10" and spec.sources["l"] == "1,2"
    assert list(spec.params) == ["lr", "bs", "opt", "m", "e", "l"]
    assert SearchSpec.parse({"x": "1,a"}).scales["x"] == "categorical"
    # a list that spans two decades or more is plotted on a log axis
    assert SearchSpec.parse({"a": "0.0001,1.0", "b": "1,10", "c": "0,1,1000"}).scales == {
        "a": "log", "b": "linear", "c": "linear"}


# ---- properties of the ranges -------------------------------------------------------------------
@given(start=st.integers(1, 1000), factor=st.integers(2, 10), extra=st.integers(0, 10**6))
def test_multiplicative_int_ranges(start: int, factor: int, extra: int) -> None:
    end = start + extra
    got = numbers(f"{start}..{end} *{factor}")
    assert got[0] == start and all(type(v) is int for v in got)
    assert all(a < b for a, b in itertools.pairwise(got))
    assert all(v <= end for v in got) and got[-1] * factor > end
    assert got == [start * factor**k for k in range(len(got))]


@given(start=st.integers(1, 10**6), factor=st.integers(2, 10), end=st.integers(1, 10**6))
def test_dividing_ranges_go_down(start: int, factor: int, end: int) -> None:
    if end > start:
        start, end = end, start
    got = numbers(f"{start}..{end} /{factor}")
    assert got[0] == start and all(a > b for a, b in itertools.pairwise(got))
    assert all(v >= end for v in got) and Decimal(got[-1]) / factor < end


decimals = st.builds(lambda n, scale: Decimal(n).scaleb(-scale), st.integers(-10**6, 10**6), st.integers(0, 4))
steps = st.builds(lambda n, scale: Decimal(n).scaleb(-scale), st.integers(1, 10**4), st.integers(0, 4))


@given(start=decimals, step=steps, k=st.integers(0, 50), slack=st.sampled_from([0, 0.25, 0.5, 0.99]),
       down=st.booleans())
def test_linear_ranges_are_exact_decimal_steps(start: Decimal, step: Decimal, k: int, slack: float,
                                               down: bool) -> None:
    sign = -1 if down else 1
    end = start + sign * (k * step + step * Decimal(str(slack)))
    text = f"{start:f}..{end:f} {'-' if down else '+'}{step:f}"
    got = values(text)
    exact = [start + sign * i * step for i in range(k + 1)]
    as_int = "." not in f"{start:f}{step:f}"
    assert list(got) == [int(d) if as_int else float(d) for d in exact]
    assert all(type(v) is (int if as_int else float) for v in got)
    if slack == 0:
        assert got[-1] == float(end)  # the end is included when hit


@given(st.integers(-1000, 1000), st.integers(1, 50), st.integers(0, 30))
def test_int_linear_ranges_stay_ints(start: int, step: int, k: int) -> None:
    got = values(f"{start}..{start + k * step} +{step}")
    assert got == tuple(range(start, start + k * step + 1, step)) and all(type(v) is int for v in got)


@given(lo=st.integers(-8, 3), span=st.integers(1, 6), count=st.integers(2, 12))
def test_log_ranges(lo: int, span: int, count: int) -> None:
    start, end = Decimal(1).scaleb(lo), Decimal(1).scaleb(lo + span)
    got = numbers(f"{start:E}..{end:E} log {count}")
    assert len(got) == count and got[0] == float(start) and got[-1] == float(end)
    assert all(a < b for a, b in itertools.pairwise(got))
    ratios = [math.log10(b / a) for a, b in itertools.pairwise(got)]
    assert max(ratios) - min(ratios) < 1e-9
    assert all(len(Decimal(repr(float(v))).normalize().as_tuple().digits) <= 12 for v in got)


# ---- canonical text -----------------------------------------------------------------------------
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_format_value_round_trips(x: float | int) -> None:
    text = format_value(x)
    if isinstance(x, int):
        assert int(text) == x
    else:
        assert float(text) == x
    assert text == text.strip() and "\n" not in text


@given(st.floats(min_value=1e-4, max_value=1e15))
def test_format_value_avoids_exponents_in_the_usual_range(x: float) -> None:
    assert "e" not in format_value(x)


def test_format_value_examples() -> None:
    assert [format_value(v) for v in (32, 0.7, 1e-4, "adam", 1.0, -2)] == ["32", "0.7", "0.0001", "adam", "1.0", "-2"]


# ---- the spec -------------------------------------------------------------------------------------
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_count_and_expand_order(sizes: list[int]) -> None:
    spec = SearchSpec.parse({f"p{i}": list(range(n)) for i, n in enumerate(sizes)})
    assert spec.count == math.prod(sizes)
    combos = spec.expand()
    assert len(combos) == spec.count
    assert [tuple(c.values()) for c in combos] == list(itertools.product(*(range(n) for n in sizes)))
    assert all(list(c) == list(spec.params) for c in combos)


def test_batch_limit_default_and_configurable() -> None:
    spec = SearchSpec.from_assignments(["a=1..120 +1", "b=1..100 +1"])
    assert spec.count == 12_000
    with pytest.raises(BatchTooLarge) as info:
        spec.expand()
    assert str(info.value) == ("batch: 12,000 experiments exceeds the maximum of 10,000; "
                               "narrow a range or raise max_batch in the config")
    assert isinstance(info.value, SpecError)
    assert len(spec.expand(max_batch=12_000)) == 12_000
    with pytest.raises(BatchTooLarge, match="maximum of 5"):
        SearchSpec.parse({"a": "1..6 +1"}).expand(max_batch=5)
    huge = SearchSpec.from_assignments([f"p{i}=1..100000 +1" for i in range(5)])
    assert huge.count == 100_000**5  # counted, never expanded
    with pytest.raises(BatchTooLarge):
        huge.expand()


def test_from_assignments() -> None:
    spec = SearchSpec.from_assignments(["batch_size=32..64 *2", " num_epochs = 6,12", "alpha=0.0001,0.01"])
    assert spec.params == {"batch_size": (32, 64), "num_epochs": (6, 12), "alpha": (0.0001, 0.01)}
    with pytest.raises(SpecError, match="NAME=VALUES") as info:
        SearchSpec.from_assignments(["x"])
    assert "'x'" in str(info.value)
    with pytest.raises(SpecError, match=r"^x: flag given twice, as 'x=1,2' and 'x=3'"):
        SearchSpec.from_assignments(["x=1,2", "x=3"])
    with pytest.raises(SpecError, match="search space is empty; give at least one NAME=VALUES"):
        SearchSpec.from_assignments([])


def test_from_any(tmp_path: Path) -> None:
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"lr": "0.1,0.2", "bs": [16, 32]}))
    nested = tmp_path / "space.toml"
    nested.write_text('[params]\nlr = "0.1,0.2"\nbs = [16, 32]\n')
    expected = {"lr": (0.1, 0.2), "bs": (16, 32)}
    assert SearchSpec.from_any(flat).params == expected
    assert SearchSpec.from_any(str(nested)).params == expected
    spec = SearchSpec.from_any({"params": {"lr": "0.1,0.2", "bs": [16, 32]}})
    assert spec.params == expected and SearchSpec.from_any(spec) is spec
    (tmp_path / "s.yaml").write_text("lr: 1")
    with pytest.raises(SpecError, match=r"^spec file: .*s\.yaml.* is not a \.json or \.toml file"):
        SearchSpec.from_any(tmp_path / "s.yaml")
    with pytest.raises(SpecError, match="could not be read"):
        SearchSpec.from_any(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("lr = \n")
    with pytest.raises(SpecError, match="is not valid TOML") as info:
        SearchSpec.from_any(tmp_path / "bad.toml")
    assert "\n" not in str(info.value)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(SpecError, match="holds list"):
        SearchSpec.from_any(tmp_path / "list.json")
    (tmp_path / "mixed.json").write_text(json.dumps({"params": {"a": 1}, "b": 2}))
    with pytest.raises(SpecError, match="beside 'params'"):
        SearchSpec.from_any(tmp_path / "mixed.json")
    with pytest.raises(SpecError, match="search space is empty"):
        SearchSpec.from_any({})
    with pytest.raises(SpecError, match="is not a SearchSpec"):
        SearchSpec.from_any(42)  # type: ignore[arg-type]


def test_merged_and_with_fixed() -> None:
    spec = SearchSpec.parse({"a": "1,2", "b": "x,y"})
    merged = spec.merged(SearchSpec.parse({"b": "1..3 +1", "c": 5}))
    assert merged.params == {"a": (1, 2), "b": (1, 2, 3), "c": (5,)} and merged.scales["b"] == "linear"
    fixed = spec.with_fixed(a=7)
    assert fixed.params == {"a": (7,), "b": ("x", "y")} and fixed.count == 2
    assert spec.params["a"] == (1, 2)  # unchanged


# ---- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "spec", "needles"),
    [
        ("batch_size", "28..256 *0", ["'*0'", "greater than 1", "'28..256 *2'"]),
        ("batch_size", "28..256 *1", ["'*1'", "greater than 1"]),
        ("x", "256..28 /0.5", ["'/0.5'", "greater than 1"]),
        ("lr", "0.3..0.7 +0", ["'+0'", "not be zero", "as in"]),
        ("lr", "0.1..0.5 -0.1", ["'-0.1'", "flip its sign", "'0.1..0.5 +0.1'"]),
        ("lr", "0.5..0.1 +0.1", ["'+0.1'", "'0.5..0.1 -0.1'"]),
        ("x", "..5 +1", ["'..5 +1'", "no start", "as in"]),
        ("x", "5.. +1", ["'5.. +1'", "no end"]),
        ("x", "28..256", ["'28..256'", "no step", "'28..256 *2'"]),
        ("x", "256..28 *2", ["'256..28 *2'", "inverted", "'256..28 /2'"]),
        ("x", "28..256 /2", ["inverted", "'28..256 *2'"]),
        ("x", "0..8 *2", ["above 0"]),
        ("x", "a..b +1", ["'a'", "not a number", "as in"]),
        ("x", "1..b +1", ["end 'b'", "not a number"]),
        ("x", "1..5 +b", ["step '+b'", "not a number"]),
        ("x", "1,,2", ["'1,,2'", "empty", "'1,2,3'"]),
        ("x", "1,2,", ["empty"]),
        ("x", "1,2,1", ["'1'", "twice"]),
        ("x", "adam, adam", ["'adam'", "twice"]),
        ("x", "1..5 ^2", ["'^2'", "+STEP", "log COUNT"]),
        ("x", "1..1000000 +1", ["1,000,000", f"{MAX_RANGE_VALUES:,}"]),
        ("x", "1..2 *1.000001", [f"{MAX_RANGE_VALUES:,}"]),
        ("x", "1..1e300 +1e-300", [f"{MAX_RANGE_VALUES:,}"]),
        ("x", "0..1 log 3", ["above 0", "'1e-4..1e-1 log 4'"]),
        ("x", "1..10 log 1", ["count '1'"]),
        ("x", "1..10 log 2.5", ["count '2.5'"]),
        ("x", "1..1 log 3", ["equal ends"]),
        ("x", "1 .. 5 +1", ["spaces around '..'"]),
        ("x", "1..3 +1,5", ["'1..3 +1'", "range"]),
        ("x", "", ["no values", "as in"]),
        ("x", "1e400..1e401 +1", ["'1e400'", "float range"]),
        ("x", [], ["empty"]),
        ("x", [1, 1], ["'1'", "twice"]),
        ("x", [float("nan")], ["nan", "finite"]),
        ("x", [""], ["empty"]),
        ("x", {"a": 1}, ["dict", "not allowed"]),
        ("1x", "1,2", ["'1x'", "letter or underscore"]),
        ("a b", "1", ["'a b'", "not allowed"]),
        ("a\nb", "1", ["a\\nb"]),
        ("x", "1,\n1", ["twice"]),
    ],
)
def test_errors_are_one_line_and_name_the_flag(name: str, spec: object, needles: list[str]) -> None:
    assert_one_line_error(name, spec, *needles)


@settings(max_examples=300)
@given(name=st.text(max_size=8), spec=st.text(max_size=30) | st.from_regex(
    r"[ ]?-?[0-9.e]{0,5}\.\.-?[0-9.ae]{0,5}( ?([-+*/^]|log ?)[0-9.]{0,4})?[ ]?", fullmatch=True))
def test_any_text_parses_or_fails_with_one_line(name: str, spec: str) -> None:
    valid_name = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name) is not None
    try:
        result = SearchSpec.parse({name: spec})
    except SpecError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message
        if valid_name:
            assert message.startswith(f"{name}: ")
        else:
            assert "flag name" in message and "not allowed" in message
    else:
        assert valid_name
        assert 1 <= result.count <= MAX_RANGE_VALUES
        assert all(isinstance(v, int | float | str) for v in result.params[name])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.1..0.3+0.1", (0.1, 0.2, 0.3)),
        ("28..256*2", (28, 56, 112, 224)),
        ("256..28/2", (256, 128, 64, 32)),
        ("1e-4..1e-1log4", (0.0001, 0.001, 0.01, 0.1)),
    ],
)
def test_a_step_glued_to_the_range_is_read_as_a_step(text: str, expected: tuple[float, ...]) -> None:
    assert SearchSpec.parse({"x": text}).params["x"] == expected


# ---- malformed ranges (issue 10): never a category ------------------------------------------------
@pytest.mark.parametrize("spec", ["a..b", "1..b", "a..2", "v1..v2", "a..b,c", "1,x..y"])
def test_a_malformed_range_is_an_error_not_a_category(spec: str) -> None:
    assert_one_line_error("x", spec, "not a range", "'1..10 +1'", "spec file")


@pytest.mark.parametrize("spec", ["../data", "data/../x", "a...b", "../", "C:\\a..b"])
def test_text_with_dots_that_is_clearly_not_a_range_stays_a_value(spec: str) -> None:
    assert values(spec) == (spec,)


def test_a_listed_value_with_dots_is_taken_as_it_is() -> None:
    assert values(["v1..v2"]) == ("v1..v2",)
