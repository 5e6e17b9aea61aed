"""The ``hypertuner`` command line.

Expected errors print one line (``hypertuner: error: ...``) and exit with code 2; a traceback
means a bug. ``run`` exits 0 when every experiment succeeded and 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from workbench_plugin import _patterns_cli, _plan_cli, batch
from workbench_plugin._argparse import OneLineParser as _Parser
from workbench_plugin._exceptions import ConfigError, HyperTunerError, ProjectNotFound, SpecError
from workbench_plugin._table import fmt, format_table, progress_line
from workbench_plugin.config import Config, is_loopback, load_config
from workbench_plugin.index import ProjectIndex
from workbench_plugin.lifecycle import State
from workbench_plugin.plugins import load_engine, load_gateway
from workbench_plugin.project import PROJECT_FILE, ProjectSettings, find_project, write_project_file
from workbench_plugin.store import Store

if TYPE_CHECKING:
    from engines.base import Engine, Resources
    from workbench_plugin.planning import Plan

__all__ = ["experiment_url", "main"]


def _one_line(message: str) -> str:
    """``message`` with line breaks and other control characters escaped: a user's argument may hold them."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)


class _ArgParser(_Parser):
    def error(self, message: str) -> NoReturn:
        super().error(_one_line(message))


def _build_parser() -> argparse.ArgumentParser:
    ap = _ArgParser(prog="hypertuner", description="Visual, human-in-the-loop hyperparameter tuning.")
    ap.add_argument("--store", help="store folder or URL (default: config store.url)")
    ap.add_argument("--config", help="a TOML config file (default: $HYPERTUNER_CONFIG)")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_ArgParser)

    p = sub.add_parser("init", help="make a folder a HyperTuner project")
    p.add_argument("folder", nargs="?", default=".")
    p.add_argument("--script", required=True, help="the training script, relative to the folder")
    p.add_argument("--name", help="project name (default: the folder's name)")
    p.add_argument("--flag-style", default="space",
                   help="'space' (--lr 0.1), 'equals' (--lr=0.1) or a template like '{bs} {epochs}'")
    p.add_argument("--check", action="store_true",
                   help="then run the script once and say which metrics its output gives")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="with --check: stop the script after this many seconds (default 60)")
    p.add_argument("--interpreter", default="",
                   help="the Python that runs the script, as a path (e.g. /opt/envs/torch/bin/python): its "
                        "environment must have the packages the script imports, on every machine that runs "
                        "experiments; written to hypertuner.toml (default: empty, the Python running hypertuner)")

    p = sub.add_parser("patterns", help="which metrics the stdout rules read from the script's output; "
                       "propose a pattern for a line they miss")
    _patterns_cli.add_arguments(p)

    p = sub.add_parser("flags", help="the flags the training script accepts (read from it, else from its --help)")
    p.add_argument("--project", help="project folder (default: the current folder)")
    p.add_argument("--json", action="store_true", help="print every detail as JSON")

    for name, text in (("plan", "preview a batch"), ("run", "launch a batch")):
        _plan_cli.add_arguments(sub.add_parser(name, help=text), name)

    p = sub.add_parser("status", help="runs of the project, or the experiments of one run")
    p.add_argument("run", nargs="?")
    p.add_argument("--project")

    p = sub.add_parser("show", help="one experiment in detail")
    p.add_argument("experiment")
    p.add_argument("--project")
    p.add_argument("--log", action="store_true", help="print the whole stdout log")

    p = sub.add_parser("kill", help="kill an experiment or every experiment of a run")
    p.add_argument("target", help="experiment id or run id (a unique prefix is enough)")
    p.add_argument("--project")

    p = sub.add_parser("serve", help="serve the dashboard and run queued experiments")
    p.add_argument("--project")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--no-gateway", action="store_true", help="dashboard only")

    sub.add_parser("hash-password", help="read a password (twice; or one line from stdin) and print "
                   "its salted hash for server.password_hash")

    p = sub.add_parser("gateway", help="submit queued experiments and keep states true")
    p.add_argument("--until-idle", action="store_true", help="stop when nothing is queued or running")

    p = sub.add_parser("submit", help="launch a batch from a spec file and wait (for cron, Oozie, Airflow)")
    batch.add_submit_arguments(p)

    p = sub.add_parser("compact", help="compact runs: a few Parquet files a page opens in seconds "
                       "(the parts stay; a no-op when nothing is new)")
    p.add_argument("runs", nargs="*", help="run ids (unique prefixes); none: every run of the project")
    p.add_argument("--project")

    p = sub.add_parser("resources", help="capacity and free resources of the configured engine")

    p = sub.add_parser("demo", help="create the digits demo, run its first batch, serve the dashboard")
    p.add_argument("--folder", default=str(Path.home() / "hypertuner-demo"))
    p.add_argument("--no-serve", action="store_true", help="stop after the first batch")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    return ap


