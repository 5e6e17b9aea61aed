"""The next batch, prepopulated from the project's locks and a run's spec (pure; no panel imports).

:func:`spec_from_locks` gives one field per hyperparameter, written in the value grammar of
:mod:`workbench_plugin.space`:

* a locked one shows its lock: one value (``6``); a numeric range ``low..high`` as the values of the
  run that fall inside it, in the run's own form where that gives exactly them (``32..64 *2`` from a
  run of ``16..256 *2``, ``1e-4..1e-2 log 3`` from ``1e-4..1e-1 log 4``), else as a list; a set of
  categories as a list (``adam,sgd``);
* an unlocked one offers the run's spec text as it was given;
* ``addable`` lists the script's flags the spec does not use yet (type, default and help escaped
  and bounded: they come from the script).

Every field's text parses back (:func:`~workbench_plugin.space.parse_values`) to exactly its
``values`` (``exact``); :meth:`NextBatchFields.mapping` hands a list instead where it cannot
(a category holding a comma). :func:`validate_field` is the CLI's one-line message for one field,
for as-you-type checks. :func:`lineage_of` reads back where a run came from (``Run.extra``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from workbench_plugin._exceptions import SpecError
from workbench_plugin.flag_check import check_spec
from workbench_plugin.flags import FlagSet, flag_key, one_line
from workbench_plugin.memory import Lock
from workbench_plugin.planning import LINEAGE_KEY
from workbench_plugin.space import SearchSpec, Value, check_name, format_value, parse_values, range_form
from workbench_plugin.store import Run

__all__ = ["AddableFlag", "Lineage", "NextBatchField", "NextBatchFields", "lineage_of", "merge_values",
           "parse_rows", "spec_from_locks", "validate_field"]

_HELP_CHARS = 200
_DEFAULT_CHARS = 60


class NextBatchField(NamedTuple):
    """One hyperparameter of the next batch."""

    name: str
    text: str  #: in the value grammar, as a field or ``NAME=TEXT`` shows it
    values: tuple[Value, ...]  #: what the batch will try
    locked: bool
    lock: str = ""  #: the lock as the page describes it (``32..64``), "" when not locked

    @property
    def exact(self) -> bool:
        """Whether :attr:`text` parses back to exactly :attr:`values`."""
        return _parses_to(self.name, self.text, self.values)


class AddableFlag(NamedTuple):
    """A flag of the script that the spec does not use yet (every text escaped and bounded)."""

    name: str  #: as a spec names it (``num_layers``, ``learning-rate``)
    option: str  #: ``--num_layers``
    type: str
    default: str  #: JSON text of the default, ``?`` when not known
    choices: tuple[str, ...]
    help: str


class NextBatchFields(NamedTuple):
    from_run: str
    fields: tuple[NextBatchField, ...]
    addable: tuple[AddableFlag, ...]

    def mapping(self) -> dict[str, str | list[Value]]:
        """``{name: text}`` for :meth:`SearchSpec.parse`; a list of the values where the text is not exact."""
        return {f.name: f.text if f.exact else list(f.values) for f in self.fields}

    def locks(self) -> dict[str, str]:
        """The locked fields' texts (kept with the run as its lineage)."""
        return {f.name: f.text for f in self.fields if f.locked}


class Lineage(NamedTuple):
    """Where a run came from, as :func:`~workbench_plugin.planning.launch` recorded it."""

    from_run: str  #: "" when not started from a run's locks
    locks: dict[str, str]
    skipped: list[dict[str, Any]]  #: ``{"row": 1-based, "params": {...}, "why": "chosen" | "redundant"}``
    starred: list[dict[str, Any]]  #: ``{"row": 1-based, "experiment_id": ...}``


def lineage_of(run: Run) -> Lineage | None:
    """The lineage recorded with ``run``, or None; a malformed record reads as empty parts."""
    raw = run.extra.get(LINEAGE_KEY) if isinstance(run.extra, dict) else None
    if not isinstance(raw, dict):
        return None

    def rows(key: str) -> list[dict[str, Any]]:
        value = raw.get(key)
        return [dict(r) for r in value if isinstance(r, dict)] if isinstance(value, list) else []

    locks = raw.get("locks")
    return Lineage(str(raw.get("from_run") or ""),
                   {str(k): str(v) for k, v in locks.items()} if isinstance(locks, dict) else {},
                   rows("skipped"), rows("starred"))


