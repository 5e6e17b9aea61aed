"""The tracking SDK: what a training script calls to record metrics and artifacts.

Standard library only: it is imported by users' training scripts, which may not have numpy or
pyarrow. Numpy values are accepted by duck typing (``float(x)``, ``x.tolist()``)::

    from workbench_plugin import tracking as ht

    for epoch in range(1, epochs + 1):
        ...
        ht.log(epoch=epoch, loss=loss, val_acc=val_acc)
    ht.summary(val_acc=best)
    ht.log_confusion_matrix(y_val, y_pred, labels=list(range(10)), examples=images)
    ht.log_curve("k", ks, inertia=inertias)          # artifacts/curve_k.json: the elbow chart
    ht.log_scores(y_val, proba[:, 1], pos_label=1)   # artifacts/scores.json: ROC and PR curves

The experiment wrapper runs the script with ``HYPERTUNER_TRACKING_DIR`` set (the only
environment the SDK reads, once, in :meth:`Tracker.from_env`). Each ``log``/``summary`` call
becomes one JSON line of ``$HYPERTUNER_TRACKING_DIR/metrics.jsonl``::

    {"kind": "epoch", "epoch": 3, "step": null, "time": 1700000000.5, "metrics": {"loss": 0.25}}

``kind`` is ``"epoch"`` when an epoch is given, ``"step"`` otherwise (the step counts up from 0
when neither is given) and ``"summary"`` for :func:`summary`. Values are floats; NaN and
infinities are not valid JSON, so they are written as the strings ``"nan"``, ``"inf"`` and
``"-inf"``. The wrapper reads only complete lines, so records are buffered and written whole,
in one ``write``: when 1,000 are waiting, 1 s after the previous write (a daemon thread makes
sure a lone record does not wait for the next call), on :func:`flush`, at interpreter exit and
on SIGTERM (when the script has not installed its own handler).

Artifacts go to ``$HYPERTUNER_TRACKING_DIR/artifacts/``, written under a temporary name and
renamed into place. Outside HyperTuner (no ``HYPERTUNER_TRACKING_DIR``) nothing is recorded
and one ``RuntimeWarning`` per process says so; arguments are still checked, so a script that
runs on a laptop does not fail on the cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import operator
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, SupportsIndex

from workbench_plugin._exceptions import StoreError
from workbench_plugin._tracking_curves import (
    CURVE_FILE_FORMAT,
    CURVE_FILE_PATTERN,
    MAX_CURVE_POINTS,
    MAX_CURVE_SERIES,
    MAX_SCORES,
    SCORES_FILE,
    curve_data,
    curve_file,
    label_value,
    scores_data,
)

__all__ = [
    "METRICS_FILE",
    "SDK_MARKER",
    "ARTIFACTS_DIR",
    "CONFUSION_MATRIX_FILE",
    "CURVE_FILE_FORMAT",
    "CURVE_FILE_PATTERN",
    "MAX_CURVE_POINTS",
    "MAX_CURVE_SERIES",
    "MAX_SCORES",
    "SCORES_FILE",
    "ENV_DIR",
    "ENV_EXPERIMENT",
    "ENV_RUN",
    "Record",
    "Tracker",
    "decode_value",
    "read_records",
    "confusion_matrix_data",
    "curve_data",
    "curve_file",
    "scores_data",
    "log",
    "summary",
    "log_confusion_matrix",
    "log_curve",
    "log_scores",
    "log_artifact",
    "flush",
    "active",
]

METRICS_FILE = "metrics.jsonl"
#: Created in the tracking directory when the SDK is imported: the wrapper then knows the script
#: reports through the SDK and does not also parse its stdout, even lines printed before log().
SDK_MARKER = "sdk-imported"
ARTIFACTS_DIR = "artifacts"
CONFUSION_MATRIX_FILE = "confusion_matrix.json"
#: The environment the wrapper gives the script (the SDK reads only ``ENV_DIR`` and ``ENV_EXPERIMENT``).
ENV_DIR = "HYPERTUNER_TRACKING_DIR"
ENV_EXPERIMENT = "HYPERTUNER_EXPERIMENT_ID"
ENV_RUN = "HYPERTUNER_RUN_ID"
NOT_SET_MESSAGE = (
    "hypertuner tracking: HYPERTUNER_TRACKING_DIR is not set, metrics are not recorded "
    "(run the script through hypertuner)"
)

_warned = False  # the "not set" warning is given once per process
_warn_lock = threading.Lock()
_trackers: weakref.WeakSet[Tracker] = weakref.WeakSet()  # active ones, for SIGTERM and fork


def _warn_not_set() -> None:
    """Warn once per process, attributed to the first frame outside this module (the user's call)."""
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    warnings.warn(NOT_SET_MESSAGE, RuntimeWarning, stacklevel=level)


# ---- values ----------------------------------------------------------------------------------
def _json_float(name: str, value: Any) -> str:
    """One metric value as JSON text: a float, or "nan" / "inf" / "-inf" as strings."""
    if type(value) is float:
        f = value
    elif isinstance(value, str | bytes | bytearray) or value is None:
        raise _not_a_number(name, value)
    else:
        try:
            f = float(value)  # int, bool, numpy scalars, 0-d arrays, tensors
        except (TypeError, ValueError):
            raise _not_a_number(name, value) from None
    if f - f == 0.0:  # finite
        return repr(f)
    return '"nan"' if f != f else ('"inf"' if f > 0 else '"-inf"')


def decode_value(value: Any) -> float:
    """A metric value as :func:`_json_float` wrote it: a number, or "nan" / "inf" / "-inf"."""
    if isinstance(value, str):
        return float(value)
    return math.nan if value is None else float(value)


class Record(NamedTuple):
    """One line of ``metrics.jsonl``, decoded."""

    kind: str  #: "epoch", "step" or "summary"
    epoch: int | None
    step: int | None
    time: float | None
    metrics: dict[str, float]


def read_records(path: str | os.PathLike[str], offset: int = 0) -> tuple[list[Record], int]:
    """The complete records of ``metrics.jsonl`` from byte ``offset`` on, and the offset after them.

    A line still being written (no newline yet) is left for the next read; a line that is not a
    record (not JSON, or not an object with ``metrics``) is skipped.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # only complete lines
    records = []
    for line in data[:end].splitlines():
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            metrics = {str(k): decode_value(v) for k, v in raw.get("metrics", {}).items()}
            epoch, step, t = raw.get("epoch"), raw.get("step"), raw.get("time")
            records.append(Record(str(raw.get("kind", "step")), None if epoch is None else int(epoch),
                                  None if step is None else int(step), None if t is None else float(t), metrics))
        except (ValueError, TypeError, AttributeError):
            continue
    return records, offset + end


def _not_a_number(name: str, value: Any) -> TypeError:
    return TypeError(
        f"hypertuner tracking: metric {name!r} must be a number (int, float, bool or a numpy scalar), "
        f"got {value!r} of type {type(value).__name__}"
    )


def _counter(name: str, value: Any) -> int:
    """An epoch or step: a non-negative int (numpy ints welcome, bools and floats are not)."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, bool):
        raise TypeError(f"hypertuner tracking: {name} must be an int, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(
            f"hypertuner tracking: {name} must be an int, got {value!r} of type {type(value).__name__}"
        ) from None
    if n < 0:
        raise ValueError(f"hypertuner tracking: {name} must be >= 0, got {n}")
    return n


_NAMES: dict[str, str] = {}  # metric name -> its JSON text, for speed


def _encode_metrics(metrics: Mapping[str, Any]) -> str:
    parts = []
    for name, value in metrics.items():
        key = _NAMES.get(name)
        if key is None:
            if not isinstance(name, str) or not name:
                raise TypeError(f"hypertuner tracking: metric names must be non-empty strings, got {name!r}")
            key = json.dumps(name)
            if len(_NAMES) < 10_000:
                _NAMES[name] = key
        if type(value) is float and value - value == 0.0:  # the common case, inlined
            parts.append(f"{key}: {value!r}")
        else:
            parts.append(f"{key}: {_json_float(name, value)}")
    return ", ".join(parts)


def _plain(values: Any, what: str) -> list[Any]:
    """A sequence (list, tuple, numpy array, pandas Series...) as a list of Python values."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(f"hypertuner tracking: {what} must be a sequence of labels, got {type(values).__name__}")
    return list(values)


def _jsonable(value: Any, where: str) -> Any:
    """An example as plain JSON: nested lists of numbers/strings (numpy arrays via .tolist())."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value - value == 0.0 else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, list | tuple):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    raise TypeError(
        f"hypertuner tracking: {where} must be plain data (numbers, strings, nested lists or a numpy "
        f"array), got {type(value).__name__}"
    )


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise ValueError(
            f"hypertuner tracking: artifact name {name!r} is not allowed; use a plain file name "
            "without '/', '..' or a leading '.', as in 'model.pkl'"
        )
    return name


