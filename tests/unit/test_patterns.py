"""Stdout metric patterns: Keras lines, key=value pairs and custom regular expressions."""

from __future__ import annotations

import math

import pytest

from workbench_plugin import SpecError
from workbench_plugin.patterns import Point, StdoutParser, parse_stream

KERAS_FINAL = (
    "100/100 [==============================] - 1s 10ms/step - loss: 0.1234 - acc: 0.9500"
    " - val_loss: 0.2 - val_acc: 0.93"
)


# ---- Keras -----------------------------------------------------------------------------------------
def test_keras_epoch_line_then_final_progress_line() -> None:
    parser = StdoutParser()
    assert parser.feed("Epoch 3/10") == []
    assert parser.feed(KERAS_FINAL) == [
        Point("epoch", 3, None, {"loss": 0.1234, "acc": 0.95, "val_loss": 0.2, "val_acc": 0.93})
    ]


def test_keras_carriage_returns_keep_the_last_update_and_skip_eta() -> None:
    parser = StdoutParser()
    parser.feed("Epoch 1/2")
    line = (
        " 32/100 [=======>......................] - ETA: 1s - loss: 0.9000 - acc: 0.1000\r"
        " 64/100 [==================>...........] - ETA: 0s - loss: 0.5000 - acc: 0.5000\r"
        + KERAS_FINAL + "\n"
    )
    (point,) = parser.feed(line)
    assert point.epoch == 1 and point.metrics["loss"] == 0.1234
    assert parser.feed(" 32/100 [=======>......................] - ETA: 1s - loss: 0.9000") == []
    assert parser.feed("\b\b\b\b 50/100 [=====>.....] - 0s 1ms/step - loss: 0.7") == []  # mid-epoch


@pytest.mark.parametrize("line", [
    "313/313 - 1s - loss: 0.0723 - accuracy: 0.9780 - 1s/epoch - 3ms/step",  # TF 2 verbose=2
    "100/100 ━━━━━━━━━━━━━━━━━━━━ 1s 5ms/step - accuracy: 0.9780 - loss: 0.0723",  # Keras 3
    " - 1s - loss: 0.0723 - accuracy: 0.9780",  # old verbose=2
])
def test_keras_line_variants(line: str) -> None:
    parser = StdoutParser()
    parser.feed("Epoch 2/5")
    assert parser.feed(line) == [Point("epoch", 2, None, {"loss": 0.0723, "accuracy": 0.978})]


def test_keras_pairs_without_epoch_line_are_steps() -> None:
    parser = StdoutParser()
    assert parser.feed("loss: 0.5 - accuracy: 0.9") == [Point("step", None, 0, {"loss": 0.5, "accuracy": 0.9})]
    assert parser.feed("loss: 0.4 - accuracy: nan")[0].step == 1
    assert math.isnan(parser.feed("loss: nan - accuracy: 0.9")[0].metrics["loss"])


@pytest.mark.parametrize("line", [
    "INFO: 3 workers", "Time: 3", "12:30:45 - INFO - started", "Epoch 1: val_loss improved from inf to 0.5",
    "loss: low - acc: high",
])
def test_ordinary_lines_with_colons_are_not_metrics(line: str) -> None:
    assert StdoutParser().feed(line) == []


# ---- key=value -------------------------------------------------------------------------------------
def test_key_value_epoch_step_and_plain() -> None:
    parser = StdoutParser()
    assert parser.feed("epoch=3 loss=0.12 acc=0.95") == [Point("epoch", 3, None, {"loss": 0.12, "acc": 0.95})]
    assert parser.feed("step=10 loss=1e-3") == [Point("step", None, 10, {"loss": 0.001})]
    assert parser.feed("loss=0.1 acc=-2.5 mode=train") == [Point("step", None, 11, {"loss": 0.1, "acc": -2.5})]
    assert parser.feed("final: val_loss=0.25, val_acc=0.9") == [
        Point("step", None, 12, {"val_loss": 0.25, "val_acc": 0.9})
    ]


def test_key_value_plain_lines_count_steps_from_zero() -> None:
    assert [p.step for p in parse_stream(["loss=1", "loss=2", "loss=3"])] == [0, 1, 2]


def test_key_value_epoch_prefix_and_fractions() -> None:
    assert parse_stream(["epoch 3/12 train_loss=0.1234 val_loss=0.3"]) == [
        Point("epoch", 3, None, {"train_loss": 0.1234, "val_loss": 0.3})
    ]
    assert parse_stream(["epoch=4/10 loss=0.5 acc=95/100"]) == [Point("epoch", 4, None, {"loss": 0.5})]


def test_key_value_nan_and_inf() -> None:
    (point,) = parse_stream(["loss=nan grad=inf low=-inf"])
    assert math.isnan(point.metrics["loss"])
    assert point.metrics["grad"] == math.inf and point.metrics["low"] == -math.inf


