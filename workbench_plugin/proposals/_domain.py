"""Domains: what each hyperparameter of the next batch may take, and values snapped onto them.

From the user's fields (:func:`domains_from_spec`): one value is *fixed*; any word makes a flag
*categorical*; numbers are an *int* or *float* range ``[min, max]`` of the values given, on a log
scale when the field is multiplicative (``16..256 *2``, ``1e-4..1e-1 log 4``, or a list spanning a
factor of 100), and a ``*k`` / ``/k`` range of ints keeps its lattice (proposals for ``16..256 *2``
stay powers of two from 16). A lock is never widened: it becomes its one value or exactly its
values. The script's argparse ``choices`` of a numeric flag restrict the values further.

From a flag the project has never tried (:func:`domain_for_new_flag`): its declared type and
default (ints multiplicative around the default, probabilities linear in (0, 1), learning-rate-like
floats log-spaced around it); ``origin`` says so.

:func:`snap` puts any number on a domain (type, lattice, choices, range; floats rounded to three
significant digits where that stays inside the range), :func:`to_unit` / :func:`from_unit` map a
numeric domain to [0, 1] on its own scale, which is where samplers and models work.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Collection, Sequence

from workbench_plugin.flags import Flag, FlagSet, flag_key, one_line
from workbench_plugin.proposals._types import Domain, ProposalError
from workbench_plugin.space import SearchSpec, Value, format_value, range_form

__all__ = ["domain_for_new_flag", "domains_from_spec", "find_flag", "from_unit", "is_number", "lattice", "snap",
           "to_unit", "value_text"]

#: Name words of a float flag whose values are spread on a log scale when it has no history.
LR_WORDS = ("lr", "learning_rate", "eta", "alpha", "lambda", "weight_decay", "wd", "l1", "l2", "reg", "eps", "tol")
#: Name words of a float flag that is a probability or a fraction: spread linearly in (0, 1).
PROB_WORDS = ("dropout", "prob", "p", "frac", "fraction", "ratio", "momentum", "subsample", "keep")
#: The most points of a ratio lattice; beyond it a domain is treated as a plain log range.
MAX_LATTICE = 10_000


def is_number(value: object) -> bool:
    """A real, finite number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def value_text(value: Value | float, limit: int = 40) -> str:
    """A value as messages and reasons show it: numbers with 3 significant digits, text escaped and cut."""
    if isinstance(value, str):
        return one_line(value, limit)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if is_number(value):
        return format_value(float(f"{float(value):.3g}"))
    return one_line(repr(value), limit)


def find_flag(flags: FlagSet | None, name: str) -> Flag | None:
    """The script's flag that a spec name means (``learning-rate`` finds ``--learning_rate``), or None."""
    if flags is None or not flags.known:
        return None
    key = flag_key(name)
    for flag in flags.flags:
        keys = {flag_key(o) for o in flag.option_strings if o.startswith("-")}
        if flag.dest:
            keys.add(flag_key(flag.dest))
        if key in keys:
            return flag
    return None


def _plain_default(flag: Flag | None) -> Value | None:
    if flag is None or not flag.default_known or flag.is_switch:
        return None
    d = flag.default
    if isinstance(d, str) or (is_number(d) and isinstance(d, int | float)):
        return d
    return None


# ---- from the user's spec ---------------------------------------------------------------------------
def _numeric_choices(flag: Flag | None, low: float, high: float, as_int: bool) -> tuple[Value, ...]:
    if flag is None or not flag.choices:
        return ()
    nums = sorted({c for c in flag.choices if is_number(c) and (not as_int or float(c) == int(c))}, key=float)
    return tuple(int(c) if as_int else c for c in nums if low <= float(c) <= high)


def _ratio(source: str, values: Sequence[Value]) -> float | None:
    form = range_form(source)
    if form is None or form[2][:1] not in ("*", "/"):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    try:
        k = float(form[2][1:])
    except ValueError:
        return None
    return k if k > 1 else None


def _is_log(source: str, scale: str, values: Sequence[Value]) -> bool:
    if any(float(v) <= 0 for v in values):
        return False
    if scale == "log":
        return True
    form = range_form(source)
    return form is not None and (form[2][:1] in ("*", "/") or form[2].startswith("log"))


