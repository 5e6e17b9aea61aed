"""A batch from a spec, start to end: plan it, queue it, run a gateway until it is done.

What ``hypertuner run``/``submit`` and ``spark_jobs/launch_batch.py`` (a gateway shell's
``spark-submit``) share. The engine and the gateway are looked up by name
(:mod:`workbench_plugin.plugins`), so this core module imports neither.

Exit codes of :func:`submit_batch` and :func:`main`, for schedulers (cron, Oozie, Airflow):
0 every experiment succeeded (or nothing to run), 1 some did not, 2 bad input (``main``: a
:class:`HyperTunerError` in one line), 124 not done before the timeout, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

from workbench_plugin._argparse import OneLineParser
from workbench_plugin._exceptions import HyperTunerError, StoreError
from workbench_plugin._table import progress_line
from workbench_plugin.config import Config, load_config
from workbench_plugin.fs import filesystem_for
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import State
from workbench_plugin.plugins import load_engine, load_gateway
from workbench_plugin.project import ProjectSettings, find_project
from workbench_plugin.store import Store

if TYPE_CHECKING:
    from gateway.gateway import StepReport
    from workbench_plugin.flags import FlagSet
    from workbench_plugin.planning import Plan
    from workbench_plugin.space import SearchSpec, Value

#: Proposed rows for a checked spec: ``(spec, the script's flags, the project's index) -> rows``.
RowsFrom: TypeAlias = "Callable[[SearchSpec, FlagSet | None, ProjectIndex], Sequence[Mapping[str, Value]]]"

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_ALL_SUCCEEDED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "add_submit_arguments",
    "main",
    "open_index",
    "open_store",
    "plan_batch",
    "submit_batch",
    "submit_from_args",
    "wait_for_run",
]

EXIT_OK = 0
EXIT_NOT_ALL_SUCCEEDED = 1
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130


def open_store(config: Config) -> Store:
    """The configured store, reaching HDFS with the configured settings."""
    return Store(config.store_path, filesystem_for(config.store_path, config.hdfs))


def open_index(store: Store, settings: ProjectSettings) -> ProjectIndex:
    store.project(settings.name)  # ProjectNotFound with a hint
    index = ProjectIndex(store, settings.name)
    index.refresh()
    return index


def plan_batch(config: Config, store: Store, settings: ProjectSettings, spec: SearchSpec, *,
               rows_from: RowsFrom | None = None) -> tuple[Plan, ProjectIndex]:
    """The plan of ``spec`` for the project: snapshot taken, names and values checked against the
    script's flags (found once per snapshot; a one-line warning on stderr when they are not known),
    experiments flagged against history. With ``rows_from`` (proposals), the plan's rows are what it
    returns for the checked spec (the script's spelling of each flag), its flags and the index,
    instead of the spec's grid: the spec's ranges are then the domains proposals are drawn from."""
    from workbench_plugin.flag_check import check_spec
    from workbench_plugin.planning import make_plan
    from workbench_plugin.snapshot import create_snapshot, snapshot_flags

    if rows_from is None:
        spec.expand(max_batch=config.max_batch)  # refuse oversize batches before any work
    index = open_index(store, settings)
    snapshot = create_snapshot(
        store, settings.root, max_file_bytes=int(config.max_file_mb * 1024 * 1024),
        exclude=(config.store_path,),
    )
    flags = snapshot_flags(store, snapshot, settings.root, settings.script, settings.run_interpreter)
    checked = check_spec(spec, flags, settings.flag_style, script=settings.script)  # SpecError: nothing queued
    for warning in checked.warnings:
        print(f"hypertuner: warning: {warning}", file=sys.stderr, flush=True)
    rows = rows_from(checked.spec, flags, index) if rows_from is not None else None
    plan = make_plan(settings, checked.spec, snapshot, index, max_batch=config.max_batch, options=checked.options,
                     flags=flags, warnings=checked.warnings, rows=rows)
    return plan, index


def wait_for_run(config: Config, store: Store, index: ProjectIndex, run_id: str, timeout: float = 0.0) -> int:
    """Run an in-process gateway until the run is done, with a progress line; the exit code."""
    entry = index.entry(run_id)
    outage = [""]

    def log(message: str) -> None:  # cluster or store unreachable: say so once per outage
        if message != outage[0]:
            print(f"\nhypertuner: {message}", file=sys.stderr, flush=True)
            outage[0] = message

    gateway = load_gateway(store, load_engine(config, store), log=log, **config.compaction_options)
    deadline = time.monotonic() + timeout if timeout else None
    timed_out = [False]
    stop = threading.Event()
    tty = sys.stdout.isatty()
    last = [""]

    def show(_report: StepReport) -> None:
        index.refresh()
        line = progress_line(entry.progress())
        if line != last[0]:
            print(("\r" + line) if tty else line, end="" if tty else "\n", flush=True)
            last[0] = line
        if entry.done and not entry.awaiting_usage():
            stop.set()
        if deadline is not None and time.monotonic() > deadline:
            timed_out[0] = True
            stop.set()

    try:
        gateway.serve(stop, on_step=show)
    except KeyboardInterrupt:
        print(f"\nstopped waiting; experiments already started keep running. "
              f"'hypertuner gateway' or 'hypertuner serve' runs the rest of run {run_id}.")
        return EXIT_INTERRUPTED
    if tty:
        print()
    counts = entry.counts()
    if timed_out[0]:
        print(f"run {run_id}: not done after {timeout:g} s: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
              + "; experiments already started keep running", file=sys.stderr)
        return EXIT_TIMEOUT
    print(f"run {run_id}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    if config.compaction_on_end:  # the run ended: a page opens it from a few files from now on
        from workbench_plugin.compaction import compact_run

        try:
            compact_run(store, entry.run.project, run_id)
        except (StoreError, OSError) as exc:
            print(f"hypertuner: compact {run_id}: {exc}; 'hypertuner compact {run_id}' tries again",
                  file=sys.stderr)
    return EXIT_OK if counts[State.SUCCEEDED] == len(entry.experiments) else EXIT_NOT_ALL_SUCCEEDED


def submit_batch(
    config: Config, spec_path: str, project_dir: str | None = None, *, timeout: float = 0.0, note: str = "",
    packing: str | None = None, rerun_redundant: bool = False, store: Store | None = None,
    resource: str | None = None, conf: Sequence[str] = (),
) -> int:
    """Plan the spec file's batch, queue what did not run yet with this snapshot, and wait.

    Bad input raises :class:`HyperTunerError` before anything is queued (:func:`main` turns it
    into one line and exit code 2).
    """
    from workbench_plugin.planning import launch
    from workbench_plugin.space import SearchSpec
    from workbench_plugin.spark_settings import parse_conf_args

    option = config.resource(resource) if resource else None  # bad input: refused before anything runs
    spark_conf = {**(option.spark_conf() if option else {}), **parse_conf_args(conf)}
    store = store or open_store(config)
    settings = find_project(project_dir)
    plan, index = plan_batch(config, store, settings, SearchSpec.from_any(spec_path))
    run, experiments = launch(store, plan, engine=config.engine, skip_redundant=not rerun_redundant,
                              note=note or f"submitted from {spec_path}", packing=packing or config.packing,
                              spark_conf=spark_conf, max_running=option.max_running if option else 0,
                              origin=None if option is None else {
                                  "resource": option.name,
                                  **({"queue": option.queue or "default"} if option.kind == "yarn" else {})})
    skipped = len(plan.experiments) - len(experiments)
    if not experiments:
        print(f"nothing to run: all {skipped} experiments already ran")
        return EXIT_OK
    print(f"run {run.run_id}: {len(experiments)} experiments queued" + (f", {skipped} redundant skipped" if skipped
                                                                         else ""), flush=True)
    index.refresh()
    return wait_for_run(config, store, index, run.run_id, timeout=timeout)


def add_submit_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``hypertuner submit`` (and of ``spark_jobs/launch_batch.py``)."""
    p.add_argument("--spec", required=True, help="a .toml or .json file with the values")
    p.add_argument("--project", help="project folder (default: the current folder)")
    p.add_argument("--note", default="", help="a note kept with the run")
    p.add_argument("--packing", choices=["none", "tasks"], help="as for 'run'")
    p.add_argument("--resource", metavar="NAME", help="the resource option to run on (config [resources.NAME])")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark setting for this batch's applications, as for 'run' (repeatable)")
    p.add_argument("--rerun-redundant", action="store_true",
                   help="also run experiments that already ran with the same snapshot")
    p.add_argument("--timeout", type=float, default=0.0,
                   help="give up waiting after this many seconds (exit 124); experiments keep running")


def submit_from_args(config: Config, args: argparse.Namespace, store: Store | None = None) -> int:
    return submit_batch(config, args.spec, args.project, timeout=args.timeout, note=args.note, packing=args.packing,
                        rerun_redundant=args.rerun_redundant, store=store, resource=getattr(args, "resource", None),
                        conf=getattr(args, "conf", None) or ())


def main(argv: Sequence[str] | None = None, *, prog: str = "hypertuner submit") -> int:
    """``hypertuner submit`` without the rest of the CLI; the config from the environment."""
    ap = OneLineParser(prog=prog, description="Launch a batch from a spec file and wait.")
    add_submit_arguments(ap)
    args = ap.parse_args(argv)
    try:
        return submit_from_args(load_config(), args)
    except HyperTunerError as exc:
        print(f"hypertuner: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