@pytest.mark.parametrize("line", [
    "GET http://example.org/?a=1&b=2 200",
    "assert a==b",
    "x==1",
    "c=d=1",
    "version=1.2.3",
    "lr=3e",
    "mode=train seed=abc",
    "Namespace(batch_size=32, lr=0.001, mode='train')",
    "[Parallel(n_jobs=2)]: Done 10 tasks",
    "elapsed=12s",
])
def test_key_value_ignores_what_is_not_a_metric(line: str) -> None:
    assert StdoutParser().feed(line) == []


def test_tqdm_postfix_last_update() -> None:
    line = "50%|#####     | 50/100 [00:00<00:00, it/s, loss=0.5]\r100%|##########| 100/100 [00:01, loss=0.123, acc=0.9]"
    assert parse_stream([line]) == [Point("step", None, 0, {"loss": 0.123, "acc": 0.9})]


def test_integration_script_output() -> None:
    out = (
        '["--opt", "x"]\nEpoch 1/2\n10/10 [==============================] - 0s 1ms/step - loss: 1.0000 - acc: 0.5000\n'
        "Epoch 2/2\n10/10 [==============================] - 0s 1ms/step - loss: 0.5000 - acc: 1.0000\n"
        "final: val_loss=0.25 val_acc=0.9\n"
    )
    assert parse_stream(out) == [
        Point("epoch", 1, None, {"loss": 1.0, "acc": 0.5}),
        Point("epoch", 2, None, {"loss": 0.5, "acc": 1.0}),
        Point("step", None, 0, {"val_loss": 0.25, "val_acc": 0.9}),
    ]


# ---- custom patterns ---------------------------------------------------------------------------------
def test_custom_pattern_named_groups() -> None:
    parser = StdoutParser([r"\[(?P<epoch>\d+)\] train (?P<loss>\S+) / val (?P<val_loss>\S+)"])
    assert parser.feed("[7] train 0.5 / val 0.75") == [Point("epoch", 7, None, {"loss": 0.5, "val_loss": 0.75})]
    assert parser.feed("epoch=3 loss=0.1") == []  # custom patterns replace the defaults


def test_custom_patterns_are_all_tried_and_merged() -> None:
    parser = StdoutParser([r"it (?P<step>\d+)", r"loss (?P<loss>[-.\deE]+)", r"acc (?P<acc>[\d.]+)"])
    assert parser.feed("it 40 loss 0.3 acc 0.9") == [Point("step", None, 40, {"loss": 0.3, "acc": 0.9})]
    assert parser.feed("loss 0.2") == [Point("step", None, 41, {"loss": 0.2})]


def test_custom_epoch_only_match_sets_the_context() -> None:
    parser = StdoutParser([r"^=== Epoch (?P<epoch>\d+)", r"^valid: (?P<val_acc>\S+)"])
    assert parser.feed("=== Epoch 2 ===") == []
    assert parser.feed("valid: 0.8") == [Point("epoch", 2, None, {"val_acc": 0.8})]


def test_custom_non_numeric_capture_skips_the_point() -> None:
    parser = StdoutParser([r"loss (?P<loss>\S+)"])
    assert parser.feed("loss high") == []
    assert parser.feed("loss 0.5") == [Point("step", None, 0, {"loss": 0.5})]


def test_custom_optional_group_is_left_out() -> None:
    parser = StdoutParser([r"loss (?P<loss>\S+)(?: acc (?P<acc>\S+))?"])
    assert parser.feed("loss 0.5") == [Point("step", None, 0, {"loss": 0.5})]


@pytest.mark.parametrize(("pattern", "match"), [
    (r"loss=(?P<loss>\S+", "is not a valid regular expression"),
    (r"loss=(\S+)", "has no named groups"),
    (3, "is not a string"),
])
def test_bad_custom_pattern_is_a_spec_error(pattern: object, match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        StdoutParser([pattern])  # type: ignore[list-item]
    message = str(info.value)
    assert message.startswith("stdout_patterns: ") and "\n" not in message


def test_empty_or_single_string_patterns() -> None:
    assert StdoutParser([]).feed("loss=1") == [Point("step", None, 0, {"loss": 1.0})]  # defaults
    assert StdoutParser(r"L=(?P<loss>\S+)").feed("L=2") == [Point("step", None, 0, {"loss": 2.0})]


def test_parse_stream_with_patterns() -> None:
    assert parse_stream(["a 1", "a 2"], patterns=[r"a (?P<a>\d)"]) == [
        Point("step", None, 0, {"a": 1.0}), Point("step", None, 1, {"a": 2.0}),
    ]


def test_last_rule_names_what_caught_the_line() -> None:
    parser = StdoutParser()
    parser.feed("Epoch 1/2")
    assert parser.last_rule is None
    parser.feed(KERAS_FINAL)
    assert parser.last_rule == "keras"
    parser.feed("epoch=2 loss=0.1")
    assert parser.last_rule == "key=value"
    parser.feed("nothing here")
    assert parser.last_rule is None
    custom = StdoutParser([r"loss (?P<loss>\S+)", r"acc (?P<acc>\S+)", r"lr (?P<lr>\S+)"])
    custom.feed("loss 0.5 acc 0.9")
    assert custom.last_rule == r"loss (?P<loss>\S+) | acc (?P<acc>\S+)"
