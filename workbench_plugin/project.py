"""A project folder's settings: ``hypertuner.toml`` beside the training script.

::

    [project]
    name = "digits"
    script = "train.py"
    flag_style = "space"        # "space" (--lr 0.1), "equals" (--lr=0.1) or "{batch_size} {epochs}"
    interpreter = ""            # empty: the Python that runs hypertuner
    stdout_patterns = []        # regexes with named groups; empty: Keras lines and key=value
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from workbench_plugin._exceptions import ProjectNotFound, SpecError
from workbench_plugin.store import validate_project_name

__all__ = ["PROJECT_FILE", "ProjectSettings", "find_project", "write_project_file"]

PROJECT_FILE = "hypertuner.toml"
_KEYS = {"name", "script", "flag_style", "interpreter", "stdout_patterns"}


@dataclass(frozen=True)
class ProjectSettings:
    name: str
    root: str
    script: str
    flag_style: str = "space"
    interpreter: str = ""
    stdout_patterns: list[str] = field(default_factory=list)

    @property
    def python(self) -> str:
        return self.interpreter or sys.executable

    def __post_init__(self) -> None:
        validate_project_name(self.name)
        script = Path(self.root, self.script)
        if not self.script or Path(self.script).is_absolute() or ".." in Path(self.script).parts:
            raise SpecError(
                f"script: {self.script!r} must be a path inside the project folder, like 'train.py'"
            )
        if not script.is_file():
            raise SpecError(f"script: {str(script)!r} does not exist; give the training script's path")


def _load(root: Path) -> ProjectSettings:
    file = root / PROJECT_FILE
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{file}: not valid TOML ({exc})") from None
    section = data.get("project")
    if not isinstance(section, dict):
        raise SpecError(f"{file}: missing [project] section with name and script")
    unknown = set(section) - _KEYS
    if unknown:
        raise SpecError(
            f"{file}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}"
        )
    patterns = section.get("stdout_patterns", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise SpecError(f"{file}: stdout_patterns must be a list of regular expressions")
    return ProjectSettings(
        name=str(section.get("name", root.name)),
        root=str(root),
        script=str(section.get("script", "")),
        flag_style=str(section.get("flag_style", "space")),
        interpreter=str(section.get("interpreter", "")),
        stdout_patterns=patterns,
    )


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


def write_project_file(root: str | os.PathLike[str], *, name: str, script: str,
                       flag_style: str = "space") -> ProjectSettings:
    folder = Path(root).resolve()
    file = folder / PROJECT_FILE
    text = (
        "[project]\n"
        f"name = {_toml_str(name)}\n"
        f"script = {_toml_str(script)}\n"
        f"flag_style = {_toml_str(flag_style)}\n"
        'interpreter = ""\n'
        "# Regular expressions with named groups read metrics from stdout when the script does\n"
        "# not use the tracking SDK; empty means the defaults (Keras lines, key=value pairs).\n"
        "stdout_patterns = []\n"
    )
    settings = ProjectSettings(name=name, root=str(folder), script=script, flag_style=flag_style)
    if file.exists():
        raise SpecError(f"project: {str(file)!r} already exists; edit it instead")
    file.write_text(text, encoding="utf-8")
    return settings


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
