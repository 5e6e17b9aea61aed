"""Appending one string to an array of a hand-written TOML file, keeping the rest of the text (and
its comments) as it is: tomlkit's style-preserving document. Only ``key = [...]`` inside a plain
``[section]`` table (or a missing key, added to it) is edited; anything else is refused, and every
edit is checked by reading both texts back with tomllib (only that array may differ, by the one
string at its end)."""

from __future__ import annotations

import tomllib
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array, Table

from workbench_plugin._exceptions import SpecError

__all__ = ["append_to_array"]


def append_to_array(text: str, section: str, key: str, item: str, value: str, *, where: str) -> str:
    """``text`` with ``value`` (shown as ``item``, its TOML form) appended to ``[section] key``;
    ``SpecError`` naming ``where`` when the file's form is not one edited safely."""
    refuse = f"{where}: {section}.{key} cannot be edited safely (%s); add {item} to {key} by hand"
    try:
        before = tomllib.loads(text)
        doc = tomlkit.parse(text)
    except (tomllib.TOMLDecodeError, TOMLKitError) as exc:
        raise SpecError(refuse % f"not valid TOML: {' '.join(str(exc).split())}") from None
    table = doc.get(section)
    if not isinstance(table, Table):  # an inline table, a value, or missing
        raise SpecError(refuse % f"no single [{section}] header")
    current = before[section].get(key, [])
    if key not in table:
        table[key] = tomlkit.array()
    elif not isinstance(table[key], Array):
        raise SpecError(refuse % f"{key} is not a list")
    array = table[key]
    assert isinstance(array, Array)
    array.append(value)
    new = tomlkit.dumps(doc)
    if "\r\n" in text:
        new = new.replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        raise SpecError(refuse % "the edit would not read back") from None
    expected: dict[str, Any] = dict(before)
    expected[section] = {**before[section], key: [*current, value]}
    if after != expected:
        raise SpecError(refuse % "the edit would change more than that list")
    return new
