"""Build images: a project's Python environment packed as one archive a YARN container can run.

On a cluster, a NodeManager has Java and YARN, not the project's packages, nor HyperTuner's
checkout. An image carries both:

* the environment, packed with ``venv-pack`` (a ``venv``/``virtualenv``) or ``conda-pack`` (a
  conda environment, recognised by its ``conda-meta/`` folder);
* HyperTuner's container-side code (``spark_jobs/`` and the ``workbench_plugin`` modules they
  import, found by following their imports, lazy ones included) in
  ``lib/pythonX.Y/site-packages/_hypertuner_runtime/``, put on ``sys.path`` by a ``.pth`` file,
  so no ``PYTHONPATH`` to the gateway's checkout is needed.

The image is content-addressed: its id ``env-<hash>`` hashes the environment's package list
(``name==version`` of every distribution, read by the environment's own Python with
``importlib.metadata``), the names of the top-level entries of its ``site-packages`` (a module
dropped there changes the id), the Python version and the container-side code. It is uploaded to
the store once, as ``images/env-<hash>.tar.gz`` with a ``.json`` record beside it, by the store's
never-replace publish: a second build of the same environment finds it and uploads nothing; two
gateways racing publish one file. Spark ships it with ``--archives <hdfs url>#env`` and runs
``./env/bin/python``.

Requirement on the nodes, honestly: a **venv's** ``bin/python`` is a symbolic link to the base
interpreter it was made from (``home`` in ``pyvenv.cfg``); ``venv-pack`` keeps that link (its
documented limit), so every NodeManager needs that same Python at the same path (e.g.
``/usr/bin/python3.11`` from the OS, or a Python installed at one path cluster-wide). Carrying the
base interpreter would mean carrying its whole standard library and shared libraries and
rewriting ``home``; Python 3.11 reads ``home`` as an absolute path, so that is not done. A
**conda** environment carries its interpreter: with conda-pack nothing but Java and YARN is
needed. :func:`describe_environment` says which kind an environment is, and the build line says
"needs /path/python on every node" for a venv.

The environment must also hold what the wrapper imports from outside the standard library
(:data:`RUNTIME_REQUIREMENTS`: pyarrow, requests, pathspec, typing_extensions); a build names what
is missing. ``pyspark`` itself comes from Spark's own archives (``PYSPARK_ARCHIVES_PATH``).

Spark's own jars and Python archives (:func:`spark_archives`) are uploaded the same way, once, as
``images/spark-<hash>/`` (``spark.yarn.archive`` and ``PYSPARK_ARCHIVES_PATH`` point there), so
with an image a NodeManager needs no Spark either.

Limits: the archive is read into memory for the upload (the store's publish takes bytes); the
gateway's own environment (1.5 GB here) packs to about 865 MB in 40 s, which is why
``spark.image = "auto"`` packs only an environment the project names.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workbench_plugin._exceptions import HyperTunerError

if TYPE_CHECKING:
    from workbench_plugin.store import Store

__all__ = [
    "IMAGE_FOLDER",
    "IMAGE_MODES",
    "RUNTIME_REQUIREMENTS",
    "SparkArchives",
    "BuildImageError",
    "Environment",
    "ImageRecord",
    "build_image",
    "default_progress",
    "describe_environment",
    "environment_prefix",
    "image_environment",
    "image_id",
    "image_note",
    "image_path",
    "runtime_files",
    "spark_archives",
    "stored_image",
]

#: Where images live in the store.
IMAGE_FOLDER = "images"
#: Import names the container-side code needs from the environment (pyarrow: Parquet parts).
RUNTIME_REQUIREMENTS = ("pyarrow", "requests", "pathspec", "typing_extensions")
#: The folder in the image's site-packages holding HyperTuner's container-side code.
RUNTIME_DIR = "_hypertuner_runtime"
_ROOT = Path(__file__).resolve().parents[1]
#: What the container runs: every file here is a start of the import trace.
_ENTRY_PACKAGES = ("spark_jobs",)
_OWN_PACKAGES = ("workbench_plugin", "spark_jobs")
#: Seconds the environment's Python may take to list its packages.
_PROBE_TIMEOUT = 60.0
#: The gzip level of an image: 1 packs about 3x faster than 6 for a few percent more bytes.
COMPRESS_LEVEL = 1

_PROBE = r"""
import importlib.metadata as m, json, os, sys, sysconfig
site = sysconfig.get_paths()["purelib"]
dists = sorted({f"{d.metadata['Name']}=={d.version}" for d in m.distributions() if d.metadata['Name']})
top = sorted(n for n in os.listdir(site) if n != "__pycache__") if os.path.isdir(site) else []
missing = [n for n in json.loads(sys.argv[1]) if __import__("importlib.util").util.find_spec(n) is None]
print(json.dumps({"prefix": sys.prefix, "base_prefix": sys.base_prefix, "version": sys.version.split()[0],
                  "executable": sys.executable, "site": site, "packages": dists, "top": top, "missing": missing}))
