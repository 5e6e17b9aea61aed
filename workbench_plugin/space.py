"""The search-space grammar: per flag, a spec string becomes a tuple of values.

Forms (one per flag; whitespace around items is ignored)::

    0.3,0.5,0.7          a list; ints stay ints, floats floats, other words are strings
    adam,sgd             categorical (any string value makes a flag categorical)
    32                   a constant
    0.3..0.7 +0.2        linear range, end included when hit: 0.3, 0.5, 0.7
    10..1 -3             decreasing linear range: 10, 7, 4, 1
    28..256 *2           multiplicative range: 28, 56, 112, 224
    256..28 /2           decreasing multiplicative range: 256, 128, 64, 32
    1e-4..1e-1 log 4     4 values evenly spaced in log10, both ends included

A single word ``START..END`` whose ends are not numbers (``a..b``, ``1..b``) is a malformed range
and a :class:`SpecError`, not a categorical value. Text with ``..`` that is clearly not a range
stays a value: a path (``../data``, ``data/../x``: a ``/`` or ``\\``), three or more dots
(``a...b``), or ``..`` at an end (``../``). To pass text such as ``v1..v2`` literally, list it
in a spec file: ``name = ["v1..v2"]`` (listed values are taken as they are).

Range arithmetic is done in :class:`~decimal.Decimal` on the literal text, so ``0.3..0.7 +0.2``
ends at exactly ``0.7``. Every error is a one-line :class:`SpecError` that starts with the flag.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any, Literal, TypeAlias

from workbench_plugin._exceptions import BatchTooLarge, SpecError

__all__ = ["MAX_RANGE_VALUES", "MAX_SPEC_CHARS", "MAX_VALUE_CHARS", "Scale", "SearchSpec", "Value", "check_name",
           "format_value", "parse_values", "range_form"]

Value: TypeAlias = int | float | str
Scale: TypeAlias = Literal["linear", "log", "categorical"]

#: The most values one range may yield; beyond it a step is almost surely a typo.
MAX_RANGE_VALUES = 100_000
#: The longest spec text of one flag, and the longest single value (it becomes one argv element).
MAX_SPEC_CHARS = 10_000
MAX_VALUE_CHARS = 4096
#: Python's int-string conversion limit (``sys.get_int_max_str_digits``); longer ints are rejected.
_MAX_DIGITS = 4300

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# Possessive quantifiers: a run of digits is never re-split on backtracking, so matching is linear.
_INT = re.compile(r"[+-]?\d++")
_NUMBER = re.compile(r"[+-]?(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][+-]?\d++)?")
_OPERATOR = re.compile(r"(?P<sym>[-+*/])\s*(?P<arg>\S+)|log\s+(?P<count>\S+)", re.DOTALL)
_GLUED_STEP = re.compile(rf"(?P<head>{_NUMBER.pattern}\.\.{_NUMBER.pattern})(?P<op>[-+*/]\S+|log\S+)")
_DECIMAL = Context(prec=60, Emax=999_999, Emin=-999_999)
_EXAMPLES = "as in '0.3..0.7 +0.2', '28..256 *2' or '1e-4..1e-1 log 4'"


def format_value(value: Any) -> str:
    """The canonical argv text of a value: ``32``, ``0.7``, ``0.0001``, strings unchanged.

    Floats use the shortest text that round-trips (``float(format_value(x)) == x``); that is
    plain decimal from 1e-4 up to 1e16 and scientific notation outside it.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):  # int and numpy integers
        return str(int(value))
    if isinstance(value, numbers.Real | Decimal):  # float() drops numpy's "np.float64(...)" repr
        return repr(float(value))
    raise SpecError(f"value: {value!r} of type {type(value).__name__} has no argv text; use an int, float or str")


def _short(text: object, limit: int = 60) -> str:
    """``repr(text)``, cut to about ``limit`` characters, for messages about long input."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit - 5]}...{shown[-1]}"


def _label(name: str) -> str:
    """The flag name as it opens a message: escaped, so that a message stays on one line."""
    return name if _NAME.fullmatch(name) else repr(name)[1:-1]


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid flag name, else raise :class:`SpecError`."""
    if not isinstance(name, str) or len(name) > 200 or not _NAME.fullmatch(name):
        text = name if isinstance(name, str) else repr(name)
        shown = _short(text)
        raise SpecError(
            f"{_label(text if len(text) <= 60 else text[:50] + '...')}: flag name {shown} is not allowed; "
            "start with a letter or underscore, "
            "then use up to 200 letters, digits, '_', '.' or '-', as in 'batch_size'"
        )
    return name