def domains_from_spec(spec: SearchSpec, *, locked: Collection[str] = (),
                      flags: FlagSet | None = None) -> dict[str, Domain]:
    """One domain per flag of ``spec``, in its order (see the module's docstring)."""
    locks = {flag_key(n) for n in locked}
    out: dict[str, Domain] = {}
    for name, values in spec.params.items():
        source = one_line(spec.sources.get(name, ""), 80)
        flag = find_flag(flags, name)
        default = _plain_default(flag)
        is_locked = flag_key(name) in locks
        shown = ",".join(value_text(v) for v in values[:6]) + (",..." if len(values) > 6 else "")
        if len(values) == 1:
            origin = f"locked at {value_text(values[0])}" if is_locked else f"your value {value_text(values[0])}"
            out[name] = Domain(name, "fixed", choices=(values[0],), locked=is_locked, default=default, origin=origin)
            continue
        if is_locked or any(isinstance(v, str) for v in values):
            origin = f"locked to {shown}" if is_locked else f"your choices {shown}"
            out[name] = Domain(name, "categorical", choices=tuple(values), locked=is_locked, default=default,
                               origin=origin)
            continue
        as_int = all(isinstance(v, int) and not isinstance(v, bool) for v in values) and not (
            flag is not None and flag.type == "float")
        low, high = float(min(values, key=float)), float(max(values, key=float))
        log = _is_log(source, spec.scales.get(name, "linear"), values)
        ratio = _ratio(source, values) if as_int else None
        choices = _numeric_choices(flag, low, high, as_int)
        origin = f"your range {source}" if range_form(source) else f"your values {shown}"
        if choices:
            origin += f"; the script allows {','.join(value_text(c) for c in choices[:6])}"
            origin += ",..." if len(choices) > 6 else ""
        elif flag is not None and flag.choices:  # none of the script's choices lies in the range: keep the user's
            choices = tuple(sorted(values, key=float))
            origin += "; only these values (the script's choices lie outside the range)"
        out[name] = Domain(name, "int" if as_int else "float", low, high, log=log, ratio=ratio, choices=choices,
                           default=default, origin=origin)
    return out


# ---- a flag with no history ---------------------------------------------------------------------------
def _has_word(key: str, words: Sequence[str]) -> bool:
    return any(re.search(rf"(^|_){re.escape(w)}($|_)", key) for w in words)


def _num(x: float) -> str:
    return format_value(float(f"{x:.3g}"))