"""


class BuildImageError(HyperTunerError):
    """An environment cannot be made into an image (not an environment, missing packages, packing failed)."""


@dataclass(frozen=True)
class Environment:
    """What an environment is made of, as its own Python reports it."""

    prefix: str
    kind: str  # "venv" or "conda"
    python_version: str
    packages: tuple[str, ...]
    top_level: tuple[str, ...]
    site_packages: str
    missing: tuple[str, ...]
    #: The base interpreter a venv's bin/python links to (needed at that path on every node); "" for conda.
    base_python: str = ""

    @property
    def relative_site(self) -> str:
        return os.path.relpath(self.site_packages, self.prefix)


@dataclass(frozen=True)
class ImageRecord:
    """An image in the store (``images/<image_id>.json``)."""

    image_id: str
    kind: str
    prefix: str
    python_version: str
    n_packages: int
    size_bytes: int
    built_seconds: float
    base_python: str = ""
    #: Set on the record a build returns: False when the store already held the image.
    uploaded: bool = False
    upload_seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)


def environment_prefix(python: str) -> str:
    """The environment (``sys.prefix``) of an interpreter path; a folder is taken as the environment."""
    path = Path(python)
    if path.is_dir():
        return str(path.resolve())
    return str(_probe(str(path), ()).get("prefix", ""))


def _probe(python: str, requirements: Iterable[str]) -> dict[str, object]:
    try:
        done = subprocess.run([python, "-I", "-c", _PROBE, json.dumps(list(requirements))], capture_output=True,
                              timeout=_PROBE_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildImageError(f"environment: cannot run {python!r} ({exc}); give a Python or an environment "
                              "folder, as in environment = \".venv\"") from exc
    if done.returncode != 0:
        said = (done.stderr or b"").decode(errors="replace").strip().splitlines()
        raise BuildImageError(f"environment: {python!r} failed to list its packages "
                              f"({said[-1][:200] if said else f'exit {done.returncode}'})")
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def describe_environment(prefix_or_python: str) -> Environment:
    """The environment at ``prefix_or_python`` (a folder, or a Python inside one)."""
    path = Path(prefix_or_python)
    python = str(path / "bin" / "python") if path.is_dir() else str(path)
    if not Path(python).exists():
        raise BuildImageError(f"environment: {str(path)!r} has no bin/python; give a venv or conda "
                              "environment folder, as in environment = \".venv\"")
    data = _probe(python, RUNTIME_REQUIREMENTS)
    prefix = str(data["prefix"])
    if Path(prefix, "conda-meta").is_dir():
        kind, base = "conda", ""
    elif Path(prefix, "pyvenv.cfg").is_file() or data["prefix"] != data["base_prefix"]:
        kind = "venv"
        base = os.path.realpath(Path(prefix, "bin", "python"))
    else:
        raise BuildImageError(f"environment: {prefix!r} is a Python installation, not a venv or conda "
                              "environment; make one (python -m venv) and set environment in hypertuner.toml")
    return Environment(
        prefix=prefix, kind=kind, python_version=str(data["version"]),
        packages=tuple(str(p) for p in data["packages"]),  # type: ignore[attr-defined]
        top_level=tuple(str(t) for t in data["top"]),  # type: ignore[attr-defined]
        site_packages=str(data["site"]), missing=tuple(str(m) for m in data["missing"]),  # type: ignore[attr-defined]
        base_python=base,
    )


# ---- the container-side code ------------------------------------------------------------------
def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    base = _ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    file = base.with_suffix(".py")
    return file if file.is_file() else None


def _imports(file: Path, module: str) -> set[str]:
    """Every module of our packages ``file`` imports, at any depth (lazy imports too)."""
    tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in found if n.split(".")[0] in _OWN_PACKAGES}


def runtime_files() -> list[str]:
    """The files of HyperTuner the container needs (paths relative to the checkout), sorted."""
    todo = [f"{pkg}.{p.stem}" if p.stem != "__init__" else pkg
            for pkg in _ENTRY_PACKAGES for p in sorted((_ROOT / pkg).glob("*.py"))]
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        file = _module_file(name)
        if file is None:
            continue  # a name imported from a module, not a module
        seen[name] = file
        parents = name.split(".")
        todo.extend(".".join(parents[:i]) for i in range(1, len(parents)))  # the packages above it
        todo.extend(_imports(file, name))
    return sorted(str(f.relative_to(_ROOT)) for f in seen.values())


def _runtime_hash(files: list[str]) -> str:
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode() + b"\0" + (_ROOT / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def image_id(env: Environment, files: list[str] | None = None) -> str:
    """``env-<24 hex>``: the hash of the package list, site-packages' top level, Python and our code."""
    digest = hashlib.sha256()
    payload = {"kind": env.kind, "python": env.python_version, "packages": list(env.packages),
               "top": list(env.top_level), "runtime": _runtime_hash(runtime_files() if files is None else files)}
    digest.update(json.dumps(payload, sort_keys=True).encode())
    return f"env-{digest.hexdigest()[:24]}"