# ---- scalars -------------------------------------------------------------------------------------
def _check_text(name: str, text: str) -> None:
    if len(text) > MAX_VALUE_CHARS:
        raise SpecError(f"{name}: value of {len(text):,} characters ({_short(text)}) is too long; "
                        f"a value has at most {MAX_VALUE_CHARS:,} characters")
    if "\x00" in text:
        raise SpecError(f"{name}: value {_short(text)} contains a NUL character, which no command line can "
                        "carry; remove it")


def _check_int(name: str, value: int) -> int:
    """Whole numbers stay within the float range: frames, axes and estimates hold them as floats."""
    if abs(value) >= 2**1024:
        raise SpecError(f"{name}: value {_short(str(value))} is above the largest float (about 1.8e308); "
                        "give a smaller number")
    return value


def _digits(text: str) -> int:
    return len(text) - (text[:1] in "+-")


def _scalar(name: str, text: str) -> Value:
    is_int = bool(_INT.fullmatch(text))
    if is_int and _digits(text) > _MAX_DIGITS:
        raise SpecError(f"{name}: value {_short(text)} has {_digits(text):,} digits; a whole number has at "
                        f"most {_MAX_DIGITS:,}")
    _check_text(name, text)
    if is_int:
        return _check_int(name, int(text))
    if _NUMBER.fullmatch(text):
        number = float(text)
        if math.isinf(number):
            raise SpecError(f"{name}: value {_short(text)} is above the largest float (about 1.8e308); "
                            "give a smaller number")
        if number == 0.0 and any(c in "123456789" for c in text.partition("e")[0].partition("E")[0]):
            raise SpecError(f"{name}: value {_short(text)} is below the smallest float (about 5e-324) and "
                            "would become 0; give a larger number or 0")
        return number
    return text


def _decimal(name: str, text: str, role: str, spec: str) -> Decimal:
    if not _NUMBER.fullmatch(text):
        raise SpecError(f"{name}: {role} {text!r} in {spec!r} is not a number; ranges take numbers, {_EXAMPLES}")
    try:
        value = Decimal(text)
    except InvalidOperation:  # an exponent beyond what Decimal holds, as in '1e3999999999999999999999'
        value = Decimal("1e999")
    if value != 0 and not -330 < value.adjusted() < 310:  # checked before float(): huge exponents
        raise SpecError(f"{name}: {role} {_short(text)} in {_short(spec)} is out of the float range "
                        "(about 1e-308 to 1e308)")
    if not math.isfinite(float(value)) or (value != 0 and float(value) == 0.0):
        raise SpecError(f"{name}: {role} {text!r} in {spec!r} is out of the float range (about 1e-308 to 1e308)")
    return value


def _check_unique(name: str, values: Sequence[Value], spec: str, *, rounded: bool = False) -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        key = format_value(value)
        if key in seen:
            why = " after rounding; widen the range or use fewer values" if rounded else "; give each value once"
            raise SpecError(f"{name}: value {key!r} appears twice in {spec!r}{why}")
        seen[key] = i


def _as_numbers(decimals: Sequence[Decimal], as_int: bool) -> tuple[Value, ...]:
    if as_int and all(d == d.to_integral_value() for d in decimals):
        return tuple(int(d) for d in decimals)
    return tuple(float(d) for d in decimals)


# ---- ranges --------------------------------------------------------------------------------------
def _too_many(name: str, spec: str, count: int | None) -> SpecError:
    shown = f"{count:,} values, more than" if count is not None else "more values than"
    return SpecError(f"{name}: range {spec!r} gives {shown} the limit of {MAX_RANGE_VALUES:,}; "
                     "use a larger step or factor")


