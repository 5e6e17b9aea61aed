"""Metrics read from a script's stdout, for scripts that cannot use the tracking SDK.

Standard library only (it runs inside every container). The wrapper feeds each stdout line to a
:class:`StdoutParser` and gets :class:`Point` s back. Without patterns the parser knows these
styles:

* Keras progress lines (``"keras"``). ``Epoch 3/10`` sets the current epoch; a following
  ``100/100 [====] - 1s 10ms/step - loss: 0.1234 - acc: 0.95`` is an epoch point with those
  metrics (Keras 2 and 3, verbose 1 and 2). Progress redrawn with ``\\r`` counts only its last
  update, and mid-epoch updates (``ETA:``, ``32/100``) are skipped. ``loss: 0.5 - acc: 0.9``
  with no ``Epoch`` line before it is a step point.
* ``key=value`` pairs (``"key=value"``): ``epoch=3 loss=0.12`` is an epoch point, ``step=10 loss=0.3`` a step
  point, ``loss=0.1 acc=0.9`` a point at the next step. A line may also start with
  ``epoch 3/12`` or ``step 40``. Values must be numbers (``1e-3``, ``-2.5``, ``nan``); other
  pairs (``mode=train``), pairs in URLs or ``a==b``, and arguments of calls such as
  ``Namespace(lr=0.1)`` are ignored.

* Other printed shapes, each named in :attr:`StdoutParser.last_rule`: ``"dict"`` (``{'loss': 0.5,
  'epoch': 1.0}``, JSON lines), ``"optuna"`` (``Trial 3 finished with value: 0.8``; the trial's
  parameters are not metrics), ``"sklearn-cv"`` (``[CV 1/5] END ...; score: (test=0.9)``),
  ``"boosting"`` (XGBoost/LightGBM ``[10]\tvalid_0's l2: 0.5``, the round is the step),
  ``"catboost"`` (``3:\tlearn: 0.6\ttest: 0.6``), ``"table"`` (a header of column names then rows
  of numbers, as scikit-learn's ``Iter  Train Loss`` or fastai's ``epoch train_loss ...``; the
  first column is the step or epoch when named so), ``"log table"`` (``| name | value |`` rows
  between dashed lines, as stable-baselines prints; one point per table), ``"block"`` (Hugging
  Face's ``***** eval metrics *****`` or Ray Tune's ``Result for <trial>:`` followed by indented
  ``name = value`` / ``name: value`` rows, one point per block; under ``Result for`` only names that
  say metric count, not ``pid`` or ``timestamp``) and ``"pairs"``: a line
  cut at ``|``, tabs, ``,``, ``;``, `` - `` and runs of spaces into pieces ``name: value``,
  ``name = value`` or ``name value`` (names of up to four words with ``. / @ ' -``; a value may be
  followed by ``%`` (dropped: ``Accuracy: 98%`` is 98.0) and a running average in brackets). The
  epoch or step is read from the line (``Epoch 3/10``, ``epoch: 3``, ``[iteration 0001]``,
  ``Iteration 5,``, ``Episode: 7``); a line that gives only that sets the context of the lines
  after it. A line with one pair is a metric only when its name says so (``Best val loss 0.2``,
  ``Final accuracy: 0.93``; not ``Time: 3`` or ``seed: 42``). Values with units (``36.9s``),
  counters (``640/60000``) and times are not metrics.

Hyperparameter echoes: ``StdoutParser(hyperparameters=[...])`` takes the names of the flags the
experiment was given; a default-rule name equal to one of them (``learning_rate`` and
``learning-rate`` alike) is recorded in :attr:`StdoutParser.echoes`, never as a metric.

Custom patterns (a project's ``stdout_patterns``) replace both: regular expressions whose named
groups are metrics, except ``epoch`` and ``step`` (ints). All patterns are tried on each line
and what they capture makes one point; a match with only ``epoch``/``step`` sets the context of
the lines after it (as ``Epoch 3/10`` does); they are taken as written (no echo check).
A capture that is not a number drops that
pattern's match for the line (stdout is not ours to reject); a bad pattern is a ``SpecError``
when the parser is built, and so is a pattern that repeats a repetition (``(a+)+``), which can
backtrack exponentially. Metrics are read from the first :data:`MAX_METRIC_LINE` characters of a
line, so every line costs bounded time. Steps not given count up from 0 after the last step seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from workbench_plugin._exceptions import SpecError
from workbench_plugin._stdout_rules import (  # noqa: F401 (flag_key: public here)
    _BLOCK_HEAD,
    _BLOCK_ROW,
    _BOOSTING,
    _BOOSTING_PAIR,
    _CALL,
    _CATBOOST,
    _CATBOOST_PAIR,
    _CV_SCORE,
    _DASHES,
    _DICT_PAIR,
    _FILLER_WORDS,
    _KERAS_EPOCH,
    _KERAS_LEAD,
    _KERAS_PAIR,
    _KERAS_PROGRESS,
    _KV_PAIR,
    _KV_PREFIX,
    _LOG_LEVELS,
    _LOG_ROW,
    _MARKER,
    _MARKER_ONLY,
    _MARKER_WORDS,
    _METRIC_WORDS,
    _NUMBER_START,
    _OPTUNA,
    _OPTUNA_BEST,
    _PAIR,
    _PAREN_PAD,
    _PIECES,
    _SKLEARN_CV,
    _SPECIAL,
    _STEP_WORDS,
    _TABLE_CELL,
    _as_int,
    _last_update,
    _nested_repeat,
    _number,
    flag_key,
)

__all__ = ["MAX_METRIC_LINE", "Point", "StdoutParser", "parse_stream", "compile_patterns", "flag_key"]

#: Metrics are read from the first this-many characters of a line (after ``\r`` redraws); the whole
#: line still goes to the log. It bounds the work per line, custom patterns included.
MAX_METRIC_LINE = 4096


class Point(NamedTuple):
    """Metrics read from one line: ``kind`` is ``"epoch"`` or ``"step"``."""

    kind: str
    epoch: int | None
    step: int | None
    metrics: dict[str, float]


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

    def __init__(self, patterns: Sequence[str] | None = None, *, hyperparameters: Iterable[str] = ()) -> None:
        if isinstance(patterns, str):  # one pattern given bare
            patterns = [patterns]
        self.patterns = compile_patterns(patterns) if patterns else None
        self._epoch: int | None = None  # set by "Epoch 3/10" (or an epoch-only custom match)
        self._step: int | None = None  # set by a step-only custom match
        self._next_step = 0
        self._flags = {flag_key(h) for h in hyperparameters if isinstance(h, str) and h.strip("-")}
        #: Hyperparameter echoes seen by the default rules: name as printed -> value as printed.
        self.echoes: dict[str, str] = {}
        self._table: list[str] | None = None  # column names of a header line ("table" rule)
        self._log_table: dict[str, float] | None = None  # rows of an open "| name | value |" table
        self._log_prefix = ""
        self._block: dict[str, str] | None = None  # rows of an open "Result for ...:" block ("block" rule)
        self._block_all = False  # the block's header says "metrics": every number in it is one
        #: What caught the last line fed: ``"keras"``, ``"key=value"``, ``"pairs"``, ``"dict"``,
        #: ``"optuna"``, ``"sklearn-cv"``, ``"boosting"``, ``"catboost"``, ``"table"``, ``"log table"``, ``"block"``,
        #: ``"echo"`` (only hyperparameter echoes), the custom pattern(s) that matched (joined by
        #: `` | ``), or ``None`` when the line gave no point.
        self.last_rule: str | None = None

    def feed(self, line: str) -> list[Point]:
        """The points in one line of output (usually zero or one)."""
        self.last_rule = None
        text = _last_update(line)[:MAX_METRIC_LINE]
        if self.patterns is not None:
            if not text.strip():
                return []
            point = self._custom(text)
            return [] if point is None else [point]
        points = self._log_table_line(text)
        if points is not None:
            return points
        ended = self._block_line(text)
        if ended is not None:
            return ended
        points = self._lines(text)
        return points

    def _lines(self, text: str) -> list[Point]:
        stripped = text.strip()
        if not stripped:
            self._table = None
            return []
        progress = _KERAS_PROGRESS.match(stripped)
        if "ETA:" in stripped or (progress and int(progress.group(1)) < int(progress.group(2))):
            return []  # a Keras mid-epoch update: only the epoch's last update counts
        for name, rule in self._rules:
            echoes = len(self.echoes)
            point = rule(self, text)
            if point is not None:
                self.last_rule = name
                return [point]
            if len(self.echoes) > echoes:
                self.last_rule = "echo"
                return []
        return []

    def close(self) -> list[Point]:
        """Points still held at the end of the output (a table or a block not closed)."""
        rows, self._log_table = self._log_table, None
        held = [] if not rows else [p for p in [self._point(None, None, rows)] if p is not None]
        return held + self._end_block()

    def _block_line(self, text: str) -> list[Point] | None:
        """``***** eval metrics *****`` or ``Result for trial:`` then indented ``name = value`` rows:
        one point when the block ends. ``None``: not such a line, the other rules read it."""
        head = _BLOCK_HEAD.match(text)
        row = _BLOCK_ROW.match(text) if self._block is not None and head is None else None
        if row is not None:
            assert self._block is not None
            self._block[row.group(1)] = row.group(2)
            return []
        ended = self._end_block()
        if head is not None:
            self._block, self._block_all = {}, head.group(1) is not None
        if head is None and not ended:
            return None
        rest = [] if head is not None else self._lines(text)
        self.last_rule = "block" if ended and not rest else self.last_rule
        return ended + rest

    def _end_block(self) -> list[Point]:
        rows, self._block = self._block, None
        if not rows:
            return []
        epoch = step = None
        metrics: dict[str, float] = {}
        for name, value in rows.items():
            number = _number(value)
            if number is None:
                continue  # times ("0:00:12.24"), flags ("false"), addresses
            if name in _SPECIAL and number.is_integer() and number >= 0:
                if name == "epoch":
                    epoch = int(number)
                else:
                    step = int(number)
            elif self._block_all or _METRIC_WORDS.search(name):
                metrics[name] = number  # "Result for": only names that say so (not pid, timestamp)
        point = self._point(epoch, step, metrics) if metrics else None
        return [] if point is None else [point]

    def _point(self, epoch: int | None, step: int | None, metrics: dict[str, float]) -> Point | None:
        if self._flags:
            for name in [n for n in metrics if flag_key(n) in self._flags]:
                self.echoes[name] = repr(metrics.pop(name))
            if not metrics:
                return None
        if epoch is None and step is None:
            step = self._next_step
        if step is not None:
            self._next_step = step + 1
        return Point("step" if epoch is None else "epoch", epoch, step, metrics)

    # ---- the default styles --------------------------------------------------------------------
    def _keras(self, text: str) -> Point | None:
        if ":" not in text and "Epoch" not in text:
            return None
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
        if "=" not in text:
            return None
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
        if len(metrics) == 1 and epoch is None and step is None and not prefix:
            (name,) = metrics
            if not _METRIC_WORDS.search(name) and flag_key(name) not in self._flags:
                return None  # "tree pruning end, ..., max_depth=3": a setting among prose ("step=1 n=2" counts)
        if not metrics:
            return None
        if epoch is None and step is None and not prefix:
            epoch, step = self._marker(text)
        return self._point(epoch, step, metrics)

    # ---- the other default shapes ------------------------------------------------------------
    def _marker(self, text: str) -> tuple[int | None, int | None]:
        """(epoch, step) as the line names it: "Epoch 3/10", "[iteration 0001]", "Iteration 5,"."""
        match = _MARKER.search(text)
        if match is None:
            return None, None
        word, number = match.group(1).lower(), int(match.group(2))
        if word == "it" and not text.lstrip().lower().startswith("it"):
            return None, None  # "it" only as a line's first word ("it 40 loss 0.3")
        return (None, number) if word in _STEP_WORDS else (number, None)

    def _dict(self, text: str) -> Point | None:
        stripped = text.strip()
        if not (stripped.startswith("{") and stripped.endswith("}")):
            return None
        epoch = step = None
        metrics: dict[str, float] = {}
        for key, value in _DICT_PAIR.findall(stripped):
            number = _as_int(value)
            if key in _SPECIAL and number is not None and number >= 0:
                if key == "epoch":
                    epoch = number
                else:
                    step = number
            elif key in _SPECIAL:
                continue  # Hugging Face's fractional 'epoch': 0.38 is where, not what
            else:
                metrics[key] = float(value)
        return self._point(epoch, step, metrics) if metrics else None

    def _optuna(self, text: str) -> Point | None:
        match = _OPTUNA.search(text)
        if match is None:
            return None
        trial, value = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        metrics = {"value": float(value)}
        best = _OPTUNA_BEST.search(text, match.end())
        if best is not None:
            metrics["best_value"] = float(best.group(1) or best.group(2))
        return self._point(None, int(trial), metrics)  # the parameters are the trial's, not metrics

    def _sklearn_cv(self, text: str) -> Point | None:
        match = _SKLEARN_CV.search(text)
        if match is None:
            return None
        for key, value, _ in _KV_PAIR.findall(" " + match.group(2).replace(",", " ")):
            if flag_key(key) in self._flags:
                self.echoes[key] = value
        metrics: dict[str, float] = {}
        for part, value, plain in _CV_SCORE.findall(text, match.end()):
            metrics[f"{part}_score" if part else "score"] = float(value or plain)
        return self._point(None, None, metrics) if metrics else None

    def _boosting(self, text: str) -> Point | None:
        match = _BOOSTING.search(text)
        if match is None:
            return None
        metrics: dict[str, float] = {}
        for piece in re.split(r"\t|\s{2,}", match.group(2).strip()):
            pair = _BOOSTING_PAIR.match(piece.strip())
            if pair is None:
                return None
            metrics[pair.group(1)] = float(pair.group(2))
        return self._point(None, int(match.group(1)), metrics) if metrics else None

    def _catboost(self, text: str) -> Point | None:
        match = _CATBOOST.match(text)
        if match is None:
            return None
        metrics = {k: float(v) for k, v in _CATBOOST_PAIR.findall(text, match.end(1) + 1)}
        return self._point(None, int(match.group(1)), metrics) if metrics else None

    def _table_line(self, text: str) -> Point | None:
        cells = [c for c in re.split(r"\s{2,}", text.strip()) if c]
        if self._table is not None and len(cells) == len(self._table) and _number(cells[0]) is not None:
            epoch = step = None
            metrics: dict[str, float] = {}
            for name, cell in zip(self._table, cells, strict=True):
                value = _number(cell.rstrip("%"))
                if value is None:
                    continue  # times ("00:20", "7.89m")
                lower = name.lower()
                if lower in _MARKER_WORDS and value.is_integer():
                    if lower == "epoch":
                        epoch = int(value)
                    else:
                        step = int(value)
                else:
                    metrics[name] = value
            if metrics:
                return self._point(epoch, step, metrics)
        header = len(cells) >= 2 and all(_TABLE_CELL.fullmatch(c) and len(c.split()) <= 3 for c in cells)
        self._table = cells if header else None
        return None

    def _log_table_line(self, text: str) -> list[Point] | None:
        """stable-baselines tables: ``| name | value |`` rows between dashed lines, one point per table."""
        if _DASHES.match(text):
            if self._log_table is None:
                self._log_table, self._log_prefix = {}, ""
                return []
            rows, self._log_table = self._log_table, None
            point = self._point(None, None, rows) if rows else None
            self.last_rule = "log table" if point is not None else None
            return [] if point is None else [point]
        if self._log_table is None:
            return None
        row = _LOG_ROW.match(text)
        if row is None:
            self._log_table = None  # not such a table after all
            return None
        indent, name, value = row.groups()
        if not value:
            self._log_prefix = name if name.endswith("/") else ""
            return []
        number = _number(value)
        if number is not None:
            self._log_table[(self._log_prefix if len(indent) > 1 else "") + name] = number
        return []

    def _pairs(self, text: str) -> Point | None:
        """``name: value`` / ``name = value`` / ``name value`` pieces, and where the line's epoch is."""
        metrics: dict[str, float] = {}
        pieces = _PIECES.split(_PAREN_PAD.sub("(", _CALL.sub(" ", text)))
        for i, piece in enumerate(pieces):
            if not piece or "=" in piece.replace(" = ", ""):
                continue  # key=value pairs are the key=value rule's
            pair = _PAIR.search(piece)
            if pair is None and i + 1 < len(pieces) and _NUMBER_START.match(pieces[i + 1]):
                pair = _PAIR.search(f"{piece} {pieces[i + 1]}")  # "loss  7.64": the name, then its value
            if pair is None:
                continue
            words = pair.group(1).split()
            while len(words) > 1 and (words[0] in _LOG_LEVELS or words[0].lower() in _FILLER_WORDS):
                words.pop(0)  # "INFO Best accuracy: 0.5", "... and accuracy is 0.9"
            while len(words) > 1 and words[-1].lower() in _FILLER_WORDS:
                words.pop()  # "accuracy is 0.9": the name is "accuracy"
            name = " ".join(words)
            if name.split()[-1].lower() in _MARKER_WORDS:
                continue  # "epoch 3", "end of epoch 1": where, not what
            metrics[name] = float(pair.group(2))
        epoch, step = self._marker(text)
        if len(metrics) == 1 and not _METRIC_WORDS.search(next(iter(metrics))):
            metrics = {}  # a lone "Time: 3" or "seed: 42" is too common to be a metric
        if not metrics:
            if (epoch is not None or step is not None) and _MARKER_ONLY.match(text):
                self._epoch = epoch  # a header such as "-- Epoch 3" or "Epoch: 18"
            return None
        if epoch is not None:
            self._epoch = epoch
        elif step is None:
            epoch = self._epoch
        return self._point(epoch, step, metrics)

    _rules: tuple[tuple[str, Any], ...] = (
        ("keras", _keras),
        ("optuna", _optuna),
        ("sklearn-cv", _sklearn_cv),
        ("dict", _dict),
        ("boosting", _boosting),
        ("catboost", _catboost),
        ("key=value", _key_value),
        ("table", _table_line),
        ("pairs", _pairs),
    )

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


def parse_stream(
    lines: Iterable[str] | str, patterns: Sequence[str] | None = None, *, hyperparameters: Iterable[str] = ()
) -> list[Point]:
    """Every point in some output: an iterable of lines, or one string split on newlines."""
    if isinstance(lines, str):
        lines = lines.split("\n")
    parser = StdoutParser(patterns, hyperparameters=hyperparameters)
    points: list[Point] = []
    for line in lines:
        points.extend(parser.feed(line))
    points.extend(parser.close())
    return points