def image_path(image: str) -> str:
    """The store path of an image's archive (its record sits beside it as ``.json``)."""
    return f"{IMAGE_FOLDER}/{image}.tar.gz"


def stored_image(store: Store, image: str) -> ImageRecord | None:
    """The stored record of ``image``, or None when it was never built."""
    try:
        data = json.loads(store.fs.read_bytes(image_path(image).removesuffix(".tar.gz") + ".json"))
    except FileNotFoundError:
        return None
    return ImageRecord(**{k: v for k, v in data.items() if k in ImageRecord.__dataclass_fields__})


# ---- packing ----------------------------------------------------------------------------------
def _pack_env(env: Environment, output: str) -> None:
    """The environment as an uncompressed tar at ``output`` (venv-pack or conda-pack)."""
    try:
        if env.kind == "conda":
            import conda_pack

            conda_pack.pack(prefix=env.prefix, output=output, format="tar", force=True,
                            ignore_missing_files=True, ignore_editable_packages=True)
        else:
            import venv_pack

            venv_pack.pack(prefix=env.prefix, output=output, format="tar", force=True)
    except ImportError as exc:
        raise BuildImageError(f"build image: {exc.name} is not installed; pip install venv-pack conda-pack") from exc
    except Exception as exc:  # noqa: BLE001 - plug-in boundary: venv-pack/conda-pack raise their own kinds
        said = str(exc).strip().splitlines()
        why = said[0][:200] if said else repr(exc)
        raise BuildImageError(f"build image: packing {env.prefix!r} failed ({why})") from exc


def _add_runtime(tar: tarfile.TarFile, env: Environment, files: list[str]) -> None:
    site = env.relative_site
    for rel in files:
        data = (_ROOT / rel).read_bytes()
        _add_bytes(tar, f"{site}/{RUNTIME_DIR}/{rel}", data)
    _add_bytes(tar, f"{site}/{RUNTIME_DIR}.pth", f"{RUNTIME_DIR}\n".encode())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def _say(progress: Callable[[str], None] | None, line: str) -> None:
    if progress is not None:
        progress(line)


def build_image(
    store: Store, environment: str, *, progress: Callable[[str], None] | None = None,
) -> ImageRecord:
    """The image of ``environment`` (a folder or a Python inside one) in ``store``: built and
    uploaded unless the store already holds it. ``progress`` gets one line per step."""
    env = describe_environment(environment)
    if env.missing:
        raise BuildImageError(f"environment {env.prefix!r} lacks {', '.join(env.missing)}, which HyperTuner's "
                              f"wrapper imports in the container; pip install {' '.join(env.missing)} into it")
    files = runtime_files()
    image = image_id(env, files)
    found = stored_image(store, image)
    if found is not None and store.fs.exists(image_path(image)):
        _say(progress, f"build image: {image} already in the store ({found.size_bytes / 1e6:.1f} MB); "
                       "nothing to upload")
        return found
    start = time.monotonic()
    _say(progress, f"build image: packing {env.prefix} ({len(env.packages)} packages, {env.kind}) ...")
    with tempfile.TemporaryDirectory(prefix="ht-image-") as tmp:
        raw, packed = os.path.join(tmp, "env.tar"), os.path.join(tmp, "env.tar.gz")
        _pack_env(env, raw)
        with tarfile.open(raw, "a") as tar:
            _add_runtime(tar, env, files)
        with open(raw, "rb") as src, gzip.GzipFile(packed, "wb", compresslevel=COMPRESS_LEVEL, mtime=0) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        size = os.path.getsize(packed)
        built = time.monotonic() - start
        _say(progress, f"build image: {image} {size / 1e6:.1f} MB in {built:.0f} s")
        record = ImageRecord(image_id=image, kind=env.kind, prefix=env.prefix, python_version=env.python_version,
                             n_packages=len(env.packages), size_bytes=size, built_seconds=round(built, 2),
                             base_python=env.base_python)
        where = store.fs.hdfs_path(image_path(image)) or f"{store.url}/{image_path(image)}"
        _say(progress, f"build image: uploading to {where} ...")
        start = time.monotonic()
        with open(packed, "rb") as fh:
            blob = fh.read()
        # the archive first, then its record: a record always names an archive that is there
        uploaded = store.fs.create_exclusive(image_path(image), blob)
        del blob
        store.fs.create_exclusive(image_path(image).removesuffix(".tar.gz") + ".json",
                                  json.dumps(asdict(record), sort_keys=True).encode())
        took = time.monotonic() - start
    _say(progress, f"build image: uploaded in {took:.1f} s" if uploaded
         else "build image: another gateway stored it first; using theirs")
    return ImageRecord(**{**asdict(record), "uploaded": uploaded, "upload_seconds": round(took, 2)})


