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


# ---- other default shapes (issue 10) ---------------------------------------------------------------
@pytest.mark.parametrize(("lines", "rule", "point"), [
    (["{'loss': 0.5, 'learning_rate': 5e-05, 'epoch': 1.0}"], "dict",
     Point("epoch", 1, None, {"loss": 0.5, "learning_rate": 5e-05})),
    (['{"train_loss": 3.2, "test_acc1": 78.8, "epoch": 250}'], "dict",
     Point("epoch", 250, None, {"train_loss": 3.2, "test_acc1": 78.8})),
    (["[10]\ttrain-rmse:0.5\teval-rmse:0.75"], "boosting",
     Point("step", None, 10, {"train-rmse": 0.5, "eval-rmse": 0.75})),
    (["[3]\tvalid_0's l2: 0.25"], "boosting", Point("step", None, 3, {"valid_0's l2": 0.25})),
    (["7:\tlearn: 0.6\ttest: 0.55\tbest: 0.5 (3)\ttotal: 2ms\tremaining: 1s"], "catboost",
     Point("step", None, 7, {"learn": 0.6, "test": 0.55, "best": 0.5})),
    (["Iteration 5, loss = 0.25"], "pairs", Point("step", None, 5, {"loss": 0.25})),
    (["[iteration 0001] loss: 2.3"], "pairs", Point("step", None, 1, {"loss": 2.3})),
    (["Epoch 1/10, Loss: 0.5, Acc: 0.9"], "pairs", Point("epoch", 1, None, {"Loss": 0.5, "Acc": 0.9})),
    (["epoch 3 | loss 0.12 | acc 0.9"], "pairs", Point("epoch", 3, None, {"loss": 0.12, "acc": 0.9})),
    (["Train Epoch: 1 [640/60000 (1%)]\tLoss: 2.3"], "pairs", Point("epoch", 1, None, {"Loss": 2.3})),
    (["Test set: Average loss: 0.1, Accuracy: 9800/10000 (98%)"], "pairs",
     Point("step", None, 0, {"Average loss": 0.1})),
    (["epoch: 1, train_loss: 0.2, train_accuracy: 93.0, test_accuracy: 92%"], "pairs",
     Point("epoch", 1, None, {"train_loss": 0.2, "train_accuracy": 93.0, "test_accuracy": 92.0})),
    (["val/loss 0.3  train-acc 0.8  top1 acc 71.5"], "pairs",
     Point("step", None, 0, {"val/loss": 0.3, "train-acc": 0.8, "top1 acc": 71.5})),
    (["Final accuracy: 0.93"], "pairs", Point("step", None, 0, {"Final accuracy": 0.93})),
    (["Best val loss 0.2"], "pairs", Point("step", None, 0, {"Best val loss": 0.2})),
    (["[I 2020-12-16 12:46:55,364] Trial 3 finished with value: 0.8 and parameters: {'lr': 0.1}. "
      "Best is trial 1 with value: 0.9."],
     "optuna", Point("step", None, 3, {"value": 0.8, "best_value": 0.9})),
    (["[CV 1/5] END ....C=1, kernel='rbf';, score=0.933 total time=   0.0s"], "sklearn-cv",
     Point("step", None, 0, {"score": 0.933})),
    (["  Iter       Train Loss   Estimated Time ", "     1           1.2980            7.89m"], "table",
     Point("step", None, 1, {"Train Loss": 1.298})),
    (["epoch     train_loss  valid_loss  accuracy  time    ",
      "0         0.31        0.25        0.91      00:20"], "table",
     Point("epoch", 0, None, {"train_loss": 0.31, "valid_loss": 0.25, "accuracy": 0.91})),
])
def test_other_default_shapes(lines: list[str], rule: str, point: Point) -> None:
    parser = StdoutParser()
    points = [p for line in lines for p in parser.feed(line)]
    assert points == [point]
    assert parser.last_rule == rule


def test_header_lines_set_the_epoch_of_the_lines_after_them() -> None:
    parser = StdoutParser()
    assert parser.feed("-- Epoch 2") == []
    assert parser.feed("Norm: 1.75, NNZs: 2, Bias: 2.12, T: 2000, Avg. loss: 0.014382")[0].epoch == 2