# ---- shared helpers ------------------------------------------------------------------------
class _Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        config = load_config(path=args.config)
        if args.store:
            config = config.with_(store_url=args.store)
        self.config: Config = config
        self.store: Store = batch.open_store(config)

    def settings(self) -> ProjectSettings:
        return find_project(getattr(self.args, "project", None))

    def index(self, settings: ProjectSettings | None = None) -> ProjectIndex:
        return batch.open_index(self.store, settings or self.settings())

    def engine(self) -> Engine:
        return load_engine(self.config, self.store)


def _prepare(ctx: _Context, args: argparse.Namespace) -> _plan_cli.Prepared:
    return _plan_cli.prepare(ctx.config, ctx.store, ctx.settings(), args)


def _interpreter_note(plan: Plan) -> str:
    if plan.settings.run_interpreter:
        return ""
    return (f"interpreter: python is the Python running hypertuner ({_one_line(sys.executable)}); "
            "set interpreter in hypertuner.toml to choose another")


def _image_note(ctx: _Context, plan: Plan) -> str:
    """``image: env-<id> built, 64 MB`` or ``image: must be built from ...`` when a launch on YARN
    would use a build image (:mod:`workbench_plugin.build_image`); else nothing."""
    from workbench_plugin.build_image import BuildImageError, image_environment, image_note

    config = ctx.config
    if (config.engine != "spark" or config.spark_master != "yarn" or config.spark_docker_image
            or ctx.store.fs.hdfs_path("images") is None):
        return ""
    try:
        environment = image_environment(config.spark_image, plan.settings.run_interpreter,
                                        config.spark_python or sys.executable)
        return image_note(ctx.store, environment) if environment else ""
    except BuildImageError as exc:
        return f"image: {exc}"


def _print_left_out(plan: Plan, stream: Any) -> None:
    """The symbolic links the snapshot did not follow, one line each."""
    left = plan.snapshot.left_out
    if left:
        print(f"left out of the snapshot: {len(left)} link{'s' if len(left) != 1 else ''}", file=stream)
        for link in left:
            path, target = (str(link[k]).encode("unicode_escape").decode() for k in ("path", "target"))
            print(f"  {path} -> {target} ({link['why']})", file=stream)


# ---- commands --------------------------------------------------------------------------------
def cmd_init(ctx: _Context, args: argparse.Namespace) -> int:
    """All or nothing: ``hypertuner.toml`` appears only once the store has the project. A
    ``hypertuner.toml`` whose project the store lacks (left by an older version) is registered."""
    folder = Path(args.folder).resolve()
    if (folder / PROJECT_FILE).is_file():
        settings = find_project(folder)
        if _registered(ctx.store, settings):
            raise SpecError(f"project: {str(folder / PROJECT_FILE)!r} already exists; edit it instead")
        ctx.store.create_project(settings.name, settings.root)
        print(f"project {settings.name} in {folder}: registered the existing {PROJECT_FILE} (store {ctx.store.url})")
        return 0

    def register(settings: ProjectSettings) -> None:
        if not _registered(ctx.store, settings):
            ctx.store.create_project(settings.name, settings.root)

    if args.check and not (math.isfinite(args.timeout) and args.timeout > 0):  # before anything is written
        raise SpecError(f"--timeout: {args.timeout:g} is not a time limit; give seconds greater than 0, as in 60")
    settings = write_project_file(folder, name=args.name or folder.name, script=args.script,
                                  flag_style=args.flag_style, interpreter=args.interpreter, register=register)
    print(f"project {settings.name} in {folder} (store {ctx.store.url})", flush=True)
    if args.check:
        _patterns_cli.check_project(settings, args.timeout)
    return 0


