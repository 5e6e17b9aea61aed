"""The next batch from locks: field texts, addable flags, round trip, lineage, and the CLI around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_cli import run_cli
from workbench_plugin._exceptions import SpecError
from workbench_plugin.flags import flags_from_source
from workbench_plugin.memory import Lock
from workbench_plugin.next_batch import lineage_of, merge_values, parse_rows, spec_from_locks, validate_field
from workbench_plugin.space import format_value, parse_values
from workbench_plugin.store import Run, Store

SCRIPT = b"""
import argparse
ap = argparse.ArgumentParser()
ap.add_argument("--batch_size", type=int, default=32)
ap.add_argument("--lr", type=float, default=0.1)
ap.add_argument("--num-layers", type=int, default=2, help="how many\\nlayers \\x1b[31m" + "x" * 500)
ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
ap.add_argument("--verbose", action="store_true")
ap.parse_args()
"""


def make_run(spec: dict[str, str], run_id: str = "r1") -> Run:
    return Run(run_id, "p", 0.0, "me", "train.py", "", "space", spec, {}, "snap", "data", "local", 1)


@pytest.mark.parametrize(
    ("source", "lock", "text"),
    [
        ("2..10 +2", Lock("n", 6.0, 6.0), "6"),  # one value
        ("16..256 *2", Lock("n", 32.0, 64.0), "32..64 *2"),  # a range inside a multiplicative run
        ("28..256 *2", Lock("n", 32.0, 64.0), "56"),  # the run's only value inside
        ("256..16 /2", Lock("n", 32.0, 128.0), "128..32 /2"),
        ("1e-4..1e-1 log 4", Lock("n", 1e-4, 1e-2), "1e-4..1e-2 log 3"),  # log scale
        ("0.1..0.9 +0.2", Lock("n", 0.3, 0.7), "0.3..0.7 +0.2"),
        ("0.1,0.3,0.5", Lock("n", 0.1, 0.3), "0.1,0.3"),
        ("1,2,4,8", Lock("n", 2.0, 5.0), "2,4"),
        ("adam,sgd,rmsprop", Lock("n", values=("adam", "sgd")), "adam,sgd"),  # categories
        ("1,2", Lock("n", 5.0, 7.0), "5,7"),  # none of the run inside: the lock's ends
    ],
)
def test_locked_field_texts(source: str, lock: Lock, text: str) -> None:
    field = spec_from_locks(make_run({"n": source}), {"n": lock}, None).fields[0]
    assert field.text == text and field.locked and field.exact
    assert [format_value(v) for v in parse_values("n", field.text)[0]] == [format_value(v) for v in field.values]


def test_unlocked_fields_keep_the_run_text_and_locks_outside_the_run_come_after() -> None:
    run = make_run({"batch_size": "16..256 *2", "optimizer": "adam,sgd"})
    fields = spec_from_locks(run, {"optimizer": Lock("optimizer", values=("sgd",)), "lr": Lock("lr", 0.01, 0.01)},
                             None)
    assert [(f.name, f.text, f.locked) for f in fields.fields] == [
        ("batch_size", "16..256 *2", False), ("optimizer", "sgd", True), ("lr", "0.01", True)]
    assert fields.locks() == {"optimizer": "sgd", "lr": "0.01"}
    assert fields.mapping() == {"batch_size": "16..256 *2", "optimizer": "sgd", "lr": "0.01"}


def test_a_category_the_grammar_cannot_write_goes_as_a_list() -> None:
    field = spec_from_locks(make_run({"s": "a,b"}), {"s": Lock("s", values=("a,b", "c"))}, None).fields[0]
    assert not field.exact
    assert spec_from_locks(make_run({"s": "a,b"}), {"s": Lock("s", values=("a,b", "c"))}, None).mapping() == {
        "s": ["a,b", "c"]}


def test_addable_flags_from_an_argparse_script() -> None:
    flags = flags_from_source(SCRIPT)
    fields = spec_from_locks(make_run({"batch_size": "32,64", "num_layers": "1,2"}), {}, flags)
    # num_layers is --num-layers in another spelling; switches take no value; help is one bounded line
    assert [a.name for a in fields.addable] == ["lr", "optimizer"]
    fields = spec_from_locks(make_run({"batch_size": "32,64"}), {}, flags)
    layers = next(a for a in fields.addable if a.name == "num-layers")
    assert (layers.option, layers.type, layers.default) == ("--num-layers", "int", "2")
    assert "\n" not in layers.help and "\x1b" not in layers.help and len(layers.help) <= 200
    assert next(a for a in fields.addable if a.name == "optimizer").choices == ("adam", "sgd")
    assert spec_from_locks(make_run({"x": "1"}), {}, None).addable == ()


_FORMS = st.sampled_from(["16..256 *2", "1e-4..1e-1 log 4", "0.1..0.9 +0.2", "10..1 -3", "1,2,4,8",
                          "0.001,0.01,0.1,1", "3", "1e-6..1 log 7", "0.5..8 *2"])


@settings(max_examples=150, deadline=None)
@given(_FORMS, st.floats(-2, 300), st.floats(0, 300))
def test_round_trip_texts_parse_back_to_the_values_inside_the_lock(source: str, low: float, width: float) -> None:
    lock = Lock("h", low, low + width)
    field = spec_from_locks(make_run({"h": source}), {"h": lock}, None).fields[0]
    parsed = parse_values("h", field.text)[0]
    assert [format_value(v) for v in parsed] == [format_value(v) for v in field.values]
    run_values = {format_value(v) for v in parse_values("h", source)[0]}
    inside = [v for v in field.values if format_value(v) in run_values]
    if inside:  # the run's values inside the lock, and only those
        assert len(inside) == len(field.values)
        assert all(low - 1e-6 <= float(v) <= low + width + 1e-6 for v in field.values)


def test_validate_field_gives_the_cli_message(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                              tmp_path: Path) -> None:
    flags = flags_from_source((project_dir / "train.py").read_bytes())
    assert validate_field("x", "0.1..0.5 +0.1", flags) is None
    store = str(tmp_path / "s")
    Store(store).create_project("tiny", str(project_dir))
    for name, text in (("x", "a..b"), ("x", "1..5 *0"), ("epochs", "1.5"), ("nope", "1")):
        message = validate_field(name, text, flags, script="train.py")
        assert message is not None and message.startswith(f"{name}: ")
        code, _, err = run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), f"{name}={text}")
        assert code == 2 and err.strip() == f"hypertuner: error: {message}"


def test_merge_values_overrides_in_either_spelling() -> None:
    assert merge_values({"num_layers": "1", "lr": "0.1"}, {"num-layers": "2", "x": "3"}) == {
        "num-layers": "2", "lr": "0.1", "x": "3"}


@pytest.mark.parametrize(("texts", "needle"), [(["0"], "row 0"), (["99"], "row 99"), (["a"], "'a'"),
                                               (["1,,2"], "''"), (["1" * 20000], "characters")])
def test_row_numbers_are_bounded(texts: list[str], needle: str) -> None:
    with pytest.raises(SpecError, match="^--skip: ") as info:
        parse_rows("--skip", texts, 4)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert parse_rows("--skip", ["2,4", "2"], 4) == (1, 3)


def test_lineage_reads_what_launch_wrote_and_tolerates_junk() -> None:
    assert lineage_of(make_run({"x": "1"})) is None
    run = make_run({"x": "1"})
    run.extra["lineage"] = {"from_run": "r0", "locks": {"x": "1"}, "skipped": [{"row": 2}, "junk"], "starred": 3}
    lineage = lineage_of(run)
    assert lineage is not None and lineage.from_run == "r0" and lineage.skipped == [{"row": 2}]
    assert lineage.starred == []


# ---- the CLI (the `earlier` fixture is in tests/unit/conftest.py) ------------------------------------
def test_plan_from_locks_shows_earlier_results(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                               earlier: tuple[str, str]) -> None:
    store, run_id = earlier
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--from-locks",
                             "--add", "sleep=0,0.01")
    assert code == 0, err
    assert f"from run {run_id}: locked x=1" in out
    assert "#1 redundant: same setting found in 1 previous run" in out
    assert f"same as {run_id}-000 (succeeded, same snapshot and data): " in out and "score=10" in out
    assert f"'hypertuner show {run_id}-000'" in out
    assert "--skip-redundant" in out and "fail (int, default 0)" in out  # addable flags listed
    rows = json.loads(run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--from-locks",
                              run_id[:12], "--add", "sleep=0,0.01", "--skip-redundant", "--json")[1])
    assert [(r["row"], r["status"], r["skipped"], r["previous_runs"]) for r in rows] == [
        (1, "redundant", True, 1), (2, "new", False, 0)]
    assert rows[0]["params"] == {"x": 1, "epochs": 1, "sleep": 0}
    previous = rows[0]["previous"][0]
    assert previous["experiment_id"] == f"{run_id}-000" and previous["state"] == "succeeded"
    assert previous["metrics"]["score"] == 10 and "--sleep 0 " in rows[0]["command"]


def test_run_from_locks_queues_the_rows_not_skipped_and_records_lineage(
    capsys: pytest.CaptureFixture[str], project_dir: Path, earlier: tuple[str, str]
) -> None:
    store, run_id = earlier
    code, out, err = run_cli(capsys, "--store", store, "run", "--project", str(project_dir), "--from-locks",
                             "--add", "sleep=0,0.01", "epochs=1,2", "--skip", "2", "--star", "3")
    assert code == 0, err
    assert "3 experiments queued, 1 skipped (rows 2)" in out
    (new_id,) = set(Store(store).runs("tiny")) - {run_id}
    run = Store(store).read_run("tiny", new_id)
    experiments = Store(store).read_experiments("tiny", new_id)
    assert [e.params for e in experiments] == [{"x": 1, "epochs": 1, "sleep": 0}, {"x": 1, "epochs": 2, "sleep": 0},
                                               {"x": 1, "epochs": 2, "sleep": 0.01}]
    assert run.spec == {"x": "1", "epochs": "1,2", "sleep": "0,0.01"}
    lineage = lineage_of(run)
    assert lineage is not None and lineage.from_run == run_id and lineage.locks == {"x": "1"}
    assert lineage.skipped == [{"row": 2, "params": {"x": 1, "epochs": 1, "sleep": 0.01}, "why": "chosen"}]
    assert lineage.starred == [{"row": 3, "experiment_id": experiments[1].experiment_id}]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--from-locks", "nope"], "--from-locks: 'nope' is not a run"),
        (["--from-locks", "--skip", "99"], "--skip: row 99 is not in the plan, which has rows 1-1"),
        (["--from-locks", "--star", "1", "--skip", "1"], "--star: row 1"),
        (["--from-locks", "--add", "depth=1..4 +1"], "depth: the script has no flag --depth"),
        (["--from-locks", "--add", "sleep=a..b"], "sleep: 'a..b' is not a range"),
        (["--from-locks", "--add", "sleep=1..4 +0"], "sleep: step '+0'"),
        (["--from-locks", "--add", "sleep"], "NAME=VALUES"),
        (["x=1", "--skip", "1,x"], "--skip: 'x' is not a row number"),
    ],
)
def test_bad_input_is_one_line_and_queues_nothing(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                                  earlier: tuple[str, str], argv: list[str], needle: str) -> None:
    store, _ = earlier
    for command in ("plan", "run"):
        code, out, err = run_cli(capsys, "--store", store, command, "--project", str(project_dir), *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert err.startswith("hypertuner: error: ") and needle in err, err
    assert len(Store(store).runs("tiny")) == 1


def test_from_locks_on_a_project_without_runs(capsys: pytest.CaptureFixture[str], project_dir: Path,
                                              tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    Store(store).create_project("tiny", str(project_dir))
    code, _, err = run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--from-locks")
    assert code == 2 and "--from-locks: project 'tiny' has no runs yet" in err


def test_a_flag_added_at_its_default_matches_the_runs_that_left_it_out(
    capsys: pytest.CaptureFixture[str], project_dir: Path, earlier: tuple[str, str]
) -> None:
    """The earlier run left --fail out (default 0): adding fail=0,1 finds the fail=0 rows already ran."""
    store, run_id = earlier
    rows = json.loads(run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "--from-locks",
                              "--add", "fail=0,1", "--json")[1])
    assert [(r["params"]["fail"], r["status"]) for r in rows] == [(0, "redundant"), (1, "new")]
    assert rows[0]["redundant_with"] == [f"{run_id}-000"]
    # and the other way round: x=1.0 given as the default's other spelling is the same setting
    rows = json.loads(run_cli(capsys, "--store", store, "plan", "--project", str(project_dir), "x=1.0",
                              "epochs=1", "--json")[1])
    assert rows[0]["status"] == "redundant"
