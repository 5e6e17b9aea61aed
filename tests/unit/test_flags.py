"""Flag discovery: realistic scripts read without running them, the --help fallback run for real,
the time limit, hostile text, storage once per snapshot, and the spec checked against the flags."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workbench_plugin import flags as flags_module
from workbench_plugin._exceptions import SpecError
from workbench_plugin.flag_check import check_spec
from workbench_plugin.flags import Flag, FlagSet, flags_from_help, flags_from_source
from workbench_plugin.snapshot import create_snapshot, snapshot_flags
from workbench_plugin.space import SearchSpec
from workbench_plugin.store import Store


def read(source: str) -> FlagSet:
    found = flags_from_source(textwrap.dedent(source), "train.py")
    assert FlagSet.from_json(found.to_json()) == found  # JSON round trip
    return found


def by_name(found: FlagSet) -> dict[str, Flag]:
    return {f.name: f for f in found.flags}


ARGPARSE = """
    import argparse

    def build_parser():
        p = argparse.ArgumentParser(description="train")
        p.add_argument("data", help="the data folder")
        p.add_argument("-l", "--learning-rate", type=float, default=1e-3, help="step size")
        p.add_argument("--bs", dest="batch_size", type=int, default=32)
        p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
        p.add_argument("--use-bn", action="store_true", help="batch norm")
        p.add_argument("--no-aug", action="store_false", dest="aug")
        p.add_argument("-v", "--verbose", action="count")
        p.add_argument("--tag", action="append")
        p.add_argument("--size", type=lambda s: int(s, 0), default=os.cpu_count())
        p.add_argument("--seed", type=int, required=True)
        g = p.add_argument_group("model")
        g.add_argument("--layers", nargs="+", type=int, default=[64, 64])
        x = p.add_mutually_exclusive_group()
        x.add_argument("--fast", action="store_true")
        x.add_argument("--depth", type=int, choices=range(1, 4))
        sub = p.add_subparsers(dest="cmd")
        only = sub.add_parser("export")
        only.add_argument("--format")
        return p

    if __name__ == "__main__":
        args, rest = build_parser().parse_known_args()
