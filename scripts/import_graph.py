"""The imports between HyperTuner's top-level folders, checked against the design's direction.

    python scripts/import_graph.py [ROOT]

Parses (``ast``, nothing is imported) every ``.py`` file under the five folders, prints each
arrow between folders with its count of imports by kind, and exits 1 with one line per import
that goes against the direction (``file:line: ...``), 0 when there is none.

Kinds: ``module`` (runs when the file is imported), ``deferred`` (inside a function: runs when
called), ``typing`` (under ``if TYPE_CHECKING:``: never runs) and ``by name`` (an
``"package.module:Name"`` string for :mod:`importlib`, the core's way to look engines and the
gateway up).

Rules (``docs``: /work/shared/DESIGN.md, "Layout"): imports flow toward ``workbench_plugin``.
``panel_app``, ``gateway``, ``engines`` and ``spark_jobs`` may import ``workbench_plugin``;
``gateway`` may import ``engines`` (it drives them; today only for typing); ``spark_jobs``
ships to every container, so it imports only the small part of ``workbench_plugin`` listed in
:data:`SPARK_JOBS_CORE`; ``workbench_plugin`` imports none of the others except for the
exceptions in :data:`EXCEPTIONS`, each with its reason. Typing-only imports are allowed in any
direction (they are how a lower module names an upper type without importing it).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EXCEPTIONS", "FOLDERS", "Import", "check", "main", "scan"]

FOLDERS = ("workbench_plugin", "engines", "spark_jobs", "gateway", "panel_app")
KINDS = ("module", "deferred", "typing", "by name")

#: Arrows allowed for every runtime kind (module, deferred); a folder may always import itself.
ALLOWED: dict[str, frozenset[str]] = {
    "workbench_plugin": frozenset(),
    "engines": frozenset({"workbench_plugin"}),
    "gateway": frozenset({"workbench_plugin", "engines"}),
    "panel_app": frozenset({"workbench_plugin"}),
    "spark_jobs": frozenset({"workbench_plugin"}),
}
#: What of ``workbench_plugin`` the container-side code may import (itself light, no pandas UI,
#: no engines): the tracking SDK's contract, the store and what the store stands on.
SPARK_JOBS_CORE = frozenset({
    "workbench_plugin", "workbench_plugin.tracking", "workbench_plugin.store", "workbench_plugin.fs",
    "workbench_plugin.webhdfs", "workbench_plugin.patience", "workbench_plugin.snapshot", "workbench_plugin.patterns",
    "workbench_plugin._stdout_rules",
    "workbench_plugin._exceptions", "workbench_plugin.config", "workbench_plugin.lifecycle",
    "workbench_plugin.faults", "workbench_plugin.standby",
})
#: (file, imported module or its prefix, kinds) -> why this import against the direction is fine.
EXCEPTIONS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("workbench_plugin/cli.py", "gateway.control"): (
        frozenset({"deferred"}), "the 'kill' command kills through the gateway's control, imported when run"),
    ("workbench_plugin/cli.py", "panel_app.server"): (
        frozenset({"deferred"}), "the 'serve' command starts the dashboard, imported when run"),
    ("workbench_plugin/plugins.py", "engines"): (
        frozenset({"by name"}), "engines are looked up by name (ENGINE_CLASSES): the core's small interface"),
    ("workbench_plugin/plugins.py", "gateway.gateway"): (
        frozenset({"by name"}), "the gateway is looked up by name (GATEWAY_CLASS), like the engines"),
    ("workbench_plugin/plugins.py", "gateway.control"): (
        frozenset({"by name"}), "pages stop experiments through the gateway's kill, looked up by name (KILL_FUNCTION)"),
    ("spark_jobs/launch_batch.py", "workbench_plugin.batch"): (
        frozenset({"module"}), "runs on a gateway shell (spark-submit's driver), not in a container: "
                               "it calls the core's batch submission"),
    ("spark_jobs/compact_runs.py", "workbench_plugin.compaction"): (
        frozenset({"module"}), "runs in a scheduled job's driver, not in an experiment's container: "
                               "it calls the core's compaction"),
}

_BY_NAME = re.compile(rf"^(?P<module>(?:{'|'.join(FOLDERS)})(?:\.\w+)*):\w+$")


@dataclass(frozen=True)
class Import:
    path: str       # relative to the root, '/'-separated
    line: int
    source: str     # the importing file's top-level folder
    module: str     # the imported module, absolute
    kind: str       # one of KINDS

    @property
    def target(self) -> str:
        return self.module.split(".")[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_of(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, here: str, is_package: bool, root: Path) -> list[str]:
    """The modules an ``from X import a, b`` names: ``X.a`` where ``a`` is a submodule, else ``X``."""
    base = node.module or ""
    if node.level:
        package = here.split(".") if is_package else here.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    found = []
    for alias in node.names:
        sub = root.joinpath(*base.split("."), alias.name)
        found.append(f"{base}.{alias.name}" if sub.with_suffix(".py").is_file() or sub.is_dir() else base)
    return found


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every node with the kind its imports have: module, deferred or typing."""
    stack: list[tuple[ast.AST, str]] = [(tree, "module")]
    while stack:
        node, kind = stack.pop()
        yield node, kind
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and kind == "module":
                child_kind = "deferred"
            if isinstance(node, ast.If) and _is_type_checking(node.test) and child in node.body:
                child_kind = "typing"
            stack.append((child, child_kind))


