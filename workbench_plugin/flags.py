"""Flag discovery: which command-line flags a training script accepts, as plain data.

Two ways, tried in order:

1. **Reading the script** (:func:`flags_from_source`): its syntax tree, never imported or run.
   ``argparse`` ``add_argument`` calls anywhere in the file (helper functions, argument groups,
   mutually exclusive groups), ``click`` options and arguments, ``typer`` command parameters.
   Only literal values are taken (``ast.literal_eval``); anything else is an unknown default.
   When the file builds its parser from something it does not show (a parser imported from
   another module, ``parents=``, another parser class), this way gives up.
2. **Asking the script** (:func:`flags_from_help`): ``<interpreter> script --help`` in a folder
   holding the snapshot's files (an argv list, never a shell; stdin closed; a time limit after which
   the whole process group is killed; output read up to a bound), and its argparse/click style help
   text parsed (:mod:`workbench_plugin._flags_help`).

When neither works the :class:`FlagSet` has ``source="unknown"`` and a one-line ``reason``; values
are then not checked against the script. Everything taken from a script (help text, choices) is
hostile: it is bounded here and escaped where shown.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["RETRY", "Flag", "FlagSet", "MAX_FLAGS", "MAX_HELP_CHARS", "MAX_SCRIPT_BYTES", "TYPES", "as_mapping",
           "discover", "flag_key", "flags_from_help", "flags_from_source", "one_line", "unknown"]

#: The largest script read for its flags; a bigger one is asked for its --help instead.
MAX_SCRIPT_BYTES = 2 * 1024 * 1024
#: The most flags kept, and the longest help text kept per flag (the rest is cut).
MAX_FLAGS = 2000
MAX_HELP_CHARS = 1000
_MAX_TEXT = 200  # option strings, dests, metavars, reasons
#: ``type`` of a flag: a converter argparse/click applies, "none" for a switch that takes no value,
#: "other" for a callable we cannot reproduce, "unknown" when not known (help text).
TYPES = ("int", "float", "str", "bool", "other", "none", "unknown")

Source = Literal["ast", "help", "unknown"]
#: A note on an unknown result that may change without the files changing (``--help`` failed, as
#: when the interpreter lacks a package): such a result is not stored with the snapshot.
RETRY = "retry"


def one_line(text: object, limit: int = 0) -> str:
    """``text`` with control characters escaped (one line), cut to ``limit`` characters (0: whole)."""
    s = str(text)
    if not s.isprintable():
        s = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in s)
    if limit and len(s) > limit:
        s = s[: max(limit - 3, 1)] + "..."
    return s


def _bounded(text: object, limit: int = _MAX_TEXT) -> str:
    s = str(text)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _json_safe(value: Any) -> tuple[bool, Any]:
    """(known, value) with tuples as lists; values JSON cannot hold faithfully are unknown."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
            return False, None
        return True, _bounded(value, MAX_HELP_CHARS) if isinstance(value, str) else value
    if isinstance(value, float):
        return (True, value) if value == value and abs(value) != float("inf") else (False, None)
    if isinstance(value, list | tuple) and len(value) <= 100:
        items = [_json_safe(v) for v in value]
        if all(known for known, _ in items):
            return True, [v for _, v in items]
    return False, None


@dataclass(frozen=True)
class Flag:
    """One argument of the script, as its parser declares it."""

    name: str  #: how the flag is shown: its first long option string (``--learning-rate``), or dest
    option_strings: tuple[str, ...] = ()
    dest: str = ""
    type: str = "str"  #: one of :data:`TYPES`
    default: Any = None
    default_known: bool = False
    choices: tuple[Any, ...] | None = None
    nargs: str | int | None = None
    is_switch: bool = False  #: takes no value (store_true/store_false/count/store_const, click is_flag)
    action: str = "store"
    help: str = ""
    positional: bool = False
    required: bool = False

    @classmethod
    def make(cls, *, option_strings: Sequence[str] = (), dest: str = "", type: str = "str", default: Any = None,
             default_known: bool = False, choices: Sequence[Any] | None = None, nargs: Any = None,
             is_switch: bool = False, action: str = "store", help: str = "", positional: bool = False,
             required: bool = False) -> Flag:
        """A flag with every text bounded and every value JSON-safe (the script's text is untrusted)."""
        options = tuple(_bounded(o) for o in option_strings)[:20]
        dest = _bounded(dest)
        longs = [o for o in options if o.startswith("--")]
        name = longs[0] if longs else options[0] if options else dest
        known, default = _json_safe(default) if default_known else (False, None)
        choice_list: tuple[Any, ...] | None = None
        if choices is not None:
            ok, values = _json_safe(list(choices)[:100])
            choice_list = tuple(values) if ok else None
        if not (nargs is None or isinstance(nargs, int) and not isinstance(nargs, bool) or isinstance(nargs, str)):
            nargs = None
        return cls(name=name, option_strings=options, dest=dest, type=type if type in TYPES else "other",
                   default=default, default_known=known, choices=choice_list,
                   nargs=_bounded(nargs, 20) if isinstance(nargs, str) else nargs, is_switch=is_switch,
                   action=_bounded(action, 40), help=_bounded(help, MAX_HELP_CHARS), positional=positional,
                   required=required)