# ---- numbers as the grammar writes them -------------------------------------------------------------
def _parses_to(name: str, text: str, values: tuple[Value, ...]) -> bool:
    try:
        parsed = parse_values(name, text)[0]
    except SpecError:
        return False
    return _same(parsed, values)


def _same(a: Iterable[Value], b: Iterable[Value]) -> bool:
    return [(isinstance(v, str), format_value(v)) for v in a] == [(isinstance(v, str), format_value(v)) for v in b]


def _scientific(value: float) -> str:
    """The shortest ``1e-4`` style text that reads back as ``value``."""
    for digits in range(17):
        text = f"{value:.{digits}e}"
        if float(text) == value:
            mantissa, _, exponent = text.partition("e")
            if "." in mantissa:
                mantissa = mantissa.rstrip("0").rstrip(".")
            return f"{mantissa}e{int(exponent)}"
    return format_value(value)  # pragma: no cover - 17 digits always round-trip


def _number_text(value: Value, *, scientific: bool) -> str:
    plain = format_value(value)
    if not isinstance(value, float) or value == 0:
        return plain
    sci = _scientific(value)
    return sci if len(sci) < len(plain) or (scientific and len(sci) == len(plain)) else plain


def _within(value: Value, low: float, high: float) -> bool:
    if isinstance(value, str):
        return False
    slack = 1e-9 * max(1.0, abs(low), abs(high))
    return low - slack <= float(value) <= high + slack


# ---- locks to fields -------------------------------------------------------------------------------
def _run_values(name: str, source: str) -> tuple[Value, ...]:
    try:
        return parse_values(name, source)[0]
    except SpecError:  # a record written by another version: offer the text, values unknown
        return ()


def _lock_field(name: str, lock: Lock, source: str | None) -> NextBatchField:
    described = lock.describe()
    if lock.values:
        # a picker's lock holds the labels it showed ('32'); the run's own values where they match
        by_text = {format_value(v): v for v in (_run_values(name, source) if source is not None else ())}
        values = tuple(by_text.get(v, v) if isinstance(v, str) else v for v in lock.values)
        return NextBatchField(name, ",".join(format_value(v) for v in values), values, True, described)
    low = -math.inf if lock.low is None else lock.low
    high = math.inf if lock.high is None else lock.high
    run_values = _run_values(name, source) if source is not None else ()
    inside = tuple(v for v in run_values if _within(v, low, high))
    if not inside:  # the run tried none of it: the lock's own ends
        ints = all(isinstance(v, int) for v in run_values) and bool(run_values)
        ends = [e for e in dict.fromkeys((lock.low, lock.high)) if e is not None and math.isfinite(e)]
        inside = tuple(int(e) if (ints or e.is_integer()) and float(int(e)) == e else e for e in ends)
        if not inside:
            return NextBatchField(name, source or "", run_values, True, described)
    return NextBatchField(name, _write(name, inside, source or ""), inside, True, described)


def _write(name: str, values: tuple[Value, ...], source: str) -> str:
    """``values`` in the grammar, in the form of ``source`` (the run's text) where that is exact."""
    scientific = "e" in source.lower() and not any(isinstance(v, str) for v in values)
    known: dict[str, str] = {}  # the run's own text of a value, where it wrote one
    form = range_form(source)
    if form is not None:
        for end in form[:2]:
            known.setdefault(format_value(parse_values(name, end)[0][0]), end)
    elif source and "," in source:
        for item in source.split(","):
            item = item.strip()
            try:
                known.setdefault(format_value(parse_values(name, item)[0][0]), item)
            except SpecError:
                continue

    def shown(v: Value) -> str:
        return known.get(format_value(v)) or _number_text(v, scientific=scientific)

    if len(values) == 1:
        return shown(values[0])
    if form is not None:
        op = form[2]
        candidate = f"{shown(values[0])}..{shown(values[-1])} {f'log {len(values)}' if op.startswith('log') else op}"
        if _parses_to(name, candidate, values):
            return candidate
    return ",".join(shown(v) for v in values)


