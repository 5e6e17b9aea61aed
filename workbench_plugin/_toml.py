"""Reading a TOML file a user wrote (the config, ``hypertuner.toml``, a spec file): one line when wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from workbench_plugin._exceptions import HyperTunerError

__all__ = ["read_toml"]


def read_toml(file: Path, error: type[HyperTunerError], *, name: str = "") -> dict[str, Any]:
    """``file`` as a dict; a file that is missing, a folder, unreadable, not UTF-8, not TOML or
    nested too deeply is one ``error`` naming it (as ``name``, e.g. the variable that named it)."""
    shown = f"{name}: {str(file)!r}" if name else str(file)
    try:
        return tomllib.loads(file.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise error(f"{shown}: no such file; check the path") from None
    except IsADirectoryError:
        raise error(f"{shown}: is a folder, not a TOML file; give the file's path") from None
    except OSError as exc:
        raise error(f"{shown}: cannot be read ({exc.strerror or exc}); check the path") from None
    except UnicodeDecodeError as exc:
        raise error(f"{shown}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{shown}: not valid TOML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise error(f"{shown}: arrays or tables nested too deeply to read; flatten them") from None