#: ``spark.image``: "auto" builds an image when the project names its environment (``environment`` or
#: ``interpreter`` in hypertuner.toml), "always" also for the gateway's own environment, "off" never.
IMAGE_MODES = ("auto", "always", "off")


def image_environment(mode: str, interpreter: str, gateway_python: str) -> str | None:
    """The environment to pack for a run on YARN with an HDFS store, or None (today's behaviour:
    containers run ``gateway_python`` at its path on the node)."""
    if mode not in IMAGE_MODES:
        raise BuildImageError(f"spark.image: {mode[:40]!r}; use one of {', '.join(IMAGE_MODES)}")
    if mode == "off" or (mode == "auto" and not interpreter):
        return None
    return interpreter or gateway_python


def image_note(store: Store, environment: str) -> str:
    """One line for ``hypertuner plan``: the image is in the store, or must be built (and from what)."""
    env = describe_environment(environment)
    image = image_id(env)
    found = stored_image(store, image)
    if found is not None:
        return f"image: {image} built, {found.size_bytes / 1e6:.0f} MB"
    lacks = f"; it lacks {', '.join(env.missing)} (pip install them)" if env.missing else ""
    return (f"image: must be built from {env.prefix} ({len(env.packages)} packages; takes about a minute "
            f"at the first launch){lacks}")


def default_progress(line: str) -> None:
    """Build lines on stderr (the gateway's log)."""
    print(line, file=sys.stderr, flush=True)


# ---- Spark's own jars and Python archives ---------------------------------------------------------
@dataclass(frozen=True)
class SparkArchives:
    """Spark's jars (``spark.yarn.archive``) and Python archives (``PYSPARK_ARCHIVES_PATH``) in the store."""

    archive: str  # store path of the zip of Spark's jars
    python: tuple[str, ...]  # store paths of pyspark.zip and py4j-*.zip


def _spark_id(jars: list[Path], python: list[Path]) -> str:
    """``spark-<24 hex>``: jar names and sizes (a jar's name carries its version; reading 400 MB of
    jars at every run would cost seconds) and the Python archives' bytes."""
    digest = hashlib.sha256()
    for jar in jars:
        digest.update(f"{jar.name}\0{jar.stat().st_size}\0".encode())
    for archive in python:
        digest.update(archive.name.encode() + b"\0" + archive.read_bytes())
    return f"spark-{digest.hexdigest()[:24]}"


def spark_archives(store: Store, spark_home: str | os.PathLike[str], *,
                   progress: Callable[[str], None] | None = None) -> SparkArchives:
    """Spark's jars (``<spark_home>/jars``) as one zip and its Python archives
    (``<spark_home>/python/lib/*.zip``), uploaded to the store once under a content id, so a
    NodeManager needs no Spark installed."""
    home = Path(spark_home)
    jars = sorted((home / "jars").glob("*.jar"))
    python = sorted((home / "python" / "lib").glob("*.zip"))
    if not jars or not python:
        raise BuildImageError(f"spark.home: {str(home)!r} has no jars/*.jar or python/lib/*.zip; give a Spark "
                              "installation, or set spark.yarn.jars / spark.yarn.archive yourself")
    ident = _spark_id(jars, python)
    folder = f"{IMAGE_FOLDER}/{ident}"
    result = SparkArchives(archive=f"{folder}/spark-jars.zip", python=tuple(f"{folder}/{p.name}" for p in python))
    if all(store.fs.exists(path) for path in (*result.python, result.archive)):
        _say(progress, f"spark jars: {ident} already in the store; nothing to upload")
        return result
    start = time.monotonic()
    _say(progress, f"spark jars: packing {len(jars)} jars from {home / 'jars'} ...")
    for archive in python:  # small: first, so the archive's presence means everything is there
        store.fs.create_exclusive(f"{folder}/{archive.name}", archive.read_bytes())
    with tempfile.TemporaryDirectory(prefix="ht-spark-") as tmp:
        packed = os.path.join(tmp, "spark-jars.zip")
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED) as zf:  # jars are compressed already
            for jar in jars:
                zf.write(jar, jar.name)
        size = os.path.getsize(packed)
        with open(packed, "rb") as fh:
            uploaded = store.fs.create_exclusive(result.archive, fh.read())
    said = "uploaded" if uploaded else "stored by another gateway"
    _say(progress, f"spark jars: {ident} {size / 1e6:.1f} MB {said} in {time.monotonic() - start:.1f} s")
    return result
