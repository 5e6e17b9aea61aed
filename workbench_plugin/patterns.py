"""Metrics read from a script's stdout, for scripts that cannot use the tracking SDK.

Standard library only (it runs inside every container). The wrapper feeds each stdout line to a
:class:`StdoutParser` and gets :class:`Point` s back. Without patterns the parser knows two
styles:

* Keras progress lines. ``Epoch 3/10`` sets the current epoch; a following
  ``100/100 [====] - 1s 10ms/step - loss: 0.1234 - acc: 0.95`` is an epoch point with those
  metrics (Keras 2 and 3, verbose 1 and 2). Progress redrawn with ``\\r`` counts only its last
  update, and mid-epoch updates (``ETA:``, ``32/100``) are skipped. ``loss: 0.5 - acc: 0.9``
  with no ``Epoch`` line before it is a step point.
* ``key=value`` pairs: ``epoch=3 loss=0.12`` is an epoch point, ``step=10 loss=0.3`` a step
  point, ``loss=0.1 acc=0.9`` a point at the next step. A line may also start with
  ``epoch 3/12`` or ``step 40``. Values must be numbers (``1e-3``, ``-2.5``, ``nan``); other
  pairs (``mode=train``), pairs in URLs or ``a==b``, and arguments of calls such as
  ``Namespace(lr=0.1)`` are ignored.

Custom patterns (a project's ``stdout_patterns``) replace both: regular expressions whose named
groups are metrics, except ``epoch`` and ``step`` (ints). All patterns are tried on each line
and what they capture makes one point; a match with only ``epoch``/``step`` sets the context of
the lines after it (as ``Epoch 3/10`` does). A capture that is not a number drops that
pattern's match for the line (stdout is not ours to reject); a bad pattern is a ``SpecError``
when the parser is built, and so is a pattern that repeats a repetition (``(a+)+``), which can
backtrack exponentially. Metrics are read from the first :data:`MAX_METRIC_LINE` characters of a
line, so every line costs bounded time. Steps not given count up from 0 after the last step seen.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from workbench_plugin._exceptions import SpecError

__all__ = ["MAX_METRIC_LINE", "Point", "StdoutParser", "parse_stream", "compile_patterns"]

#: Metrics are read from the first this-many characters of a line (after ``\r`` redraws); the whole
#: line still goes to the log. It bounds the work per line, custom patterns included.
MAX_METRIC_LINE = 4096


class Point(NamedTuple):
    """Metrics read from one line: ``kind`` is ``"epoch"`` or ``"step"``."""

    kind: str
    epoch: int | None
    step: int | None
    metrics: dict[str, float]


# Possessive quantifiers (no backtracking into a run of digits) keep every match linear.
_NUMBER = r"[-+]?(?:(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][-+]?\d++)?|(?i:nan|inf(?:inity)?))"

# Keras: "Epoch 3/10" alone on its line.
_KERAS_EPOCH = re.compile(r"\s*Epoch\s+(\d+)\s*/\s*\d+\s*$")
# One " - "-separated part "name: value".
_KERAS_PAIR = re.compile(rf"([A-Za-z_][\w./]*):\s*({_NUMBER})\s*$")
# Parts allowed beside the metrics: progress "100/100 [===]" or "32/Unknown", times "1s 10ms/step", "ETA: 2s".
_KERAS_LEAD = re.compile(r"(?:\d+/(?:\d+|Unknown)\b|ETA:|\d+(?:\.\d+)?(?:s|ms|us|µs)\b)")
_KERAS_PROGRESS = re.compile(r"\s*(\d+)/(\d+)\b")

# key=value: the key starts a word (after a space, "[" or "{"), the value ends at a space or , ; ] }.
_KV_PAIR = re.compile(rf"(?:^|(?<=[\s\[{{]))([A-Za-z_][\w.]*+)=({_NUMBER})(?:/(\d+))?(?=$|[\s,;\]}}])")
_KV_PREFIX = re.compile(r"\s*(epoch|step)\s+(\d+)(?:\s*/\s*\d+)?\s*[:,]?(?=\s)", re.IGNORECASE)
# A call starts a word (not at every letter of one) and stops at the next parenthesis: linear.
_CALL = re.compile(r"(?<![\w.])[A-Za-z_][\w.]*+\([^()]*+\)")  # Namespace(lr=0.1, ...): arguments, not metrics
_SPECIAL = ("epoch", "step")


def _last_update(line: str) -> str:
    """The last update of a line redrawn with carriage returns or backspaces."""
    line = line.rstrip("\n")
    if "\r" in line:
        parts = [p for p in line.split("\r") if p.strip()]
        line = parts[-1] if parts else ""
    if "\b" in line:
        line = line.rsplit("\b", 1)[-1]
    return line


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if value.is_integer() else None


def _nested_repeat(pattern: str) -> bool:
    """Whether a backtracking repeat (``*``, ``+``, ``{2,}``) holds another one: ``(a+)+`` and the
    like backtrack exponentially on a line that almost matches. Possessive repeats and atomic
    groups never backtrack, so ``(?:[0-9]+,)*+`` is fine."""
    # the stdlib's own parse of the pattern (re._parser; sre_parse, its old name, warns on import)
    c: Any = importlib.import_module("re._constants")
    p: Any = importlib.import_module("re._parser")

    def repeats(items: Any) -> Iterator[tuple[bool, Any]]:
        """(backtracking and unbounded-ish, body) for every repeat, and the bodies of every group."""
        for op, av in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                yield av[1] > 1, av[2]
            elif op is c.POSSESSIVE_REPEAT:
                continue  # never backtracks into its body
            elif op is c.SUBPATTERN:
                yield from repeats(av[3])
            elif op is c.BRANCH:
                for branch in av[1]:
                    yield from repeats(branch)
            elif op in (c.ASSERT, c.ASSERT_NOT):
                yield from repeats(av[1])

    def has_repeat(items: Any) -> bool:
        return any(many or has_repeat(body) for many, body in repeats(items))

    def nested(items: Any) -> bool:
        return any((many and has_repeat(body)) or nested(body) for many, body in repeats(items))

    try:
        return nested(p.parse(pattern))
    except (re.error, RecursionError):
        return False  # re.compile reports it


def compile_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """Check and compile custom patterns; ``SpecError`` names the bad one and what is expected."""
    compiled = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise SpecError(f"stdout_patterns: {pattern!r} is not a string; give regular expressions as strings")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise SpecError(
                f"stdout_patterns: {pattern!r} is not a valid regular expression ({exc}); "
                r"use Python syntax with named groups, as in 'loss=(?P<loss>\S+)'"
            ) from None
        if _nested_repeat(pattern):
            raise SpecError(
                f"stdout_patterns: {pattern!r} repeats a repetition (as in '(a+)+'), which can take exponential "
                r"time on a long line; use one quantifier, or a possessive one ('++', '*+'), as in "
                r"'loss=(?P<loss>\S+)'"
            )
        if not regex.groupindex:
            raise SpecError(
                f"stdout_patterns: {pattern!r} has no named groups; name each metric (and optionally "
                r"epoch or step), as in 'epoch (?P<epoch>\d+) loss (?P<loss>\S+)'"
            )
        compiled.append(regex)
    return compiled


class StdoutParser:
    """Turns stdout lines into metric points; keeps the current epoch and step between lines."""

    def __init__(self, patterns: Sequence[str] | None = None) -> None:
        if isinstance(patterns, str):  # one pattern given bare
            patterns = [patterns]
        self.patterns = compile_patterns(patterns) if patterns else None
        self._epoch: int | None = None  # set by "Epoch 3/10" (or an epoch-only custom match)
        self._step: int | None = None  # set by a step-only custom match
        self._next_step = 0
        #: What caught the last line fed: ``"keras"``, ``"key=value"``, the custom pattern(s) that
        #: matched (joined by `` | ``), or ``None`` when the line gave no point.
        self.last_rule: str | None = None

    def feed(self, line: str) -> list[Point]:
        """The points in one line of output (usually zero or one)."""
        self.last_rule = None
        text = _last_update(line)[:MAX_METRIC_LINE]
        if not text.strip():
            return []
        if self.patterns is not None:
            point = self._custom(text)
        else:
            point = self._keras(text) if ":" in text or "Epoch" in text else None
            if point is not None:
                self.last_rule = "keras"
            elif "=" in text:
                point = self._key_value(text)
                if point is not None:
                    self.last_rule = "key=value"
        return [] if point is None else [point]

    def _point(self, epoch: int | None, step: int | None, metrics: dict[str, float]) -> Point:
        if epoch is None and step is None:
            step = self._next_step
        if step is not None:
            self._next_step = step + 1
        return Point("step" if epoch is None else "epoch", epoch, step, metrics)

    # ---- the default styles --------------------------------------------------------------------
    def _keras(self, text: str) -> Point | None:
        stripped = text.strip()
        match = _KERAS_EPOCH.match(stripped)
        if match:
            self._epoch = int(match.group(1))
            return None
        if "ETA:" in stripped:
            return None  # mid-epoch update
        progress = _KERAS_PROGRESS.match(stripped)
        if progress and int(progress.group(1)) < int(progress.group(2)):
            return None  # mid-epoch update
        parts = [p.strip() for p in stripped.removeprefix("- ").split(" - ")]
        metrics: dict[str, float] = {}
        for part in parts:
            pair = _KERAS_PAIR.match(part)
            if pair:
                metrics[pair.group(1)] = float(pair.group(2))
            elif not _KERAS_LEAD.match(part):  # progress and times ("1s/epoch") may come before or after
                return None  # not a Keras line
        if not metrics or (len(metrics) < 2 and not _KERAS_LEAD.match(parts[0])):
            return None  # a lone "name: 3" is too common in ordinary output to be a metric
        return self._point(self._epoch, None, metrics)

    def _key_value(self, text: str) -> Point | None:
        epoch = step = None
        prefix = _KV_PREFIX.match(text)
        if prefix:
            if prefix.group(1).lower() == "epoch":
                epoch = int(prefix.group(2))
            else:
                step = int(prefix.group(2))
            text = text[prefix.end() :]
        metrics: dict[str, float] = {}
        for key, value, total in _KV_PAIR.findall(_CALL.sub(" ", text)):
            lower = key.lower()
            if lower in _SPECIAL:
                number = _as_int(value)
                if number is not None and number >= 0:
                    if lower == "epoch":
                        epoch = number
                    else:
                        step = number
            elif not total:  # "acc=95/100" is a ratio, not a number
                metrics[key] = float(value)
        if not metrics:
            return None
        return self._point(epoch, step, metrics)

    # ---- custom patterns ---------------------------------------------------------------------
    def _custom(self, text: str) -> Point | None:
        assert self.patterns is not None
        epoch = step = None
        metrics: dict[str, float] = {}
        caught: list[str] = []
        for regex in self.patterns:
            match = regex.search(text)
            if match is None:
                continue
            found: dict[str, float] = {}
            m_epoch = m_step = None
            ok = True
            for name, value in match.groupdict().items():
                if value is None:
                    continue  # an optional group that did not take part
                if name in _SPECIAL:
                    number = _as_int(value.strip())
                    if number is None or number < 0:
                        ok = False
                        break
                    if name == "epoch":
                        m_epoch = number
                    else:
                        m_step = number
                else:
                    try:
                        found[name] = float(value.strip())
                    except ValueError:
                        ok = False  # documented: a non-number drops this match, it does not raise
                        break
            if not ok:
                continue
            epoch = m_epoch if m_epoch is not None else epoch
            step = m_step if m_step is not None else step
            metrics.update(found)
            if found:
                caught.append(regex.pattern)
        if not metrics:
            if epoch is not None:  # a header such as "Epoch 3": context for the lines after it
                self._epoch = epoch
            if step is not None:
                self._step = step
            return None
        if epoch is None and step is None:
            epoch = self._epoch
            if epoch is None and self._step is not None:
                step, self._step = self._step, None
        self.last_rule = " | ".join(caught)
        return self._point(epoch, step, metrics)


def parse_stream(lines: Iterable[str] | str, patterns: Sequence[str] | None = None) -> list[Point]:
    """Every point in some output: an iterable of lines, or one string split on newlines."""
    if isinstance(lines, str):
        lines = lines.split("\n")
    parser = StdoutParser(patterns)
    points: list[Point] = []
    for line in lines:
        points.extend(parser.feed(line))
    return points
