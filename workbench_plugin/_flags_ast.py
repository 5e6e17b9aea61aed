"""The flags a script declares, read from its syntax tree (never imported, never run).

argparse: every ``X.add_argument(...)`` in the file, whatever ``X`` is (a parser, an argument
group, a mutually exclusive group, a parser made in a helper function), except those on parsers
made by ``add_parser`` (subcommands: noted, not listed). click: ``@click.option``/``@click.argument``
of the one command. typer: the parameters of the one function given to ``typer.run`` or decorated
``@app.command()``. Values are taken only with :func:`ast.literal_eval`.

Gives up (``source="unknown"``, with the reason) when the file does not show the whole parser:
option names built at run time, ``parents=``, a parser class other than argparse's, ``add_argument``
calls without an ``ArgumentParser`` made in the file, several click/typer commands.
"""

from __future__ import annotations

import ast
from typing import Any

from workbench_plugin.flags import Flag, FlagSet, unknown

__all__ = ["read_flags"]

_SWITCH_ACTIONS = {"store_true": False, "store_false": True, "count": None, "store_const": None,
                   "append_const": None}
_TYPES = {"int": "int", "float": "float", "str": "str", "bool": "bool"}
_CLICK_TYPES = {"INT": "int", "FLOAT": "float", "STRING": "str", "BOOL": "bool", "IntRange": "int",
                "FloatRange": "float"}


class _Giveup(Exception):
    pass


def _literal(node: ast.AST | None) -> tuple[bool, Any]:
    if node is None:
        return False, None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        ok, args = _literal(ast.Tuple(elts=list(node.args), ctx=ast.Load()))
        if ok and all(isinstance(a, int) for a in args) and 1 <= len(args) <= 3:
            values = range(*args)
            return (True, list(values)) if len(values) <= 100 else (False, None)
        return False, None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    if isinstance(value, set | frozenset):
        value = sorted(value, key=repr)
    return True, value


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a chain of names and attributes, else ''."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _kw(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg is not None}


def _type_of(node: ast.AST | None, default: str = "str") -> str:
    if node is None:
        return default
    name = _dotted(node)
    tail = name.rsplit(".", 1)[-1]
    if name in _TYPES:
        return _TYPES[name]
    if tail in _CLICK_TYPES:
        return _CLICK_TYPES[tail]
    if isinstance(node, ast.Call) and _dotted(node.func).rsplit(".", 1)[-1] in _CLICK_TYPES:
        return _CLICK_TYPES[_dotted(node.func).rsplit(".", 1)[-1]]
    return "other"


def _help(node: ast.AST | None) -> str:
    ok, value = _literal(node)
    if ok and isinstance(value, str):
        return value
    if isinstance(node, ast.JoinedStr):  # f"...": the literal parts, {...} for the rest
        return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{...}"
                       for v in node.values)
    return ""


def _strings(args: list[ast.expr]) -> list[str]:
    out = []
    for arg in args:
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            raise _Giveup("has flag names built at run time")
        out.append(arg.value)
    return out


def _argparse_flag(call: ast.Call) -> Flag | None:
    if any(isinstance(a, ast.Starred) for a in call.args):
        raise _Giveup("has flag names built at run time")
    names = _strings(call.args)
    kw = _kw(call)
    options = [n for n in names if n.startswith("-")]
    positional = not options
    if not names:
        raise _Giveup("has an add_argument call without names")
    action_node = kw.get("action")
    action = "store"
    extra: list[str] = []
    if action_node is not None:
        ok, value = _literal(action_node)
        if ok and isinstance(value, str):
            action = value
        elif _dotted(action_node).endswith("BooleanOptionalAction"):
            action = "store_true"
            extra = [f"--no-{o[2:]}" for o in options if o.startswith("--")]
        else:
            action = "other"
    if action in ("help", "version"):
        return None
    dest_ok, dest = _literal(kw.get("dest"))
    if not (dest_ok and isinstance(dest, str)):
        first = next((o for o in options if o.startswith("--")), options[0] if options else names[0])
        dest = first.lstrip("-").replace("-", "_")
    is_switch = action in _SWITCH_ACTIONS
    known, default = _literal(kw.get("default"))
    if "default" in kw and _dotted(kw["default"]).endswith("SUPPRESS"):
        known = False
    if "default" not in kw:
        known, default = True, _SWITCH_ACTIONS.get(action) if is_switch else None
    choices_ok, choices = _literal(kw.get("choices"))
    _, nargs = _literal(kw.get("nargs"))
    _, required = _literal(kw.get("required"))
    has_unknown_kwargs = any(k.arg is None for k in call.keywords)  # **spec: type/choices may hide there
    kind = "none" if is_switch else "unknown" if has_unknown_kwargs or action == "other" else _type_of(kw.get("type"))
    return Flag.make(option_strings=[*options, *extra], dest=dest, type=kind, default=default, default_known=known,
                     choices=choices if choices_ok and isinstance(choices, list | tuple) else None, nargs=nargs,
                     is_switch=is_switch, action=action, help=_help(kw.get("help")), positional=positional,
                     required=bool(required) if not positional else nargs not in ("?", "*"))


