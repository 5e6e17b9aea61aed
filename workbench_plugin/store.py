"""The store: an append-only tree of JSON records and Parquet parts, the single source of truth.

Layout under the store root::

    projects/<project>/project.json
    projects/<project>/events/<time_ns>~<rand>.json          notes, stars, locks (folded on read)
    projects/<project>/runs/<run>/experiments.json           the batch, written before run.json
    projects/<project>/runs/<run>/run.json                   the run exists once this exists
    projects/<project>/runs/<run>/claims/<experiment>.json   one submitter wins (exclusive create)
    projects/<project>/runs/<run>/states/<experiment>~<time_ns>~<rand>.json
    projects/<project>/runs/<run>/metrics/<experiment>~<seq>~<rand>.csv        (or .parquet)
    projects/<project>/runs/<run>/logs/<experiment>/<stream>~<seq>.txt
    projects/<project>/runs/<run>/taken/<application>/<experiment>.json   which task of a packed run runs it
    projects/<project>/runs/<run>/artifacts/<experiment>/<name>
    snapshots/<snapshot id>.tar.gz and <snapshot id>.json (manifest), <snapshot id>.flags-<key>.json (flags)
    quarantine/<same relative path> and <...>.reason.json   damaged files, set aside (never deleted)

No file is ever rewritten: mutable things (states, annotations, locks) are events folded on
read. An experiment with no state event is ``queued``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import getpass
import io
import json
import logging
import operator
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from workbench_plugin._exceptions import (
    ExperimentNotFound,
    ProjectNotFound,
    RunNotFound,
    SpecError,
    StoreError,
)
from workbench_plugin.fs import FileSystem, filesystem_for
from workbench_plugin.lifecycle import REQUEUED, State
from workbench_plugin.spark_settings import RUN_SPARK_CONF

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Experiment",
    "Project",
    "Run",
    "Store",
    "DAMAGE_ERRORS",
    "METRIC_COLUMNS",
    "QUARANTINE",
    "PART_FORMATS",
    "POINT_COLUMNS",
    "RUN_FOLDERS",
    "decode_metrics_csv",
    "encode_metrics_csv",
    "metric_schema",
    "run_id_of",
    "validate_project_name",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Columns of every metrics part, in order, with their Arrow types (:func:`metric_schema`).
METRIC_COLUMNS = ("experiment_id", "kind", "epoch", "step", "time", "name", "value", "source")
_METRIC_TYPES = ("string", "string", "int64", "int64", "float64", "string", "float64", "string")
#: How a metrics part may be written: ``csv`` (what the wrapper writes: no pyarrow needed, cheap to
#: start) or ``parquet``; each is its file suffix, and :meth:`Store.read_metrics_part` reads both.
PART_FORMATS = ("csv", "parquet")
#: The columns dashboards read from a metrics part (``source`` is not read).
POINT_COLUMNS = ("experiment_id", "kind", "epoch", "step", "time", "name", "value")
#: The folders of a run that readers list for new files (each file written once, never rewritten).
RUN_FOLDERS = ("claims", "states", "metrics")
#: Where damaged files are set aside, under their own relative path, each with a ``.reason.json``.
QUARANTINE = "quarantine"
#: What decoding a file that was read whole raises when the file is damaged (truncated, garbage,
#: a record of the wrong shape); Arrow's ``ArrowInvalid`` is a ``ValueError``. A read that failed
#: (``OSError``, :class:`StoreError`) is not damage: the file is read again later. Arrow's CSV
#: reader raises ``ArrowInvalid`` too (a bad row, a cut quote, bytes that are not UTF-8).
DAMAGE_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError)

log = logging.getLogger("hypertuner.store")


def metric_schema(columns: Sequence[str] = METRIC_COLUMNS, *, dictionary: bool = False) -> pa.Schema:
    """The Arrow schema of metrics parts (the one definition), for ``columns``; with ``dictionary``
    the string columns as read, dictionary-encoded."""
    import pyarrow as pa

    types = dict(zip(METRIC_COLUMNS, _METRIC_TYPES, strict=True))
    fields = []
    for column in columns:
        kind = getattr(pa, types[column])()
        if dictionary and types[column] == "string":
            kind = pa.dictionary(pa.int32(), kind)
        fields.append((column, kind))
    return pa.schema(fields)


def validate_project_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise SpecError(
            f"project name: {name!r} is not allowed; use 1-64 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
    return name


def _now() -> float:
    return time.time()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def run_id_of(experiment_id: str) -> str:
    """The run an experiment id belongs to (ids are ``<run id>-<index>``)."""
    run_id, sep, _ = experiment_id.rpartition("-")
    if not sep or not run_id:
        raise ExperimentNotFound(f"experiment {experiment_id!r}: not an experiment id")
    return run_id


#: Arrow names the file it could not open by its full (server) path; the warning names it already.
_ARROW_SOURCE = re.compile(r"^Could not open Parquet input source '[^']*': ")


def _one_line(error: BaseException) -> str:
    """An error in one short line, without the server path Arrow puts in (its messages run over
    several lines)."""
    text = _ARROW_SOURCE.sub("", " ".join(str(error).split())) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


@dataclass(frozen=True)
class Project:
    name: str
    path: str
    created: float
    author: str


@dataclass(frozen=True)
class Experiment:
    """One combination of hyperparameter values, executed once."""

    experiment_id: str
    run_id: str
    index: int
    params: dict[str, Any]
    argv: list[str]

    @property
    def label(self) -> str:
        return f"#{self.index + 1}"


_EXPERIMENT_FIELDS = frozenset(f.name for f in fields(Experiment))


@dataclass(frozen=True)
class Run:
    """One launch of a script over a set of hyperparameter combinations."""

    run_id: str
    project: str
    created: float
    author: str
    script: str
    interpreter: str
    flag_style: str
    spec: dict[str, str]
    scales: dict[str, str]
    snapshot_id: str
    data_id: str
    engine: str
    n_experiments: int
    stdout_patterns: list[str] | None = None
    note: str = ""
    #: the names of every flag the script declares (dests and long options without dashes), where known:
    #: a printed ``lr=0.01`` is then an echo of a hyperparameter, not a metric, even if ``lr`` is not tuned
    script_flags: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hparams(self) -> list[str]:
        return list(self.spec)

    @property
    def yarn_queue(self) -> str | None:
        """The YARN queue of the resource option the batch was launched on (``plan/run --resource``
        naming a ``kind = "yarn"`` option), recorded in its lineage; None: the engine's default."""
        lineage = self.extra.get("lineage")
        queue = lineage.get("queue") if isinstance(lineage, dict) else None
        return queue if isinstance(queue, str) and queue.strip() and queue.isprintable() else None

    @property
    def spark_conf(self) -> dict[str, str]:
        """The Spark settings the batch was launched with (its resource option's, then ``--conf``),
        as recorded; empty for runs launched before they were recorded."""
        conf = self.extra.get(RUN_SPARK_CONF)
        if not isinstance(conf, dict):
            return {}
        return {k: v for k, v in conf.items() if isinstance(k, str) and isinstance(v, str)}

    def yarn_queue_of(self, experiment_id: str) -> str | None:
        """The YARN queue of one experiment: its row's own yarn resource option (``--resource-row``),
        else the batch's (:attr:`yarn_queue`)."""
        lineage = self.extra.get("lineage")
        queues = lineage.get("queues") if isinstance(lineage, dict) else None
        queue = queues.get(experiment_id) if isinstance(queues, dict) else None
        if isinstance(queue, str) and queue.strip() and queue.isprintable():
            return queue
        return self.yarn_queue