def domain_for_new_flag(flag: Flag) -> Domain:
    """A domain for an added flag the project has no history of, from its type and default."""
    name = flag.name.lstrip("-") or flag.dest
    label = one_line(name, 60)
    add = f"give its values instead, as in --add '{label}=VALUES'"
    if flag.is_switch or flag.type in ("bool", "none"):
        raise ProposalError(f"{label}: a switch has no range to propose from; {add}")
    default = _plain_default(flag)
    if flag.choices:
        choices = tuple(c for c in flag.choices if isinstance(c, str) or is_number(c))
        if len(choices) >= 2:
            return Domain(name, "categorical", choices=choices, default=default,
                          origin=f"no history: the script's choices {','.join(value_text(c) for c in choices[:6])}")
    if default is None:
        raise ProposalError(f"{label}: no known default to propose around; {add}")
    if isinstance(default, str):
        raise ProposalError(f"{label}: a text flag (default {value_text(default)!r}) without choices has no range; "
                            f"{add}")
    key = flag_key(name).lower()
    if isinstance(default, int) and flag.type != "float":
        start = default
        if start <= 0:
            raise ProposalError(f"{label}: int default {start} gives no scale to multiply around; {add}")
        ratio = 2.0 if start % 4 == 0 else None
        first, last = (start // 4, 4 * start) if ratio else (max(1, round(start / 4)), 4 * start)
        how = f"{first}..{last} *2" if ratio else f"log-spaced ints {first}..{last}"
        return Domain(name, "int", float(first), float(last), log=True, ratio=ratio, default=start,
                      origin=f"no history: int, default {start}, so multiplicative around it: {how}")
    d = float(default)
    lr_like = d > 0 and (_has_word(key, LR_WORDS) or d <= 0.01)
    prob_like = not lr_like and 0 <= d <= 1 and (_has_word(key, PROB_WORDS) or 0 < d < 1)
    if lr_like:
        low, high = d / 100, d * 100
        if d < 1:
            high = min(high, 1.0)
        return Domain(name, "float", low, high, log=True, default=d,
                      origin=f"no history: float, default {_num(d)}, learning-rate-like, "
                             f"so log-spaced {_num(low)}..{_num(high)}")
    if prob_like:
        low, high = min(0.05, d) if d > 0 else 0.05, max(0.95, d) if d < 1 else 0.95
        return Domain(name, "float", low, high, default=d,
                      origin=f"no history: float, default {_num(d)}, probability-like, "
                             f"so linear {_num(low)}..{_num(high)} in (0, 1)")
    if d == 0:
        raise ProposalError(f"{label}: float default 0 gives no scale to spread around; {add}")
    low, high = (d / 2, 2 * d) if d > 0 else (2 * d, 0.0)
    return Domain(name, "float", low, high, default=d,
                  origin=f"no history: float, default {_num(d)}, so linear {_num(low)}..{_num(high)}")


# ---- snapping -------------------------------------------------------------------------------------------
def lattice(domain: Domain) -> list[float] | None:
    """The points ``low * ratio**i`` inside ``[low, high]`` of a ratio domain (ints rounded), else None."""
    if domain.ratio is None or domain.low is None or domain.high is None or domain.low <= 0 or domain.ratio <= 1:
        return None
    count = int(math.floor(math.log(domain.high / domain.low) / math.log(domain.ratio) + 1e-9)) + 1
    if count > MAX_LATTICE:
        return None
    points = [float(f"{domain.low * domain.ratio ** i:.12g}") for i in range(count)]
    return [float(round(p)) for p in points] if domain.kind == "int" else points


def _axis(domain: Domain, x: float) -> float:
    return math.log10(x) if domain.log and x > 0 else x


def _nearest(domain: Domain, x: float, options: Sequence[float]) -> float:
    return min(options, key=lambda o: (abs(_axis(domain, float(o)) - _axis(domain, x)), float(o)))


def _round_float(x: float, low: float, high: float) -> float:
    """``x`` with 3 significant digits (more where the range is narrow), never outside [low, high]."""
    if x == 0:
        return 0.0
    span = high - low
    digits = 3
    while digits < 15 and span > 0 and 10 ** (math.floor(math.log10(abs(x))) - digits + 1) > span / 200:
        digits += 1
    out = float(f"{x:.{digits}g}")
    return min(max(out, low), high)


def _as_number(domain: Domain, x: object) -> float:
    if is_number(x):
        return float(x)  # type: ignore[arg-type]
    if isinstance(x, str):
        try:
            value = float(x)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value
    raise ProposalError(f"{one_line(domain.name, 60)}: value {value_text(x)!r} is not a number; "  # type: ignore[arg-type]
                        f"give a number in {value_text(domain.low or 0)}..{value_text(domain.high or 0)}")


def _same(a: object, b: object) -> bool:
    if is_number(a) and is_number(b):
        return float(a) == float(b)  # type: ignore[arg-type]
    return type(a) is type(b) and a == b


def snap(domain: Domain, x: Value | float) -> Value:
    """``x`` on ``domain``: its type, lattice, choices and range (see the module's docstring)."""
    if domain.kind == "fixed":
        return domain.choices[0] if domain.choices else domain.default  # type: ignore[return-value]
    if domain.kind == "categorical":
        for choice in domain.choices:
            if _same(choice, x):
                return choice
        allowed = ", ".join(value_text(c, 30) for c in domain.choices[:10])
        raise ProposalError(f"{one_line(domain.name, 60)}: value {value_text(x)!r} is not one of {allowed}")
    value = _as_number(domain, x)
    low = domain.low if domain.low is not None else value
    high = domain.high if domain.high is not None else value
    value = min(max(value, low), high)
    if domain.choices:
        nums = [float(c) for c in domain.choices if is_number(c)]
        best = _nearest(domain, value, nums)
        return next(c for c in domain.choices if is_number(c) and float(c) == best)
    points = lattice(domain)
    if points:
        best = _nearest(domain, value, points)
        return int(best) if domain.kind == "int" else best
    if domain.kind == "int":
        lo, hi = math.ceil(low), math.floor(high)
        if hi < lo:
            return int(round(value))
        options = [min(max(math.floor(value), lo), hi), min(max(math.ceil(value), lo), hi)]
        return int(_nearest(domain, value, options))
    return _round_float(value, low, high)


def to_unit(domain: Domain, value: Value) -> float:
    """``value`` as a coordinate in [0, 1] on the domain's scale (log10 when ``.log``); a value outside the
    range lands outside [0, 1]. Categorical: the middle of its choice's slot; fixed: 0.5."""
    if domain.kind == "fixed":
        return 0.5
    if domain.kind == "categorical":
        k = len(domain.choices)
        index = next((i for i, c in enumerate(domain.choices) if _same(c, value)), None)
        if index is None:
            raise ProposalError(f"{one_line(domain.name, 60)}: value {value_text(value)!r} is not one of its choices")
        return (index + 0.5) / k
    x = _as_number(domain, value)
    low, high = float(domain.low), float(domain.high)  # type: ignore[arg-type]
    a, b = _axis(domain, low), _axis(domain, high)
    if b == a:
        return 0.5
    if domain.log and x <= 0:
        return -math.inf
    return (_axis(domain, x) - a) / (b - a)


def _discrete(domain: Domain) -> list[Value] | None:
    """The allowed values in order when they are few enough to pick by slot (choices, a lattice)."""
    if domain.choices:
        return sorted(domain.choices, key=lambda c: float(c) if is_number(c) else 0.0)
    points = lattice(domain)
    if points is not None:
        return [int(p) if domain.kind == "int" else p for p in points]
    return None


def from_unit(domain: Domain, u: float) -> Value:
    """The value at coordinate ``u`` (clipped to [0, 1]), snapped. Choices, lattices and categories are
    picked by equal slots (``floor(u * k)``), so each is as likely as the others."""
    u = min(max(float(u), 0.0), 1.0)
    if domain.kind == "fixed":
        return snap(domain, 0.0)
    if domain.kind == "categorical":
        return domain.choices[min(int(u * len(domain.choices)), len(domain.choices) - 1)]
    options = _discrete(domain)
    if options:
        return options[min(int(u * len(options)), len(options) - 1)]
    low, high = float(domain.low), float(domain.high)  # type: ignore[arg-type]
    if domain.kind == "int" and not domain.log:
        lo, hi = math.ceil(low), math.floor(high)
        return min(lo + int(u * (hi - lo + 1)), hi) if hi >= lo else snap(domain, low)
    a, b = _axis(domain, low), _axis(domain, high)
    x = a + u * (b - a)
    return snap(domain, 10 ** x if domain.log else x)
