"""A project folder's settings: ``hypertuner.toml`` beside the training script.

::

    [project]
    name = "digits"
    script = "train.py"
    flag_style = "space"        # "space" (--lr 0.1), "equals" (--lr=0.1) or "{batch_size} {epochs}"
    interpreter = ""            # empty: the Python that runs hypertuner
    environment = ""            # a venv/conda folder (relative to the project) shipped to the cluster as an image
    stdout_patterns = []        # regexes with named groups; empty: Keras lines and key=value
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench_plugin._exceptions import ProjectNotFound, SpecError
from workbench_plugin._toml import read_toml
from workbench_plugin.commands import FlagStyle
from workbench_plugin.patterns import compile_patterns
from workbench_plugin.store import validate_project_name

__all__ = ["PROJECT_FILE", "ProjectSettings", "add_stdout_pattern", "find_project", "write_project_file"]

PROJECT_FILE = "hypertuner.toml"
_KEYS = {"name", "script", "flag_style", "interpreter", "environment", "stdout_patterns"}


@dataclass(frozen=True)
class ProjectSettings:
    name: str
    root: str
    script: str
    flag_style: str = "space"
    interpreter: str = ""
    stdout_patterns: list[str] = field(default_factory=list)
    #: The project's Python environment (a venv or conda folder, relative to the project or absolute):
    #: its ``bin/python`` runs the script, and on YARN it is packed into a build image
    #: (:mod:`workbench_plugin.build_image`). Empty: ``interpreter``'s environment.
    environment: str = ""

    @property
    def run_interpreter(self) -> str:
        """What a run records as its interpreter: ``interpreter``, else the environment's
        ``bin/python``, else "" (the Python that runs hypertuner)."""
        if self.interpreter or not self.environment:
            return self.interpreter
        return str(Path(self.root, self.environment) / "bin" / "python")

    @property
    def python(self) -> str:
        return self.run_interpreter or sys.executable

    def __post_init__(self) -> None:
        for key in ("name", "script", "flag_style", "interpreter", "environment"):
            _check_str(key, getattr(self, key))
        if len(self.environment) > 4096 or not self.environment.isprintable():
            raise SpecError(f"environment: {self.environment[:60]!r} is too long or has control characters; give "
                            "a venv or conda folder, as in '.venv'")
        if self.environment and not (Path(self.root, self.environment) / "bin" / "python").exists():
            raise SpecError(f"environment: {self.environment[:200]!r} has no bin/python under {self.root!r}; give "
                            "a venv or conda folder, as in '.venv' (make one with python -m venv .venv)")
        validate_project_name(self.name)
        if not self.interpreter.isprintable():
            raise SpecError(f"interpreter: {self.interpreter[:60]!r} contains control characters; give the path "
                            "of a Python, as in '/opt/envs/torch/bin/python'")
        FlagStyle.parse(self.flag_style)
        if not isinstance(self.stdout_patterns, list):
            raise SpecError(f"stdout_patterns: {self.stdout_patterns!r} is not a list; give a list of regular "
                            r"expressions, as in ['loss=(?P<loss>\S+)']")
        for pattern in self.stdout_patterns:
            _check_str("stdout_patterns", pattern)
        compile_patterns(self.stdout_patterns)
        script = Path(self.root, self.script)
        if not self.script or Path(self.script).is_absolute() or ".." in Path(self.script).parts:
            raise SpecError(
                f"script: {self.script!r} must be a path inside the project folder, like 'train.py'"
            )
        if not script.is_file():
            raise SpecError(f"script: {str(script)!r} does not exist; give the training script's path")


def _check_str(key: str, value: Any) -> None:
    if not isinstance(value, str):
        raise SpecError(f"{key}: {value!r} of type {type(value).__name__} is not allowed; give a string")
    if "\x00" in value:
        raise SpecError(f"{key}: {value[:60]!r} contains a NUL character; remove it")


def _load(root: Path) -> ProjectSettings:
    file = root / PROJECT_FILE
    data = read_toml(file, SpecError)
    section = data.get("project")
    if not isinstance(section, dict):
        raise SpecError(f"{file}: missing [project] section with name and script")
    unknown = set(section) - _KEYS
    if unknown:
        raise SpecError(
            f"{file}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}"
        )
    try:
        return ProjectSettings(
            name=section.get("name", root.name),
            root=str(root),
            script=section.get("script", ""),
            flag_style=section.get("flag_style", "space"),
            interpreter=section.get("interpreter", ""),
            stdout_patterns=section.get("stdout_patterns", []),
            environment=section.get("environment", ""),
        )
    except SpecError as exc:
        raise type(exc)(f"{file}: {exc}") from None


def find_project(start: str | os.PathLike[str] | None = None) -> ProjectSettings:
    """The project whose folder holds ``start`` (default: the current folder)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return _load(folder)
    raise ProjectNotFound(
        f"project: no {PROJECT_FILE} in {str(here)!r} or its parents;"
        " run 'hypertuner init --script train.py' in the project folder"
    )