class Store:
    """Typed access to the store tree over a :class:`~workbench_plugin.fs.FileSystem`."""

    def __init__(self, url: str, fs: FileSystem | None = None) -> None:
        self.url = url
        self.fs = fs or filesystem_for(url)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # ---- paths -------------------------------------------------------------------------
    def project_dir(self, project: str) -> str:
        return f"projects/{project}"

    def run_dir(self, project: str, run_id: str) -> str:
        return f"projects/{project}/runs/{run_id}"

    @staticmethod
    def snapshot_archive(snapshot_id: str) -> str:
        """The store path of a snapshot's archive (its manifest sits beside it as ``.json``)."""
        return f"snapshots/{snapshot_id}.tar.gz"

    @staticmethod
    def snapshot_flags(snapshot_id: str, key: str) -> str:
        """The store path of the flags found in a snapshot's script (``key``: script and interpreter)."""
        return f"snapshots/{snapshot_id}.flags-{key}.json"

    # ---- projects ----------------------------------------------------------------------
    def create_project(self, name: str, path: str) -> Project:
        validate_project_name(name)
        record = Project(name=name, path=path, created=_now(), author=getpass.getuser())
        self.fs.create_exclusive(f"projects/{name}/project.json", _dumps(asdict(record)))
        return self.project(name)

    def projects(self) -> list[str]:
        return [p for p in self.fs.listdir("projects") if self.fs.exists(f"projects/{p}/project.json")]

    def project(self, name: str) -> Project:
        """The project's record. A damaged one is set aside and a record rebuilt in its place
        (``path`` empty: unknown), so the project and its runs keep working."""
        path = f"projects/{name}/project.json"
        try:
            raw = self.fs.read_bytes(path)
        except FileNotFoundError:
            known = ", ".join(self.projects()) or "none yet"
            raise ProjectNotFound(
                f"project {name!r}: not in store {self.url!r} (projects: {known});"
                " run 'hypertuner init' in the project folder"
            ) from None
        try:
            data = json.loads(raw)
            return Project(**data)
        except (ValueError, TypeError) as exc:  # not JSON, not UTF-8, not a project record
            rebuilt = Project(name=name, path="", created=_now(), author="")
            if self.set_aside(path, exc) is not None:
                self.fs.create_exclusive(path, _dumps(asdict(rebuilt)))  # another reader may be first
            return rebuilt

    # ---- runs --------------------------------------------------------------------------
    @staticmethod
    def new_run_id() -> str:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{secrets.token_hex(2)}"

    def write_run(self, run: Run, experiments: Iterable[Experiment]) -> None:
        """Write the batch, then the run record: a run is visible only when complete."""
        rows = [asdict(e) for e in experiments]
        if len(rows) != run.n_experiments:
            raise StoreError(f"run {run.run_id}: {len(rows)} experiments, expected {run.n_experiments}")
        base = self.run_dir(run.project, run.run_id)
        self.fs.write_atomic(f"{base}/experiments.json", _dumps(rows))
        self.fs.write_atomic(f"{base}/run.json", _dumps(asdict(run)))

    def runs(self, project: str) -> list[str]:
        """Run ids of a project, oldest first (ids sort by time)."""
        base = f"projects/{project}/runs"
        return [r for r in self.fs.listdir(base) if self.fs.exists(f"{base}/{r}/run.json")]

    def read_run(self, project: str, run_id: str) -> Run:
        try:
            data = json.loads(self.fs.read_bytes(f"{self.run_dir(project, run_id)}/run.json"))
        except FileNotFoundError:
            raise RunNotFound(
                f"run {run_id!r}: not in project {project!r}; 'hypertuner status' lists the runs"
            ) from None
        if not isinstance(data, dict):
            raise ValueError("not a run record")
        return Run(**data)

    def read_experiments(self, project: str, run_id: str) -> list[Experiment]:
        try:
            rows = json.loads(self.fs.read_bytes(f"{self.run_dir(project, run_id)}/experiments.json"))
        except FileNotFoundError:
            raise RunNotFound(f"run {run_id!r}: not in project {project!r}") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ValueError("not a list of experiment records")
        # A record with exactly the fields is set as they are (half the time of the frozen
        # dataclass's __init__: 1.2 s of a 1,000,000-experiment open); any other goes through
        # __init__, which names what is wrong.
        names, new = _EXPERIMENT_FIELDS, object.__new__
        out = []
        for row in rows:
            if row.keys() == names:
                exp = new(Experiment)
                exp.__dict__.update(row)
            else:
                exp = Experiment(**row)
            out.append(exp)
        return out

    def run_files(self, project: str, run_id: str, folder: str) -> list[str]:
        """Paths of the files in one of a run's :data:`RUN_FOLDERS` (claims, states, metrics)."""
        base = self.run_folder(project, run_id, folder)
        return [f"{base}/{name}" for name in self.fs.listdir(base)]

    def run_folder(self, project: str, run_id: str, folder: str) -> str:
        """The path of one of a run's :data:`RUN_FOLDERS`."""
        if folder not in RUN_FOLDERS:
            raise StoreError(f"run folder {folder!r}: not one of {', '.join(RUN_FOLDERS)}")
        return f"{self.run_dir(project, run_id)}/{folder}"

    def read_record(self, path: str) -> dict[str, Any]:
        """A JSON record of the store (a claim, a state event, a project event); ``ValueError``
        when the file is not a JSON object."""
        record = json.loads(self.fs.read_bytes(path))
        if not isinstance(record, dict):
            raise ValueError(f"a JSON {type(record).__name__}, not an object")
        return record

    def set_aside(self, path: str, error: BaseException | str, *, say: bool = True) -> str | None:
        """Quarantine a damaged file: move it to ``quarantine/<path>`` with a reason record beside
        it, and (with ``say``) say so in one warning line naming it. Nothing is deleted. Returns the
        new path, or None when it could not be moved now (it is reported again when next read)."""
        reason = error if isinstance(error, str) else _one_line(error)
        dest = f"{QUARANTINE}/{path}"
        try:
            if self.fs.exists(dest):  # the same name damaged twice (a rewritten record): keep both
                dest = f"{dest}~{secrets.token_hex(3)}"
            self.fs.move(path, dest)
        except FileNotFoundError:
            return None  # set aside by another reader meanwhile
        except StoreError as exc:
            log.warning("store: %s is damaged (%s); it could not be set aside (%s)", path, reason, exc)
            return None
        record = {"path": path, "reason": reason, "time": _now(), "by": getpass.getuser()}
        try:
            self.fs.create_exclusive(f"{dest}.reason.json", _dumps(record))
        except StoreError as exc:  # the file is set aside; only its reason record is missing
            log.warning("store: cannot record why %s was set aside (%s)", dest, exc)
        if say:
            log.warning("store: %s is damaged (%s); set aside as %s", path, reason, dest)
        return dest

    def quarantined(self) -> list[str]:
        """Store paths of every file set aside, as they were before (reason records left out)."""
        out: list[str] = []

        def walk(folder: str) -> None:
            for name in self.fs.listdir(folder):
                path = f"{folder}/{name}"
                if name.endswith(".reason.json"):
                    continue
                if self.fs.exists(f"{path}.reason.json"):
                    out.append(path.removeprefix(f"{QUARANTINE}/"))
                else:
                    walk(path)

        walk(QUARANTINE)
        return sorted(out)

    # ---- states and claims ---------------------------------------------------------------
    def append_state(
        self, project: str, run_id: str, experiment_id: str, state: str, **fields: Any
    ) -> dict[str, Any]:
        t = _now()
        record = {"experiment_id": experiment_id, "state": state, "time": t, **fields}
        name = f"{experiment_id}~{time.time_ns():020d}~{secrets.token_hex(3)}.json"
        self.fs.write_atomic(f"{self.run_dir(project, run_id)}/states/{name}", _dumps(record))
        return record

    def claim(self, project: str, run_id: str, experiment_id: str, *, generation: int = 0, **fields: Any) -> bool:
        """Take the right to submit an experiment; exactly one caller ever gets True per generation.

        Generation 0 is ``claims/<experiment>.json``; after a claim was given back
        (:meth:`requeue`), the next one is ``claims/<experiment>~<generation>.json``.
        """
        record = {"experiment_id": experiment_id, "time": _now(), "generation": generation, **fields}
        name = experiment_id if generation == 0 else f"{experiment_id}~{generation:06d}"
        path = f"{self.run_dir(project, run_id)}/claims/{name}.json"
        return self.fs.create_exclusive(path, _dumps(record))

    # ---- packed runs: tasks take experiments ----------------------------------------------------
    def take(self, project: str, run_id: str, application: str, experiment_id: str, **fields: Any) -> bool:
        """A task of the packed ``application`` takes ``experiment_id`` to run (an exclusive create):
        exactly one task of the application ever gets True."""
        record = {"experiment_id": experiment_id, "time": _now(), **fields}
        return self.fs.create_exclusive(f"{self.run_dir(project, run_id)}/taken/{application}/{experiment_id}.json",
                                        _dumps(record))

    def taken(self, project: str, run_id: str, application: str) -> set[str]:
        """The experiments the packed ``application``'s tasks have taken so far."""
        names = self.fs.listdir(f"{self.run_dir(project, run_id)}/taken/{application}")
        return {n.removesuffix(".json") for n in names if n.endswith(".json")}

    # ---- metrics, logs, artifacts ----------------------------------------------------------
    def write_metrics_part(
        self, project: str, run_id: str, experiment_id: str, seq: int, rows: Mapping[str, list[Any]],
        *, format: str = "csv",  # noqa: A002 (the word users know)
    ) -> str:
        """Write one part of metric points (columns :data:`METRIC_COLUMNS`), as CSV (the default:
        no pyarrow needed, what the wrapper writes) or Parquet; return its store path."""
        if format == "csv":
            data = encode_metrics_csv(rows)
        elif format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pydict({c: rows[c] for c in METRIC_COLUMNS}, schema=metric_schema())
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            data = buf.getvalue()
        else:
            raise StoreError(f"metrics part format: {format!r} is not one of {', '.join(PART_FORMATS)}")
        name = f"{experiment_id}~{seq:06d}~{secrets.token_hex(3)}.{format}"
        path = f"{self.run_dir(project, run_id)}/metrics/{name}"
        self.fs.write_atomic(path, data)
        return path

    def read_metrics_part(self, path: str, columns: Sequence[str] = POINT_COLUMNS) -> pa.Table:
        """One metrics part (a path from :meth:`run_files`), CSV or Parquet by its suffix: ``columns``,
        strings dictionary-encoded; one of :data:`DAMAGE_ERRORS` when the file is damaged."""
        if path.endswith(".csv"):
            return decode_metrics_csv(self.fs.read_bytes(path), columns)
        strings = [c for c in columns if c in ("experiment_id", "kind", "name", "source")]
        table = self.read_parquet(path, columns=list(columns), read_dictionary=strings)
        return table.cast(metric_schema(columns, dictionary=True))

    def read_parquet(self, path: str, **options: Any) -> pa.Table:
        """A Parquet file of the store (``pyarrow.parquet.read_table`` ``options``): read in place
        when the store is local, else from its bytes."""
        import pyarrow.parquet as pq

        local = self.fs.local_path(path)
        return pq.read_table(local if local else io.BytesIO(self.fs.read_bytes(path)), **options)

    def write_log_chunk(
        self, project: str, run_id: str, experiment_id: str, stream: str, seq: int, text: bytes
    ) -> None:
        path = f"{self.run_dir(project, run_id)}/logs/{experiment_id}/{stream}~{seq:06d}.txt"
        self.fs.write_atomic(path, text)

    def read_log(self, project: str, run_id: str, experiment_id: str, stream: str) -> str:
        base = f"{self.run_dir(project, run_id)}/logs/{experiment_id}"
        chunks = [n for n in self.fs.listdir(base) if n.startswith(f"{stream}~")]
        return b"".join(self.fs.read_bytes(f"{base}/{n}") for n in chunks).decode(errors="replace")

    def write_artifact(
        self, project: str, run_id: str, experiment_id: str, name: str, data: bytes
    ) -> None:
        if "/" in name or name.startswith("."):
            raise StoreError(f"artifact name {name!r}: must be a plain file name")
        path = f"{self.run_dir(project, run_id)}/artifacts/{experiment_id}/{name}"
        self.fs.write_atomic(path, data)

    def artifacts(self, project: str, run_id: str, experiment_id: str) -> list[str]:
        return self.fs.listdir(f"{self.run_dir(project, run_id)}/artifacts/{experiment_id}")

    def read_artifact(self, project: str, run_id: str, experiment_id: str, name: str) -> bytes:
        return self.fs.read_bytes(f"{self.run_dir(project, run_id)}/artifacts/{experiment_id}/{name}")

    # ---- project events (annotations, locks) ------------------------------------------------
    def append_event(self, project: str, kind: str, **payload: Any) -> dict[str, Any]:
        record = {"kind": kind, "time": _now(), "author": getpass.getuser(), **payload}
        name = f"{time.time_ns():020d}~{secrets.token_hex(3)}.json"
        self.fs.write_atomic(f"projects/{project}/events/{name}", _dumps(record))
        return record

    def events(self, project: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The project's events; a damaged one is set aside (:meth:`set_aside`), the rest read."""
        base = f"projects/{project}/events"
        out = []
        for name in self.fs.listdir(base):
            path = f"{base}/{name}"
            try:
                event = self.read_record(path)
                if not isinstance(event.get("kind", ""), str):
                    raise ValueError(f"kind={event['kind']!r} is not a string")
                float(event.get("time", 0.0))
            except FileNotFoundError:
                continue  # set aside by another reader meanwhile
            except DAMAGE_ERRORS as exc:
                self.set_aside(path, exc)
                continue
            out.append(event)
        return [e for e in out if kind is None or e.get("kind") == kind]

    # ---- claim generations: who starts the claimed experiment ---------------------------------
    def _generation_token(self, project: str, run_id: str, experiment_id: str, generation: int,
                          state: str, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """``states/<experiment>~gen~<generation>.json``, an exclusive create: one of the wrapper's
        start and a gateway's give-back wins for each claim generation."""
        record = {"experiment_id": experiment_id, "state": state, "time": _now(), "generation": generation,
                  **fields}
        path = f"{self.run_dir(project, run_id)}/states/{experiment_id}~gen~{generation:06d}.json"
        return record if self.fs.create_exclusive(path, _dumps(record)) else None

    def start(self, project: str, run_id: str, experiment_id: str, *, generation: int,
              **fields: Any) -> dict[str, Any] | None:
        """The wrapper's ``running`` event for claim ``generation``; None when the claim was given
        back first (:meth:`requeue`), and the script must not start."""
        return self._generation_token(project, run_id, experiment_id, generation, State.RUNNING, fields)

    def requeue(self, project: str, run_id: str, experiment_id: str, *, generation: int,
                **fields: Any) -> dict[str, Any] | None:
        """Give claim ``generation`` back (a ``requeued`` event): None when its wrapper started
        first, and the experiment stays claimed."""
        return self._generation_token(project, run_id, experiment_id, generation, REQUEUED, fields)

    def claim_generation(self, project: str, run_id: str, experiment_id: str) -> int:
        """The newest claim generation of an experiment (0 when never given back, or not claimed)."""
        prefix = f"{experiment_id}~"
        gens = [int(n[len(prefix):-len(".json")]) for n in self.fs.listdir(f"{self.run_dir(project, run_id)}/claims")
                if n.startswith(prefix) and n[len(prefix):-len(".json")].isdigit()]
        return max(gens, default=0)


# ---- metrics parts as CSV: the wrapper's cheap format -----------------------------------------
_CSV_HEADER = ",".join(METRIC_COLUMNS).encode() + b"\r\n"
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _csv_int(column: str, value: Any) -> str:
    if value is None:
        return ""
    n = operator.index(value)
    if not _INT64[0] <= n <= _INT64[1]:
        raise OverflowError(f"metrics part: {column} {n} is outside the 64-bit integers")
    return str(n)


def _csv_float(value: Any) -> str:
    return "" if value is None else repr(float(value))  # repr: nan, inf, -inf and every bit kept


def _csv_text(column: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"metrics part: {column} {value!r} is not a string")
    return value


def encode_metrics_csv(rows: Mapping[str, Sequence[Any]]) -> bytes:
    """Metric points (columns :data:`METRIC_COLUMNS`) as a CSV part: the header, then one line per
    point (``csv`` quoting: names may hold commas, quotes and line breaks; an empty epoch or step
    is null; floats as ``repr``). Needs no pyarrow. Bad values raise here, never when read; a lone
    surrogate in a text (JSON can carry ``"\\ud800"``) is written as ``?``, as UTF-8 has no
    such character, rather than losing the part."""
    columns = [rows[c] for c in METRIC_COLUMNS]
    if len({len(c) for c in columns}) > 1:
        raise ValueError("metrics part: the columns differ in length: "
                         + ", ".join(f"{n} {len(c)}" for n, c in zip(METRIC_COLUMNS, columns, strict=True)))
    out = io.StringIO()
    write = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n").writerow
    for exp_id, kind, epoch, step, t, name, value, source in zip(*columns, strict=True):
        write((_csv_text("experiment_id", exp_id), _csv_text("kind", kind), _csv_int("epoch", epoch),
               _csv_int("step", step), _csv_float(t), _csv_text("name", name), _csv_float(value),
               _csv_text("source", source)))
    return _CSV_HEADER + out.getvalue().encode("utf-8", errors="replace")


def decode_metrics_csv(data: bytes, columns: Sequence[str] = POINT_COLUMNS) -> pa.Table:
    """A CSV part as :meth:`Store.read_metrics_part` returns every part: ``columns`` with the
    types of :func:`metric_schema`, strings dictionary-encoded. ``ValueError`` (Arrow's
    ``ArrowInvalid``) when the file is damaged: another header, a bad row, cut short."""
    import pyarrow.csv as pcsv

    if not data.startswith(_CSV_HEADER):
        raise ValueError(f"not a metrics part: its first line is not {_CSV_HEADER.decode().strip()!r}")
    if not data.endswith(b"\n"):
        raise ValueError("metrics part cut short: its last line has no end")
    schema = metric_schema(METRIC_COLUMNS, dictionary=True)
    convert = pcsv.ConvertOptions(
        column_types={f.name: f.type for f in schema}, include_columns=list(columns),
        null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=False,
    )
    table = pcsv.read_csv(io.BytesIO(data), read_options=pcsv.ReadOptions(use_threads=False),
                          parse_options=pcsv.ParseOptions(newlines_in_values=True), convert_options=convert)
    return table.cast(metric_schema(columns, dictionary=True))