def _registered(store: Store, settings: ProjectSettings) -> bool:
    """Whether the store has this project already; a same-named project of another folder is an error."""
    try:
        known = store.project(settings.name)
    except ProjectNotFound:
        return False
    if known.path and Path(known.path).resolve() != Path(settings.root).resolve():  # "": rebuilt, unknown
        raise SpecError(f"project name: {settings.name!r} is already used in store {store.url!r} by "
                        f"{known.path!r}; choose another with --name")
    return True


def cmd_plan(ctx: _Context, args: argparse.Namespace) -> int:
    prepared = _prepare(ctx, args)
    if args.json:
        print(json.dumps(_plan_cli.listing_json(prepared), indent=1))
        _print_left_out(prepared.plan, sys.stderr)  # stdout stays JSON
    else:
        notes = [_interpreter_note(prepared.plan), _image_note(ctx, prepared.plan)]
        _plan_cli.print_listing(prepared, "\n".join(n for n in notes if n))
        _print_left_out(prepared.plan, sys.stdout)
    return 0


def cmd_run(ctx: _Context, args: argparse.Namespace) -> int:
    prepared = _prepare(ctx, args)
    plan, index = prepared.plan, prepared.index
    run, experiments = _plan_cli.launch_prepared(ctx.config, ctx.store, prepared, note=args.note,
                                                 packing=getattr(args, "packing", None),
                                                 conf=getattr(args, "conf", None) or ())
    chosen = len(prepared.skip)
    redundant = len(plan.experiments) - len(experiments) - chosen
    left = ", ".join([*([f"{redundant} redundant skipped"] if redundant else []),
                      *([f"{chosen} skipped (rows {','.join(str(i + 1) for i in prepared.skip)})"] if chosen else [])])
    if not experiments:
        print(f"nothing to run: all {len(plan.experiments)} experiments left out ({left})")
        return 0
    print(f"run {run.run_id}: {len(experiments)} experiments queued" + (f", {left}" if left else ""))
    if args.detach:
        _spawn_gateway(ctx, Path(plan.settings.root))
        print(f"detached; follow with 'hypertuner status {run.run_id}'")
        return 0
    index.refresh()
    return batch.wait_for_run(ctx.config, ctx.store, index, run.run_id)


def cmd_submit(ctx: _Context, args: argparse.Namespace) -> int:
    """``run --spec FILE --skip-redundant``, waiting, with an exit code for schedulers:
    0 all succeeded (or nothing to run), 1 some did not, 2 bad input, 124 timed out."""
    return batch.submit_from_args(ctx.config, args, store=ctx.store)


def cmd_resources(ctx: _Context, args: argparse.Namespace) -> int:
    print(_format_resources(load_engine(ctx.config, ctx.store, submitting=False).resources()))
    return 0


def _format_resources(res: Resources) -> str:
    if res.cluster is not None:
        cluster = res.cluster
        lines = [f"YARN at {res.where}: {cluster.active_nodes} active nodes",
                 f"  memory  {cluster.available_mb / 1024:8.1f} GiB free of {cluster.total_mb / 1024:.1f} GiB",
                 f"  vcores  {cluster.available_vcores:8d} free of {cluster.total_vcores}",
                 f"  apps    {cluster.apps_running:8d} running, {cluster.apps_pending} pending"]
        rows = [{"queue": q.name, "capacity %": q.capacity_percent, "used %": q.used_percent,
                 "max %": q.max_capacity_percent, "running": q.running_apps, "pending": q.pending_apps}
                for q in cluster.queues]
        if rows:
            lines.append(format_table(rows, list(rows[0])))
        lines += [f"  {note}" for note in res.notes]
        return "\n".join(lines)
    memory = "unknown" if res.memory_gib is None else \
        f"{res.memory_gib[0]:.1f} GiB available of {res.memory_gib[1]:.1f} GiB"
    return f"{res.engine} engine on {res.where}: {res.cores} cores, memory {memory}; {res.slots} slots"