def test_log_table_is_one_point_when_it_closes() -> None:
    lines = ["----------------------", "| rollout/    |       |", "|    ep_rew_mean | 21.5 |", "| train/ |  |",
             "|    loss | -0.01 |", "----------------------"]
    parser = StdoutParser()
    assert [p for line in lines for p in parser.feed(line)] == [
        Point("step", None, 0, {"rollout/ep_rew_mean": 21.5, "train/loss": -0.01})
    ]
    assert parser.last_rule == "log table"


@pytest.mark.parametrize("line", [
    "Time: 3", "seed: 42", "    learning_rate: 0.0005",
    "trainable params: 3,784,704 || all params: 467,772,416 || trainable%: 0.8091",
    "Total training time: 0.00 seconds.", "eta: 4:43:31", "Requirement already satisfied: numpy in /usr/lib (1.25.2)",
    "100/100 [00:01<00:00, 87.3it/s]", "File \"/x/engine.py\", line 220, in train", "Epoch 3/10",
])
def test_other_ordinary_lines_are_not_metrics(line: str) -> None:
    assert StdoutParser().feed(line) == []


def test_hyperparameter_echoes_are_not_metrics() -> None:
    parser = StdoutParser(hyperparameters=["learning-rate", "batch_size", "lr"])
    assert parser.feed("lr=0.01") == [] and parser.last_rule == "echo"
    assert parser.feed("learning_rate: 0.001, batch-size: 32") == []
    assert parser.feed("| epoch   1 | lr 20.0000 | loss  7.64 | ppl  2079.22") == [
        Point("epoch", 1, None, {"loss": 7.64, "ppl": 2079.22})
    ]
    assert parser.echoes == {"lr": "20.0", "learning_rate": "0.001", "batch-size": "32.0"}
    assert parser.feed("loss=0.5")[0].step == 0  # echo lines do not use up steps


def test_parse_stream_takes_hyperparameters_and_closes_open_tables() -> None:
    assert parse_stream("lr=0.1\nloss=0.2", hyperparameters=["lr"]) == [Point("step", None, 0, {"loss": 0.2})]
    assert parse_stream("----------\n| loss | 0.5 |") == [Point("step", None, 0, {"loss": 0.5})]


def test_metrics_and_result_blocks_are_one_point_each() -> None:
    hf = ["***** eval metrics *****", "  epoch                   =       30.0",
          "  eval_loss               =     0.0429", "  eval_runtime            = 0:00:12.24", ""]
    parser = StdoutParser()
    assert [p for line in hf for p in parser.feed(line)] == [Point("epoch", 30, None, {"eval_loss": 0.0429})]
    assert parser.last_rule == "block"
    ray = ["Result for Trainer_00001:", "  epoch: 0", "  pid: 8642", "  val/loss: 0.09", "  done: false"]
    assert parse_stream(ray) == [Point("epoch", 0, None, {"val/loss": 0.09})]  # closed at the end


def test_running_average_with_padding_and_lone_settings() -> None:
    line = "Epoch: [0][  400/80073]\tLoss 6.9802e+00 (7.0827e+00)\tAcc@1   0.00 (  0.08)"
    assert parse_stream([line]) == [Point("epoch", 0, None, {"Loss": 6.9802, "Acc@1": 0.0})]
    assert parse_stream(["[17:10:29] /x/updater_prune.cc:74: tree pruning end, 1 roots, max_depth=3"]) == []
    assert parse_stream(["{'loss': 1.5, 'learning_rate': 1e-05, 'epoch': 0.38}"])[0].metrics == {
        "loss": 1.5, "learning_rate": 1e-05}  # a fractional epoch is where, not a metric


def test_prose_words_around_a_name_are_not_part_of_it() -> None:
    parser = StdoutParser()
    (point,) = parser.feed("the loss is now 0.5")
    assert point.metrics == {"loss": 0.5}
    (point,) = parser.feed("Loss at round 1 is 2.300 and accuracy is 0.9")
    assert "accuracy" in point.metrics and not any(" is" in name or "and " in name for name in point.metrics)