def _linear(name: str, spec: str, head: str, start: Decimal, end: Decimal, step_text: str,
            as_int: bool) -> tuple[Value, ...]:
    step = _decimal(name, step_text, "step", spec)
    if step == 0:
        raise SpecError(f"{name}: step {step_text!r} must not be zero, as in '0.3..0.7 +0.2' or '10..1 -3'")
    if (end > start and step < 0) or (end < start and step > 0):
        way = "up" if end > start else "down"
        flipped = ("+" if step < 0 else "-") + step_text.lstrip("+-")
        raise SpecError(f"{name}: step {step_text!r} cannot go {way} from {start} to {end}; flip its sign, "
                        f"as in '{head} {flipped}'")
    with localcontext(_DECIMAL):
        try:
            count = int((end - start) // step) + 1
        except InvalidOperation:  # the quotient has more digits than the context holds
            raise _too_many(name, spec, None) from None
        if count > MAX_RANGE_VALUES:
            raise _too_many(name, spec, count)
        values = [start + k * step for k in range(count)]
    return _as_numbers(values, as_int and bool(_INT.fullmatch(step_text)))


def _geometric(
    name: str, spec: str, start: Decimal, end: Decimal, sym: str, arg: str, as_int: bool
) -> tuple[Value, ...]:
    factor = _decimal(name, arg, "factor", spec)
    if factor <= 1:
        raise SpecError(f"{name}: factor '{sym}{arg}' must be greater than 1, as in '28..256 *2' or '256..28 /2'")
    if start <= 0:
        raise SpecError(f"{name}: range {spec!r} starts at {start}; '{sym}' ranges need a start above 0, "
                        "as in '28..256 *2'")
    up = sym == "*"
    if (up and end < start) or (not up and end > start):
        better = f"'{start}..{end} {'/' if up else '*'}{arg}'"
        raise SpecError(f"{name}: range {spec!r} is inverted: '{sym}' cannot go from {start} to {end}; try {better}")
    values: list[Decimal] = []
    with localcontext(_DECIMAL):
        value = start
        while (value <= end) if up else (value >= end):
            if len(values) == MAX_RANGE_VALUES:
                raise _too_many(name, spec, None)
            values.append(value)
            value = value * factor if up else value / factor
    return _as_numbers(values, as_int and bool(_INT.fullmatch(arg)))


def _logspace(name: str, spec: str, start: Decimal, end: Decimal, count_text: str, as_int: bool) -> tuple[Value, ...]:
    if not _INT.fullmatch(count_text) or int(count_text) < 1:
        raise SpecError(f"{name}: count {count_text!r} in {spec!r} must be a whole number of at least 2, "
                        "as in '1e-4..1e-1 log 4'")
    count = int(count_text)
    if start <= 0 or end <= 0:
        raise SpecError(f"{name}: log range {spec!r} must have both ends above 0, as in '1e-4..1e-1 log 4'")
    if count > MAX_RANGE_VALUES:
        raise _too_many(name, spec, count)
    if count == 1 and start != end:
        raise SpecError(f"{name}: count '1' in {spec!r} cannot include both ends; use 2 or more, "
                        "as in '1e-4..1e-1 log 4'")
    if count > 1 and start == end:
        raise SpecError(f"{name}: log range {spec!r} has equal ends; give two different ends, as in '1e-4..1e-1 log 4'")
    lo, hi = math.log10(float(start)), math.log10(float(end))
    inner = [Decimal(f"{10 ** (lo + (hi - lo) * k / (count - 1)):.12g}") for k in range(1, count - 1)]
    values = [start, *inner, end] if count > 1 else [start]
    result = _as_numbers(values, as_int)
    _check_unique(name, result, spec, rounded=True)
    return result


def _range(name: str, spec: str, head: str, op: str) -> tuple[tuple[Value, ...], Scale]:
    start_text, _, end_text = head.partition("..")
    if not start_text or not end_text:
        missing = "start" if not start_text else "end"
        raise SpecError(f"{name}: range {spec!r} has no {missing}; write START..END STEP with no spaces "
                        f"around '..', {_EXAMPLES}")
    start = _decimal(name, start_text, "start", spec)
    end = _decimal(name, end_text, "end", spec)
    as_int = bool(_INT.fullmatch(start_text))
    if not op:
        raise SpecError(f"{name}: range {spec!r} has no step; add one, as in '{head} +1', '{head} *2' "
                        f"or '{head} log 5'")
    match = _OPERATOR.fullmatch(op)
    if match is None:
        raise SpecError(f"{name}: range operator {op!r} in {spec!r} is not one of +STEP, -STEP, *FACTOR, /FACTOR "
                        f"or log COUNT, {_EXAMPLES}")
    if match["count"] is not None:
        return _logspace(name, spec, start, end, match["count"], as_int and bool(_INT.fullmatch(end_text))), "log"
    sym, arg = match["sym"], match["arg"]
    if sym in "+-":
        return _linear(name, spec, head, start, end, sym + arg, as_int), "linear"
    return _geometric(name, spec, start, end, sym, arg, as_int), "log"


def _split_head(text: str) -> tuple[str, str]:
    """``'0.3..0.7 +0.2'`` -> ``('0.3..0.7', '+0.2')``: the first word and the rest, stripped."""
    parts = text.split(None, 1)
    if len(parts) == 1:  # '0.3..0.7+0.2', '28..256*2', '1e-4..1e-1log4': the step glued on
        glued = _GLUED_STEP.fullmatch(parts[0])
        if glued:
            op = glued["op"]
            return glued["head"], f"log {op[3:]}" if op.startswith("log") else op
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def range_form(text: str) -> tuple[str, str, str] | None:
    """``'28..256 *2'`` -> ``('28', '256', '*2')``, ``'1e-4..1e-1 log 4'`` -> ``('1e-4', '1e-1', 'log 4')``:
    the ends and the step of a well-formed range (steps glued on included), else None (a list, a value)."""
    text = text.strip()
    if not text or "," in text:
        return None
    head, op = _split_head(text)
    start, sep, end = head.partition("..")
    if not sep or not op or not _NUMBER.fullmatch(start) or not _NUMBER.fullmatch(end):
        return None
    match = _OPERATOR.fullmatch(op)
    if match is None:
        return None
    return start, end, f"log {match['count']}" if match["count"] is not None else match["sym"] + match["arg"]


def _malformed_range(head: str) -> bool:
    """Whether one word reads as START..END with an end that is not a number (``a..b``, ``1..b``).

    Paths (a ``/`` or ``\\``), three dots in a row and a ``..`` at either end are values, not ranges.
    """
    if "/" in head or "\\" in head or "..." in head or head.count("..") != 1:
        return False
    start, _, end = head.partition("..")
    return bool(start) and bool(end) and not (_NUMBER.fullmatch(start) and _NUMBER.fullmatch(end))


def _malformed(name: str, item: str, spec: str) -> SpecError:
    return SpecError(f"{name}: {_short(item)} is not a range: START..END takes numbers, as in '1..10 +1' or "
                     f"'1e-4..1e-1 log 4'; for text with '..' list it in a spec file, as in {name} = [{_short(item)}]"
                     if item == spec else
                     f"{name}: item {_short(item)} of {_short(spec)} is not a range: START..END takes numbers, "
                     "as in '1..10 +1'; for text with '..' list it in a spec file")


def _is_number_or_empty(text: str) -> bool:
    return not text or bool(_NUMBER.fullmatch(text))


def _looks_like_range(head: str, op: str) -> bool:
    start, _, end = head.partition("..")
    return bool(op) or (_is_number_or_empty(start) and _is_number_or_empty(end))


#: A list of positive numbers spanning this ratio or more is shown on a log axis (1e-4,1e-2,1).
LOG_LIST_RATIO = 100.0


def _scale_of(values: Sequence[Value], numeric_scale: Scale) -> Scale:
    if any(isinstance(v, str) for v in values):
        return "categorical"
    nums = [float(v) for v in values if not isinstance(v, bool)]
    if numeric_scale == "linear" and len(nums) > 1 and min(nums) > 0 and max(nums) / min(nums) >= LOG_LIST_RATIO:
        return "log"
    return numeric_scale


def _parse_text(name: str, spec: str) -> tuple[tuple[Value, ...], Scale]:
    text = spec.strip()
    if not text:
        raise SpecError(f"{name}: no values in {spec!r}; give a list, as in '1,2,3', or a range, {_EXAMPLES}")
    if "," in text:
        items = [item.strip() for item in text.split(",")]
        values: list[Value] = []
        for position, item in enumerate(items, 1):
            if not item:
                raise SpecError(f"{name}: item {position} of {spec!r} is empty; remove the extra comma, as in '1,2,3'")
            head, op = _split_head(item)
            if ".." in head and _NUMBER.fullmatch(head.partition("..")[0]) and _looks_like_range(head, op):
                raise SpecError(f"{name}: item {item!r} of {spec!r} is a range; a range stands alone, "
                                "so give the range or list its values, as in '1,2,3'")
            if ".." in head and _malformed_range(head):
                raise _malformed(name, item, spec)
            values.append(_scalar(name, item))
        _check_unique(name, values, spec)
        return tuple(values), _scale_of(values, "linear")
    head, op = _split_head(text)
    if ".." in head and _looks_like_range(head, op):
        return _range(name, spec, head, op)
    if ".." in head and _malformed_range(head):
        raise _malformed(name, text, text)
    if _has_spaced_range(text):
        raise SpecError(f"{name}: range {spec!r} has spaces around '..'; write START..END without them, {_EXAMPLES}")
    value = _scalar(name, text)
    return (value,), _scale_of([value], "linear")


def _has_spaced_range(text: str) -> bool:
    """Whether ``text`` holds NUMBER .. NUMBER with spaces beside the '..' (one pass over the words)."""
    words = text.split()
    for i, word in enumerate(words):
        before = words[i - 1] if i > 0 else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        if word == "..":
            pair = (before, after)
        elif word.startswith(".."):
            pair = (before, word[2:])
        elif word.endswith(".."):
            pair = (word[:-2], after)
        else:
            continue
        if all(_NUMBER.fullmatch(side) for side in pair):
            return True
    return False


def _parse_list(name: str, items: Sequence[Any]) -> tuple[tuple[Value, ...], Scale, str]:
    if not items:
        raise SpecError(f"{name}: the list of values is empty; give at least one, as in [1, 2, 3]")
    values = [_typed(name, item) for item in items]
    source = ",".join(format_value(v) for v in values)
    _check_unique(name, values, source)
    return tuple(values), _scale_of(values, "linear"), source


def _typed(name: str, item: Any) -> Value:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, numbers.Integral):
        if int(item).bit_length() > 14_000:  # about 4,300 digits: Python's int-string limit
            raise SpecError(f"{name}: value of {int(item).bit_length():,} bits has more than {_MAX_DIGITS:,} "
                            "digits; give a smaller whole number")
        return _check_int(name, int(item))
    if isinstance(item, numbers.Real):
        if not math.isfinite(item):
            raise SpecError(f"{name}: value {_short(item)} is not a finite number; give a real number or a string")
        return float(item)
    if isinstance(item, str):
        if not item.strip():
            raise SpecError(f"{name}: value {_short(item)} is empty; give a non-empty string")
        _check_text(name, item)
        return item
    raise SpecError(f"{name}: value {_short(item)} of type {type(item).__name__} is not allowed; "
                    "use an int, float or str")


