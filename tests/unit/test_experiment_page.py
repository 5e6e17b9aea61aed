"""The experiment page without a browser: header, model, view state, the observatory's replay,
views that lack their needs or raise, and a stop recorded as asked by its user."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gateway.control import kill
from panel_app.experiment_page.model import ExperimentPageModel
from panel_app.experiment_page.plugins import ExperimentData, ViewState
from panel_app.experiment_page.registry import Registry
from panel_app.experiment_page.templates import full_log_html, header_html
from panel_app.experiment_page.view import ExperimentPage
from panel_app.experiment_page.views.observatory import (
    EpochObservatory,
    epoch_text,
    format_value,
    observatory_info,
    shown_counts,
)
from tests.example_view import FinalMetrics, Raising
from tests.integration.processes import launch_batch
from tests.unit.test_cli import run_cli
from workbench_plugin.config import Config
from workbench_plugin.experiment_info import bounded_log, experiment_header, log_tail
from workbench_plugin.index import ProjectIndex
from workbench_plugin.memory import decode_view, encode_view
from workbench_plugin.plugins import load_engine
from workbench_plugin.resources_config import ResourceOption
from workbench_plugin.store import Store


@pytest.fixture
def finished(capsys: pytest.CaptureFixture[str], project_dir: Path, tmp_path: Path) -> tuple[ProjectIndex, str]:
    """A run of the tiny script (x=1,2; 3 epochs) run to the end: (index, its first experiment)."""
    store = Store(str(tmp_path / "s"))
    store.create_project("tiny", str(project_dir))
    code, out, err = run_cli(capsys, "--store", store.url, "run", "--project", str(project_dir), "x=1,2",
                             "epochs=3", "sleep=0")
    assert code == 0, out + err
    index = ProjectIndex(store, "tiny")
    index.refresh()
    run_id = store.runs("tiny")[0]
    return index, index.entry(run_id).experiments[0].experiment_id


def queued(store: Store, project_dir: Path) -> tuple[ProjectIndex, str]:
    index, exps = launch_batch(store, project_dir, {"x": "1"})
    return index, exps[0].experiment_id


def test_header_of_a_finished_experiment(finished: tuple[ProjectIndex, str]) -> None:
    index, eid = finished
    priced = Config(store_url=index.store.url, resources=(ResourceOption("local", price_per_hour=3600.0),))
    h = experiment_header(index, eid, config=priced)
    assert h.state == "succeeded" and not h.active
    assert h.command.endswith("train.py --x 1 --epochs 3 --sleep 0")
    assert h.params == {"x": 1, "epochs": 3, "sleep": 0}
    assert ("train.py", len(Path(index.store.project("tiny").path, "train.py").read_bytes())) in h.snapshot_files
    assert h.data_refs == ()  # nothing over the size limit
    assert h.engine == "local" and h.engine_id.startswith("local:") and h.engine_link == ""
    assert h.duration is not None and h.duration > 0
    # 3600 an hour is 1 a second: the cost is the duration in seconds
    assert h.cost == pytest.approx(h.duration) and h.currency == "USD" and h.resource == "local"
    shown = header_html(h)
    assert "ht-exp-command" in shown and html.escape(h.command) in shown


def test_yarn_link_usage_and_its_cost(finished: tuple[ProjectIndex, str]) -> None:
    index, eid = finished
    run = index.entry(eid.rsplit("-", 1)[0])
    other = run.experiments[1].experiment_id
    store = index.store
    store.append_state("tiny", run.run.run_id, other, "usage", vcore_seconds=7200.0, memory_mb_seconds=1024 * 3600.0)
    store.append_state("tiny", run.run.run_id, other, "submitted", engine_id="yarn:application_17_0003")
    index.refresh()
    config = Config(store_url=store.url, yarn_rm_url="http://rm:8088/",
                    resources=(ResourceOption("local", price_per_vcore_hour=1.0, price_per_gb_hour=0.5),))
    h = experiment_header(index, other, config=config)
    assert h.vcore_seconds == 7200.0 and h.mb_seconds == 1024 * 3600.0
    assert h.cost == pytest.approx(2 * 1.0 + 1 * 0.5)
    assert "recorded usage" in h.cost_basis
    # (a finished experiment keeps its first engine id; the link is made from any yarn id)
    from workbench_plugin.experiment_info._header import _yarn_link

    assert _yarn_link("yarn:application_17_0003", "http://rm:8088/") == "http://rm:8088/cluster/app/application_17_0003"
    assert _yarn_link("yarn:application_17_0003", "") == ""
    assert _yarn_link("local:1:2", "http://rm:8088") == ""


def test_model_data_view_state_and_logs(finished: tuple[ProjectIndex, str]) -> None:
    index, eid = finished
    model = ExperimentPageModel(index, eid)
    data = model.data
    assert data.metric_names == ("loss", "acc")
    assert sorted(data.curves.loc[data.curves["name"] == "loss", "epoch"]) == [1.0, 2.0, 3.0]
    assert data.final["score"] == 10.0
    assert model.log_tail("stdout").text.splitlines()[-1] == "epoch 3 done"
    changes: list[int] = []
    model.on_change = lambda: changes.append(1)
    model.state_of("observatory")["play"] = 2
    model.state_of("observatory")["metrics"] = ["acc"]
    model.state_of("confusion")["cell"] = [3, 8]
    view = model.view_state()
    assert view == {"play": 2, "metrics": ["acc"], "views": {"confusion": {"cell": [3, 8]}}}
    assert len(changes) == 3
    again = ExperimentPageModel(index, eid, view=decode_view(encode_view(view)))
    assert again.view_state() == view
    assert again.apply_view_state({"play": "x", "views": 3}) == [
        "view: views is int, not an object", "view: play='x' is not an epoch position (0, 1, 2...)"]
    assert not model.refresh()  # nothing new in the store


def test_log_cutting() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    tail = log_tail(text)
    assert tail.text.splitlines() == [f"line {i}" for i in range(80, 100)] and tail.total_lines == 100
    part = bounded_log(text, max_bytes=50)
    assert not part.whole and part.text.startswith("line ") and part.total_bytes == len(text)
    assert part.shown_bytes <= 50
    page = full_log_html("r-1", "stdout", bounded_log("<script>x</script>\n"))
    assert "<script>x" not in page and "&lt;script&gt;" in page


def curves(epochs: int) -> pd.DataFrame:
    e = np.repeat(np.arange(1, epochs + 1, dtype=float), 2)
    names = ["val_loss", "val_acc"] * epochs
    values = [1 / x if n == "val_loss" else 1 - 1 / (x + 1) for x, n in zip(e, names, strict=True)]
    return pd.DataFrame({"epoch": e, "step": np.nan, "name": names, "value": values})


def data_of(c: pd.DataFrame, state: str = "running") -> ExperimentData:
    return ExperimentData("r-1", "r", "#1", state, {}, c, {})


def test_observatory_info_splits_families_and_counts_points() -> None:
    info = observatory_info(curves(5))
    assert info.families == ("loss", "score") and info.x_label == "epoch"
    assert shown_counts(info, 2) == {"val_loss": 2, "val_acc": 2}
    assert epoch_text(info, 3, ["val_loss", "val_acc"]) == "epoch 3 of 5: val_loss 0.333, val_acc 0.75"
    assert epoch_text(info, 3, ["val_acc"]) == "epoch 3 of 5: val_acc 0.75"
    steps = pd.DataFrame({"epoch": np.nan, "step": [0.0, 100.0, 200.0], "name": "loss", "value": [3.0, 2.0, 1.0]})
    info = observatory_info(steps)
    assert info.x_label == "step" and list(info.positions) == [0.0, 100.0, 200.0]
    assert epoch_text(info, 2, ["loss"]) == "step 100 of 200: loss 2"
    assert [format_value(v) for v in (0.2134, 1234.5, 2.0, float("nan"))] == ["0.213", "1230", "2", "NaN"]


def test_observatory_restores_its_position_and_follows_growth() -> None:
    state = ViewState({"play": 2, "metrics": ["val_acc"]})
    panel = EpochObservatory().render(data_of(curves(4)), state)
    assert panel.player.value == 2 and panel.picker.value == ["val_acc"]
    assert list(panel.shown["val_loss"].data["x"]) == [1.0, 2.0]
    assert panel.now.text == "epoch 2 of 4: val_acc 0.667"
    assert not panel.figures["loss"].visible  # no picked metric in the loss family
    panel.player.value = 4
    assert state["play"] == 4
    assert panel.update(data_of(curves(6)))  # at the end: stays at the end
    assert panel.player.value == 6 and list(panel.shown["val_acc"].data["x"]) == [1, 2, 3, 4, 5, 6]
    panel.player.value = 3
    assert panel.update(data_of(curves(7)))  # not at the end: stays where it is
    assert panel.player.value == 3 and panel.player.end == 7
    assert len(panel.fulls["val_acc"].data["x"]) == 7


class NeedsMatrix(FinalMetrics):
    name = "needs_matrix"
    title = "Needs a matrix"
    needs_artifacts = ("confusion_matrix.json",)


def test_page_shows_a_line_for_missing_needs_and_a_raising_view(finished: tuple[ProjectIndex, str]) -> None:
    index, eid = finished
    model = ExperimentPageModel(index, eid)
    registry = Registry((EpochObservatory(), NeedsMatrix(), Raising(), FinalMetrics()),
                        ("view plug-in 'gone' (x:Y): could not be imported (ModuleNotFoundError: x)",))
    page = ExperimentPage(model, registry)
    page.__panel__()
    assert set(page.rendered) == {"observatory", "final_metrics"}
    missing = html.unescape(page.cards["needs_matrix"].objects[0].object)
    assert "recorded no artifact 'confusion_matrix.json'" in missing
    error = page.cards["raising"].objects[0].object
    assert "Raising view: ValueError: cannot draw &lt;b&gt;this&lt;/b&gt;" in error
    assert "score: 10" in page.rendered["final_metrics"].object
    assert not page.stop_button.visible  # finished, and no engine to stop with


def test_stop_records_who_asked(store: Store, project_dir: Path) -> None:
    index, eid = queued(store, project_dir)
    engine = load_engine(Config(store_url=store.url), store)
    [result] = kill(index, engine, eid, by="alice")
    assert (result.before, result.after) == ("queued", "killed")
    index.refresh()
    h = experiment_header(index, eid)
    assert h.state == "killed" and h.killed_by == "alice"
    assert h.reason == "cancelled before it started by alice"
    assert "(stop asked by alice)" in header_html(h)


def test_a_note_on_the_experiment_page_keeps_the_play_position(finished: tuple[ProjectIndex, str]) -> None:
    """Save note on the page keeps its view; the page of another session lists it as a link to it."""
    from urllib.parse import parse_qsl

    import panel as pn

    from panel_app.experiment_page.session import new_experiment_page

    index, eid = finished
    page = new_experiment_page(index, eid, view={"play": 2})
    (text,) = page.__panel__().select(pn.widgets.TextInput)
    (save,) = [b for b in page.__panel__().select(pn.widgets.Button) if b.label == "Save note"]
    text.value = "epoch 2 is where <i>val</i> peaks"
    save.clicks += 1
    again = new_experiment_page(index, eid)
    links = [str(o.object) for o in again.__panel__().select(pn.pane.HTML) if "ht-note-experiment" in str(o.object)]
    assert len(links) == 1 and "&lt;i&gt;val&lt;/i&gt;" in links[0]
    href = html.unescape(links[0].split('href="', 1)[1].split('"', 1)[0])
    query = dict(parse_qsl(href.lstrip("?")))
    assert query["experiment"] == eid and decode_view(query["view"])["play"] == 2


def test_header_links_a_yarn_application_to_its_resource_manager_page(store: Store, project_dir: Path) -> None:
    """An experiment a gateway submitted to YARN (the events as recorded): the engine id links to
    ``<rm_url>/cluster/app/<app id>``, escaped; an id that is not an application's gets no link."""
    index, eid = queued(store, project_dir)
    run_id = index.store.runs("tiny")[0]
    store.append_state("tiny", run_id, eid, "submitted", engine_id="yarn:application_1764000000000_0007")
    index.refresh()
    config = Config(store_url=store.url, yarn_rm_url="http://rm.example:8088/?a=1&b=<2>/")
    h = experiment_header(index, eid, config=config)
    link = "http://rm.example:8088/?a=1&b=<2>/cluster/app/application_1764000000000_0007"
    assert h.engine_link == link
    shown = header_html(h)
    assert f'<a href="{html.escape(link)}" target="_blank" rel="noopener">' in shown and "<2>" not in shown
    assert experiment_header(index, eid).engine_link == ""  # no RM address configured: no link
    store.append_state("tiny", run_id, eid, "running", engine_id="yarn:application_1<b>_1")
    index.refresh()
    assert experiment_header(index, eid, config=config).engine_link == ""


