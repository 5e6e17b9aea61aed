"""A search spec checked against the flags its script accepts, before anything is queued.

* A name the script does not accept is refused with close matches:
  ``lrr: the script has no flag --lrr; did you mean --lr?``. Hyphen and underscore spellings are
  the same flag (``learning_rate`` for ``--learning-rate``): the spec takes the script's spelling,
  so the argv carries the option the script declares and redundancy sees one name.
* Values are converted the way the script's parser will (``int(text)``, ``float(text)``) and
  checked against its ``choices``; a switch (``store_true``) takes no value and is refused.
* When the flags are not known, nothing is refused: one warning says why and planning goes on.
  With ``parse_known_args`` the script passes on flags it does not declare, so an unknown name is
  a warning too.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from workbench_plugin._exceptions import SpecError
from workbench_plugin.commands import FlagStyle
from workbench_plugin.flags import Flag, FlagSet, flag_key, one_line
from workbench_plugin.space import SearchSpec, Value, format_value

__all__ = ["CheckedSpec", "check_spec"]


@dataclass(frozen=True)
class CheckedSpec:
    spec: SearchSpec  #: names in the script's spelling
    options: dict[str, str]  #: name -> option string, where it is not the style's prefix + name (``-lr``)
    warnings: tuple[str, ...] = ()


def _shown(option: str) -> str:
    return one_line(option, 60)


def check_spec(spec: SearchSpec, flags: FlagSet, style: FlagStyle | str, *, script: str) -> CheckedSpec:
    """``spec`` renamed to the script's spelling and checked, or a one-line :class:`SpecError`."""
    style = FlagStyle.parse(style)
    if not flags.known:
        return CheckedSpec(spec, {}, (f"the flags of {one_line(script, 80)} are not known ({flags.reason}); "
                                      "names and values are not checked",))
    if style.kind == "template":
        return _check_template(spec, flags, style)
    exact = {o: f for f in flags.flags if not f.positional for o in f.option_strings}
    by_key: dict[str, tuple[Flag, str]] = {}
    for option, flag in exact.items():
        by_key.setdefault(flag_key(option), (flag, option))
    params: dict[str, tuple[Value, ...]] = {}
    sources: dict[str, str] = {}
    scales: dict[str, Any] = {}
    given: dict[str, str] = {}
    options: dict[str, str] = {}
    warnings: list[str] = []
    for name, values in spec.params.items():
        rendered = style.prefix + name
        if rendered in exact:
            flag, option = exact[rendered], rendered
        elif flag_key(name) in by_key:
            flag, option = by_key[flag_key(name)]
        elif flags.accepts_unknown:
            close = difflib.get_close_matches(flag_key(name), list(by_key), n=1, cutoff=0.6)
            hint = f" (did you mean {_shown(by_key[close[0]][1])}?)" if close else ""
            warnings.append(f"{name}: the script does not declare {_shown(rendered)}{hint}; it uses "
                            "parse_known_args, so it is passed on unchecked")
            params[name], sources[name], scales[name] = values, spec.sources[name], spec.scales[name]
            continue
        else:
            same_dest = [o for f, o in by_key.values() if f.dest == flag_key(name)]  # --bs with dest=batch_size
            if same_dest:
                raise SpecError(f"{name}: the script has no flag {_shown(rendered)}; did you mean "
                                f"{_shown(same_dest[0])} (which sets {one_line(name, 60)})?")
            raise SpecError(_no_such_flag(name, rendered, by_key))
        canonical = option.lstrip("-") or name
        if canonical in given:
            raise SpecError(f"{name}: the same flag as {given[canonical]} ({_shown(option)}); give each flag once")
        given[canonical] = name
        _check_values(name, option, flag, values)
        if option != style.prefix + canonical:
            options[canonical] = option
        params[canonical], sources[canonical], scales[canonical] = values, spec.sources[name], spec.scales[name]
    return CheckedSpec(SearchSpec(params, sources, scales), options, tuple(warnings))


def _no_such_flag(name: str, rendered: str, by_key: dict[str, tuple[Flag, str]]) -> str:
    close = difflib.get_close_matches(flag_key(name), list(by_key), n=3, cutoff=0.6)
    if close:
        return (f"{name}: the script has no flag {_shown(rendered)}; did you mean "
                f"{' or '.join(_shown(by_key[k][1]) for k in close)}?")
    longs = sorted({_shown(option) for _, option in by_key.values() if option.startswith("--")})
    if not by_key:
        return f"{name}: the script has no flag {_shown(rendered)}; it declares no flags that take values"
    listed = ", ".join(longs[:8]) + (f" and {len(longs) - 8} more" if len(longs) > 8 else "")
    return f"{name}: the script has no flag {_shown(rendered)}; its flags are {listed} ('hypertuner flags' lists them)"


def _check_values(name: str, option: str, flag: Flag, values: tuple[Value, ...]) -> None:
    shown = _shown(option)
    if flag.is_switch:
        raise SpecError(f"{name}: {shown} is an on/off switch ({flag.action}) and takes no value; "
                        f"leave {name} out of the values (HyperTuner would pass '{shown} VALUE')")
    for value in values:
        text = format_value(value)
        converted: Any = text
        if flag.type in ("int", "float"):
            try:
                converted = int(text) if flag.type == "int" else float(text)
            except ValueError:
                example = "whole numbers, as in 32,64" if flag.type == "int" else "numbers, as in 0.1,0.01"
                raise SpecError(f"{name}: value {one_line(repr(text), 60)} is not accepted by {shown} "
                                f"(type={flag.type}); give {example}") from None
        if flag.choices is not None and converted not in flag.choices and text not in {str(c) for c in flag.choices}:
            allowed = ", ".join(one_line(str(c), 30) for c in flag.choices[:20])
            raise SpecError(f"{name}: value {one_line(repr(text), 60)} is not one of the choices of {shown}: "
                            f"{allowed}; pick from them")


def _check_template(spec: SearchSpec, flags: FlagSet, style: FlagStyle) -> CheckedSpec:
    """A template names placeholders, not flags: only values are checked, where a placeholder sits
    right after an option (``--bs {batch_size}``, ``--bs={batch_size}``) or stands alone in the place
    of a positional argument."""
    exact = flags.by_option()
    positionals = iter(flags.positionals)
    previous: str | None = None
    for token in style.tokens:
        literal, field = token[0] if len(token) == 1 else ("", None)
        if len(token) == 1 and field is None:
            previous = literal
            continue
        flag, option = None, ""
        if field is not None and literal == "":  # '{x}': after an option, or in a positional's place
            if previous in exact:
                flag, option = exact[previous], previous
            elif not (previous or "").startswith("-"):
                flag = next(positionals, None)
                option = flag.name if flag is not None else ""
        elif field is not None and literal.endswith("=") and literal[:-1] in exact:  # '--bs={x}'
            flag, option = exact[literal[:-1]], literal[:-1]
        if flag is not None and field is not None and field in spec.params:
            _check_values(field, option, flag, spec.params[field])
        previous = None
    return CheckedSpec(spec, {})