def scan(root: Path) -> list[Import]:
    """Every import between (and within) the five folders under ``root``."""
    found: list[Import] = []
    for folder in FOLDERS:
        for file in sorted((root / folder).rglob("*.py")):
            rel = file.relative_to(root)
            here = _module_of(rel)
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
            for node, kind in _walk(tree):
                modules: list[str] = []
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    modules = _resolve(node, here, file.name == "__init__.py", root)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    match = _BY_NAME.match(node.value)
                    if match:
                        modules, kind = [match["module"]], "by name"
                for module in modules:
                    if module.split(".")[0] in FOLDERS:
                        found.append(Import(rel.as_posix(), getattr(node, "lineno", 0), folder, module, kind))
    return sorted(found, key=lambda i: (i.path, i.line, i.module))


def _exception(imp: Import) -> str | None:
    for (path, prefix), (kinds, why) in EXCEPTIONS.items():
        if imp.path == path and imp.kind in kinds and (imp.module == prefix or imp.module.startswith(prefix + ".")):
            return why
    return None


def check(imports: list[Import]) -> list[str]:
    """One line per import against the direction."""
    problems = []
    for imp in imports:
        if imp.kind == "typing" or _exception(imp) is not None:
            continue
        if imp.kind == "by name":
            problems.append(f"{imp.path}:{imp.line}: {imp.source} looks up {imp.module} by name; "
                            "only workbench_plugin/plugins.py looks engines and the gateway up")
            continue
        if imp.target == imp.source:
            continue
        if imp.target not in ALLOWED[imp.source]:
            problems.append(f"{imp.path}:{imp.line}: {imp.source} -> {imp.target} ({imp.kind} import of "
                            f"{imp.module}) goes against the direction; allowed from {imp.source}: "
                            f"{', '.join(sorted(ALLOWED[imp.source])) or 'none'}")
        elif imp.source == "spark_jobs" and imp.module not in SPARK_JOBS_CORE:
            problems.append(f"{imp.path}:{imp.line}: spark_jobs -> {imp.module} ({imp.kind} import): the "
                            "container side imports only " + ", ".join(sorted(SPARK_JOBS_CORE)))
    return problems


def format_graph(imports: list[Import]) -> str:
    counts: Counter[tuple[str, str, str]] = Counter((i.source, i.target, i.kind) for i in imports
                                                    if i.source != i.target)
    arrows = sorted({(s, t) for s, t, _ in counts}, key=lambda a: (FOLDERS.index(a[0]), FOLDERS.index(a[1])))
    lines = [f"{'from':<17}    {'to':<17}" + "".join(f"{k:>10}" for k in KINDS)]
    for source, target in arrows:
        lines.append(f"{source:<17} -> {target:<17}" + "".join(f"{counts[source, target, k]:>10}" for k in KINDS))
    allowed = sorted(((i, _exception(i)) for i in imports if i.kind != "typing" and _exception(i) is not None),
                     key=lambda pair: (pair[0].path, pair[0].line, pair[0].module))
    if allowed:
        lines.append("allowed exceptions:")
        lines += [f"  {i.path}:{i.line}: {i.module} ({i.kind}): {why}" for i, why in allowed]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="import_graph", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1]),
                    help="the repository root (default: this script's)")
    args = ap.parse_args(argv)
    imports = scan(Path(args.root))
    print(format_graph(imports))
    problems = check(imports)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"import_graph: {len(problems)} imports against the direction", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