"""


def test_argparse_in_a_helper_function_with_groups_and_subparsers() -> None:
    found = read(ARGPARSE)
    assert found.source == "ast" and found.accepts_unknown and "subcommands are not listed" in found.notes
    f = by_name(found)
    assert list(f) == ["data", "--learning-rate", "--bs", "--optimizer", "--use-bn", "--no-aug", "--verbose", "--tag",
                       "--size", "--seed", "--layers", "--fast", "--depth"]  # not --format (a subcommand's)
    assert f["data"].positional and f["data"].required and f["data"].help == "the data folder"
    lr = f["--learning-rate"]
    assert (lr.option_strings, lr.dest, lr.type, lr.default) == (("-l", "--learning-rate"), "learning_rate", "float",
                                                                  1e-3)
    assert (f["--bs"].dest, f["--bs"].type, f["--bs"].default) == ("batch_size", "int", 32)
    assert f["--optimizer"].choices == ("adam", "sgd") and f["--optimizer"].type == "str"
    assert f["--use-bn"].is_switch and f["--use-bn"].default is False and f["--use-bn"].type == "none"
    assert f["--no-aug"].is_switch and f["--no-aug"].dest == "aug" and f["--no-aug"].default is True
    assert f["--verbose"].is_switch and f["--verbose"].action == "count"
    assert f["--tag"].action == "append" and not f["--tag"].is_switch
    assert f["--size"].type == "other" and not f["--size"].default_known  # not a literal: unknown, not run
    assert f["--seed"].required
    assert f["--layers"].nargs == "+" and f["--layers"].default == [64, 64]
    assert f["--depth"].choices == (1, 2, 3)


def test_click_and_typer_commands() -> None:
    click = by_name(read("""
        import click

        @click.command()
        @click.option("--lr", type=float, default=0.1, help="step size")
        @click.option("-e", "--epochs", default=10)
        @click.option("--opt", type=click.Choice(["adam", "sgd"]), default="adam")
        @click.option("--shout/--no-shout", default=False)
        @click.argument("data")
        def main(lr, epochs, opt, shout, data):
            pass

        if __name__ == "__main__":
            main()
    """))
    assert list(click) == ["--lr", "--epochs", "--opt", "--shout", "data"]
    assert (click["--lr"].type, click["--lr"].default, click["--lr"].help) == ("float", 0.1, "step size")
    assert click["--epochs"].type == "int" and click["--epochs"].option_strings == ("-e", "--epochs")
    assert click["--opt"].choices == ("adam", "sgd")
    assert click["--shout"].is_switch and click["--shout"].option_strings == ("--shout", "--no-shout")
    assert click["data"].positional

    typer = by_name(read("""
        from typing import Annotated
        import typer

        def main(data: str, learning_rate: float = typer.Option(0.01, help="step"), epochs: int = 5,
                 depth: Annotated[int, typer.Option("--depth", "-d")] = 3, dry_run: bool = False):
            pass

        if __name__ == "__main__":
            typer.run(main)
    """))
    assert list(typer) == ["data", "--learning-rate", "--epochs", "--depth", "--dry-run"]
    assert typer["data"].positional
    assert (typer["--learning-rate"].type, typer["--learning-rate"].default, typer["--learning-rate"].help) == (
        "float", 0.01, "step")
    assert typer["--epochs"].type == "int" and typer["--epochs"].default == 5
    assert typer["--depth"].option_strings == ("--depth", "-d") and typer["--depth"].default == 3
    assert typer["--dry-run"].is_switch and "--no-dry-run" in typer["--dry-run"].option_strings


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("import argparse\np = argparse.ArgumentParser()\nfor n in ['a']:\n    p.add_argument('--' + n)\n",
         "built at run time"),
        ("from common import make_parser\np = make_parser()\np.add_argument('--x')\n", "made outside the file"),
        ("import argparse\nfrom base import base\np = argparse.ArgumentParser(parents=[base])\n", "parents="),
        ("from transformers import HfArgumentParser\np = HfArgumentParser(Args)\n", "HfArgumentParser"),
        ("import sys\nprint(sys.argv)\n", "no argparse"),
        ("def f(:\n", "could not be read as Python"),
        ("x = " + "(" * 5000 + ")" * 5000 + "\n", "could not be read as Python"),
    ],
)
def test_what_cannot_be_read_is_unknown_with_a_reason(source: str, why: str) -> None:
    found = flags_from_source(source, "train.py")
    assert found.source == "unknown" and why in found.reason and "\n" not in found.reason


def test_hostile_text_is_bounded_and_the_script_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    found = read(f"""
        import argparse, pathlib
        pathlib.Path({str(marker)!r}).write_text("ran")
        p = argparse.ArgumentParser()
        p.add_argument("--x", help="a\\x1b[31m\\nb" * 100000, choices=list(range(1000)), default=10**100)
        p.parse_args()
    """)
    x = by_name(found)["--x"]
    assert len(x.help) <= flags_module.MAX_HELP_CHARS and x.choices is None and not x.default_known
    assert not marker.exists()
    too_big = flags_from_source("#" * (flags_module.MAX_SCRIPT_BYTES + 1), "train.py")
    assert too_big.source == "unknown" and "larger than 2 MB" in too_big.reason


DYNAMIC = """
    import argparse, sys
    HPARAMS = {"learning-rate": float, "epochs": int}
    p = argparse.ArgumentParser()
    for name, kind in HPARAMS.items():
        p.add_argument("--" + name, type=kind, help=f"the {name} (default: %(default)s)", default=kind(1))
    p.add_argument("--opt", choices=["adam", "sgd"], help="optimizer")
    p.add_argument("--fast", action="store_true", help="a long help text " * 8)
    p.add_argument("data")
    p.parse_args()
"""


def test_help_fallback_really_runs_a_dynamic_parser(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(textwrap.dedent(DYNAMIC))
    assert flags_from_source((tmp_path / "train.py").read_text(), "train.py").source == "unknown"
    found = flags_from_help([sys.executable], "train.py", tmp_path)
    assert found.source == "help", found.reason
    f = by_name(found)
    assert list(f) == ["data", "--learning-rate", "--epochs", "--opt", "--fast"]  # as --help lists them
    assert f["--learning-rate"].default == "1.0" and f["--learning-rate"].help == "the learning-rate (default: 1.0)"
    assert f["--opt"].choices == ("adam", "sgd") and f["--fast"].is_switch and f["data"].positional
    assert f["--fast"].help.startswith("a long help text a long")  # continuation lines joined


def test_a_script_that_hangs_on_help_is_stopped_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    (tmp_path / "train.py").write_text(textwrap.dedent(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("training instead of printing help", flush=True)
        time.sleep(600)
    """))
    found = flags_from_help([sys.executable], "train.py", tmp_path, timeout=2)
    assert found.source == "unknown" and "did not finish within 2 s" in found.reason and "\n" not in found.reason
    child = int(pid_file.read_text())
    for _ in range(100):  # the whole process group was killed: the child is gone (or a zombie being reaped)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/stat").exists() and Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the child of the script still runs")


