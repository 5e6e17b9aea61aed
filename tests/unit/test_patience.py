"""The container's store waits out outages: every call retries while the store is unavailable,
a write whose answer was lost is not written twice, and the wait is said once per outage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workbench_plugin import StoreError, StoreUnavailable
from workbench_plugin.fs import LocalFileSystem
from workbench_plugin.patience import PatientFileSystem


class Outage:
    """A local filesystem whose next ``down`` calls fail as an unreachable NameNode would;
    with ``lose_answer``, a write happens but its caller hears the failure."""

    def __init__(self, root: Path, down: int = 0, *, lose_answer: bool = False) -> None:
        self.fs = LocalFileSystem(str(root))
        self.down = down
        self.lose_answer = lose_answer
        self.calls: list[str] = []

    def _call(self, name: str, fn: Any, *args: Any) -> Any:
        self.calls.append(name)
        if self.lose_answer and name in ("write_atomic", "create_exclusive"):
            self.lose_answer = False
            fn(*args)
            raise StoreUnavailable("store: the NameNode at http://nn:9870 did not answer in 30 s")
        if self.down > 0:
            self.down -= 1
            raise StoreUnavailable("store: the NameNode at http://nn:9870 is unreachable (connection refused)")
        return fn(*args)

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self._call(name, getattr(self.fs, name), *args)


def patient(inner: Any, **kw: Any) -> tuple[PatientFileSystem, list[str], list[float]]:
    said: list[str] = []
    slept: list[float] = []
    return PatientFileSystem(inner, on_wait=said.append, sleep=slept.append, **kw), said, slept


def test_calls_wait_out_an_outage_and_say_so_once(tmp_path: Path) -> None:
    inner = Outage(tmp_path, down=5)
    fs, said, slept = patient(inner, first_delay=0.5, max_delay=2.0)
    fs.write_atomic("runs/r/states/a.json", b"{}")
    assert (tmp_path / "runs/r/states/a.json").read_bytes() == b"{}"
    assert slept == [0.5, 1.0, 2.0, 2.0, 2.0]  # backoff, capped
    assert said == ["store: the NameNode at http://nn:9870 is unreachable (connection refused); "
                    "waiting up to 900 s for the store", "the store answers again"]
    inner.down = 2
    assert fs.listdir("runs/r/states") == ["a.json"]
    assert len(said) == 4  # a second outage is said again, once


def test_a_write_whose_answer_was_lost_is_not_written_again(tmp_path: Path) -> None:
    inner = Outage(tmp_path, lose_answer=True)
    fs, _, _ = patient(inner)
    fs.write_atomic("parts/p1.parquet", b"data")  # published, then "timed out": no "already exists"
    assert (tmp_path / "parts/p1.parquet").read_bytes() == b"data"
    assert inner.calls.count("write_atomic") == 1
    inner.lose_answer = True
    assert fs.create_exclusive("claims/x.json", b"mine") is True  # the lost answer was a win
    assert fs.create_exclusive("claims/x.json", b"someone else") is False


def test_it_gives_up_after_its_patience(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench_plugin.patience as patience_module

    clock = [0.0]
    monkeypatch.setattr(patience_module.time, "monotonic", lambda: clock[0])
    fs = PatientFileSystem(Outage(tmp_path, down=10**6), patience=5.0,
                           sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    with pytest.raises(StoreUnavailable, match="unreachable"):
        fs.read_bytes("x")
    assert 5.0 <= clock[0] < 6.0


def test_other_store_errors_are_not_retried(tmp_path: Path) -> None:
    inner = Outage(tmp_path)
    fs, said, slept = patient(inner)
    fs.write_atomic("a", b"1")
    with pytest.raises(StoreError, match="already exists"):
        fs.write_atomic("a", b"2")
    with pytest.raises(FileNotFoundError):
        fs.read_bytes("missing")
    assert said == [] and slept == []
