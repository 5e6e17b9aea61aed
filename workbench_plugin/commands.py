"""From one experiment's values to the argv list its script is started with.

No shell is ever involved: every value becomes exactly one argv element, so a categorical value
such as ``1; rm -rf /`` reaches the script as that literal text. Flag styles:

* ``"space"``  -> ``["--lr", "0.1"]``
* ``"equals"`` -> ``["--lr=0.1"]`` (with ``prefix=""`` this is Hydra's ``lr=0.1``)
* a template such as ``"{batch_size} {num_epochs}"`` or ``"--bs {batch_size} {num_epochs}"``: split
  with :func:`shlex.split` once, at parse time; each token becomes one argv element with its
  ``{name}`` placeholders replaced by the values (``{{`` and ``}}`` are literal braces).
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from workbench_plugin._exceptions import SpecError
from workbench_plugin.space import check_name, format_value

__all__ = ["FlagStyle", "build_argv", "render_command"]

_KINDS = ("space", "equals")
_Piece = tuple[str, str | None]  # (literal text, placeholder name or None)


@dataclass(frozen=True)
class FlagStyle:
    """How flags are written on the command line; build with :meth:`parse`."""

    kind: Literal["space", "equals", "template"]
    template: str = ""
    tokens: tuple[tuple[_Piece, ...], ...] = ()
    prefix: str = "--"

    @classmethod
    def parse(cls, style: FlagStyle | str, *, prefix: str = "--") -> FlagStyle:
        """``"space"``, ``"equals"`` or a template; :class:`SpecError` names ``flag_style`` on failure."""
        if isinstance(style, FlagStyle):
            return style
        if not isinstance(style, str):
            raise SpecError(f"flag_style: {style!r} is not a string; use 'space', 'equals' or a template "
                            "such as '{batch_size} {num_epochs}'")
        if not isinstance(prefix, str) or any(c.isspace() for c in prefix):
            raise SpecError(f"flag_style: prefix {prefix!r} must be text without spaces, as in '--' or '-'")
        text = style.strip()
        if text.lower() in _KINDS:
            return cls(kind="space" if text.lower() == "space" else "equals", prefix=prefix)
        if "{" not in text and "}" not in text:
            raise SpecError(f"flag_style: {style!r} is not 'space', 'equals' or a template; write a template "
                            "with placeholders, as in '{batch_size} {num_epochs}'")
        return cls(kind="template", template=text, tokens=_parse_template(text), prefix=prefix)

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The flag names a template uses, in order of first use (empty for space/equals)."""
        seen: dict[str, None] = {}
        for token in self.tokens:
            for _, field in token:
                if field is not None:
                    seen.setdefault(field, None)
        return tuple(seen)

    def args(self, params: Mapping[str, Any], options: Mapping[str, str] | None = None) -> list[str]:
        """The arguments for ``params`` (without the script). ``options`` gives the option string of a
        name where the script spells it otherwise than prefix + name (``-lr``); templates ignore it."""
        for name in params:
            check_name(name)
        options = options or {}
        if self.kind == "space":
            return [part for name, value in params.items()
                    for part in (options.get(name, self.prefix + name), format_value(value))]
        if self.kind == "equals":
            return [f"{options.get(name, self.prefix + name)}={format_value(value)}" for name, value in params.items()]
        for field in self.placeholders:
            if field not in params:
                known = ", ".join(params) or "none"
                raise SpecError(f"flag_style: template {self.template!r} uses {{{field}}}, which is not a flag; "
                                f"the flags are {known}")
        used = set(self.placeholders)
        for name in params:
            if name not in used:
                raise SpecError(f"flag_style: template {self.template!r} does not use flag {name!r}; "
                                f"add {{{name}}} or remove the flag")
        text = {name: format_value(value) for name, value in params.items()}
        return ["".join(literal + (text[field] if field is not None else "") for literal, field in token)
                for token in self.tokens]


def _parse_template(template: str) -> tuple[tuple[_Piece, ...], ...]:
    try:
        words = shlex.split(template)
    except ValueError as exc:  # "No closing quotation"
        raise SpecError(f"flag_style: template {template!r} cannot be split ({exc}); balance its quotes, "
                        "as in '--name \"{run_name}\"'") from exc
    if not words:
        raise SpecError(f"flag_style: template {template!r} is empty; give placeholders, "
                        "as in '{batch_size} {num_epochs}'")
    tokens: list[tuple[_Piece, ...]] = []
    for word in words:
        try:
            parsed = list(string.Formatter().parse(word))
        except ValueError as exc:  # "Single '}' encountered", "expected '}' before end of string"
            raise SpecError(f"flag_style: template {template!r} has unbalanced braces in {word!r} ({exc}); "
                            "write {name} for a value and {{ or }} for a literal brace") from exc
        pieces: list[_Piece] = []
        for literal, field, spec, conversion in parsed:
            if field is None:
                pieces.append((literal, None))
                continue
            if spec or conversion:
                raise SpecError(f"flag_style: placeholder {{{field}{'!' + conversion if conversion else ''}"
                                f"{':' + spec if spec else ''}}} in {template!r} has a format; values are "
                                f"written canonically, so use plain {{{field}}}")
            if not field:
                raise SpecError(f"flag_style: template {template!r} has an empty placeholder '{{}}'; name the "
                                "flag, as in '{batch_size}'")
            try:
                check_name(field)
            except SpecError:
                raise SpecError(f"flag_style: placeholder {{{field}}} in {template!r} is not a flag name; "
                                "use a name such as {batch_size}") from None
            pieces.append((literal, field))
        tokens.append(tuple(pieces))
    return tuple(tokens)


def build_argv(script: str, params: Mapping[str, Any], style: FlagStyle | str = "space",
               options: Mapping[str, str] | None = None) -> list[str]:
    """``[script, *args]`` for one experiment; the runner prepends the interpreter (``options``: see
    :meth:`FlagStyle.args`).

    Values are written with :func:`~workbench_plugin.space.format_value`. The list is meant for
    ``subprocess`` without a shell: each value is one element, never re-split or interpreted.
    """
    return [script, *FlagStyle.parse(style).args(params, options)]


def render_command(argv: list[str], interpreter: str = "python") -> str:
    """A display-only, shell-quoted rendering of ``interpreter argv...`` for preview tables.

    It is never executed: experiments run from the argv list itself, without a shell.
    """
    head = shlex.split(interpreter) if interpreter else []
    return shlex.join([*head, *argv])