def test_help_that_fails_or_floods_is_unknown_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text("import torchvision_not_installed\n")
    failed = flags_from_help([sys.executable], "boom.py", tmp_path)
    assert "exited with code 1" in failed.reason and "ModuleNotFoundError" in failed.reason
    assert flags_module.RETRY in failed.notes  # not stored: installing the package fixes it
    (tmp_path / "flood.py").write_text("import sys\nwhile True: sys.stdout.write('x' * 65536)\n")
    flood = flags_from_help([sys.executable], "flood.py", tmp_path, max_bytes=100_000)
    assert "printed more than" in flood.reason
    missing = flags_from_help(["/nonexistent/python"], "boom.py", tmp_path)
    assert "could not start" in missing.reason and "interpreter" in missing.reason


def test_flags_are_found_once_per_snapshot(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "train.py").write_text(textwrap.dedent(ARGPARSE))
    calls = []
    real = flags_module.discover
    monkeypatch.setattr(flags_module, "discover", lambda *a, **k: calls.append(1) or real(*a, **k))
    snap = create_snapshot(store, folder, max_file_bytes=1 << 20)
    first = snapshot_flags(store, snap, folder, "train.py", "")
    stored = store.fs.listdir("snapshots")
    assert [n for n in stored if ".flags-" in n] and len(calls) == 1
    again = snapshot_flags(store, create_snapshot(store, folder, max_file_bytes=1 << 20), folder, "train.py", "")
    assert again == first and len(calls) == 1  # read back, not found again
    (folder / "train.py").write_text(textwrap.dedent(ARGPARSE) + "\n# changed\n")
    snapshot_flags(store, create_snapshot(store, folder, max_file_bytes=1 << 20), folder, "train.py", "")
    assert len(calls) == 2  # a new snapshot: found again


def spec(**values: str) -> SearchSpec:
    return SearchSpec.from_assignments([f"{k}={v}" for k, v in values.items()])


@pytest.mark.parametrize(
    ("values", "needles"),
    [
        ({"learning_ratee": "0.1"}, ["learning_ratee: the script has no flag --learning_ratee; did you mean "
                                     "--learning-rate?"]),
        ({"batch_size": "32"}, ["no flag --batch_size", "did you mean --bs (which sets batch_size)?"]),
        ({"zzz": "1"}, ["no flag --zzz", "its flags are", "hypertuner flags"]),
        ({"bs": "0.5"}, ["bs: value '0.5'", "--bs (type=int)", "whole numbers"]),
        ({"bs": "big"}, ["value 'big'", "type=int"]),
        ({"learning_rate": "fast"}, ["value 'fast'", "--learning-rate (type=float)"]),
        ({"optimizer": "adam,adamw"}, ["optimizer: value 'adamw'", "choices of --optimizer: adam, sgd"]),
        ({"depth": "1..5 +1"}, ["value '4'", "choices of --depth: 1, 2, 3"]),
        ({"use_bn": "1"}, ["--use-bn is an on/off switch", "takes no value"]),
        ({"learning_rate": "0.1", "learning-rate": "0.2"}, ["same flag"]),
    ],
)
def test_spec_checked_against_the_flags(values: dict[str, str], needles: list[str]) -> None:
    found = FlagSet(read(ARGPARSE).flags, "ast")  # without parse_known_args: unknown names are refused
    with pytest.raises(SpecError) as info:
        check_spec(spec(**values), found, "space", script="train.py")
    assert "\n" not in str(info.value)
    for needle in needles:
        assert needle in str(info.value)


def test_spellings_become_the_scripts_own_and_unknowns_only_warn() -> None:
    found = read(ARGPARSE)
    checked = check_spec(spec(learning_rate="0.1", bs="32", lrr="1"), found, "space", script="train.py")
    assert list(checked.spec.params) == ["learning-rate", "bs", "lrr"] and checked.options == {}
    assert len(checked.warnings) == 1 and "parse_known_args" in checked.warnings[0] and "--lr" in checked.warnings[0]
    single = FlagSet((Flag.make(option_strings=["-lr"], dest="lr", type="float"),), "ast")
    assert check_spec(spec(lr="0.1"), single, "space", script="t.py").options == {"lr": "-lr"}
    unknown = check_spec(spec(x="1"), flags_module.unknown("no parser"), "space", script="t.py")
    assert unknown.spec.params == {"x": (1,)} and "not known (no parser)" in unknown.warnings[0]


def test_templates_check_the_values_of_the_flags_they_place() -> None:
    found = FlagSet(read(ARGPARSE).flags, "ast")
    with pytest.raises(SpecError, match="type=int"):
        check_spec(spec(b="0.5", d="x"), found, "--bs {b} {d}", script="train.py")
    with pytest.raises(SpecError, match="choices of --optimizer"):
        check_spec(spec(o="rmsprop"), found, "--optimizer={o}", script="train.py")
    assert check_spec(spec(b="64", d="data"), found, "--bs {b} {d}", script="train.py").spec.params == {
        "b": (64,), "d": ("data",)}
