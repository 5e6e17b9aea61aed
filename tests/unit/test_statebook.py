"""StateBook and JsonRecords: a compaction's states kept as columns answer as the folded objects do."""

from __future__ import annotations

import json
import time

from workbench_plugin.lifecycle import USAGE_EXPECTED, ExperimentState, State
from workbench_plugin.statebook import JsonRecords, StateBook, StateColumns


def _columns(rows: dict[str, tuple[State, dict[str, object]]]) -> StateColumns:
    ids = list(rows)
    return StateColumns(row={eid: at for at, eid in enumerate(ids)}, states=[rows[i][0] for i in ids],
                        claimed=[True] * len(ids), claim_time=[1.0] * len(ids), generation=[0] * len(ids),
                        requeued=[False] * len(ids),
                        fields=[json.dumps(rows[i][1]) if rows[i][1] else None for i in ids])


def test_states_come_from_the_columns_and_follow_what_is_set_afterwards() -> None:
    now = time.time()
    columns = _columns({"a": (State.SUCCEEDED, {"exit_code": 0}),
                        "b": (State.FAILED, {USAGE_EXPECTED: True, "ended": now}),
                        "c": (State.RUNNING, {})})
    for ids in (["a", "b", "c"], ["c", "a", "b", "d"]):  # in the columns' order, or not (and one unknown)
        book = StateBook(ids, columns)
        expected = {"a": State.SUCCEEDED, "b": State.FAILED, "c": State.RUNNING, "d": State.QUEUED}
        assert book.state_list() == [expected[i] for i in ids]
        assert book["a"].get("exit_code") == 0 and book["a"].claimed and book["c"].fields == {}
        assert not book.done and book.awaiting_usage(now) == ["b"]
        book["c"] = ExperimentState(state=State.SUCCEEDED)
        book["b"] = ExperimentState(state=State.FAILED, fields={USAGE_EXPECTED: True, "usage_recorded": True})
        book["e"] = ExperimentState(state=State.KILLED)  # an id set that the batch did not name
        expected.update(c=State.SUCCEEDED, e=State.KILLED)
        assert book.state_list() == [expected[i] for i in [*ids, "e"]]
        assert book.awaiting_usage(now) == [] and list(book) == [*ids, "e"]
        assert book.done == ("d" not in ids)


def test_a_book_without_columns_is_queued_until_set() -> None:
    book = StateBook(["x", "y"])
    assert book.state_list() == [State.QUEUED, State.QUEUED] and book["x"] == ExperimentState()
    book["y"] = ExperimentState(state=State.RUNNING)
    assert book.state_list() == [State.QUEUED, State.RUNNING] and len(book) == 2


def test_json_records_decode_when_looked_up_and_can_be_walked_while_they_do() -> None:
    records = JsonRecords({"a": '{"gateway": "g1"}', "b": '{"gateway": "g2"}'})
    records["c"] = {"gateway": "g3"}
    records["a"] = {"gateway": "g0"}
    assert {k: records[k]["gateway"] for k in records} == {"a": "g0", "b": "g2", "c": "g3"}
    assert len(records) == 3 and records.get("z") is None
    del records["b"]
    assert sorted(records) == ["a", "c"]