def _spawn_gateway(ctx: _Context, folder: Path) -> None:
    logdir = folder / ".hypertuner"
    logdir.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "workbench_plugin.cli", "--store", ctx.store.url]
    if ctx.args.config:
        cmd += ["--config", ctx.args.config]
    with open(logdir / "gateway.log", "ab") as log:
        subprocess.Popen([*cmd, "gateway", "--until-idle"], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=log, start_new_session=True)


def cmd_flags(ctx: _Context, args: argparse.Namespace) -> int:
    """The script's flags, as found for the project's current snapshot (stored with it)."""
    from workbench_plugin.flags import as_mapping, one_line
    from workbench_plugin.snapshot import create_snapshot, snapshot_flags

    settings = ctx.settings()
    snapshot = create_snapshot(ctx.store, settings.root, max_file_bytes=int(ctx.config.max_file_mb * 1024 * 1024),
                               exclude=(ctx.config.store_path,))
    flags = snapshot_flags(ctx.store, snapshot, settings.root, settings.script, settings.run_interpreter)
    script = one_line(settings.script, 80)
    if args.json:
        print(json.dumps({"script": settings.script, "snapshot_id": snapshot.snapshot_id, "source": flags.source,
                          "reason": flags.reason, "accepts_unknown": flags.accepts_unknown, "notes": list(flags.notes),
                          "flags": [as_mapping(f) for f in flags.flags]}, indent=1))
        return 0
    if not flags.known:
        print(f"the flags of {script} are not known: {flags.reason}")
        return 0
    how = "read from the script" if flags.source == "ast" else "from its --help"
    extra = "; it uses parse_known_args, so it also takes flags it does not declare" if flags.accepts_unknown else ""
    notes = "".join(f"; {one_line(n, 80)}" for n in flags.notes)
    print(f"{script}: {len(flags.flags)} flags ({how}){extra}{notes}")
    rows = [{"flag": one_line(", ".join(f.option_strings) or f"{f.dest} (positional)", 40),
             "type": "switch" if f.is_switch else f.type,
             "default": one_line("?" if not f.default_known else "-" if f.default is None
                                 else json.dumps(f.default), 24),
             "choices": one_line(",".join(map(str, f.choices)), 30) if f.choices is not None else "",
             "help": one_line(" ".join(f.help.split()), 60)} for f in flags.flags]
    if rows:
        print(format_table(rows, ["flag", "type", "default", "choices", "help"], max_width=60))
    return 0


def cmd_status(ctx: _Context, args: argparse.Namespace) -> int:
    index = ctx.index()
    if args.run:
        entries = {e.run.run_id: e for e, _, _ in index.resolve(args.run)}
        for entry in entries.values():
            frames = index.frames(entry.run.run_id)
            cols = ["experiment_id", "state", *frames.hparams, *frames.metrics[:4]]
            print(f"run {entry.run.run_id}  {progress_line(entry.progress())}")
            print(format_table(frames.experiments.to_dict("records"), cols))
        return 0
    rows = []
    for run_id, entry in index.runs.items():
        counts, progress = entry.counts(), entry.progress()
        rows.append({"run": run_id, "experiments": len(entry.experiments), "queued": progress.queued,
                     "running": progress.running, "succeeded": progress.succeeded,
                     **{str(s): counts[s] for s in (State.FAILED, State.KILLED, State.LOST)},
                     "note": entry.run.note})
    if not rows:
        print(f"project {index.project}: no runs yet; try 'hypertuner plan NAME=VALUES'")
        return 0
    print(format_table(rows, list(rows[0])))
    return 0


