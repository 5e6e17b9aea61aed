"""Metrics parts as CSV (what the wrapper writes, without pyarrow) read back as the very table a
Parquet part of the same points gives; bad points refused at write, damaged parts told apart."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench_plugin import StoreError
from workbench_plugin.store import DAMAGE_ERRORS, METRIC_COLUMNS, POINT_COLUMNS, Store

ROOT = Path(__file__).resolve().parents[2]

# text with what CSV must quote (commas, quotes, line breaks) mixed into any other characters
# (lone surrogates, which UTF-8 cannot hold, have a test of their own)
_tricky = st.text(alphabet=st.sampled_from(',"\r\n \t;') | st.characters(blacklist_categories=("Cs",)),
                  max_size=12)
_int64 = st.none() | st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
_float = st.none() | st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def _rows(draw: st.DrawFn) -> dict[str, list[Any]]:
    n = draw(st.integers(min_value=0, max_value=12))
    kinds = {"experiment_id": _tricky, "kind": st.sampled_from(["epoch", "step", "summary"]) | _tricky,
             "epoch": _int64, "step": _int64, "time": _float, "name": st.sampled_from(["", "nan", "NA", "null"])
             | _tricky, "value": _float, "source": st.sampled_from(["sdk", "stdout"])}
    return {c: [draw(kinds[c]) for _ in range(n)] for c in METRIC_COLUMNS}


def _cells(table: Any) -> list[tuple[Any, ...]]:
    """Rows of ``table`` with floats compared bit for bit (-0.0 is not 0.0) and every NaN one."""
    def cell(v: Any) -> Any:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else struct.pack(">d", v)
        return v

    return [tuple(cell(v) for v in row.values()) for row in table.to_pylist()]


def _both(tmp_path: Path, rows: dict[str, list[Any]]) -> tuple[Store, str, str]:
    store = Store(str(tmp_path / "store"))
    csv_part = store.write_metrics_part("p", "r", "r-0", 0, rows)
    parquet_part = store.write_metrics_part("p", "r", "r-0", 1, rows, format="parquet")
    return store, csv_part, parquet_part


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows())
def test_a_csv_part_reads_as_the_same_table_as_a_parquet_part(tmp_path_factory: pytest.TempPathFactory,
                                                              rows: dict[str, list[Any]]) -> None:
    store, csv_part, parquet_part = _both(tmp_path_factory.mktemp("parts"), rows)
    assert csv_part.endswith(".csv") and parquet_part.endswith(".parquet")
    for columns in (POINT_COLUMNS, METRIC_COLUMNS, ("name", "value")):
        from_csv = store.read_metrics_part(csv_part, columns).combine_chunks()
        from_parquet = store.read_metrics_part(parquet_part, columns).combine_chunks()
        assert from_csv.schema == from_parquet.schema
        assert _cells(from_csv) == _cells(from_parquet)


def test_names_and_numbers_that_look_alike_survive(tmp_path: Path) -> None:
    rows = {"experiment_id": ["r-0"] * 6, "kind": ["step"] * 6, "epoch": [None, 0, (1 << 63) - 1, -(1 << 63), 7, None],
            "step": [None, None, 3, 4, None, 5], "time": [1.5, 0.1, 1e300, 5e-324, -0.0, 2.0],
            "name": ["", "nan", "a,b", 'say "hi"\r\nthen', "ünï 日本 ", "null"],
            "value": [math.nan, math.inf, -math.inf, 10.0**20, -0.0, 1 / 3], "source": ["sdk"] * 6}
    store, csv_part, _ = _both(tmp_path, rows)
    table = store.read_metrics_part(csv_part, METRIC_COLUMNS).to_pydict()
    assert table["name"] == rows["name"]  # "" and "nan" are names, not nulls
    assert table["epoch"] == rows["epoch"] and table["step"] == rows["step"]
    assert table["time"] == rows["time"] and math.copysign(1, table["time"][4]) == -1
    assert math.isnan(table["value"][0]) and table["value"][1:] == rows["value"][1:]


@pytest.mark.parametrize(("column", "value", "error", "words"), [
    ("epoch", 1 << 63, OverflowError, "epoch 9223372036854775808 is outside the 64-bit integers"),
    ("step", -(1 << 63) - 1, OverflowError, "step -9223372036854775809 is outside"),
    ("epoch", 1.5, TypeError, "integer"),
    ("name", None, TypeError, "name None is not a string"),
    ("value", "high", ValueError, "high"),
])
def test_a_point_that_cannot_be_stored_is_refused_at_write(tmp_path: Path, column: str, value: Any,
                                                           error: type[Exception], words: str) -> None:
    rows: dict[str, list[Any]] = {"experiment_id": ["r-0"], "kind": ["epoch"], "epoch": [1], "step": [None],
                                  "time": [1.0], "name": ["loss"], "value": [0.5], "source": ["sdk"]}
    rows[column] = [value]
    store = Store(str(tmp_path / "store"))
    with pytest.raises(error, match=words):
        store.write_metrics_part("p", "r", "r-0", 0, rows)
    assert store.fs.listdir("projects/p/runs/r/metrics") == []  # nothing half-written


def test_columns_of_different_lengths_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    rows: dict[str, list[Any]] = {c: ["x"] for c in METRIC_COLUMNS}
    rows["value"] = [1.0, 2.0]
    store = Store(str(tmp_path / "store"))
    with pytest.raises(ValueError, match="the columns differ in length: .*value 2"):
        store.write_metrics_part("p", "r", "r-0", 0, rows)
    with pytest.raises(StoreError, match="format: 'json' is not one of csv, parquet"):
        store.write_metrics_part("p", "r", "r-0", 0, rows, format="json")


HEADER = b"experiment_id,kind,epoch,step,time,name,value,source\r\n"
ROW = b"r-0,epoch,1,,1.0,loss,0.5,sdk\r\n"


@pytest.mark.parametrize("data", [
    HEADER + ROW[:17],  # cut short inside a row
    HEADER + ROW + b'r-0,epoch,2,,1.0,"loss,0.5,sdk\r\n',  # a quote never closed
    HEADER + b"r-0,epoch,1,,1.0,loss,half,sdk\r\n",  # not a number
    HEADER + b"r-0,epoch,1.5,,1.0,loss,0.5,sdk\r\n",  # not an integer
    HEADER + b"r-0,epoch,1,,1.0,loss,0.5,sdk,extra\r\n",  # a column too many
    HEADER + b"r-0,epoch,1,,1.0,lo\xffss,0.5,sdk\r\n",  # not UTF-8
    b"experiment_id,kind,epoch\r\nr-0,epoch,1\r\n",  # another header
    b"",
    b"PAR1garbage",
], ids=["cut", "open-quote", "bad-float", "bad-int", "extra-column", "not-utf8", "other-header", "empty", "garbage"])
def test_a_damaged_csv_part_raises_a_damage_error(tmp_path: Path, data: bytes) -> None:
    store = Store(str(tmp_path / "store"))
    store.fs.write_atomic("projects/p/runs/r/metrics/r-0~000000~abcdef.csv", data)
    with pytest.raises(DAMAGE_ERRORS):
        store.read_metrics_part("projects/p/runs/r/metrics/r-0~000000~abcdef.csv")


def test_writing_a_part_needs_no_pyarrow() -> None:
    """The wrapper starts and writes its parts without loading pyarrow, pandas or numpy."""
    code = ("import sys, tempfile\n"
            "import spark_jobs.experiment_wrapper\n"
            "from workbench_plugin.store import Store, METRIC_COLUMNS\n"
            "store = Store(tempfile.mkdtemp())\n"
            "rows = {c: ['x'] for c in METRIC_COLUMNS}\n"
            "rows.update(epoch=[1], step=[None], time=[1.0], value=[0.5])\n"
            "store.write_metrics_part('p', 'r', 'r-0', 0, rows)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'pandas', 'numpy'}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "[]", done.stderr


def test_a_lone_surrogate_in_a_name_is_written_as_a_question_mark(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    rows = {c: [v] for c, v in zip(METRIC_COLUMNS, ("r-0", "epoch", 1, None, 1.0, "loss\ud800", 0.5, "sdk"),
                                   strict=True)}
    path = store.write_metrics_part("p", "r", "r-0", 0, rows)  # the part is kept, not lost
    assert store.read_metrics_part(path, ("name",)).column("name").to_pylist() == ["loss?"]
