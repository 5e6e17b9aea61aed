"""The experiment page's header as plain data: what ran, where, for how long, at what cost.

:func:`experiment_header` reads one experiment of a :class:`~workbench_plugin.index.ProjectIndex`
(its run record, folded state and snapshot manifest) and the configuration (the ResourceManager's
address for a link to a YARN application, the resource options' prices); :func:`log_tail` and
:func:`bounded_log` cut a log for showing. No panel imports; the page draws it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.commands import render_command
from workbench_plugin.lifecycle import State
from workbench_plugin.planning import LINEAGE_KEY, shown_interpreter

if TYPE_CHECKING:
    from workbench_plugin.config import Config
    from workbench_plugin.index import ProjectIndex
    from workbench_plugin.resources_config import ResourceOption
    from workbench_plugin.store import Store

__all__ = ["LOG_TAIL_LINES", "MAX_LOG_BYTES", "MAX_SNAPSHOT_FILES", "ExperimentHeader", "LogPart",
           "bounded_log", "duration_of", "experiment_header", "log_tail", "usage_cost"]

#: The lines of stdout/stderr the header shows.
LOG_TAIL_LINES = 20
#: The most of a log the full-log page shows (its end).
MAX_LOG_BYTES = 5 << 20
#: The snapshot files listed (a project of thousands lists its first ones and a count).
MAX_SNAPSHOT_FILES = 200
#: The largest snapshot manifest read (bytes).
_MAX_MANIFEST_BYTES = 16 << 20


class ExperimentHeader(NamedTuple):
    """Everything the header shows. Strings are as recorded (the page escapes them); numbers
    are None when not recorded."""

    experiment_id: str
    label: str
    run_id: str
    project: str
    script: str
    command: str
    params: dict[str, Any]
    snapshot_id: str
    #: ``(path, size in bytes)`` of the snapshot's files, at most :data:`MAX_SNAPSHOT_FILES`
    snapshot_files: tuple[tuple[str, int], ...]
    snapshot_file_count: int
    #: ``(path, size in bytes)`` of the data files referenced (too large to copy), if any
    data_refs: tuple[tuple[str, int], ...]
    data_id: str
    author: str
    created: float
    state: str
    reason: str
    killed_by: str
    engine: str
    engine_id: str
    #: the ResourceManager's page of the YARN application ("" when not on YARN or no RM address)
    engine_link: str
    started: float | None
    duration: float | None
    vcore_seconds: float | None
    mb_seconds: float | None
    #: the money it cost on :attr:`resource` (None: not priced), in :attr:`currency`
    cost: float | None
    currency: str
    resource: str
    cost_basis: str

    @property
    def active(self) -> bool:
        """Queued, submitted or running: it can still be stopped, and its curves grow."""
        return self.state in (State.QUEUED, State.SUBMITTED, State.RUNNING)


class LogPart(NamedTuple):
    """A piece of a log to show: ``text`` and how much of the whole it is."""

    text: str
    shown_lines: int
    total_lines: int
    shown_bytes: int
    total_bytes: int

    @property
    def whole(self) -> bool:
        return self.shown_bytes == self.total_bytes and self.shown_lines == self.total_lines


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok and value >= 0 else None


def duration_of(fields: Mapping[str, Any], now: float | None = None) -> float | None:
    """Wall seconds: the wrapper's ``duration``, else YARN's elapsed time, else end (or ``now``
    while it runs) minus start; None when it never started."""
    for key in ("duration", "yarn_elapsed_s"):
        value = _number(fields.get(key))
        if value:
            return value
    start = _number(fields.get("started")) or _number(fields.get("running_time"))
    end = _number(fields.get("ended")) or now
    if start and end and end >= start:
        return end - start
    return None


def _option_of(config: Config, run_engine: str, lineage: Any) -> ResourceOption | None:
    """The resource option a run was priced on: its lineage's, else the first of the engine's kind."""
    chosen = lineage.get("resource") if isinstance(lineage, dict) else None
    for option in config.resources:
        if option.name == chosen:
            return option
    kind = "yarn" if run_engine == "spark" else "local"
    return next((o for o in config.resources if o.kind == kind), None)


def usage_cost(option: ResourceOption, seconds: float | None, vcore_seconds: float | None,
               mb_seconds: float | None) -> tuple[float | None, str]:
    """What an experiment cost on ``option``, as the new-run page prices one
    (:func:`workbench_plugin.estimates.cost`): recorded vcore- and MB-seconds where known, else
    the option's per-experiment vcores and memory held for ``seconds``; plus the flat hourly
    price. Returns (money or None when nothing is known, how it was counted)."""
    if option.free:
        return 0.0, f"resource option {option.name!r} has no prices"
    if seconds is None and vcore_seconds is None and mb_seconds is None:
        return None, "no duration or usage recorded yet"
    hours = (seconds or 0.0) / 3600
    vcore_hours = vcore_seconds / 3600 if vcore_seconds is not None else option.vcores_per_experiment * hours
    gb_hours = mb_seconds / 1024 / 3600 if mb_seconds is not None else option.memory_mb_per_experiment / 1024 * hours
    money = vcore_hours * option.price_per_vcore_hour + gb_hours * option.price_per_gb_hour \
        + hours * option.price_per_hour
    basis = ("from the recorded usage" if vcore_seconds is not None or mb_seconds is not None
             else f"{option.vcores_per_experiment} vcores and {option.memory_mb_per_experiment} MB "
                  "held for its duration")
    return money, f"on {option.name!r}, {basis}"


def _manifest(store: Store, snapshot_id: str) -> dict[str, Any]:
    path = store.snapshot_archive(snapshot_id).removesuffix(".tar.gz") + ".json"
    try:
        raw = store.fs.read_bytes(path)
        if len(raw) > _MAX_MANIFEST_BYTES:
            return {}
        manifest = json.loads(raw)
    except (OSError, ValueError, HyperTunerError):  # missing, damaged, the store unreachable
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _files(entries: Any, limit: int) -> tuple[tuple[str, int], ...]:
    out: list[tuple[str, int]] = []
    for f in entries if isinstance(entries, list) else []:
        if len(out) >= limit:
            break
        if isinstance(f, dict) and isinstance(f.get("path"), str):
            size = f.get("size")
            out.append((f["path"], int(size) if isinstance(size, int) else 0))
    return tuple(out)


def _yarn_link(engine_id: str, rm_url: str) -> str:
    """The RM's page of the application; with several RMs (``rm1;rm2``) the first's (a standby
    RM's web UI redirects to the active one)."""
    app = engine_id.removeprefix("yarn:")
    rm_url = re.split(r"[;,]", rm_url)[0].strip()
    if not rm_url or not app.startswith("application_") or not app.replace("_", "").isalnum():
        return ""
    return f"{rm_url.rstrip('/')}/cluster/app/{app}"


def experiment_header(index: ProjectIndex, experiment_id: str, *, config: Config | None = None,
                      now: float | None = None) -> ExperimentHeader:
    """The header of ``experiment_id`` as the index has read it (``ExperimentNotFound`` /
    ``RunNotFound`` when it has none such). ``config`` gives the RM link and the prices."""
    entry, exp, state = index.experiment(experiment_id)
    run = entry.run
    fields = state.fields
    manifest = _manifest(index.store, run.snapshot_id)
    files = manifest.get("files")
    engine_id = str(state.engine_id or "")
    seconds = duration_of(fields, now if state.state == State.RUNNING else None)
    vcores, mbs = _number(fields.get("vcore_seconds")), _number(fields.get("memory_mb_seconds"))
    cost: float | None = None
    currency = resource = ""
    basis = "no prices configured"
    if config is not None:
        option = _option_of(config, run.engine, run.extra.get(LINEAGE_KEY))
        if option is not None:
            cost, basis = usage_cost(option, seconds, vcores, mbs)
            currency, resource = option.currency, option.name
    by = fields.get("kill_requested_by") or fields.get("by")
    return ExperimentHeader(
        experiment_id=exp.experiment_id, label=exp.label, run_id=run.run_id, project=run.project,
        script=run.script,
        command=render_command(list(exp.argv), interpreter=shown_interpreter(run.interpreter)),
        params=dict(exp.params), snapshot_id=run.snapshot_id,
        snapshot_files=_files(files, MAX_SNAPSHOT_FILES),
        snapshot_file_count=len(files) if isinstance(files, list) else 0,
        data_refs=_files(manifest.get("data_refs"), MAX_SNAPSHOT_FILES), data_id=run.data_id,
        author=run.author, created=run.created, state=str(state.state),
        reason=str(fields.get("reason") or ""), killed_by=by if isinstance(by, str) else "",
        engine=str(fields.get("engine") or run.engine), engine_id=engine_id,
        engine_link=_yarn_link(engine_id, config.yarn_rm_url if config is not None else ""),
        started=_number(fields.get("started")) or _number(fields.get("running_time")),
        duration=seconds, vcore_seconds=vcores, mb_seconds=mbs, cost=cost, currency=currency,
        resource=resource, cost_basis=basis,
    )


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> LogPart:
    """The last ``lines`` lines of a log."""
    every = text.splitlines()
    shown = "\n".join(every[-lines:]) if lines > 0 else ""
    return LogPart(shown, min(lines, len(every)), len(every), len(shown.encode()), len(text.encode()))


def bounded_log(text: str, max_bytes: int = MAX_LOG_BYTES) -> LogPart:
    """The whole log, or its last ``max_bytes`` bytes (from a line start) when it is longer."""
    raw = text.encode()
    total_lines = len(text.splitlines())
    if len(raw) <= max_bytes:
        return LogPart(text, total_lines, total_lines, len(raw), len(raw))
    cut = raw[-max_bytes:]
    newline = cut.find(b"\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1:]
    shown = cut.decode(errors="replace")
    return LogPart(shown, len(shown.splitlines()), total_lines, len(cut), len(raw))