def cmd_show(ctx: _Context, args: argparse.Namespace) -> int:
    from workbench_plugin.commands import render_command
    from workbench_plugin.planning import shown_interpreter

    index = ctx.index()
    matches = index.resolve(args.experiment)
    if len(matches) != 1:
        raise SpecError(f"experiment: {args.experiment!r} names a run; give one experiment id")
    entry, exp, state = matches[0]
    frames = index.frames(entry.run.run_id)
    row = frames.experiments.set_index("experiment_id").loc[exp.experiment_id]
    print(f"experiment {exp.experiment_id} ({exp.label} of run {entry.run.run_id})")
    print(f"  page        {experiment_url(ctx.config, exp.experiment_id)}")
    print(f"  state       {state.state}" + (f" - {state.get('reason')}" if state.get("reason") else ""))
    print(f"  command     {render_command(exp.argv, interpreter=shown_interpreter(entry.run.interpreter))}")
    print(f"  snapshot    {entry.run.snapshot_id}")
    for key, value in entry.run.spark_conf.items():  # the resource option's and --conf's, as recorded
        print(f"  spark       {key} = {value}")
    for key in ("engine_id", "host", "exit_code", "duration", "cpu_seconds", "max_rss_mb"):
        if state.get(key) is not None:
            print(f"  {key:<11} {fmt(state.get(key))}")
    for name, value in exp.params.items():
        print(f"  param       {name} = {fmt(value)}")
    for name in frames.metrics:
        print(f"  metric      {name} = {fmt(row[name])}")
    arts = ctx.store.artifacts(entry.run.project, entry.run.run_id, exp.experiment_id)
    if arts:
        print(f"  artifacts   {', '.join(arts)}")
    log = ctx.store.read_log(entry.run.project, entry.run.run_id, exp.experiment_id, "stdout")
    lines = log.splitlines()
    shown = lines if args.log else lines[-10:]
    if shown:
        print(f"  stdout ({'all' if len(shown) == len(lines) else f'last {len(shown)}'} of {len(lines)} lines):")
        for line in shown:
            print(f"    {line}")
    err = ctx.store.read_log(entry.run.project, entry.run.run_id, exp.experiment_id, "stderr")
    if err.strip() and state.state == State.FAILED:
        print("  stderr (last 10 lines):")
        for line in err.splitlines()[-10:]:
            print(f"    {line}")
    return 0


def experiment_url(config: Config, experiment_id: str) -> str:
    """The address of an experiment's page on the dashboard the config serves."""
    from urllib.parse import quote

    return f"http://{config.host}:{config.port}/?experiment={quote(experiment_id, safe='')}"


def cmd_kill(ctx: _Context, args: argparse.Namespace) -> int:
    import getpass

    from gateway.control import kill

    # recorded as asked by the account that ran the command (as a run records its author)
    results = kill(ctx.index(), ctx.engine(), args.target, by=getpass.getuser())
    for r in results:
        change = f"{r.before} -> {r.after}" if r.before != r.after else f"already {r.after}"
        print(f"{r.experiment_id}: {change}")
    return 0