@dataclass(frozen=True)
class FlagSet:
    """The flags of one script and how they were found (``reason`` says why when not known)."""

    flags: tuple[Flag, ...] = ()
    source: Source = "unknown"
    reason: str = ""
    #: the script uses ``parse_known_args``: flags it does not declare are passed on, not refused
    accepts_unknown: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def known(self) -> bool:
        return self.source != "unknown"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> FlagSet:
        data = json.loads(text)
        flags = tuple(Flag(**{**f, "option_strings": tuple(f["option_strings"]),
                              "choices": None if f["choices"] is None else tuple(f["choices"])})
                      for f in data["flags"])
        return cls(flags=flags, source=data["source"], reason=data["reason"],
                   accepts_unknown=data["accepts_unknown"], notes=tuple(data["notes"]))

    def names(self) -> list[str]:
        """Every name a flag goes by, without dashes (``lr``, ``learning-rate``, ``learning_rate``), sorted:
        what a script echoing its arguments prints as keys."""
        found = {f.dest for f in self.flags if f.dest}
        found.update(o.lstrip("-") for f in self.flags for o in f.option_strings if o.startswith("--"))
        return sorted(n for n in found if n)

    def by_option(self) -> dict[str, Flag]:
        """Every option string (``--lr``, ``-l``) to its flag."""
        return {o: f for f in self.flags for o in f.option_strings}

    @property
    def positionals(self) -> list[Flag]:
        return [f for f in self.flags if f.positional]


def flag_key(name: str) -> str:
    """The spelling-blind key of a flag name: ``--learning-rate``, ``learning-rate`` and
    ``learning_rate`` are one flag (argparse's own rule for a ``dest``)."""
    return name.lstrip("-").replace("-", "_")


def unknown(reason: str) -> FlagSet:
    return FlagSet(source="unknown", reason=one_line(reason, 300))


def flags_from_source(source: str | bytes, filename: str = "<script>") -> FlagSet:
    """The flags a script declares, read from its syntax tree; ``source="unknown"`` when it cannot tell."""
    from workbench_plugin._flags_ast import read_flags

    if len(source) > MAX_SCRIPT_BYTES:
        return unknown(f"{filename} is larger than {MAX_SCRIPT_BYTES // 1024**2} MB; not read")
    return read_flags(source, filename)


def flags_from_help(interpreter: Sequence[str], script: str, cwd: str | os.PathLike[str], *,
                    timeout: float = 20.0, max_bytes: int = 256 * 1024) -> FlagSet:
    """Run ``interpreter script --help`` in ``cwd`` and parse what it prints."""
    from workbench_plugin._flags_help import ask_help

    return ask_help(list(interpreter), script, cwd, timeout=timeout, max_bytes=max_bytes)


def discover(source: bytes | None, script: str, ask: Callable[[], FlagSet] | None = None) -> FlagSet:
    """The flags of ``script`` (its bytes ``source``, None when unreadable): read from the source first,
    else ``ask()`` (which runs ``--help`` where the script's files are); unknown with both reasons."""
    read = unknown(f"{script} could not be read") if source is None else flags_from_source(source, script)
    if read.known or ask is None:
        return read
    asked = ask()
    if asked.known:
        return asked
    return FlagSet(reason=one_line(f"{read.reason}; {asked.reason}", 400), notes=asked.notes)


def as_mapping(flag: Flag) -> Mapping[str, Any]:
    """A flag as a JSON object (``hypertuner flags --json``)."""
    return asdict(flag)
