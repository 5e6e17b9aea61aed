"""Pattern proposals and the line-by-line check behind ``hypertuner patterns``."""

from __future__ import annotations

import math
import time
import tomllib

import pytest

from workbench_plugin import SpecError
from workbench_plugin._toml_edit import append_to_array
from workbench_plugin.pattern_check import (
    OutputLine,
    check_lines,
    count_caught,
    printable,
    propose_pattern,
    toml_string,
)
from workbench_plugin.patterns import MAX_METRIC_LINE, StdoutParser, compile_patterns

# (line, what a person reads on it: epoch/step and metrics)
REAL_LINES = [
    ("Train Epoch: 1 [640/60000 (1%)]\tLoss: 2.301", {"epoch": 1, "loss": 2.301}),
    ("Test set: Average loss: 0.1, Accuracy: 9800/10000 (98%)", {"average_loss": 0.1}),
    ("[10]\tvalid_0's l2: 0.5", {"step": 10, "valid_0_l2": 0.5}),
    ("0:\tlearn: 0.6\ttest: 0.6\tbest: 0.6 (0)\ttotal: 2ms\tremaining: 1s",
     {"step": 0, "learn": 0.6, "test": 0.6, "best": 0.6}),
    ("[iteration 0001] loss: 2.3", {"step": 1, "loss": 2.3}),
    ("Iteration 1, loss = 0.5", {"step": 1, "loss": 0.5}),
    ("Epoch 3/10 train loss 0.25 val-loss 0.3 val/acc: 0.91",
     {"epoch": 3, "train_loss": 0.25, "val_loss": 0.3, "val_acc": 0.91}),
    ("2024-01-01 12:00:00 INFO round 7: lr 1e-3 loss -0.5", {"step": 7, "lr": 0.001, "loss": -0.5}),
    ("epoch 2 | val loss 0.31 | top-1 acc 0.77", {"epoch": 2, "val_loss": 0.31, "top_1_acc": 0.77}),
    ("\x1b[32mepoch 2\x1b[0m  loss: 0.5", {"epoch": 2, "loss": 0.5}),
]


@pytest.mark.parametrize(("line", "reads"), REAL_LINES)
def test_a_proposal_reads_what_a_person_reads(line: str, reads: dict[str, float]) -> None:
    proposal = propose_pattern(line)
    assert proposal.expected == reads
    compile_patterns([proposal.pattern])  # no nested repetition, valid, named groups
    (point,) = StdoutParser(patterns=[proposal.pattern]).feed(line)
    metrics = {k: v for k, v in reads.items() if k not in ("epoch", "step")}
    assert point.metrics == metrics
    assert point.epoch == reads.get("epoch") and (point.step == reads["step"] if "step" in reads else True)
    assert tomllib.loads(f"p = {proposal.toml}")["p"] == proposal.pattern


def test_percentages_only_when_asked_and_named_after_their_counter() -> None:
    line = "Test set: Average loss: 0.1, Accuracy: 9800/10000 (98%)"
    proposal = propose_pattern(line, percentages=True)
    assert proposal.expected == {"average_loss": 0.1, "accuracy": 98.0}
    (point,) = StdoutParser([proposal.pattern]).feed(line)
    assert point.metrics == {"average_loss": 0.1, "accuracy": 98.0}
    # the percentage of a progress counter is not a metric, even when asked
    assert "train_epoch" not in propose_pattern("Train Epoch: 1 [640/60000 (1%)]\tLoss: 2.3", percentages=True).expected


def test_the_proposal_catches_the_other_lines_of_that_kind() -> None:
    lines = [OutputLine(i + 1, "stdout", t) for i, t in enumerate([
        "Loading", "Train Epoch: 1 [0/600 (0%)]\tLoss: 2.3", "Train Epoch: 1 [640/600 (99%)]\tLoss: 1e-05",
        "Train Epoch: 2 [0/600 (0%)]\tLoss: nan", "Test set: Average loss: 0.1"])]
    proposal = propose_pattern(lines[1].text)
    assert count_caught(lines, [proposal.pattern]) == 3
    report = check_lines(lines, [proposal.pattern])
    (loss,) = report.metrics
    assert loss.name == "loss" and loss.points == 3 and loss.first == 2.3 and math.isnan(loss.last)
    assert [r.number for r in report.lines if r.points] == [2, 3, 4]


def test_repeated_names_and_names_that_are_not_identifiers() -> None:
    proposal = propose_pattern("loss: 0.5 loss: 0.4 9 lives: 3 Größe: 2")
    assert list(proposal.expected) == ["loss", "loss_2", "lives", "gr_e"]
    compile_patterns([proposal.pattern])