def write_project_file(root: str | os.PathLike[str], *, name: str, script: str, flag_style: str = "space",
                       interpreter: str = "",
                       register: Callable[[ProjectSettings], object] | None = None) -> ProjectSettings:
    """Write ``hypertuner.toml``, all or nothing: the settings are checked, the file is written to a
    temporary name, ``register`` (the store) is called, and only then is the file linked into place.
    If anything fails, no file is left behind."""
    folder = Path(root).resolve()
    file = folder / PROJECT_FILE
    text = (
        "[project]\n"
        f"name = {_toml_str(name)}\n"
        f"script = {_toml_str(script)}\n"
        f"flag_style = {_toml_str(flag_style)}\n"
        "# The Python that runs the script (a path); its environment needs the script's packages.\n"
        "# Empty: the Python that runs hypertuner (spark.python in a cluster container).\n"
        f"interpreter = {_toml_str(interpreter)}\n"
        "# Regular expressions with named groups read metrics from stdout when the script does\n"
        "# not use the tracking SDK; empty means the defaults (Keras lines, key=value pairs).\n"
        "stdout_patterns = []\n"
    )
    settings = ProjectSettings(name=name, root=str(folder), script=script, flag_style=flag_style,
                               interpreter=interpreter)
    if file.exists():
        raise SpecError(f"project: {str(file)!r} already exists; edit it instead")
    temp = folder / f".{PROJECT_FILE}.{os.getpid()}.tmp"
    try:
        try:
            temp.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"project: cannot write {str(file)!r} ({exc.strerror or exc})") from None
        if register is not None:
            register(settings)  # the store's own errors pass through as they are
        try:
            try:
                os.link(temp, file)  # fails, rather than overwrite, if another init got there first
            except FileExistsError:
                raise
            except OSError:  # a filesystem without hard links: create exclusively instead
                with open(file, "x", encoding="utf-8") as fh:
                    fh.write(text)
        except FileExistsError:
            raise SpecError(f"project: {str(file)!r} already exists; edit it instead") from None
        except OSError as exc:
            raise SpecError(f"project: cannot write {str(file)!r} ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return settings


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def add_stdout_pattern(root: str | os.PathLike[str], pattern: str) -> bool:
    """Append ``pattern`` to the project's ``stdout_patterns``, all or nothing: the edited text keeps
    the rest of the file (comments included), is checked by reading it back and as settings, and
    replaces the file by a rename. False when the pattern is there already."""
    from workbench_plugin._toml_edit import append_to_array
    from workbench_plugin.pattern_check import toml_string

    folder = Path(root).resolve()
    file = folder / PROJECT_FILE
    settings = _load(folder)
    if pattern in settings.stdout_patterns:
        return False
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise SpecError(f"project: cannot read {str(file)!r} ({exc.strerror or exc})") from None
    text = raw.decode("utf-8")  # _load read it as UTF-8 already
    new = append_to_array(text, "project", "stdout_patterns", toml_string(pattern), pattern, where=str(file))
    temp = folder / f".{PROJECT_FILE}.{os.getpid()}.tmp"
    try:
        try:
            temp.write_bytes(new.encode("utf-8"))
            with contextlib.suppress(OSError):
                temp.chmod(file.stat().st_mode & 0o7777)
            _load_text_check(folder, temp)
            if file.read_bytes() != raw:
                raise SpecError(f"project: {str(file)!r} changed while it was being edited; run the command again")
            os.replace(temp, file)
        except OSError as exc:
            raise SpecError(f"project: cannot write {str(file)!r} ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return True


def _load_text_check(folder: Path, temp: Path) -> None:
    """The edited file, read as settings before it replaces the old one (a bad pattern is refused)."""
    data = read_toml(temp, SpecError, name=PROJECT_FILE)
    section = data["project"]
    ProjectSettings(name=section.get("name", folder.name), root=str(folder), script=section.get("script", ""),
                    flag_style=section.get("flag_style", "space"), interpreter=section.get("interpreter", ""),
                    stdout_patterns=section.get("stdout_patterns", []), environment=section.get("environment", ""))