# ---- the tracker -----------------------------------------------------------------------------
class Tracker:
    """Records metrics and artifacts into one tracking directory (nothing when it is ``None``).

    Most scripts use the module-level functions, which delegate to one tracker built from the
    environment. ``max_records`` and ``max_seconds`` bound what waits in memory.
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None, *, experiment_id: str | None = None,
        max_records: int = 1000, max_seconds: float = 1.0,
    ) -> None:
        if max_records < 1 or max_seconds <= 0:
            raise ValueError(
                f"hypertuner tracking: max_records must be >= 1 and max_seconds > 0, "
                f"got {max_records} and {max_seconds}"
            )
        self.directory = os.fspath(directory) if directory else None
        self.experiment_id = experiment_id
        self.max_records = max_records
        self.max_seconds = max_seconds
        self._next_step = 0
        self._error: StoreError | None = None
        self._thread: threading.Thread | None = None
        self._reset_buffer()
        self.metrics_path = os.path.join(self.directory, METRICS_FILE) if self.directory else ""
        if self.directory is not None:
            _trackers.add(self)
            atexit.register(self._flush_at_exit)
            _install_sigterm_flush()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Tracker:
        """The tracker the experiment wrapper asked for (the one place the SDK reads the environment)."""
        env = os.environ if environ is None else environ
        return cls(env.get(ENV_DIR) or None, experiment_id=env.get(ENV_EXPERIMENT) or None)

    def _reset_buffer(self) -> None:
        self._lock = threading.RLock()  # re-entrant: the SIGTERM handler may interrupt a holder
        self._wake = threading.Condition(self._lock)
        self._buffer: list[str] = []
        self._last_write = time.monotonic() - self.max_seconds  # the first record goes out at once
        self._pid = os.getpid()

    @property
    def active(self) -> bool:
        return self.directory is not None

    # ---- metrics -----------------------------------------------------------------------------
    def log(self, step: SupportsIndex | None = None, epoch: SupportsIndex | None = None, **metrics: Any) -> None:
        """Record metrics for an epoch, a step, or the next step (counting from 0)."""
        if not metrics:
            raise TypeError("hypertuner tracking: log() needs at least one metric, as in log(epoch=3, loss=0.25)")
        body = _encode_metrics(metrics)
        e = None if epoch is None else _counter("epoch", epoch)
        s = None if step is None else _counter("step", step)
        if self.directory is None:
            _warn_not_set()
            return
        now = time.time()
        with self._lock:
            if s is None and e is None:
                s = self._next_step
            if s is not None:
                self._next_step = s + 1
            self._append(
                f'{{"kind": "{"step" if e is None else "epoch"}", "epoch": {"null" if e is None else e}, '
                f'"step": {"null" if s is None else s}, "time": {now!r}, "metrics": {{{body}}}}}\n'
            )

    def summary(self, **metrics: Any) -> None:
        """Record the final results of the script (one record; later ones win per name)."""
        if not metrics:
            raise TypeError("hypertuner tracking: summary() needs at least one metric, as in summary(val_acc=0.97)")
        body = _encode_metrics(metrics)
        if self.directory is None:
            _warn_not_set()
            return
        now = time.time()
        with self._lock:
            self._append(
                f'{{"kind": "summary", "epoch": null, "step": null, "time": {now!r}, "metrics": {{{body}}}}}\n'
            )

    def _append(self, line: str) -> None:  # holding the lock
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        buffer = self._buffer
        buffer.append(line)
        if len(buffer) >= self.max_records or time.monotonic() - self._last_write >= self.max_seconds:
            self._write()
        elif len(buffer) == 1:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._flusher, name="hypertuner-tracking", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _write(self) -> None:  # holding the lock
        """Write the whole buffer with one write(); only complete lines ever reach the file."""
        self._last_write = time.monotonic()
        buffer = self._buffer
        if not buffer:
            return
        count = len(buffer)
        data = "".join(buffer).encode()
        assert self.directory is not None
        try:
            fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except OSError as exc:
            del buffer[:count]  # a directory that is gone will not come back; do not grow forever
            raise StoreError(
                f"hypertuner tracking: cannot write {self.metrics_path}: {exc.strerror or exc}; "
                f"{ENV_DIR} must name a writable directory"
            ) from exc
        # Cleared only once written: a SIGTERM arriving mid-write re-writes (the reader keeps the
        # last value per point) rather than loses records.
        del buffer[:count]

    def _flusher(self) -> None:
        """Daemon thread: a record never waits more than ``max_seconds`` for the next call."""
        with self._wake:
            while True:
                if not self._buffer:
                    self._wake.wait()
                    continue
                delay = self._last_write + self.max_seconds - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                try:
                    self._write()
                except StoreError as exc:
                    self._error = exc  # raised by the script's next call

    def flush(self) -> None:
        """Write every waiting record now."""
        if self.directory is None:
            _warn_not_set()
            return
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            self._write()

    def _flush_at_exit(self) -> None:
        if os.getpid() == self._pid:
            self.flush()

    def _after_fork(self) -> None:
        """In a forked child: records in the buffer belong to the parent, which writes them."""
        self._reset_buffer()
        self._thread = None
        self._error = None

    # ---- artifacts ---------------------------------------------------------------------------
    def log_confusion_matrix(
        self, y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None, examples: Any = None,
        max_examples: int = 500,
    ) -> None:
        """Write ``artifacts/confusion_matrix.json``: counts (rows true, columns predicted) and misclassified examples.

        ``labels`` (ints or strings) fixes the order; by default the sorted labels seen.
        ``examples[i]`` (e.g. an 8x8 image) is kept for up to ``max_examples`` misclassified ``i``.
        """
        data = confusion_matrix_data(y_true, y_pred, labels=labels, examples=examples, max_examples=max_examples)
        if self.directory is None:
            _warn_not_set()
            return
        self._write_artifact(CONFUSION_MATRIX_FILE, json.dumps(data, allow_nan=False, separators=(",", ":")).encode())

    def log_curve(self, x_name: str, x: Any, **ys: Any) -> None:
        """Write ``artifacts/curve_<x_name>.json``: metrics against a model-size hyperparameter.

        ``log_curve("k", ks, inertia=inertias, silhouette=scores)``: ``x`` strictly increasing,
        each metric one finite number (or ``None``: no value) per x; the elbow view draws it.
        """
        data = curve_data(x_name, x, ys)
        if self.directory is None:
            _warn_not_set()
            return
        self._write_artifact(curve_file(x_name), json.dumps(data, allow_nan=False, separators=(",", ":")).encode())

    def log_scores(self, y_true: Any, scores: Any, pos_label: Any = None, max_points: int = MAX_SCORES) -> None:
        """Write ``artifacts/scores.json``: a binary classifier's true classes and positive-class scores.

        ``pos_label`` names the positive class (needed unless the classes are 0/1 or -1/1); more
        than ``max_points`` samples are subsampled evenly in score order. The ROC/PR view draws it.
        """
        data = scores_data(y_true, scores, pos_label=pos_label, max_points=max_points)
        if self.directory is None:
            _warn_not_set()
            return
        self._write_artifact(SCORES_FILE, json.dumps(data, allow_nan=False, separators=(",", ":")).encode())

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        """Copy a file into ``artifacts/`` (as ``name``, by default its file name)."""
        source = os.fspath(path)
        name = _check_name(os.path.basename(source) if name is None else name)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"hypertuner tracking: log_artifact: {source!r} is not a file")
        if self.directory is None:
            _warn_not_set()
            return
        self._write_artifact(name, source=source)

    def _write_artifact(self, name: str, data: bytes | None = None, *, source: str | None = None) -> None:
        assert self.directory is not None
        folder = os.path.join(self.directory, ARTIFACTS_DIR)
        tmp = None
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                if source is not None:
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, fh, 1 << 20)
                else:
                    assert data is not None
                    fh.write(data)
            os.chmod(tmp, 0o644)  # mkstemp makes it private
            os.replace(tmp, os.path.join(folder, name))
        except OSError as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise StoreError(
                f"hypertuner tracking: cannot write artifact {name!r} in {folder}: {exc.strerror or exc}"
            ) from exc


def confusion_matrix_data(
    y_true: Any, y_pred: Any, *, labels: Sequence[Any] | None = None, examples: Any = None,
    max_examples: int = 500,
) -> dict[str, Any]:
    """The content of ``confusion_matrix.json`` as plain data (checked, nothing written)."""
    true = [label_value(v, "y_true") for v in _plain(y_true, "y_true")]
    pred = [label_value(v, "y_pred") for v in _plain(y_pred, "y_pred")]
    if len(true) != len(pred):
        raise ValueError(f"hypertuner tracking: y_true has {len(true)} values but y_pred has {len(pred)}")
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 0:
        raise ValueError(f"hypertuner tracking: max_examples must be an int >= 0, got {max_examples!r}")
    if labels is None:
        order = sorted(set(true) | set(pred), key=lambda v: (isinstance(v, str), v))
    else:
        order = [label_value(v, "labels") for v in _plain(labels, "labels")]
        if len(set(order)) != len(order):
            raise ValueError(f"hypertuner tracking: labels must be unique, got {order}")
        unknown = sorted((set(true) | set(pred)) - set(order), key=lambda v: (isinstance(v, str), v))
        if unknown:
            raise ValueError(
                f"hypertuner tracking: y_true/y_pred hold labels {unknown[:10]} that are not in labels={order}; "
                "add them to labels or leave labels out"
            )
    if examples is not None:
        if not hasattr(examples, "__getitem__") or not hasattr(examples, "__len__"):
            examples = list(examples)
        if len(examples) != len(true):
            raise ValueError(
                f"hypertuner tracking: examples has {len(examples)} items but y_true has {len(true)}; "
                "pass one example per sample"
            )
    index = {label: i for i, label in enumerate(order)}
    matrix = [[0] * len(order) for _ in order]
    wrong = []
    for i, (t, p) in enumerate(zip(true, pred, strict=True)):
        matrix[index[t]][index[p]] += 1
        if t != p:
            wrong.append(i)
    misclassified = [
        {"index": i, "true": true[i], "pred": pred[i],
         "example": None if examples is None else _jsonable(examples[i], f"examples[{i}]")}
        for i in wrong[:max_examples]
    ]
    return {"labels": order, "matrix": matrix, "misclassified": misclassified, "misclassified_total": len(wrong)}


# ---- process-wide hooks ------------------------------------------------------------------------
_sigterm_installed = False


def _on_sigterm(signum: int, frame: object) -> None:
    """Write what is buffered, then die of SIGTERM as if no handler were installed."""
    for tracker in list(_trackers):
        with contextlib.suppress(Exception):
            tracker._flush_at_exit()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _install_sigterm_flush() -> None:
    """Flush on SIGTERM, but only where the script left SIGTERM to its default (main thread only)."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    _sigterm_installed = True
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)


