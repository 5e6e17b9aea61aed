"""Axis and slider info functions (issue 10, first contact): slider labels with significant
digits, log-axis ticks whose labels do not collide, category pickers for non-numbers."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from typing import Any

import numpy as np
import pandas as pd
import pytest

from panel_app.linked.axes import NUMBER_JS, axis_info, number_label, slider_info
from panel_app.linked.ticks import (
    LABEL_CHAR_PX,
    LABEL_GAP_PX,
    LOG_TICKS_JS,
    category_stride,
    linear_tick_count,
    log_ticks,
)
from panel_app.run_page.model import RunPageModel
from panel_app.run_page.view import RunPage
from tests.fakes import FakeRunSource

IDS = [f"e{i}" for i in range(8)]


def test_number_labels_keep_significant_digits() -> None:
    assert [number_label(v) for v in (0.001, 0.01, 1e-05, 0.1, 0.015, 250.0, 3, 0.30000000000000004,
                                      123456.0, -0.00025, 0.0)] == [
        "0.001", "0.01", "1e-05", "0.1", "0.015", "250", "3", "0.3", "123000", "-0.00025", "0"]
    assert number_label(math.nan) == "—" and number_label("adam") == "adam"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: NUMBER_JS and LOG_TICKS_JS are tested by running them "
                    "in Node.js; install Node.js (e.g. `apt-get install nodejs`)")
    return node


def test_number_js_writes_what_number_label_writes() -> None:
    node = _node()
    rng = np.random.default_rng(3)
    values = [0.001, 1e-05, 0.1, 0.015, 250.0, 3.0, 0.30000000000000004, 123456.0, -0.00025, 0.0,
              1.5e-05, 0.0001, 99999.0, 1e-9, *(10 ** rng.uniform(-8, 8, 200)).tolist(),
              *rng.normal(0, 1, 50).tolist()]
    code = f"const f = (tick) => {{ {NUMBER_JS} return fmt(tick); }};" \
           f"process.stdout.write(JSON.stringify({json.dumps(values)}.map(f)));"
    proc = subprocess.run([node, "-e", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [number_label(v) for v in values]


def test_a_log_slider_of_small_values_names_them() -> None:
    lr = pd.Series([0.001, 0.01, 0.001, 0.01, 0.005, 0.002, 0.001, 0.01])
    info = slider_info(axis_info("lr", "x:lr", lr, IDS, "log"), lr, "hparam")
    assert info.space == "log"
    assert info.title_values(info.start, info.end) == "0.001 .. 0.01"
    wide = pd.Series([1e-5, 1e-3, 0.1, 1e-4, 1e-2, 1e-5, 0.1, 1e-3])
    info = slider_info(axis_info("lr", "x:lr", wide, IDS, "log"), wide, "hparam")
    assert info.title_values(info.start, info.end) == "1e-05 .. 0.1"
    linear = slider_info(axis_info("lr", "x:lr", lr, IDS, "linear", jitter=False), lr, "metric")
    assert linear.title_values(linear.start, linear.end) == "0.001 .. 0.01"
    assert linear.describe(linear.start, linear.end) == "0.001..0.01"


def _no_collision(ticks: tuple[float, ...], labels: tuple[str, ...], a: float, b: float,
                  pixels: float) -> bool:
    lo, hi = math.log10(a), math.log10(b)
    pos = [(math.log10(t) - lo) / (hi - lo) * pixels for t in ticks]
    return all(pos[i] - pos[i - 1] >= (len(labels[i]) + len(labels[i - 1])) / 2 * LABEL_CHAR_PX
               + LABEL_GAP_PX for i in range(1, len(pos)))


@pytest.mark.parametrize(("a", "b", "pixels"), [
    (200, 300, 150), (0.015, 0.020, 150), (1e-5, 0.1, 150), (1e-4, 100, 110), (1e-9, 1e9, 240),
    (0.001, 0.01, 150), (0.5, 0.9, 90), (1, 1e6, 600), (3e-4, 2e-3, 200)])
def test_log_ticks_are_decades_or_a_few_round_values_that_do_not_collide(
        a: float, b: float, pixels: float) -> None:
    info = log_ticks(a, b, pixels)
    assert 1 <= len(info.ticks) == len(info.labels)
    assert all(a <= t <= b for t in info.ticks), info
    assert _no_collision(info.ticks, info.labels, a, b, pixels), info
    if math.log10(b) - math.log10(a) >= 2:  # decades only
        assert all(float(math.log10(t)).is_integer() for t in info.ticks), info
        assert len(info.ticks) >= 2
    assert info.labels == tuple(number_label(t) for t in info.ticks)


def test_log_ticks_js_picks_what_log_ticks_picks() -> None:
    rng = np.random.default_rng(5)
    cases: list[list[Any]] = []
    for i in range(300):
        lo = rng.uniform(-12, 8)
        hi = lo + (rng.uniform(0, 0.4) if i % 3 == 0 else rng.uniform(0, 12))
        a, b = float(10 ** lo), float(10 ** hi)
        if i % 7 == 0:
            a, b = b, a  # either order
        cases.append([a, b, float(rng.integers(40, 700)), bool(i % 2)])
    cases += [[200, 300, 150, False], [0.015, 0.02, 150, False], [1e-5, 0.1, 150, True],
              [1e-4, 100, 110, True], [5, 5, 100, False], [-1, 10, 100, False], [0, 1, 80, False]]
    code = (f"{NUMBER_JS}{LOG_TICKS_JS}"
            f"process.stdout.write(JSON.stringify({json.dumps(cases)}.map("
            "([a, b, px, v]) => logTicks(a, b, px, v))));")
    proc = subprocess.run([_node(), "-e", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    for case, ticks in zip(cases, got, strict=True):
        assert tuple(ticks) == log_ticks(case[0], case[1], case[2], vertical=case[3]).ticks, case


def test_log_ticks_of_the_ranges_seen_overlapping() -> None:
    assert log_ticks(200, 300, 150).labels[0] == "200"  # was "200250300" as one smear
    narrow = log_ticks(0.015, 0.020, 150)
    assert 2 <= len(narrow.ticks) <= 3, narrow  # was "0.0150.020"
    assert log_ticks(1e-4, 1e2, 300, vertical=True).ticks == (1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)
    assert log_ticks(1e-4, 1e2, 110, vertical=True).ticks == (1e-4, 1e-2, 1.0, 100.0)  # thinned
    assert log_ticks(-1, 10, 100).ticks == ()  # not a log range: Bokeh's own ticker


def test_linear_tick_count_leaves_room_for_the_labels() -> None:
    assert linear_tick_count(0.08, 0.22, 150) <= 4  # was 0.080.10.120.14... in a small cell
    assert linear_tick_count(0, 1, 600) >= 6
    assert linear_tick_count(0.5, 0.65, 200, vertical=True) >= 5
    assert linear_tick_count(1, 1, 100) == 2


def test_string_and_mixed_values_get_a_category_picker() -> None:
    opt = pd.Series(["adam", "sgd"] * 4)
    info = slider_info(axis_info("opt", "x:opt", opt, IDS), opt, "hparam")
    assert info.picker and info.labels == ("adam", "sgd")
    mixed = pd.Series(["auto", 0.1, 0.01, None] * 2, dtype=object)
    assert slider_info(axis_info("lr", "x:lr", mixed, IDS), mixed, "hparam").picker
    flags = pd.Series([True, False] * 4)
    assert slider_info(axis_info("amp", "x:amp", flags, IDS), flags, "hparam").picker
    epochs = pd.Series([6, 12] * 4)  # few integers: a categorical axis, but still a slider
    info = slider_info(axis_info("e", "x:e", epochs, IDS), epochs, "hparam")
    assert info.space == "categorical" and not info.picker


def strings_source() -> FakeRunSource:
    return FakeRunSource({"optimizer": ["adam", "sgd", "rmsprop"], "batch_size": [32, 64]})


def test_the_model_filters_by_picked_categories() -> None:
    source = strings_source()
    model = RunPageModel(source.frames())
    want = [i for i in source.ids if source.params_of(i)["optimizer"] in ("adam", "sgd")]
    assert model.ids_in_ranges({}, {"optimizer": ["adam", "sgd"]}) == want
    assert model.ids_in_ranges({}, {"optimizer": []}) == []
    assert model.selection_categories() == {"optimizer": ["adam", "rmsprop", "sgd"]}
    model.select_ids(want[:1])
    assert model.selection_categories() == {"optimizer": [source.params_of(want[0])["optimizer"]]}


def test_a_picker_selects_and_follows_the_selection() -> None:
    source = strings_source()
    page = RunPage(source)
    picker = page.slider_panel.pickers["optimizer"]
    assert "optimizer" not in page.sliders and list(picker.options) == ["adam", "rmsprop", "sgd"]
    assert list(picker.value) == ["adam", "rmsprop", "sgd"]
    picker.value = ["sgd"]  # the user unticks adam and rmsprop
    want = [i for i in source.ids if source.params_of(i)["optimizer"] == "sgd"]
    assert page.model.selection == want
    assert page.model.view_state()["selection"]["categories"] == {"optimizer": ["sgd"]}
    assert page.table_panel.rows is not None and len(page.table_panel.rows) == len(want)
    page.model.clear_selection()
    assert list(picker.value) == ["adam", "rmsprop", "sgd"]  # follows
    page.table.selection = [0]
    assert list(picker.value) == [source.params_of(source.ids[0])["optimizer"]]
    view: dict[str, Any] = {"selection": {"ranges": {}, "categories": {"optimizer": ["adam"]}}}
    page.restore(view)
    assert page.model.selection == [i for i in source.ids
                                    if source.params_of(i)["optimizer"] == "adam"]
    page.slider_panel.locks["optimizer"].value = True
    assert page.memory.locks()["optimizer"].describe() == "adam"


def test_many_categories_label_every_so_many() -> None:
    names = [f"model-{i}" for i in range(40)]
    stride = category_stride(names, 150)
    assert stride > 1 and (150 / 40) * stride >= len("model-10") * LABEL_CHAR_PX + LABEL_GAP_PX
    assert category_stride(["adam", "sgd"], 150) == 1
    assert category_stride([], 150) == 1


def test_many_or_long_categories_get_check_boxes_not_buttons() -> None:
    import panel as pn

    source = FakeRunSource({"name": [f"model-{i}" for i in range(12)], "opt": ["adam", "sgd"]})
    page = RunPage(source)
    assert isinstance(page.slider_panel.pickers["name"], pn.widgets.CheckBoxGroup)
    assert isinstance(page.slider_panel.pickers["opt"], pn.widgets.CheckButtonGroup)
    page.slider_panel.pickers["name"].value = ["model-3"]
    assert page.model.selection == [i for i in source.ids if source.params_of(i)["name"] == "model-3"]


def test_a_link_with_bad_categories_says_so_in_one_line() -> None:
    page = RunPage(strings_source())
    problems = page.model.apply_view_state(
        {"selection": {"ranges": {}, "categories": {"optimizer": "adam"}}})
    assert problems == ["selection: categories of 'optimizer' is str, not a list"]
    assert page.model.selection == []
