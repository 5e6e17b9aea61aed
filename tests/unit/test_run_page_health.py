"""The run page's health badges and filter, without a browser: the table's health column, the
Health select narrowing the selection like the sliders, the view state, live updates."""

from __future__ import annotations

import math

import pytest

from panel_app.run_page.health import HealthBook, health_cell
from panel_app.run_page.model import RunPageModel
from panel_app.run_page.table_esm import TABLE_ESM
from panel_app.run_page.view import RunPage
from tests.fakes import FakeRunSource
from workbench_plugin.proposals import Health

NAN = math.nan
#: val_acc of an experiment that overfits from epoch 5 on (its train_acc keeps rising)
OVERFIT = [0.5, 0.7, 0.8, 0.81, 0.8, 0.78, 0.75, 0.71, 0.66, 0.6, 0.55, 0.5]


def diverging_source(**kwargs: object) -> tuple[FakeRunSource, str]:
    """The 8 experiments of the fake run; the third's val_loss becomes NaN at epoch 3."""
    source = FakeRunSource(**kwargs)  # type: ignore[arg-type]
    bad = source.ids[2]
    source.set_curve(bad, "val_loss", [0.6, 0.5, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN])
    source.refresh()
    return source, bad


def health_column(model: RunPageModel) -> dict[str, str]:
    return dict(zip(model.table["experiment"], model.table["health"], strict=True))


def test_the_table_shows_each_experiments_flags_with_their_reasons() -> None:
    source, bad = diverging_source()
    model = RunPageModel(source.frames())
    column = health_column(model)
    assert column[bad] == "diverged: val_loss became NaN at epoch 3"
    assert [eid for eid, cell in column.items() if cell] == [bad]
    assert list(model.table.columns[:3]) == ["#", "state", "health"]
    assert model.health[bad] == Health(bad, ("diverged",), ("val_loss became NaN at epoch 3",))


def test_a_flag_named_health_keeps_its_own_column() -> None:
    source = FakeRunSource({"health": [1, 2], "alpha": [1e-3, 1e-2]})
    model = RunPageModel(source.frames())
    assert "health (flag)" in model.table.columns
    assert set(model.table["health"]) == {""}


def test_the_health_filter_narrows_the_selection_like_the_sliders() -> None:
    source, bad = diverging_source(finished=6)  # two queued: no curves, no health
    model = RunPageModel(source.frames())
    assert model.ids_in_ranges({}, {}, "diverged") == [bad]
    assert model.ids_in_ranges({}, {}, "overfitting") == []
    healthy = model.ids_in_ranges({}, {}, "healthy")
    assert healthy == [eid for eid in source.ids[:6] if eid != bad]  # queued ones are not healthy yet
    assert model.ids_in_ranges({}, {}, "any") == source.ids
    alpha = model.sliders["alpha"]
    low = alpha.values[source.ids.index(bad)]
    assert model.ids_in_ranges({"alpha": [low, low]}, {}, "diverged") == [bad]
    assert model.ids_in_ranges({"alpha": [low + 5, low + 6]}, {}, "diverged") == []
    with pytest.raises(ValueError, match="health 'sick' is not one of any, overfitting"):
        model.ids_in_ranges({}, {}, "sick")


def test_choosing_a_health_selects_its_experiments_and_the_view_keeps_it() -> None:
    source, bad = diverging_source()
    page = RunPage(source)
    page.slider_panel.health.value = "diverged"
    assert page.model.selection == [bad]
    assert list(page.table_panel.rows) == [source.ids.index(bad)]  # the table shows just that row
    view = page.model.view_state()
    assert view["selection"] == {"ranges": {}, "health": "diverged"}

    again = RunPage(source, view=view)  # a link or a note opens the same view
    assert again.model.selection == [bad]
    assert again.slider_panel.health.value == "diverged"
    assert again.error == ""

    page.slider_panel.health.value = "any"  # nothing else narrows: all rows again
    assert page.model.selection == []
    assert page.table_panel.rows is None
    assert "selection" not in page.model.view_state()


def test_a_selection_made_elsewhere_resets_the_health_filter() -> None:
    source, bad = diverging_source()
    page = RunPage(source)
    page.slider_panel.health.value = "healthy"
    assert bad not in page.model.selection and len(page.model.selection) == 7
    page.model.select_ids_from([bad], {"ids": ["#2"]})
    assert page.slider_panel.health.value == "any"
    assert page.model.selection == [bad]


def test_a_bad_health_in_a_link_is_reported_and_selects_nothing() -> None:
    source, _ = diverging_source()
    page = RunPage(source, view={"selection": {"ranges": {}, "health": "<b>sick</b>"}})
    assert page.model.selection == []
    assert "health '<b>sick</b>' is not one of any, overfitting, noisy, diverged, healthy" in page.error
    assert "<b>sick" not in page.header.object and "&lt;b&gt;sick" in page.header.object


def test_flags_follow_the_curves_as_they_grow_and_the_filter_follows_them() -> None:
    source = FakeRunSource(finished=6, running=2)
    late = source.ids[6]  # 12 epochs; at epoch 1 so far
    source.set_curve(late, "val_acc", OVERFIT)
    source.refresh()
    page = RunPage(source)
    page.slider_panel.health.value = "overfitting"
    assert page.model.selection == []
    for _ in range(5):  # epoch 6: val_acc fell twice
        source.advance()
        assert page.refresh() is True
    assert health_column(page.model)[late] == ""
    for _ in range(2):  # epoch 8: four times
        source.advance()
        assert page.refresh() is True
    reason = "val_acc fell for 4 epochs (epochs 5-8) while train_acc rose"
    assert health_column(page.model)[late] == f"overfitting: {reason}"
    assert page.model.selection == [late]  # the filter picked up the experiment that turned
    cells = dict(zip(page.table.value["experiment"], page.table.value["health"], strict=True))
    assert cells[late] == f"overfitting: {reason}"  # the table was patched


def test_the_health_book_says_when_a_flag_changed() -> None:
    source = FakeRunSource(finished=6, running=2)
    book = HealthBook()
    assert book.update(source.frames().curves) is True  # every experiment's health is new
    assert set(book.health) == set(source.ids) and not any(h.flags for h in book.health.values())
    assert book.update(source.frames().curves) is False  # the same frame
    source.advance()
    source.refresh()
    assert book.update(source.frames().curves) is False  # new points, no flag
    source.set_curve(source.ids[7], "val_loss", [0.5, 0.4, NAN, NAN])  # curves only grow:
    source.advance()  # the NaN comes with epoch 3
    source.refresh()
    assert book.update(source.frames().curves) is True
    assert book.health[source.ids[7]].reasons == ("val_loss became NaN at epoch 3",)


def test_a_cell_is_one_line_per_flag_and_the_table_shows_it_as_text() -> None:
    h = Health("e", ("overfitting", "diverged"), ("a\nb rose", "loss became NaN at epoch 2"))
    assert health_cell(h) == "overfitting: a b rose\ndiverged: loss became NaN at epoch 2"
    assert health_cell(None) == health_cell(Health("e", (), ())) == ""
    # reasons quote metric names a script chose: the table puts every piece in as text
    assert "b.title = line.slice(at + 2);" in TABLE_ESM and "b.textContent = flag;" in TABLE_ESM
    assert "innerHTML" not in TABLE_ESM and "insertAdjacentHTML" not in TABLE_ESM
