"""The tracking SDK: the records it writes, when it writes them, artifacts, and life outside HyperTuner."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench_plugin import StoreError, tracking
from workbench_plugin.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]


def records(folder: Path) -> list[dict[str, Any]]:
    data = (folder / "metrics.jsonl").read_bytes()
    assert data == b"" or data.endswith(b"\n"), "only whole lines may reach the file"
    return [json.loads(line) for line in data.splitlines()]


def run_script(tmp_path: Path, source: str, track: Path | None, **kwargs: Any) -> subprocess.Popen[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    if track is not None:
        env["HYPERTUNER_TRACKING_DIR"] = str(track)
        env["HYPERTUNER_EXPERIMENT_ID"] = "e-test"
    return subprocess.Popen(
        [sys.executable, str(script)], env=env, cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )


@pytest.fixture
def track(tmp_path: Path) -> Path:
    folder = tmp_path / "track"
    folder.mkdir()
    return folder


@pytest.fixture
def not_warned_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking, "_warned", False)
    monkeypatch.setattr(tracking, "_default", None)


# ---- records ---------------------------------------------------------------------------------
def test_epoch_step_and_auto_step_records(track: Path) -> None:
    t = Tracker(track)
    before = time.time()
    t.log(epoch=3, loss=0.25, acc=1)
    t.log(step=10, loss=0.5)
    t.log(loss=0.75)  # next step after the last one seen
    t.log(epoch=4, step=20, loss=1.0)
    t.summary(val_acc=0.9)
    t.flush()
    got = records(track)
    assert [(r["kind"], r["epoch"], r["step"]) for r in got] == [
        ("epoch", 3, None), ("step", None, 10), ("step", None, 11), ("epoch", 4, 20), ("summary", None, None),
    ]
    assert got[0]["metrics"] == {"loss": 0.25, "acc": 1.0}
    assert isinstance(got[0]["metrics"]["acc"], float)
    assert got[4]["metrics"] == {"val_acc": 0.9}
    assert all(before <= r["time"] <= time.time() for r in got)
    assert list(got[0]) == ["kind", "epoch", "step", "time", "metrics"]


def test_auto_step_counts_from_zero(track: Path) -> None:
    t = Tracker(track)
    for value in (1, 2, 3):
        t.log(loss=value)
    t.flush()
    assert [r["step"] for r in records(track)] == [0, 1, 2]


def test_values_numpy_bools_and_non_finite(track: Path) -> None:
    t = Tracker(track)
    t.log(epoch=np.int64(2), a=np.float32(0.5), b=np.int64(7), c=True, d=np.array(1.5),
          e=float("nan"), f=float("inf"), g=-np.inf)
    t.flush()
    (r,) = records(track)
    assert r["epoch"] == 2
    assert r["metrics"] == {"a": 0.5, "b": 7.0, "c": 1.0, "d": 1.5, "e": "nan", "f": "inf", "g": "-inf"}


@pytest.mark.parametrize("value", ["0.5", None, [1.0], b"1", object()])
def test_non_numeric_value_names_metric_and_value(track: Path, value: Any) -> None:
    with pytest.raises(TypeError, match=r"metric 'loss' must be a number .*got"):
        Tracker(track).log(epoch=1, loss=value)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"epoch": 1.5}, TypeError), ({"epoch": True}, TypeError), ({"step": "3"}, TypeError), ({"step": -1}, ValueError),
])
def test_bad_epoch_or_step(track: Path, kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match="epoch|step"):
        Tracker(track).log(loss=1.0, **kwargs)


def test_log_needs_a_metric(track: Path) -> None:
    with pytest.raises(TypeError, match="at least one metric"):
        Tracker(track).log(epoch=1)


# ---- buffering ---------------------------------------------------------------------------------
def test_records_are_buffered_then_written_whole(track: Path) -> None:
    t = Tracker(track, max_records=5, max_seconds=3600)
    t.log(loss=0.0)  # the first record goes out at once: the wrapper sees the SDK early
    assert len(records(track)) == 1
    for i in range(4):
        t.log(loss=float(i))
    assert len(records(track)) == 1  # four waiting
    t.log(loss=9.0)  # the fifth waiting record triggers one write
    assert len(records(track)) == 6
    t.log(loss=10.0)
    t.flush()
    assert [r["step"] for r in records(track)] == list(range(7))


def test_a_lone_record_is_written_after_max_seconds(track: Path) -> None:
    t = Tracker(track, max_records=1000, max_seconds=0.2)
    t.log(epoch=1, loss=1.0)
    t.log(epoch=1, val_loss=2.0)  # within max_seconds: waits, and no further call comes
    deadline = time.monotonic() + 10
    while len(records(track)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r["metrics"] for r in records(track)] == [{"loss": 1.0}, {"val_loss": 2.0}]


def test_write_failure_is_a_store_error(tmp_path: Path) -> None:
    t = Tracker(tmp_path / "missing")
    with pytest.raises(StoreError, match="cannot write .*metrics.jsonl"):
        t.log(loss=1.0)


def test_forked_child_does_not_write_the_parents_buffer(track: Path) -> None:
    t = Tracker(track, max_seconds=3600)
    t.log(loss=1.0)
    t.log(loss=2.0)  # buffered in the parent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, Python >= 3.12
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            t.flush()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(records(track)) == 1
    t.flush()
    assert [r["metrics"]["loss"] for r in records(track)] == [1.0, 2.0]


# ---- outside HyperTuner --------------------------------------------------------------------------
@pytest.mark.usefixtures("not_warned_yet")
def test_outside_hypertuner_warns_once_and_records_nothing(tmp_path: Path) -> None:
    assert tracking.active() is False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracking.log(epoch=1, loss=0.5)
        tracking.summary(acc=1.0)
        tracking.flush()
        tracking.log_confusion_matrix([1, 2], [1, 1])
    assert len(caught) == 1
    warning = caught[0]
    assert warning.category is RuntimeWarning
    assert str(warning.message) == tracking.NOT_SET_MESSAGE
    assert warning.filename == __file__  # attributed to the caller's line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("not_warned_yet")
def test_outside_hypertuner_warning_with_pytest_warns() -> None:
    with pytest.warns(RuntimeWarning, match="HYPERTUNER_TRACKING_DIR is not set"):
        Tracker(None).log(loss=1.0)


@pytest.mark.usefixtures("not_warned_yet")
def test_outside_hypertuner_arguments_are_still_checked() -> None:
    with pytest.raises(TypeError, match="metric 'loss'"):
        tracking.log(loss="low")


@pytest.mark.usefixtures("not_warned_yet")
def test_module_api_reads_the_environment(track: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERTUNER_TRACKING_DIR", str(track))
    monkeypatch.setenv("HYPERTUNER_EXPERIMENT_ID", "e42")
    assert tracking.active() is True
    tracking.log(epoch=1, loss=0.5)
    tracking.flush()
    assert records(track)[0]["metrics"] == {"loss": 0.5}
    assert tracking._tracker().experiment_id == "e42"


# ---- artifacts -----------------------------------------------------------------------------------
def test_confusion_matrix_with_examples(track: Path) -> None:
    y_true = np.array([0, 1, 2, 2, 1, 0])
    y_pred = np.array([0, 2, 2, 1, 1, 0])
    images = np.arange(6 * 4).reshape(6, 2, 2)
    Tracker(track).log_confusion_matrix(y_true, y_pred, labels=[0, 1, 2], examples=images)
    data = json.loads((track / "artifacts" / "confusion_matrix.json").read_text())
    assert data["labels"] == [0, 1, 2]
    assert data["matrix"] == [[2, 0, 0], [0, 1, 1], [0, 1, 1]]
    assert data["misclassified"] == [
        {"index": 1, "true": 1, "pred": 2, "example": [[4, 5], [6, 7]]},
        {"index": 3, "true": 2, "pred": 1, "example": [[12, 13], [14, 15]]},
    ]
    assert [p.name for p in (track / "artifacts").iterdir()] == ["confusion_matrix.json"]  # no temp files


def test_confusion_matrix_string_labels_default_order_and_cap(track: Path) -> None:
    y_true = ["dog", "cat", "cat", "bird", "dog"]
    y_pred = ["cat", "cat", "dog", "bird", "bird"]
    Tracker(track).log_confusion_matrix(y_true, y_pred, max_examples=2)
    data = json.loads((track / "artifacts" / "confusion_matrix.json").read_text())
    assert data["labels"] == ["bird", "cat", "dog"]
    assert data["matrix"] == [[1, 0, 0], [0, 1, 1], [1, 1, 0]]
    assert sum(map(sum, data["matrix"])) == len(y_true)
    assert [m["index"] for m in data["misclassified"]] == [0, 2]
    assert data["misclassified_total"] == 3
    assert data["misclassified"][0]["example"] is None


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"y_true": [1, 2], "y_pred": [1]}, "y_true has 2 values but y_pred has 1"),
    ({"y_true": [1, 2], "y_pred": [1, 3], "labels": [1, 2]}, r"labels \[3\] that are not in labels"),
    ({"y_true": [1], "y_pred": [1], "labels": [1, 1]}, "labels must be unique"),
    ({"y_true": [1, 2], "y_pred": [1, 2], "examples": [[0]]}, "examples has 1 items but y_true has 2"),
    ({"y_true": [1], "y_pred": [1], "max_examples": -1}, "max_examples must be an int >= 0"),
])
def test_confusion_matrix_bad_input(track: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Tracker(track).log_confusion_matrix(**kwargs)
    assert not (track / "artifacts" / "confusion_matrix.json").exists()


def test_log_artifact_copies_and_checks_the_name(track: Path, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00weights")
    t = Tracker(track)
    t.log_artifact(source)
    t.log_artifact(str(source), name="copy.bin")
    assert (track / "artifacts" / "model.bin").read_bytes() == b"\x00weights"
    assert (track / "artifacts" / "copy.bin").read_bytes() == b"\x00weights"
    for bad in ("a/b.bin", "..", "x..y", ".hidden", ""):
        with pytest.raises(ValueError, match="artifact name"):
            t.log_artifact(source, name=bad)
    with pytest.raises(FileNotFoundError, match="is not a file"):
        t.log_artifact(tmp_path / "nope.bin")
    assert sorted(p.name for p in (track / "artifacts").iterdir()) == ["copy.bin", "model.bin"]


# ---- real processes ------------------------------------------------------------------------------
def test_script_logging_three_epochs(tmp_path: Path, track: Path) -> None:
    proc = run_script(tmp_path, """
        from workbench_plugin import tracking as ht
        assert ht.active()
        for e in (1, 2, 3):
            ht.log(epoch=e, loss=1 / e, acc=e / 4)
        ht.summary(acc=0.75)
    """, track)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == ""
    got = records(track)
    assert [(r["kind"], r["epoch"]) for r in got] == [("epoch", 1), ("epoch", 2), ("epoch", 3), ("summary", None)]
    assert got[2]["metrics"] == {"loss": pytest.approx(1 / 3), "acc": 0.75}


def test_script_ending_with_sys_exit_flushes(tmp_path: Path, track: Path) -> None:
    proc = run_script(tmp_path, """
        import sys
        from workbench_plugin import tracking as ht
        for s in range(50):
            ht.log(loss=s)
        sys.exit(3)
    """, track)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert [r["step"] for r in records(track)] == list(range(50))


def test_script_killed_by_sigterm_has_flushed_whole_lines(tmp_path: Path, track: Path) -> None:
    proc = run_script(tmp_path, """
        import os, time
        from workbench_plugin import tracking as ht
        t = ht.Tracker(os.environ["HYPERTUNER_TRACKING_DIR"], max_seconds=3600)
        for e in range(1, 6):
            t.log(epoch=e, loss=1 / e)  # the first is written at once, four wait in memory
        print("ready", flush=True)
        time.sleep(60)
    """, track)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    assert len(records(track)) == 1
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM  # still "ended by SIGTERM" for the wrapper
    assert [r["epoch"] for r in records(track)] == [1, 2, 3, 4, 5]


def test_script_outside_hypertuner_warns_once_and_runs(tmp_path: Path) -> None:
    proc = run_script(tmp_path, """
        from workbench_plugin import tracking as ht
        for e in range(3):
            ht.log(epoch=e, loss=1.0)
        ht.summary(loss=1.0)
        ht.flush()
        print("finished")
    """, None)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == "finished"
    assert err.count("HYPERTUNER_TRACKING_DIR is not set") == 1
    assert "script.py:4: RuntimeWarning" in err


def test_read_records_decodes_what_the_sdk_wrote_and_leaves_a_partial_line(tmp_path: Path) -> None:
    """The wrapper reads the SDK's file with the SDK's own codec: NaN/inf round-trip, torn lines wait."""
    tracker = Tracker(tmp_path)
    tracker.log(epoch=1, loss=float("nan"), acc=float("inf"))
    tracker.summary(best=-float("inf"))
    tracker.flush()
    path = tmp_path / tracking.METRICS_FILE
    with open(path, "ab") as fh:
        fh.write(b'not json\n{"kind": "epoch", "epoch": 2, "metrics": {"loss": "abc"}}\n{"kind": "ep')
    records, offset = tracking.read_records(path)
    assert [(r.kind, r.epoch, r.step) for r in records] == [("epoch", 1, None), ("summary", None, None)]
    assert math.isnan(records[0].metrics["loss"]) and records[0].metrics["acc"] == math.inf
    assert records[1].metrics == {"best": -math.inf}
    with open(path, "ab") as fh:
        fh.write(b'och", "epoch": 3, "step": null, "time": 5.0, "metrics": {"loss": 0.5}}\n')
    more, end = tracking.read_records(path, offset)
    assert more == [tracking.Record("epoch", 3, None, 5.0, {"loss": 0.5})]
    assert end == path.stat().st_size
    assert tracking.read_records(tmp_path / "missing.jsonl", 7) == ([], 7)
