"""The lifecycle: one grouping of states for every view, usage awaited only when the engine said so."""

from __future__ import annotations

import pytest

from workbench_plugin._table import progress_line
from workbench_plugin.lifecycle import (
    TERMINAL,
    USAGE_WAIT_SECONDS,
    Progress,
    State,
    fold_states,
    needs_usage,
)


def test_progress_groups_submitted_with_running_and_every_bad_end_with_failed() -> None:
    states = ["queued", "submitted", "running", "succeeded", "succeeded", "failed", "killed", "lost"]
    progress = Progress.of(states)
    assert progress.groups() == {"succeeded": 2, "running": 2, "queued": 1, "failed": 3}
    assert (progress.total, progress.ended) == (8, 5)
    assert progress_line(progress, width=8) == (
        "[#####...] 5/8 ended  2 succeeded  2 running  1 queued  3 failed/killed/lost")


def test_an_unknown_state_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'done'"):
        Progress.of(["done"])


def test_terminal_states_are_the_four_ends() -> None:
    assert {str(s) for s in TERMINAL} == {"succeeded", "failed", "killed", "lost"}
    assert [str(s) for s in State] == ["queued", "submitted", "running", "succeeded", "failed", "killed", "lost"]


def test_usage_is_awaited_only_when_the_submission_said_so() -> None:
    ended = [{"state": "submitted", "time": 1.0, "engine_id": "x:1"},
             {"state": "succeeded", "time": 5.0}]
    assert not needs_usage(fold_states(ended), now=6.0)  # whatever the engine id looks like
    expected = [{**ended[0], "usage_expected": True}, ended[1]]
    assert needs_usage(fold_states(expected), now=6.0)
    assert not needs_usage(fold_states(expected), now=5.0 + USAGE_WAIT_SECONDS + 1)  # gave up waiting
    recorded = [*expected, {"state": "usage", "time": 9.0, "vcore_seconds": 3}]
    assert not needs_usage(fold_states(recorded), now=10.0)
    assert not needs_usage(fold_states(expected[:1]), now=6.0)  # still running


def test_a_killed_experiments_reason_names_who_asked() -> None:
    """The wrapper (SIGTERM) or a gateway writes ``killed`` without knowing who asked; the
    ``kill_requested`` event's ``by`` (the page's user, the account behind ``hypertuner kill``) does."""
    asked = [{"state": "submitted", "time": 1.0, "engine_id": "yarn:application_1_0001"},
             {"state": "running", "time": 2.0},
             {"state": "kill_requested", "time": 3.0, "by": "alice"}]
    by_wrapper = fold_states([*asked, {"state": "killed", "time": 4.0, "reason": "received SIGTERM"}])
    assert by_wrapper.state == State.KILLED and by_wrapper.get("kill_requested_by") == "alice"
    assert by_wrapper.get("reason") == "received SIGTERM; stop asked by alice"
    by_gateway = fold_states([*asked, {"state": "killed", "time": 4.0}])
    assert by_gateway.get("reason") == "killed on request; stop asked by alice"
    # a reason that names the user already is kept; one that ended otherwise is not blamed on alice
    named = fold_states([*asked, {"state": "killed", "time": 4.0, "reason": "killed on request by alice"}])
    assert named.get("reason") == "killed on request by alice"
    finished = fold_states([*asked, {"state": "succeeded", "time": 4.0}])
    assert finished.state == State.SUCCEEDED and finished.get("reason") is None
    nobody = fold_states([*asked[:2], {"state": "kill_requested", "time": 3.0},
                          {"state": "killed", "time": 4.0, "reason": "received SIGTERM"}])
    assert nobody.get("reason") == "received SIGTERM"
