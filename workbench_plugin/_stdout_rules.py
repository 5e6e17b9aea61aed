"""The default stdout rules' shapes: regular expressions and small pure helpers.

Private to :mod:`workbench_plugin.patterns` (which re-exports :func:`flag_key`). Standard library
only: it ships into every container with the wrapper. Every expression here is linear on any line
(possessive or bounded repeats, no nested backtracking).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["flag_key"]

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

# ---- the other default shapes (all linear: possessive or bounded repeats, no nested backtracking) ----
_NUM_TOKEN = re.compile(rf"^{_NUMBER}$")
# Where the line says which epoch/step it is: "Epoch 3/10", "epoch: 3", "Epoch:[541/1500]", "[iteration 0001]".
_MARKER = re.compile(
    r"(?<![\w.])(epoch|step|iter|iteration|round|trial|episode|it)(?:\s*+[:#]?\s*+\[?\s*+)(\d{1,12})(?![\w.])",
    re.IGNORECASE,
)
_MARKER_ONLY = re.compile(
    r"\W*+(?:\w++\s++){0,2}?(?:epoch|step|iter|iteration|round|trial|episode)\s*+[:#]?\s*+\[?\s*+\d{1,12}\]?"
    r"(?:\s*+/\s*+\d++)?\W*+$",
    re.IGNORECASE,
)
_STEP_WORDS = {"step", "iter", "iteration", "round", "trial", "episode", "it"}
_MARKER_WORDS = _STEP_WORDS | {"epoch"}
# One piece "name: value", "name = value" or "name value": a name of up to four words, then a number,
# maybe "%", a running average "(0.5)", closing brackets. Anchored at the piece's end.
_WORD = r"[A-Za-z_][\w.@/'-]{0,63}+"
_PAIR = re.compile(
    rf"(?<![\w.@/'-])({_WORD}(?: {_WORD}){{0,3}})(?:\s*+[:=]\s*+|\s++)({_NUMBER})(%?)"
    rf"(?:\s*+\(\s*+{_NUMBER}\s*+%?\)|\s*+\[\s*+{_NUMBER}\s*+\])?[)\].]{{0,2}}\s*+$"
)
_PAREN_PAD = re.compile(r"\(\s++")  # "(  0.08)" -> "(0.08)": padding, not a piece boundary
_PIECES = re.compile(r"\s*+(?:\||;|,(?!\d)|(?<=\s)-\s)\s*+|\t\s*+|\s{2,}+")
# Names that make a lone "name: value" line a metric (summary lines); others ("Time: 3") are not.
_NUMBER_START = re.compile(rf"{_NUMBER}(?![\w.:/])")
# Prose around a name in a sentence ("and accuracy is 0.9"): never part of the metric's name.
_FILLER_WORDS = {"and", "is", "was", "are", "were", "of", "the", "at", "to", "now", "then", "with", "for", "on",
                 "after", "so", "far", "=", "a", "an"}
_LOG_LEVELS = {"INFO", "DEBUG", "WARNING", "WARN", "ERROR", "CRITICAL", "I", "W", "E"}
_METRIC_WORDS = re.compile(
    r"(?i)loss|acc|error|err\b|ppl|perplexity|auc|f1|score|reward|return|rmse|mse|mae|map\b|iou|bleu|rouge|"
    r"precision|recall|dice|elbo|likelihood|nll|value\b|metric"
)
_DICT_PAIR = re.compile(rf"""['"]([^'"{{}}]{{1,100}})['"]\s*+:\s*+['"]?({_NUMBER})['"]?(?=\s*+[,}}])""")
_OPTUNA = re.compile(
    rf"(?:Trial (\d+) finished with value: ({_NUMBER})|Finished trial#(\d+) (?:with|resulted in) value: ({_NUMBER}))"
)
_OPTUNA_BEST = re.compile(rf"Best is trial#? ?\d+ with value: ({_NUMBER})|Current best value is ({_NUMBER})")
_SKLEARN_CV = re.compile(r"\[CV(?: (\d+)/\d+)?\] END \.*+([^;]*+);")
_CV_SCORE = re.compile(rf"(?:(train|test)=({_NUMBER})|score=({_NUMBER}))")
_BOOSTING = re.compile(r"(?:^|\s)\[(\d{1,9})\]:?\s++(.*+)$")
_BOOSTING_PAIR = re.compile(rf"({_WORD}(?: {_WORD})?):\s*+({_NUMBER})$")
_CATBOOST = re.compile(r"\s*+(\d{1,9}):\s++(learn|test|validation\w*+):")
_CATBOOST_PAIR = re.compile(rf"(\w++):\s*+({_NUMBER})(?![\w:])")
_TABLE_CELL = re.compile(r"[A-Za-z_][\w.@/%' -]{0,40}")
_DASHES = re.compile(r"\s*+-{10,}\s*+$")
# Blocks of one "name: value" / "name = value" per indented line under a header, one point per block:
# Hugging Face's "***** eval metrics *****" and Ray Tune's "Result for <trial>:".
_BLOCK_HEAD = re.compile(r"\s*+(?:\*{3,}+ ([\w ]{1,40}?) metrics \*{3,}+|Result for [^\s:]{1,200}+:)\s*+$")
_BLOCK_ROW = re.compile(rf"\s++({_WORD})\s*+[:=]\s*+(\S{{1,100}}+)\s*+$")
_LOG_ROW = re.compile(r"\s*+\|(\s*+)([^|]{1,80}?)\s*+\|\s*+([^|]{0,40}?)\s*+\|\s*+$")


def flag_key(name: str) -> str:
    """How names are compared with flag names: ``learning-rate``, ``Learning_Rate`` -> ``learning_rate``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _number(text: str) -> float | None:
    return float(text) if _NUM_TOKEN.match(text) else None


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
