"""The flags a script prints with ``--help``: run it safely, parse argparse/click style help text.

No library parses help text back into flags (looked for one: argparse and click only *write* it),
so the parser here reads the two layouts those write::

    usage: train.py [-h] [-l LR] [--opt {adam,sgd}] data      Usage: train.py [OPTIONS]
    positional arguments:                                     Options:
      data                  the data folder                     --lr FLOAT             step  [default: 0.1]
    options:                                                    --opt [adam|sgd]
      -l LR, --learning-rate LR                                 --shout / --no-shout
                            step size (default: 0.1)
      --use-bn              a switch

Types come from click's metavars (INTEGER, FLOAT, TEXT); argparse's metavars do not tell, so those
flags are "unknown" and only their names and choices are checked.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from workbench_plugin.flags import RETRY, Flag, FlagSet, one_line, unknown

__all__ = ["ask_help", "parse_help"]

_USAGE = re.compile(r"^\s*usage:", re.IGNORECASE | re.MULTILINE)
_SECTION = re.compile(r"^(?P<title>\S[^:]{0,80}):\s*$")
_ENTRY = re.compile(r"^(?P<indent> {1,8})(?P<invocation>\S.*?)(?: {2,}(?P<help>\S.*))?$")
_DEFAULT = re.compile(r"[(\[]default:\s*(?P<value>[^)\]]*)[)\]]")
_CLICK_TYPES = {"INTEGER": "int", "INT": "int", "FLOAT": "float", "TEXT": "str", "BOOLEAN": "bool",
                "INTEGER RANGE": "int", "FLOAT RANGE": "float"}


@dataclass
class _Entry:
    indent: int
    invocation: str
    help: str
    positional: bool


def _options(invocation: str) -> tuple[list[str], str]:
    """``-l LR, --learning-rate LR`` -> (['-l', '--learning-rate'], 'LR'); ``--a / --no-a`` -> both, ''."""
    options, metavar = [], ""
    for part in re.split(r",\s+|\s+/\s+", invocation):
        word, sep, rest = part.strip().partition("=") if "=" in part.split(" ")[0] else part.strip().partition(" ")
        if word.startswith("-"):
            options.append(word)
            metavar = metavar or rest.strip()
    return options, metavar


def _typed(metavar: str) -> tuple[str, list[str] | None]:
    if metavar.startswith("{") and "}" in metavar:
        return "unknown", [c for c in metavar[1:metavar.index("}")].split(",") if c]
    if metavar.startswith("[") and "|" in metavar and "]" in metavar:
        return "str", [c for c in metavar[1:metavar.index("]")].split("|") if c]
    return _CLICK_TYPES.get(metavar.strip(), "unknown"), None


def parse_help(text: str, script: str = "the script") -> FlagSet:
    """The flags listed in argparse/click style help text; unknown without a usage line."""
    if not _USAGE.search(text):
        return unknown(f"'{script} --help' printed no usage line")
    entries: list[_Entry] = []
    section = ""
    notes: list[str] = []
    for raw in text.splitlines()[:20_000]:
        line = raw.expandtabs(8).rstrip()
        header = _SECTION.match(line)
        if header:
            section = header["title"].lower()
            continue
        depth = len(line) - len(line.lstrip())
        if entries and line.strip() and depth > entries[-1].indent + 2:  # the help above, continued
            entries[-1].help = f"{entries[-1].help} {line.strip()}".strip()[:2000]
            continue
        entry = _ENTRY.match(line)
        if entry is None:
            continue
        indent, invocation, help_text = len(entry["indent"]), entry["invocation"], entry["help"] or ""
        if invocation.startswith("-"):
            entries.append(_Entry(indent, invocation, help_text, False))
        elif section.startswith(("positional", "arguments")) and not invocation.lower().startswith("usage"):
            if invocation.startswith("{"):
                notes.append("subcommands are not listed")
                continue
            entries.append(_Entry(indent, invocation.split()[0], help_text, True))
    flags = []
    for e in entries[:2000]:
        help_text = e.help
        found = _DEFAULT.search(help_text)
        if e.positional:
            flags.append(Flag.make(dest=e.invocation, type="unknown", help=help_text, positional=True,
                                   required=True))
            continue
        options, metavar = _options(e.invocation)
        if not options or {"-h", "--help"} & set(options):
            continue
        kind, choices = _typed(metavar) if metavar else ("none", None)
        longs = [o for o in options if o.startswith("--")]
        dest = (longs[0] if longs else options[0]).lstrip("-").replace("-", "_")
        flags.append(Flag.make(option_strings=options, dest=dest, type=kind, choices=choices,
                               default=found["value"].strip() if found else None, default_known=bool(found),
                               is_switch=not metavar, action="store_true" if not metavar else "store",
                               help=help_text))
    return FlagSet(tuple(flags), "help", "", False, tuple(dict.fromkeys(notes)))


def ask_help(interpreter: list[str], script: str, cwd: str | os.PathLike[str], *, timeout: float,
             max_bytes: int) -> FlagSet:
    """Run ``interpreter script --help`` in ``cwd``: an argv list (no shell), stdin closed, its own
    process group killed after ``timeout`` seconds or ``max_bytes`` of output."""
    argv = [*interpreter, script, "--help"]
    shown = one_line(f"{script} --help", 80)
    if not Path(cwd, script).is_file():
        return unknown(f"'{shown}' cannot run: {script} is not in the snapshot")
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return unknown(f"'{shown}' could not start with interpreter {one_line(interpreter[0], 80)!r} "
                       f"({exc.strerror or exc}); set interpreter in hypertuner.toml")
    out = bytearray()
    too_much = threading.Event()

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def read() -> None:
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), 65536):
            if len(out) + len(chunk) > max_bytes:
                out.extend(chunk[: max_bytes - len(out)])
                too_much.set()
                kill()
                break
            out.extend(chunk)

    reader = threading.Thread(target=read, name="flags-help", daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill()
        proc.wait()
        reader.join(2)
        return unknown(f"'{shown}' did not finish within {timeout:g} s and was stopped")
    finally:
        kill()  # whatever it left behind in its group
        reader.join(2)
        if proc.stdout is not None:
            proc.stdout.close()
    text = out.decode("utf-8", errors="replace")
    if too_much.is_set():
        return unknown(f"'{shown}' printed more than {max_bytes // 1024} KB and was stopped")
    if code != 0:
        last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
        return FlagSet(reason=one_line(f"'{shown}' exited with code {code}: {one_line(last.strip(), 160)}", 300),
                       notes=(RETRY,))
    return parse_help(text, shown)