def test_a_note_on_the_compare_page_keeps_its_view_and_is_listed_for_the_same_experiments(
        finished: tuple[ProjectIndex, str]) -> None:
    from urllib.parse import parse_qsl

    import panel as pn

    from panel_app.compare_page.session import new_compare_page

    index, eid = finished
    ids = [e.experiment_id for e in index.entry(eid.rsplit("-", 1)[0]).experiments]
    page = new_compare_page(index, ids, view={"folded": False})
    (text,) = page.__panel__().select(pn.widgets.TextInput)
    (save,) = [b for b in page.__panel__().select(pn.widgets.Button) if b.label == "Save note"]
    text.value = "x=2 <wins>"
    save.clicks += 1
    again = new_compare_page(index, ids)
    links = [str(o.object) for o in again.__panel__().select(pn.pane.HTML) if "ht-note-compare" in str(o.object)]
    assert len(links) == 1 and "compare #1, #2: x=2 &lt;wins&gt;" in links[0]
    query = dict(parse_qsl(html.unescape(links[0].split('href="', 1)[1].split('"', 1)[0]).lstrip("?")))
    assert query["compare"] == ",".join(ids) and decode_view(query["view"]) == {"folded": False}
    assert [o for o in new_compare_page(index, ids[::-1]).__panel__().select(pn.pane.HTML)
            if "ht-note-compare" in str(o.object)]  # the same experiments in another order: the same notes