def _click_flag(call: ast.Call, kind: str) -> Flag:
    names = _strings(call.args)
    kw = _kw(call)
    options = [o.strip() for n in names if n.startswith("-") for o in n.split("/") if o.strip()]
    plain = [n for n in names if not n.startswith("-")]
    dest = plain[0] if plain else (next((o for o in options if o.startswith("--")), options[0] if options else "")
                                   .lstrip("-").replace("-", "_"))
    if not dest:
        raise _Giveup("has a click option without names")
    _, is_flag = _literal(kw.get("is_flag"))
    _, count = _literal(kw.get("count"))
    is_switch = bool(is_flag) or bool(count) or any("/" in n for n in names if n.startswith("-"))
    known, default = _literal(kw.get("default"))
    if "default" not in kw:
        known, default = True, (False if is_switch else None)
    choices = None
    type_node = kw.get("type")
    if isinstance(type_node, ast.Call) and _dotted(type_node.func).endswith("Choice") and type_node.args:
        ok, value = _literal(type_node.args[0])
        choices = value if ok and isinstance(value, list | tuple) else None
        flag_type = "str"
    elif type_node is None and known and default is not None and not is_switch:
        flag_type = {bool: "bool", int: "int", float: "float", str: "str"}.get(type(default), "other")
    else:
        flag_type = _type_of(type_node)
    _, required = _literal(kw.get("required"))
    return Flag.make(option_strings=options, dest=dest, type="none" if is_switch else flag_type, default=default,
                     default_known=known, choices=choices, is_switch=is_switch,
                     action="store_true" if is_switch else "store", help=_help(kw.get("help")),
                     positional=kind == "argument", required=bool(required) or kind == "argument")


def _unwrap_annotation(node: ast.expr | None) -> tuple[ast.expr | None, ast.Call | None]:
    """``Annotated[T, typer.Option(...)]`` -> (T, the Option call); ``T | None``/``Optional[T]`` -> T."""
    if isinstance(node, ast.Subscript) and _dotted(node.value).rsplit(".", 1)[-1] == "Annotated":
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        call = next((e for e in elts[1:] if isinstance(e, ast.Call)), None)
        return _unwrap_annotation(elts[0])[0], call
    if isinstance(node, ast.Subscript) and _dotted(node.value).rsplit(".", 1)[-1] == "Optional":
        return node.slice, None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        none_left = isinstance(node.left, ast.Constant) and node.left.value is None
        return (node.right if none_left else node.left), None
    return node, None