def _after_fork_in_child() -> None:
    global _warn_lock, _default_lock
    _warn_lock, _default_lock = threading.Lock(), threading.Lock()  # another thread may have held them
    for tracker in list(_trackers):
        tracker._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---- the module-level API ----------------------------------------------------------------------
_default: Tracker | None = None
_default_lock = threading.Lock()


def _tracker() -> Tracker:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Tracker.from_env()
    return _default


def log(step: SupportsIndex | None = None, epoch: SupportsIndex | None = None, **metrics: Any) -> None:
    """Record metrics, e.g. ``log(epoch=3, loss=0.25, val_acc=0.9)`` or ``log(step=100, loss=0.3)``."""
    _tracker().log(step=step, epoch=epoch, **metrics)


def summary(**metrics: Any) -> None:
    """Record final results, e.g. ``summary(val_acc=0.97, fit_seconds=12.5)``."""
    _tracker().summary(**metrics)


def log_confusion_matrix(
    y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None, examples: Any = None, max_examples: int = 500,
) -> None:
    """Record a confusion matrix and up to ``max_examples`` misclassified examples."""
    _tracker().log_confusion_matrix(y_true, y_pred, labels=labels, examples=examples, max_examples=max_examples)


def log_curve(x_name: str, x: Any, **ys: Any) -> None:
    """Record metrics against a model-size hyperparameter, e.g. ``log_curve("k", ks, inertia=inertias)``."""
    _tracker().log_curve(x_name, x, **ys)


def log_scores(y_true: Any, scores: Any, pos_label: Any = None, max_points: int = MAX_SCORES) -> None:
    """Record a binary classifier's scores for ROC and precision-recall curves."""
    _tracker().log_scores(y_true, scores, pos_label=pos_label, max_points=max_points)


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> None:
    """Copy a file into the experiment's artifacts."""
    _tracker().log_artifact(path, name)


def flush() -> None:
    """Write every buffered record now (also done at exit)."""
    _tracker().flush()


def active() -> bool:
    """Whether metrics are recorded (the script runs under HyperTuner)."""
    return _tracker().active


def _announce() -> None:
    directory = os.environ.get(ENV_DIR)
    if directory:
        with contextlib.suppress(OSError):
            open(os.path.join(directory, SDK_MARKER), "ab").close()


_announce()
