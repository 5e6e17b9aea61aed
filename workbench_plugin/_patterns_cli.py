"""``hypertuner patterns`` and ``init --check``: what the stdout rules capture from a script's
output, and a pattern proposed for a line they miss. The computations live in
:mod:`workbench_plugin.pattern_check`; this module reads the output and prints."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import IO, Any

from workbench_plugin._exceptions import ProjectNotFound, SpecError
from workbench_plugin._table import fmt, format_table
from workbench_plugin.flags import flags_from_source
from workbench_plugin.pattern_check import (
    CheckReport,
    LineResult,
    OutputLine,
    Proposal,
    check_lines,
    count_caught,
    printable,
    propose_pattern,
    report_data,
)
from workbench_plugin.project import ProjectSettings, add_stdout_pattern, find_project
from workbench_plugin.script_output import MAX_BYTES, MAX_LINES, Output, read_output, run_script

__all__ = ["add_arguments", "cmd_patterns", "check_project"]

DEFAULT_TIMEOUT = 60.0
_TEXT_WIDTH = 110


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("script_args", nargs="*", metavar="-- ARGS",
                   help="extra arguments for the script, after '--' (e.g. -- --epochs 1)")
    p.add_argument("--project", help="project folder (default: the current folder)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"stop the script after this many seconds (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--log", help="read this log instead of running the script ('-': stdin)")
    p.add_argument("--line", type=int, action="append", default=[], metavar="N",
                   help="propose a pattern for line N of the output (repeatable)")
    p.add_argument("--explain", action="append", default=[], metavar="TEXT",
                   help="propose a pattern for this line of text (repeatable)")
    p.add_argument("--percent", action="store_true", help="also capture percentages such as (98%%)")
    p.add_argument("--add", action="store_true", help="append the proposed pattern to hypertuner.toml")
    p.add_argument("--all", action="store_true", help="show every line, not only those that give points")
    p.add_argument("--json", action="store_true", help="print plain data as JSON")


# ---- reading the output -------------------------------------------------------------------------
def _project(args: argparse.Namespace, *, required: bool) -> ProjectSettings | None:
    try:
        return find_project(args.project)
    except ProjectNotFound:
        if required or args.project:
            raise
        return None


def _run(settings: ProjectSettings, extra: list[str], timeout: float) -> Output:
    if not math.isfinite(timeout) or timeout <= 0:
        raise SpecError(f"--timeout: {timeout:g} is not a time limit; give seconds greater than 0, as in 60")
    argv = [settings.python, settings.script, *extra]
    return run_script(argv, cwd=settings.root, timeout=timeout, env=dict(os.environ))


def _read_log(name: str, stdin: IO[bytes] | None = None) -> Output:
    if name == "-":
        return read_output(stdin if stdin is not None else sys.stdin.buffer)
    try:
        with open(name, "rb") as fh:
            return read_output(fh)
    except IsADirectoryError:
        raise SpecError(f"--log: {name!r} is a folder; give a log file, or '-' for stdin") from None
    except OSError as exc:
        raise SpecError(f"--log: {name!r} cannot be read ({exc.strerror or exc}); check the path") from None


def _source_line(args: argparse.Namespace, settings: ProjectSettings | None, output: Output) -> str:
    if args.log:
        what = "stdin" if args.log == "-" else repr(args.log)
        text = f"read {what}"
    else:
        assert settings is not None
        shown = " ".join(printable(a, 60) for a in [Path(settings.python).name, settings.script, *args.script_args])
        text = f"ran {shown} in {printable(settings.root, 200)}"
        if output.timed_out:
            text += f": stopped after {args.timeout:g} s (the time limit; --timeout to change it)"
        elif output.exit_code is not None:
            text += f": exit code {output.exit_code} after {output.seconds:.1f} s"
    if output.cut:
        text += f"; stopped at {MAX_LINES:,} lines or {MAX_BYTES // 2**20} MB of output"
    return text


# ---- printing ------------------------------------------------------------------------------------------
def _caught(result: LineResult) -> str:
    parts = []
    for point in result.points:
        where = f"epoch {point.epoch}" if point.epoch is not None else f"step {point.step}"
        metrics = " ".join(f"{printable(k, 40)}={fmt(v)}" for k, v in point.metrics.items())
        parts.append(f"{where}: {metrics}")
    return "; ".join(parts)


def _print_lines(report: CheckReport, every_line: bool, out: IO[str]) -> None:
    dim, reset = ("\x1b[2m", "\x1b[0m") if out.isatty() else ("", "")
    for r in report.lines:
        if not (every_line or (r.points and r.stream == "stdout")):
            continue
        text = printable(r.text, _TEXT_WIDTH)
        if r.stream == "stderr":
            mark = "!" if r.points else " "
            out.write(f"{dim}{'':>6} ! {text}{reset}  {dim}(stderr, not read){reset}\n")
            if r.points:
                out.write(f"{dim}       {mark} would give {_caught(r)} on stdout{reset}\n")
        elif r.points:
            out.write(f"{r.number:>6} | {text}\n")
            out.write(f"       +-> {_caught(r)}  ({printable(r.rule or '?', 60)})\n")
        else:
            out.write(f"{dim}{r.number:>6} . {text}{reset}\n")


def _print_summary(report: CheckReport, out: IO[str], *, hint: str) -> None:
    stdout_lines = report.lines_read - report.stderr_lines
    rules = ", ".join(f"{printable(rule, 60)}: {n}" for rule, n in report.rules.items())
    out.write(f"{report.lines_read} lines read ({stdout_lines} stdout, {report.stderr_lines} stderr); "
              f"{report.lines_with_points} gave points" + (f" ({rules})" if rules else "") + "\n")
    if report.metrics:
        rows = [{"metric": printable(m.name, 40), "points": m.points, "first": m.first, "last": m.last}
                for m in report.metrics]
        out.write(format_table(rows, ["metric", "points", "first", "last"]) + "\n")
    else:
        out.write(f"no metrics captured. {hint}\n")
    if report.echoes:
        shown = ", ".join(f"{printable(k, 40)}={printable(v, 20)}" for k, v in list(report.echoes.items())[:10])
        out.write(f"echoed hyperparameters (named like the script's flags, so not metrics): {shown}\n")
    if report.stderr_with_points:
        out.write(f"note: {report.stderr_with_points} stderr lines look like metrics, but only stdout is read; "
                  "print them to stdout (print(..., flush=True), or logging.StreamHandler(sys.stdout))\n")


def _proposals(args: argparse.Namespace, lines: list[OutputLine]) -> list[tuple[str, OutputLine | None, Proposal]]:
    """Proposals for ``--line N`` (the Nth stdout line, as numbered on screen) and ``--explain``."""
    found = []
    stdout = [line for line in lines if line.stream == "stdout"]
    for n in args.line:
        if not stdout:
            raise SpecError(f"--line {n}: the output has no stdout lines; run it with --all to see what it printed")
        if not 1 <= n <= len(stdout):
            raise SpecError(f"--line {n}: the output has {len(stdout)} lines; give a line number from 1 to "
                            f"{len(stdout)}")
        line = stdout[n - 1]
        found.append((f"line {n}", line, propose_pattern(line.text, percentages=args.percent, where=f"--line {n}")))
    for i, text in enumerate(args.explain, 1):
        where = "--explain" if len(args.explain) == 1 else f"--explain #{i}"
        found.append(("the text given", None, propose_pattern(text, percentages=args.percent, where=where)))
    return found


def _flag_names(settings: ProjectSettings | None, script_args: list[str]) -> list[str]:
    """The names a printed setting may go by: the script's flags (read from its source; no ``--help`` run)
    and the options given after ``--``. A run treats them as echoes too (``Run.script_flags``)."""
    names = [a.lstrip("-").partition("=")[0] for a in script_args if a.startswith("--") and len(a) > 2]
    if settings is not None:
        try:
            source = Path(settings.root, settings.script).read_bytes()
        except OSError:
            return names
        names.extend(flags_from_source(source, settings.script).names())
    return names


def _with_patterns(settings: ProjectSettings | None) -> list[str]:
    return list(settings.stdout_patterns) if settings else []


# ---- the command ------------------------------------------------------------------------------------------
def cmd_patterns(args: argparse.Namespace, *, stdin: IO[bytes] | None = None, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    if args.add and len(args.line) + len(args.explain) != 1:
        raise SpecError("--add: give exactly one --line N or --explain 'TEXT' whose pattern to add")
    if args.log and args.script_args:
        raise SpecError(f"-- {printable(' '.join(args.script_args), 60)}: arguments are for running the script; "
                        "leave them out with --log")
    only_text = bool(args.explain) and not args.line and not args.log
    settings = _project(args, required=not args.log and not only_text or args.add)
    output: Output | None = None
    if args.log:
        output = _read_log(args.log, stdin)
    elif not only_text:
        assert settings is not None
        output = _run(settings, list(args.script_args), args.timeout)
    lines = output.lines if output else []
    patterns = _with_patterns(settings)
    echoes = _flag_names(settings, list(args.script_args))
    report = check_lines(lines, patterns, hyperparameters=echoes) if output else None
    proposals = _proposals(args, lines)
    data: dict[str, Any] = {}
    if output is not None and report is not None:
        data = {"source": _source_line(args, settings, output), "exit_code": output.exit_code,
                "timed_out": output.timed_out, "cut": output.cut, "sdk_records": output.sdk_records,
                "sdk_used": output.sdk_used, "patterns": patterns, **report_data(report, every_line=args.all)}
        if not args.json:
            _print_lines(report, args.all, out)
            out.write(_source_line(args, settings, output) + "\n")
            if output.sdk_used:
                out.write(f"the script reports metrics through the tracking SDK ({output.sdk_records} records); "
                          "stdout is not read for metrics then\n")
            log = f"--log {args.log}" if args.log else " ".join(["--project", settings.root] if args.project and
                                                                settings else [])
            hint = (f"show every line with --all, then point at one that shows metrics: hypertuner patterns "
                    f"{printable(log, 200)} --line N (or --explain 'TEXT')".replace("  ", " "))
            _print_summary(report, out, hint=hint)
    data["proposals"] = []
    for label, _line, proposal in proposals:
        entry: dict[str, Any] = {"for": label, "pattern": proposal.pattern, "toml": proposal.toml,
                                 "reads": proposal.expected}
        if lines:
            entry["catches"] = count_caught(lines, [proposal.pattern])
            entry["with_project_patterns"] = count_caught(lines, [*patterns, proposal.pattern])
            entry["lines_with_points_now"] = report.lines_with_points if report else 0
        data["proposals"].append(entry)
        if not args.json:
            _print_proposal(entry, lines, bool(patterns), out)
    if args.add:
        assert settings is not None
        pattern = proposals[0][2].pattern
        added = add_stdout_pattern(settings.root, pattern)
        data["added"] = added
        if not args.json:
            out.write(f"added to {printable(str(Path(settings.root, 'hypertuner.toml')), 200)} stdout_patterns\n"
                      if added else "already in stdout_patterns; nothing written\n")
    elif proposals and not args.json:
        out.write("paste it into the [project] section of hypertuner.toml, or write it there with --add\n")
    if args.json:
        out.write(json.dumps(_finite(data), indent=2) + "\n")
    return 0


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _print_proposal(entry: dict[str, Any], lines: list[OutputLine], has_patterns: bool, out: IO[str]) -> None:
    reads = " ".join(f"{printable(k, 40)}={fmt(v)}" for k, v in entry["reads"].items())
    out.write(f"proposed pattern for {entry['for']} (reads {reads}):\n")
    out.write(f"  stdout_patterns = [{entry['toml']}]\n")
    if lines:
        stdout = sum(1 for line in lines if line.stream == "stdout")
        out.write(f"  it catches {entry['catches']} of {stdout} lines")
        if entry["with_project_patterns"] != entry["catches"] or has_patterns:
            out.write(f"; with the project's patterns, {entry['with_project_patterns']}")
        out.write("\n")
        if entry["lines_with_points_now"] and not has_patterns:
            out.write(f"  note: custom patterns replace the default rules (Keras lines, key=value), which catch "
                      f"{entry['lines_with_points_now']} lines now; add a pattern for those too\n")


def check_project(settings: ProjectSettings, timeout: float, out: IO[str] | None = None) -> CheckReport:
    """``init --check``: run the script once and print what its output gives."""
    out = out or sys.stdout
    output = _run(settings, [], timeout)
    report = check_lines(output.lines, settings.stdout_patterns)
    args = argparse.Namespace(log=None, script_args=[], timeout=timeout)
    out.write(_source_line(args, settings, output) + "\n")
    if output.sdk_used:
        out.write(f"the script reports metrics through the tracking SDK ({output.sdk_records} records)\n")
        return report
    _print_summary(report, out, hint=f"see its output with: hypertuner patterns --project "
                                     f"{printable(settings.root, 200)} --all, then propose a pattern with --line N")
    return report
