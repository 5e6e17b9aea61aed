"""What the stdout rules capture from a script's output, and a pattern proposed for a line that
shows metrics but is not captured. Pure computations on lines of text; ``hypertuner patterns``
(and ``init --check``) print them.

:func:`check_lines` replays an output through a :class:`~workbench_plugin.patterns.StdoutParser`
as the experiment wrapper does (stdout only) and says, line by line, what each line gave and which
rule caught it, then sums up the metrics. :func:`propose_pattern` turns one line into a regular
expression whose named groups are the numbers a person reads on it: each number is named after
the word(s) before it (``val loss: 0.3`` -> ``val_loss``), ``epoch``/``step`` words name the
counters, and counters such as ``640/60000``, percentages and numbers with units (``2ms``) are
left out. The proposal is checked: it passes :func:`~workbench_plugin.patterns.compile_patterns`
and, fed back to a parser, gives the numbers it names. Gaps between metrics are atomic lazy
groups (``(?>.*?Loss:\\s+)``) and numbers possessive, so a proposal stays linear on any line.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from workbench_plugin._exceptions import SpecError
from workbench_plugin._stdout_rules import _last_update as _redrawn
from workbench_plugin.patterns import MAX_METRIC_LINE, Point, StdoutParser, compile_patterns

__all__ = [
    "CheckReport",
    "LineResult",
    "MetricSummary",
    "OutputLine",
    "Proposal",
    "check_lines",
    "count_caught",
    "printable",
    "propose_pattern",
    "toml_string",
]

#: Words before a number that make it the epoch or the step (the last word of the label decides).
EPOCH_WORDS = frozenset({"epoch", "epochs", "ep"})
STEP_WORDS = frozenset({"step", "steps", "iteration", "iterations", "iter", "iters", "it", "round", "rounds",
                        "global_step", "batch"})
#: Leading words dropped from a metric's name ("with loss 0.3" is "loss").
_FILLER = frozenset({"a", "an", "and", "at", "for", "in", "is", "of", "on", "the", "to", "with", "was", "now"})
MAX_GROUPS = 20
_MAX_NAME = 40
_MAX_LABEL_SCAN = 80  # a label is read from this many characters before its number

#: The number a proposal captures: possessive, so no line makes it backtrack.
NUMBER_RE = r"[-+]?(?:\d++\.?\d*+(?:[eE][-+]?\d++)?|nan|inf)"
_INT_RE = r"\d+"

# A number standing on its own: not inside a word (valid_0, l2, v1.2), a date (2024-01-01) or a
# unit (2ms, 1s); "640/60000" and "98%" are found and then set aside by the caller.
_TOKEN = re.compile(
    r"(?<![\w.+\-@/])(?:[-+]?(?:\d++(?:\.\d++)?|\.\d++)(?:[eE][-+]?\d++)?|[-+]?(?:nan|inf))(?![\w]|\.\d)"
)
_LABEL_TAIL = re.compile(r"[A-Za-z_][\w/.\-]*+(?:'s)?(?: [A-Za-z_][\w/.\-]*+(?:'s)?){0,2}$")
_LABEL_STRIP = " \t:=[(#|\x00"  # \x00: where a terminal colour was
# Terminal colours: read as separators when naming numbers, kept in the pattern as they are.
_ANSI = re.compile(r"\x1b\[[0-9;?]*+[ -/]*+[@-~]")


class OutputLine(NamedTuple):
    """One line of output; ``number`` counts from 1 within its stream."""

    number: int
    stream: str  # "stdout" or "stderr"
    text: str


class LineResult(NamedTuple):
    """What one line gave. A stderr line's points are what it would give on stdout: the wrapper
    reads metrics from stdout only, so they are not counted."""

    number: int
    stream: str
    text: str
    points: list[Point]
    rule: str | None


class MetricSummary(NamedTuple):
    name: str
    points: int
    first: float
    last: float


class CheckReport(NamedTuple):
    lines: list[LineResult]
    metrics: list[MetricSummary]
    lines_read: int
    lines_with_points: int
    rules: dict[str, int]  # rule -> lines it caught
    stderr_lines: int
    stderr_with_points: int  # stderr lines that would give points on stdout
    echoes: dict[str, str]  # hyperparameters echoed on stdout (name as printed -> value): not metrics


class Proposal(NamedTuple):
    """A pattern for one line: ``expected`` is what it reads from that line (``epoch``/``step``
    as ints, metrics as floats); ``toml`` is the pattern as a TOML string literal."""

    pattern: str
    expected: dict[str, float]
    toml: str


# ---- what is captured ------------------------------------------------------------------------------
def check_lines(lines: Iterable[OutputLine], patterns: Sequence[str] | None = None, *,
                hyperparameters: Iterable[str] = ()) -> CheckReport:
    """Replay ``lines`` through the stdout rules (the project's ``patterns``, or the defaults);
    keys named like ``hyperparameters`` (the script's flags) are echoes, as in a run."""
    names = list(hyperparameters)
    parser = StdoutParser(list(patterns) if patterns else None, hyperparameters=names)
    side = StdoutParser(list(patterns) if patterns else None, hyperparameters=names)  # stderr: not counted
    results: list[LineResult] = []
    series: dict[str, list[float]] = {}
    rules: dict[str, int] = {}
    with_points = stderr_lines = stderr_points = 0
    for line in lines:
        if line.stream == "stderr":
            stderr_lines += 1
            points = side.feed(line.text)
            stderr_points += bool(points)
            results.append(LineResult(line.number, line.stream, line.text, points, side.last_rule))
            continue
        points = parser.feed(line.text)
        results.append(LineResult(line.number, line.stream, line.text, points, parser.last_rule))
        if points:
            with_points += 1
            rule = parser.last_rule or "?"
            rules[rule] = rules.get(rule, 0) + 1
            for point in points:
                for name, value in point.metrics.items():
                    series.setdefault(name, []).append(value)
    metrics = [MetricSummary(name, len(values), values[0], values[-1]) for name, values in series.items()]
    return CheckReport(results, metrics, len(results), with_points, rules, stderr_lines, stderr_points,
                       dict(parser.echoes))


def count_caught(lines: Iterable[OutputLine], patterns: Sequence[str]) -> int:
    """How many stdout lines give a point with these custom patterns."""
    parser = StdoutParser(list(patterns))
    return sum(1 for line in lines if line.stream == "stdout" and parser.feed(line.text))


# ---- proposing a pattern ---------------------------------------------------------------------------
class _Token(NamedTuple):
    start: int
    end: int  # past the number and what belongs to it ("/60000", "%")
    raw: str
    kind: str  # "number", "counter" (640/60000), "percent"


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        start, end, raw = match.start(), match.end(), match.group()
        kind = "number"
        if text.startswith("%", end):
            kind, end = "percent", end + 1
        elif end + 1 < len(text) and text[end] == "/" and text[end + 1].isdigit():
            kind = "counter"
            end += 1
            while end < len(text) and text[end].isdigit():
                end += 1
        tokens.append(_Token(start, end, raw, kind))
    return tokens


def _label(text: str, begin: int, start: int) -> tuple[int, list[str]]:
    """Where the label before ``text[start]`` starts (within ``text[begin:start]``) and its words."""
    lo = max(begin, start - _MAX_LABEL_SCAN)
    gap = text[lo:start].rstrip(_LABEL_STRIP)
    match = _LABEL_TAIL.search(gap)
    if match is None:
        return start, []
    words = match.group().split(" ")
    offset = lo + match.start()
    while len(words) > 1 and words[0].lower() in _FILLER:
        offset += len(words[0]) + 1
        words = words[1:]
    return offset, words


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _name(words: Sequence[str]) -> str:
    joined = "_".join(re.sub(r"'s\b", "", w) for w in words)
    name = re.sub(r"[^0-9A-Za-z]+", "_", joined).strip("_").lower()[:_MAX_NAME].rstrip("_")
    if name and name[0].isdigit():
        name = "m_" + name
    return name


def _literal(text: str) -> str:
    """``text`` as a regular expression: whitespace runs match any whitespace, control and other
    unprintable characters are written as escapes (the pattern is pasted into a TOML file)."""
    parts = []
    for piece in re.split(r"(\s+)", text):
        if not piece:
            continue
        if piece.isspace():
            parts.append(r"\s+")
            continue
        for ch in piece:
            if ch.isprintable():
                parts.append(re.escape(ch))
            elif ord(ch) < 0x100:
                parts.append(f"\\x{ord(ch):02x}")
            elif ord(ch) < 0x10000:
                parts.append(f"\\u{ord(ch):04x}")
            else:
                parts.append(f"\\U{ord(ch):08x}")
    return "".join(parts)


def _last_update(line: str) -> str:
    """The part of a line the parser reads: after the last ``\\r`` redraw, bounded."""
    return _redrawn(line)[:MAX_METRIC_LINE]


def propose_pattern(line: str, *, percentages: bool = False, where: str = "line") -> Proposal:
    """A pattern reading the numbers a person reads on ``line``; ``SpecError`` (prefixed by
    ``where``, e.g. ``--line 5``) when the line has no number with a name before it."""
    text = _last_update(line)
    plain = _ANSI.sub(lambda m: "\x00" * len(m.group()), text)  # same length, so indexes agree
    tokens = _tokens(plain)
    pieces: list[str] = []
    expected: dict[str, float] = {}
    prev_end = 0  # end of the previous token of any kind
    cap_end = 0  # end of the previous captured number
    skipped_since = False  # a token was set aside since the last capture
    counter_words: list[str] = []  # the label of a counter just before: "Accuracy: 9800/10000 (98%)"
    for index, token in enumerate(tokens):
        begin, own_words = _label(plain, prev_end, token.start)
        words = own_words
        if token.kind == "percent" and not words and percentages:
            words = counter_words  # "Accuracy: 9800/10000 (98%)": the percentage is the accuracy
        last = words[-1].lower() if words else ""
        counter_words = own_words if token.kind == "counter" and last not in EPOCH_WORDS | STEP_WORDS else []
        integer = re.fullmatch(r"\d+", token.raw) is not None
        leading = (index == 0 and not plain[: token.start].strip(" \t[(#\x00")
                   and plain[token.end: token.end + 1] in ("]", ":", ")"))
        group = ""
        if integer and token.kind != "percent" and (last in EPOCH_WORDS or last in STEP_WORDS or leading):
            name = "epoch" if last in EPOCH_WORDS else "step"
            if name not in expected:
                if words:  # the counter's own word is anchor enough: "Train Epoch: 3" -> "Epoch:\s+"
                    begin += len(plain[begin: token.start].rstrip(_LABEL_STRIP)) - len(words[-1])
                expected[name] = int(token.raw)
                group = f"(?P<{name}>{_INT_RE})" + (r"/\d+" if token.kind == "counter" else "")
        elif token.kind == "number" or (token.kind == "percent" and percentages):
            name = _name(words)
            if name and name not in ("epoch", "step") and len(expected) < MAX_GROUPS:
                unique, n = name, 2
                while unique in expected:
                    unique, n = f"{name}_{n}", n + 1
                expected[unique] = float(token.raw)
                group = f"(?P<{unique}>{NUMBER_RE})" + ("%" if token.kind == "percent" else "")
        if not group:
            skipped_since = True
            prev_end = token.end
            continue
        lead = text[(begin if own_words else prev_end): token.start]
        anchor = _literal(lead)
        lead_at = token.start - len(lead)
        if anchor and _is_word(lead[:1]) and not (lead_at > 0 and _is_word(text[lead_at - 1])):
            anchor = r"\b" + anchor
        if not pieces:
            if not own_words:  # a counter leading the line: "[10]", "0:"
                anchor = r"^\s*" + _literal(text[: token.start].lstrip())
            pieces.append(anchor + group)
        else:
            between = text[cap_end: token.start]
            if not skipped_since and len(between) <= _MAX_LABEL_SCAN:
                pieces.append(_literal(between) + group)
            else:
                pieces.append(f"(?>.*?{anchor})" + group)
        cap_end = token.end
        prev_end = token.end
        skipped_since = False
    if not any(k not in ("epoch", "step") for k in expected):
        shown = printable(text, 80)
        raise SpecError(
            f"{where}: found no number with a name before it in '{shown}'; point at a line that shows a "
            "metric, as in 'loss: 0.25' or 'val acc = 0.9'"
            + (" (percentages are left out unless --percent is given)" if any(
                t.kind == "percent" for t in tokens) and not percentages else "")
        )
    pattern = "".join(pieces)
    _verify(pattern, text, expected, where)
    return Proposal(pattern, expected, toml_string(pattern))


def _verify(pattern: str, text: str, expected: dict[str, float], where: str) -> None:
    compile_patterns([pattern])
    points = StdoutParser([pattern]).feed(text)
    got: dict[str, float] = {}
    if points:
        got = dict(points[0].metrics)
        for key in ("epoch", "step"):
            value = getattr(points[0], key)
            if key in expected and value is not None:
                got[key] = value

    def same(a: float, b: float) -> bool:
        return a == b or (math.isnan(a) and math.isnan(b))

    if set(got) != set(expected) or not all(same(got[k], v) for k, v in expected.items()):
        raise SpecError(  # a bug in the proposal, said plainly rather than printed as if it worked
            f"{where}: the proposed pattern {pattern!r} reads {got} instead of {expected} from its own line; "
            "write the pattern by hand"
        )


# ---- showing -----------------------------------------------------------------------------------------
def printable(text: str, limit: int = 120) -> str:
    """``text`` safe for a terminal: control characters (ANSI escapes included) shown as escapes, cut
    to about ``limit`` characters with the length left out named."""
    head = text[:limit]
    shown = head if head.isprintable() else "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in head)
    if len(shown) > limit:
        shown = shown[:limit]
    if len(text) > limit:
        shown += f"... (+{len(text) - limit} chars)"
    return shown


def toml_string(value: str) -> str:
    """``value`` as a TOML string: a literal string ``'...'`` when it can be one, else an escaped
    basic string. Checked by reading it back."""
    if "'" not in value and all(c == "\t" or (c.isprintable() and c != "\x7f") for c in value):
        literal = f"'{value}'"
    else:
        body = []
        for c in value:
            if c == "\\":
                body.append("\\\\")
            elif c == '"':
                body.append('\\"')
            elif not c.isprintable() or c == "\x7f":
                body.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
            else:
                body.append(c)
        literal = '"' + "".join(body) + '"'
    if tomllib.loads(f"x = {literal}")["x"] != value:  # pragma: no cover - a bug, not an input
        raise SpecError(f"stdout_patterns: {value!r} could not be written as a TOML string; write it by hand")
    return literal


def report_data(report: CheckReport, *, every_line: bool = False) -> dict[str, Any]:
    """``report`` as plain JSON-able data (``every_line``: lines without points too)."""
    return {
        "lines_read": report.lines_read,
        "lines_with_points": report.lines_with_points,
        "rules": report.rules,
        "stderr_lines": report.stderr_lines,
        "stderr_with_points": report.stderr_with_points,
        "metrics": [m._asdict() for m in report.metrics],
        "echoes": report.echoes,
        "lines": [
            {"line": r.number, "stream": r.stream, "text": r.text[:MAX_METRIC_LINE], "rule": r.rule,
             "read": r.stream == "stdout",
             "points": [p._asdict() for p in r.points]}
            for r in report.lines if every_line or r.points
        ],
    }