def cmd_gateway(ctx: _Context, args: argparse.Namespace) -> int:
    gateway = load_gateway(ctx.store, ctx.engine(), log=lambda m: print(m, flush=True), **ctx.config.compaction_options)
    print(f"gateway on {ctx.store.url} ({ctx.config.engine}, {ctx.config.effective_slots} slots)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        gateway.serve(until_idle=args.until_idle)
    return 0


def _server_address(ctx: _Context, args: argparse.Namespace) -> tuple[str, int]:
    host = args.host or ctx.config.host
    port = ctx.config.port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise ConfigError(f"server.port: {port} is not a TCP port; use 1-65535 (0 picks a free one)")
    if not is_loopback(host) and not ctx.config.login_required:
        raise ConfigError(
            f"server.host: {host!r} is not a loopback address; set a password hash "
            "(`hypertuner hash-password`, then server.password_hash or HYPERTUNER_PASSWORD_HASH) "
            "to serve it beyond this machine"
        )
    return host, port


def cmd_serve(ctx: _Context, args: argparse.Namespace, settings: ProjectSettings | None = None) -> int:
    import faulthandler
    import signal

    from panel_app.server import serve_dashboard

    # `kill -USR1 PID` prints every thread's stack to the process's real stderr
    if sys.__stderr__ is not None:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            faulthandler.register(signal.SIGUSR1, file=sys.__stderr__)

    settings = settings or ctx.settings()
    host, port = _server_address(ctx, args)
    ctx.store.project(settings.name)
    gateway = None
    if not getattr(args, "no_gateway", False):
        gateway = load_gateway(ctx.store, ctx.engine(), **ctx.config.compaction_options)
    login = ctx.config.login() if ctx.config.login_required else None
    if login is not None:
        print(f"dashboard login: user {login[0]!r} (server.user)", flush=True)
    serve_dashboard(ctx.store, settings.name, host=host, port=port, login=login, gateway=gateway,
                    config=ctx.config, settings=settings)
    return 0


def cmd_hash_password(stdin: Any = None) -> int:
    """Print the salted hash of a password read from the terminal (asked twice) or stdin."""
    import getpass

    from workbench_plugin.config import hash_password

    stdin = sys.stdin if stdin is None else stdin
    if stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("password: the two entries differ; run hash-password again")
    else:
        password = stdin.readline().rstrip("\r\n")
    print(f'password_hash = "{hash_password(password)}"')
    return 0


def cmd_demo(ctx: _Context, args: argparse.Namespace) -> int:
    """The digits demo: its first batch, a change to the project, a second batch (so that a next
    batch from locks meets redundant and similar experiments), then the dashboard. Run again, it
    finds both runs and runs nothing."""
    from workbench_plugin.demo import DEMO_SECOND_VALUES, DEMO_VALUES, prepare_demo, touch_project

    host, port = _server_address(ctx, args)
    settings = prepare_demo(ctx.store, Path(args.folder))
    print(f"demo project {settings.name} in {settings.root} (store {ctx.store.url})")
    os.chdir(settings.root)
    runs = len(batch.open_index(ctx.store, settings).runs)
    rc = 0
    batches = [(DEMO_VALUES, "demo: first batch"), (DEMO_SECOND_VALUES, "demo: second batch, after NOTES.md")]
    if runs >= len(batches):
        print(f"the demo's {len(batches)} runs are there already; nothing to run")
    for values, note in batches[runs:]:
        if values is DEMO_SECOND_VALUES and touch_project(Path(settings.root)):
            print("wrote NOTES.md: the project changed, so the second batch runs from a new snapshot")
        run_args = _build_parser().parse_args(["run", *values, "--project", settings.root, "--skip-redundant",
                                               "--note", note])
        rc = cmd_run(ctx, run_args) or rc
    if args.no_serve:
        return rc
    return cmd_serve(ctx, argparse.Namespace(host=host, port=port, no_gateway=False), settings)


def cmd_compact(ctx: _Context, args: argparse.Namespace) -> int:
    from workbench_plugin.compaction import compact_run

    index = ctx.index()
    runs = list(dict.fromkeys(e.run.run_id for ident in args.runs for e, _, _ in index.resolve(ident))) \
        if args.runs else list(index.runs)
    if not runs:
        print(f"project {index.project}: no runs yet")
    for run_id in runs:
        print(compact_run(ctx.store, index.project, run_id).line(), flush=True)
    return 0


COMMANDS = {
    "init": cmd_init, "plan": cmd_plan, "run": cmd_run, "status": cmd_status, "show": cmd_show,
    "kill": cmd_kill, "serve": cmd_serve, "gateway": cmd_gateway, "demo": cmd_demo,
    "submit": cmd_submit, "resources": cmd_resources, "flags": cmd_flags, "compact": cmd_compact,
}


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "hash-password":  # needs no config or store
            return cmd_hash_password()
        if args.command == "patterns":  # nor does this
            return _patterns_cli.cmd_patterns(args)
        ctx = _Context(args)
        return COMMANDS[args.command](ctx, args)
    except HyperTunerError as exc:
        print(f"hypertuner: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