def _addable(flags: FlagSet | None, used: Iterable[str]) -> tuple[AddableFlag, ...]:
    if flags is None or not flags.known:
        return ()
    taken = {flag_key(n) for n in used}
    out: list[AddableFlag] = []
    for flag in flags.flags:
        if flag.positional or flag.is_switch or not flag.option_strings:
            continue
        name = flag.name.lstrip("-")
        keys = {flag_key(o) for o in flag.option_strings} | ({flag_key(flag.dest)} if flag.dest else set())
        if keys & taken or name in ("help", "h"):
            continue
        try:
            check_name(name)
        except SpecError:
            continue
        default = "?" if not flag.default_known else one_line(json.dumps(flag.default), _DEFAULT_CHARS)
        choices = tuple(one_line(str(c), 30) for c in (flag.choices or ())[:20])
        out.append(AddableFlag(name, one_line(flag.name, 60), flag.type, default, choices,
                               one_line(" ".join(flag.help.split()), _HELP_CHARS)))
        taken |= keys
    return tuple(out)


def spec_from_locks(run: Run, locks: Mapping[str, Lock], flags: FlagSet | None) -> NextBatchFields:
    """The next batch's fields: ``run``'s hyperparameters (locked ones as their lock, the rest as the
    run gave them), then locks of hyperparameters the run did not vary, then the addable flags."""
    fields: list[NextBatchField] = []
    by_key = {flag_key(h): lock for h, lock in locks.items()}
    used: set[str] = set()
    for name, source in run.spec.items():
        lock = by_key.get(flag_key(name))
        used.add(flag_key(name))
        if lock is not None:
            fields.append(_lock_field(name, lock, source))
        else:
            fields.append(NextBatchField(name, source, _run_values(name, source), False))
    for hparam in sorted(locks):
        if flag_key(hparam) in used:
            continue
        try:
            check_name(hparam)
        except SpecError:  # not a flag name: nothing a command line could carry
            continue
        used.add(flag_key(hparam))
        fields.append(_lock_field(hparam, locks[hparam], None))
    return NextBatchFields(run.run_id, tuple(fields), _addable(flags, [f.name for f in fields]))


def merge_values(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied: a flag of both (in either spelling) takes the override's
    name and values in base's place; new flags come after."""
    out = dict(base)
    keys = {flag_key(n): n for n in out}
    for name, value in overrides.items():
        old = keys.get(flag_key(name))
        if old is not None and old != name:
            out = {name if k == old else k: (value if k == old else v) for k, v in out.items()}
        else:
            out[name] = value
        keys[flag_key(name)] = name
    return out


def validate_field(name: str, text: str, flags: FlagSet | None, *, flag_style: str = "space",
                   script: str = "the script") -> str | None:
    """The one-line message the CLI gives for ``NAME=TEXT`` (without its ``hypertuner: error:``), or None."""
    try:
        spec = SearchSpec.parse({name: text})
        if flags is not None:
            check_spec(spec, flags, flag_style, script=script)
    except SpecError as exc:
        return one_line(str(exc))
    return None


_MAX_ROWS_TEXT = 10_000


def parse_rows(option: str, texts: Iterable[str], count: int) -> tuple[int, ...]:
    """Row numbers as ``plan`` prints them (1-based) from ``'2,5'`` texts, as 0-based indexes;
    a one-line :class:`SpecError` naming ``option`` for anything else."""
    rows: list[int] = []
    for text in texts:
        if len(text) > _MAX_ROWS_TEXT:
            raise SpecError(f"{option}: {len(text):,} characters of row numbers; give at most {_MAX_ROWS_TEXT:,}")
        for item in text.split(","):
            item = item.strip()
            if not item.isdigit() or len(item) > 9:
                raise SpecError(f"{option}: {one_line(repr(item), 40)} is not a row number; give rows as "
                                f"'hypertuner plan' numbers them, as in '{option} 2,5'")
            row = int(item)
            if not 1 <= row <= count:
                raise SpecError(f"{option}: row {row} is not in the plan, which has rows 1-{count}; "
                                "'hypertuner plan' lists them")
            if row - 1 not in rows:
                rows.append(row - 1)
    return tuple(rows)