@pytest.mark.parametrize("line", ["Loading data...", "Epoch 3/10", "", "progress 640/60000 (1%)", "took 2ms"])
def test_a_line_without_a_named_number_is_one_line_error(line: str) -> None:
    with pytest.raises(SpecError) as info:
        propose_pattern(line, where="--line 4")
    message = str(info.value)
    assert message.startswith("--line 4: ") and "\n" not in message


def test_hostile_lines_are_bounded_and_escaped() -> None:
    huge = "loss: 0.5 " + "x" * 10_000_000
    started = time.monotonic()
    proposal = propose_pattern(huge)
    assert proposal.expected == {"loss": 0.5}
    evil = "\x1b]0;owned\x07\x00\r" + "acc " * 500 + "loss: 0.25"
    proposal = propose_pattern(evil)  # the parser reads the last \r update
    assert proposal.expected == {"acc_acc_loss": 0.25}
    with pytest.raises(SpecError):  # ... and its first MAX_METRIC_LINE characters: so does a proposal
        propose_pattern("acc " * 2000 + "loss: 0.25")
    near_miss = "loss: " + "1" * (MAX_METRIC_LINE - 10) + "x"
    with pytest.raises(SpecError):
        propose_pattern(near_miss)
    parser = StdoutParser([propose_pattern("a: 1 b: 2 c: 3 d: 4").pattern])
    parser.feed("a: 1 " + "b: " * 1500 + "c: " * 1500)  # linear: atomic gaps, possessive numbers
    assert time.monotonic() - started < 5
    shown = printable("\x1b[2J\x1b]52;c;ZXZpbA==\x07 text \x00" + "y" * 500, 60)
    assert "\x1b" not in shown and "\x00" not in shown and "\x07" not in shown
    assert shown.endswith("chars)") and len(shown) < 90


def test_control_characters_in_a_proposal_are_regex_escapes_and_toml_safe() -> None:
    proposal = propose_pattern("\x1b[1mloss\x1b[0m: 0.5 'quoted' acc: 0.9")
    assert all(c.isprintable() for c in proposal.pattern)
    assert proposal.toml.startswith('"')  # a quote in it: a basic string
    assert tomllib.loads(f"p = {proposal.toml}")["p"] == proposal.pattern
    assert StdoutParser([proposal.pattern]).feed("\x1b[1mloss\x1b[0m: 0.5 'quoted' acc: 0.9")[0].metrics == {
        "loss": 0.5, "acc": 0.9}


@pytest.mark.parametrize("value", ["a'b", "x\\d+", 'q"\\', "tab\there", "\x7f\x01", "ünï"])
def test_toml_string_round_trips(value: str) -> None:
    assert tomllib.loads(f"p = {toml_string(value)}")["p"] == value


def test_stderr_lines_are_shown_but_not_counted() -> None:
    lines = [OutputLine(1, "stderr", "epoch=1 loss=0.5"), OutputLine(2, "stdout", "epoch=2 loss=0.4")]
    report = check_lines(lines)
    assert report.lines_with_points == 1 and report.stderr_with_points == 1
    assert report.metrics[0].points == 1 and report.rules == {"key=value": 1}
    assert report.lines[0].rule == "key=value"


# ---- appending to stdout_patterns in a hand-written file ---------------------------------------------
@pytest.mark.parametrize("text", [
    '[project]\nname = "x"\nstdout_patterns = []\n',
    '[project]\n# keep me\nname = "x"\nstdout_patterns = [] # and me\n\n[other]\na = 1\n',
    '[project]\nname = "x"\nstdout_patterns = [\n    \'a\',  # first\n    "b]"  # second\n]\n',
    '[project]\nname = "x"\nstdout_patterns = ["a",]\n',
    '[project]\nname = "x"\n\n[other]\nstdout_patterns = 3\n',
    '[project]\r\nname = "x"\r\n',
])
def test_append_keeps_comments_and_round_trips(text: str) -> None:
    new = append_to_array(text, "project", "stdout_patterns", "'n (?P<n>\\d+)'", "n (?P<n>\\d+)", where="f")
    before, after = tomllib.loads(text), tomllib.loads(new)
    assert after["project"]["stdout_patterns"] == [*before["project"].get("stdout_patterns", []), "n (?P<n>\\d+)"]
    for line in text.splitlines():
        if "#" in line:
            assert line.split("#", 1)[1] in new


@pytest.mark.parametrize("text", [
    'project = {name = "x"}\n',
    '[project]\nname = "x"\nstdout_patterns = "nope"\n',
    '[project]\nname = "x"\n[project.sub]\n[project]\n',
])
def test_append_refuses_forms_it_cannot_edit_safely(text: str) -> None:
    with pytest.raises(SpecError) as info:
        append_to_array(text, "project", "stdout_patterns", "'x'", "x", where="hypertuner.toml")
    assert "\n" not in str(info.value) and "by hand" in str(info.value)