def _typer_flags(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Flag]:
    args = fn.args
    plain = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(plain) - len(args.defaults)) + list(args.defaults)
    pairs = [*zip(plain, defaults, strict=True), *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    flags = []
    for arg, default_node in pairs:
        annotation, call = _unwrap_annotation(arg.annotation)
        if isinstance(default_node, ast.Call) and _dotted(default_node.func).rsplit(".", 1)[-1] in ("Option",
                                                                                                    "Argument"):
            call, default_node = default_node, None
        kind = _dotted(call.func).rsplit(".", 1)[-1] if call is not None else ("Argument" if default_node is None
                                                                                 else "Option")
        decls: list[str] = []
        if call is not None:
            values = list(call.args)
            if values and not (isinstance(values[0], ast.Constant) and isinstance(values[0].value, str)
                               and values[0].value.startswith("-")):
                default_node = values.pop(0)
            decls = [o for d in _strings(values) for o in d.split("/") if o.strip()]
            if "default" in _kw(call):
                default_node = _kw(call)["default"]
        flag_type = _type_of(annotation, "str") if annotation is not None else "str"
        known, default = _literal(default_node)
        if known and default is Ellipsis:
            known, default = False, None
        is_switch = flag_type == "bool" and kind == "Option"
        option = "--" + arg.arg.replace("_", "-")
        options = decls or ([option, f"--no-{option[2:]}"] if is_switch else [option])
        flags.append(Flag.make(option_strings=[] if kind == "Argument" else options, dest=arg.arg,
                               type="none" if is_switch else flag_type, default=default, default_known=known,
                               is_switch=is_switch, action="store_true" if is_switch else "store",
                               help=_help(_kw(call).get("help")) if call is not None else "",
                               positional=kind == "Argument", required=default_node is None))
    return flags


def read_flags(source: str | bytes, filename: str) -> FlagSet:
    try:
        tree = ast.parse(source, filename)
        return _read(tree, filename)
    except _Giveup as exc:
        return unknown(f"{filename} {exc}")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return unknown(f"{filename} could not be read as Python ({type(exc).__name__})")


def _read(tree: ast.Module, filename: str) -> FlagSet:
    nodes = sorted((n for n in ast.walk(tree) if hasattr(n, "lineno")),
                   key=lambda n: (n.lineno, n.col_offset))  # type: ignore[attr-defined]
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    notes: list[str] = []
    sub_parsers = {t.id for n in nodes if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                   and isinstance(n.value.func, ast.Attribute) and n.value.func.attr == "add_parser"
                   for t in n.targets if isinstance(t, ast.Name)}
    made_here = False
    flags: list[Flag] = []
    for call in calls:
        func = _dotted(call.func)
        tail = func.rsplit(".", 1)[-1]
        if tail.endswith("ArgumentParser"):
            if func not in ("argparse.ArgumentParser", "ArgumentParser"):
                raise _Giveup(f"uses {func}, whose flags are not written in the file")
            if "parents" in _kw(call):
                raise _Giveup("builds its parser from parents=, which are not read")
            made_here = True
        elif tail == "add_subparsers":
            notes.append("subcommands are not listed")
        elif isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument":
            receiver = call.func.value
            if isinstance(receiver, ast.Name) and receiver.id in sub_parsers:
                continue
            flag = _argparse_flag(call)
            if flag is not None:
                flags.append(flag)
    accepts_unknown = any(isinstance(n, ast.Attribute) and n.attr == "parse_known_args" for n in nodes)
    if flags and not made_here:
        raise _Giveup("adds flags to a parser made outside the file")
    if not flags and made_here:
        raise _Giveup("makes a parser without flags written in the file")
    flags += _decorated(tree)
    if not flags:
        raise _Giveup("declares no argparse, click or typer flags that can be read")
    by_name: dict[str, Flag] = {}
    for flag in flags[:2000]:
        by_name.setdefault(flag.name, flag)
    return FlagSet(tuple(by_name.values()), "ast", "", accepts_unknown, tuple(dict.fromkeys(notes)))


def _decorated(tree: ast.Module) -> list[Flag]:
    """click and typer: the flags of the file's one command."""
    run_targets = {a.id for n in ast.walk(tree) if isinstance(n, ast.Call) and _dotted(n.func).endswith("run")
                   and _dotted(n.func).split(".")[0] in ("typer", "run") for a in n.args[:1] if isinstance(a, ast.Name)}
    commands: list[list[Flag]] = []
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        decorators = [(d, _dotted(d.func if isinstance(d, ast.Call) else d)) for d in fn.decorator_list]
        click = [(d, name.rsplit(".", 1)[-1]) for d, name in decorators if isinstance(d, ast.Call)
                 and name.rsplit(".", 1)[-1] in ("option", "argument", "password_option")]
        is_command = any(name.rsplit(".", 1)[-1] in ("command", "group") for _, name in decorators)
        if click:
            commands.append([_click_flag(d, kind) for d, kind in click])  # top-down, as click lists them
        elif fn.name in run_targets or (is_command and any(".command" in name for _, name in decorators)):
            commands.append(_typer_flags(fn))
    if len(commands) > 1:
        raise _Giveup("has several click/typer commands; their flags are not listed")
    return commands[0] if commands else []