def parse_values(name: str, spec: Any) -> tuple[tuple[Value, ...], Scale, str]:
    """Parse one flag's spec: returns ``(values, scale, source text)``.

    ``spec`` is a spec string, a list of values (kept with their types), or a single number.
    """
    name = check_name(name)
    if isinstance(spec, str):
        if len(spec) > MAX_SPEC_CHARS:
            raise SpecError(f"{name}: values of {len(spec):,} characters ({_short(spec)}) are too long; give at "
                            f"most {MAX_SPEC_CHARS:,} characters, or a range such as '1..1000 +1'")
        values, scale = _parse_text(name, spec)
        return values, scale, spec.strip()
    if isinstance(spec, Sequence) and not isinstance(spec, bytes | bytearray):
        return _parse_list(name, spec)
    if isinstance(spec, numbers.Real):
        return _parse_list(name, [spec])
    raise SpecError(f"{name}: spec {_short(spec)} of type {type(spec).__name__} is not allowed; give a string such as "
                    "'0.3..0.7 +0.2', a list of values or a number")


# ---- the spec --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchSpec:
    """The values to try per flag, in the user's order; build with :meth:`parse` or :meth:`from_any`."""

    params: dict[str, tuple[Value, ...]]
    sources: dict[str, str]
    scales: dict[str, Scale]

    def __post_init__(self) -> None:
        if not self.params:
            raise SpecError("search space is empty; give at least one NAME=VALUES, as in 'batch_size=32..64 *2'")
        for name, values in self.params.items():
            check_name(name)
            if not values:
                raise SpecError(f"{name}: no values; give at least one, as in '{name}=1,2,3'")

    @classmethod
    def parse(cls, mapping: Mapping[str, Any]) -> SearchSpec:
        """From ``{name: spec string | list of values | number}``."""
        if not isinstance(mapping, Mapping):
            raise SpecError(f"search space: {mapping!r} is not a mapping of NAME to VALUES")
        params: dict[str, tuple[Value, ...]] = {}
        sources: dict[str, str] = {}
        scales: dict[str, Scale] = {}
        for name, spec in mapping.items():
            params[name], scales[name], sources[name] = parse_values(name, spec)
        return cls(params, sources, scales)

    @classmethod
    def from_assignments(cls, items: Iterable[str]) -> SearchSpec:
        """From CLI arguments such as ``["batch_size=32..64 *2", "num_epochs=6,12"]``."""
        mapping: dict[str, str] = {}
        given: dict[str, str] = {}
        for item in items:
            name, eq, spec = item.partition("=")
            name = name.strip()
            if not eq:
                raise SpecError(f"search space: {_short(item)} is not NAME=VALUES; write it as in "
                                "'batch_size=32..64 *2'")
            check_name(name)
            if name in mapping:
                raise SpecError(f"{name}: flag given twice, as {_short(given[name])} and {_short(item)}; "
                                "give each flag once")
            mapping[name], given[name] = spec, item
        return cls.parse(mapping)

    @classmethod
    def from_any(cls, obj: SearchSpec | Mapping[str, Any] | str | os.PathLike[str]) -> SearchSpec:
        """From a SearchSpec, a mapping, or a ``.json``/``.toml`` file of ``{"params": {...}}`` or flat."""
        if isinstance(obj, SearchSpec):
            return obj
        if isinstance(obj, Mapping):
            return cls.parse(_unwrap(obj, "search space"))
        if isinstance(obj, str | os.PathLike):
            return cls.parse(_unwrap(_load(Path(obj)), f"spec file {os.fspath(obj)!r}"))
        raise SpecError(f"search space: {obj!r} is not a SearchSpec, a mapping or a .json/.toml file path")

    @property
    def count(self) -> int:
        """The number of experiments :meth:`expand` gives, computed without expanding."""
        return math.prod(len(values) for values in self.params.values())

    def expand(self, max_batch: int = 10_000) -> list[dict[str, Value]]:
        """The Cartesian product, first flag varying slowest; :class:`BatchTooLarge` above ``max_batch``."""
        count = self.count
        if count > max_batch:
            raise BatchTooLarge(f"batch: {count:,} experiments exceeds the maximum of {max_batch:,}; "
                                "narrow a range or raise max_batch in the config")
        names = list(self.params)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*self.params.values())]

    def merged(self, other: SearchSpec) -> SearchSpec:
        """This spec with ``other``'s flags added; a flag in both takes ``other``'s values, in place."""
        return SearchSpec({**self.params, **other.params}, {**self.sources, **other.sources},
                          {**self.scales, **other.scales})

    def with_fixed(self, **values: Any) -> SearchSpec:
        """This spec with some flags pinned to one value each."""
        return self.merged(SearchSpec.parse({name: [value] for name, value in values.items()}))


def _unwrap(data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    params = data.get("params")
    if isinstance(params, Mapping):
        extra = sorted(str(k) for k in data if k != "params")
        if extra:
            raise SpecError(f"{where}: keys {extra!r} sit beside 'params'; put every flag inside 'params'")
        return params
    return data


def _load(path: Path) -> Mapping[str, Any]:
    if "\x00" in str(path):
        raise SpecError(f"spec file: {str(path)!r} contains a NUL character; give the file's path")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise SpecError(f"spec file: {str(path)!r} is not a .json or .toml file; give one, as in 'space.toml'")
    try:
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"spec file: {str(path)!r} could not be read ({exc.strerror or exc}); check the path") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        reason = " ".join(str(exc).split())
        raise SpecError(f"spec file: {str(path)!r} is not valid {suffix[1:].upper()} ({reason})") from exc
    except RecursionError:
        raise SpecError(f"spec file: {str(path)!r} has lists or tables nested too deeply to read; "
                        "give NAME = VALUES, as in 'lr = [0.1, 0.01]'") from None
    if not isinstance(data, Mapping):
        raise SpecError(f"spec file: {str(path)!r} holds {type(data).__name__}, not a table of NAME = VALUES")
    return data
