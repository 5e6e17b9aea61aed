"""Appending one string to an array of a hand-written TOML file, keeping the rest of the text (and
its comments) as it is. Only the plain forms are edited: ``key = [...]`` inside ``[section]``, or a
missing key added at the end of the section; anything else is refused, and every edit is checked
by reading both texts back (only that array may differ, by the one string at its end)."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from workbench_plugin._exceptions import SpecError

__all__ = ["append_to_array"]

_HEADER = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]\r\n]*?)[ \t]*\]\]?[ \t]*(?:#[^\r\n]*)?\r?$", re.MULTILINE)


def _array_end(text: str, open_at: int) -> tuple[int, int]:
    """(index of the ``]`` closing the array opened at ``open_at``, index of the last character of
    the last value or comma inside it, or ``open_at`` when it holds neither)."""
    i, depth, last = open_at + 1, 1, open_at
    while i < len(text):
        c = text[i]
        if c == "#":
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        if text.startswith(('"""', "'''"), i):
            end = text.find(text[i:i + 3], i + 3)
            if end < 0:
                break
            while text.startswith(text[i], end + 3):  # up to two quotes may end the value
                end += 1
            i = last = end + 2
        elif c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c and text[j] != "\n":
                j += 2 if c == '"' and text[j] == "\\" else 1
            if j >= len(text) or text[j] != c:
                break
            i = last = j
        elif c == "[":
            depth += 1
            last = i
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i, last
            last = i
        elif not c.isspace():
            last = i
        i += 1
    raise ValueError("unclosed array")


def append_to_array(text: str, section: str, key: str, item: str, value: str, *, where: str) -> str:
    """``text`` with ``item`` (``value`` written as a TOML string) appended to ``[section] key``;
    ``SpecError`` naming ``where`` when the file's form is not one edited safely."""
    refuse = (f"{where}: {section}.{key} cannot be edited safely (%s); add {item} to {key} by hand")
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(refuse % f"not valid TOML: {' '.join(str(exc).split())}") from None
    table = before.get(section)
    current = table.get(key, []) if isinstance(table, dict) else None
    if not isinstance(current, list):
        raise SpecError(refuse % f"{key} is not a list")
    headers = list(_HEADER.finditer(text))
    mine = [m for m in headers if m.group(1).strip().strip("\"'") == section]
    if len(mine) != 1 or mine[0].group(0).lstrip().startswith("[["):
        raise SpecError(refuse % f"no single [{section}] header")
    start = mine[0].end()
    later = [m.start() for m in headers if m.start() > start]
    end = later[0] if later else len(text)
    body = text[start:end]
    keys = list(re.finditer(rf"^[ \t]*{re.escape(key)}[ \t]*=[ \t]*", body, re.MULTILINE))
    newline = "\r\n" if "\r\n" in text else "\n"
    if len(keys) > 1:
        raise SpecError(refuse % f"{key} is set twice")
    if keys:
        at = start + keys[0].end()
        if not text.startswith("[", at):
            raise SpecError(refuse % f"{key} is not written as [...]")
        try:
            close, last = _array_end(text, at)
        except ValueError:
            raise SpecError(refuse % "its array does not close") from None
        line_start = text.rfind("\n", 0, close) + 1
        if not text[line_start:close].strip() and line_start > at:  # "]" on its own line
            pad = "    "
            if last != at:  # the indent of the last value's line
                first = text.rfind("\n", 0, last) + 1
                pad = text[first:len(text[:last]) - len(text[first:last].lstrip(" \t"))]
            new = text[:line_start] + f"{pad}{item},{newline}" + text[line_start:]
            if last != at and text[last] != ",":
                new = new[:last + 1] + "," + new[last + 1:]
        elif last == at:
            new = text[:close] + item + text[close:]
        elif text[last] == ",":
            new = text[:last + 1] + " " + item + text[last + 1:]
        else:
            new = text[:last + 1] + ", " + item + text[last + 1:]
    else:  # no key yet: a line at the end of the section, before its trailing blank lines
        stripped = body.rstrip()
        at = start + len(stripped)
        new = text[:at] + f"{newline}{key} = [{item}]" + (text[at:] if text[at:] else newline)
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        raise SpecError(refuse % "the edit would not read back") from None
    expected: dict[str, Any] = dict(before)
    expected[section] = {**before[section], key: [*current, value]}
    if after != expected:
        raise SpecError(refuse % "the edit would change more than that list")
    return new
