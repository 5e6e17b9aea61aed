"""The page's security without a browser: names that are not CSS tokens, HTML in every shown
string, and fuzzed link parameters (``?run=``, ``?view=``, ``?experiment=``, ``?compare=``)."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
from bokeh.embed.util import contains_tex_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panel_app.linked.figures import tooltips
from panel_app.run_page.model import RunPageModel
from panel_app.run_page.table_esm import TABLE_ESM
from panel_app.run_page.templates import css_token, plain_title
from panel_app.run_page.view import RunPage
from panel_app.server import MAX_PARAM_CHARS, nav_html, no_runs_html, route_of
from tests.fakes import FakeRunSource
from workbench_plugin._exceptions import HyperTunerError
from workbench_plugin.memory import MAX_VIEW_CHARS, decode_view, encode_view

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
SVG = "\"'><svg onload=alert(3)>"
#: Metric names that broke the page (a space, a flag's name) or could.
ODD_NAMES = ("val loss", "lr", "a/b", "<b>x</b>", "名前", "m" * 300, IMG)
#: What ``classList.add`` accepts and a CSS selector reads without escapes.
CSS_CLASS = re.compile(r"-?[A-Za-z_][A-Za-z0-9_-]*")


# ---- names (defect 2) ----------------------------------------------------------------------
@pytest.mark.parametrize("name", [*ODD_NAMES, "lr (metric)", "", " ", "-", "1st"])
def test_css_tokens_are_class_names_and_distinct(name: str) -> None:
    token = css_token(name)
    assert CSS_CLASS.fullmatch(token), token
    assert token != css_token(name + " ")
    assert css_token(name) == token  # stable: users' styles and tests find it


def test_plain_names_keep_their_readable_token() -> None:
    assert css_token("batch_size") == "batch_size" and css_token("val-acc") == "val-acc"


#: As the index names them: a metric named like a flag is "<name> (metric)".
ODD_METRICS = tuple("lr (metric)" if m == "lr" else m for m in ODD_NAMES)


def odd_source() -> FakeRunSource:
    return FakeRunSource({"lr": [0.1, 0.2], "opt": [IMG, "sgd"]}, metrics=ODD_METRICS)


def css_classes(page: RunPage) -> list[str]:
    root = page.__panel__()
    return [c for obj in root.select() for c in (getattr(obj, "css_classes", None) or [])]


@pytest.mark.parametrize("points_max", [10_000, 2], ids=["glyphs", "dense"])
def test_odd_metric_names_render_every_view(points_max: int) -> None:
    source = odd_source()
    page = RunPage(source, points_max=points_max)
    assert page.model.dense == (points_max == 2)
    assert page.__panel__().get_root() is not None
    classes = css_classes(page)
    bad = [c for c in classes if not CSS_CLASS.fullmatch(c)]
    assert not bad, bad
    assert len([c for c in classes if c.startswith("ht-slider-")]) == 1 + len(ODD_NAMES)
    assert [c for c in classes if c.startswith("ht-picker-")] == ["ht-picker-opt"]
    for metric in page.model.param.bar_metric.objects:  # every metric, bars and lines
        page.metric_select.value = metric
        for chart in ("bars", "lines"):
            page.model.chart = chart
            assert page.charts.panel.get_root() is not None
    assert set(page.sliders) == {"lr", *ODD_METRICS} and set(page.slider_panel.pickers) == {"opt"}
    source.advance()
    page.refresh()
    assert page.__panel__().get_root() is not None


# ---- escaping (defect 1) -------------------------------------------------------------------
@pytest.mark.parametrize("payload", [IMG, SCRIPT, SVG])
def test_project_and_run_names_are_escaped_in_the_nav_and_the_empty_page(payload: str) -> None:
    nav = nav_html(payload, [payload, "20260101-0900"], "20260101-0900")
    empty = no_runs_html(payload)
    for shown in (nav, empty):
        assert "<img" not in shown and "<script" not in shown and "<svg" not in shown, shown
    assert "&lt;" in nav and "&lt;" in empty
    assert '?run=%3C' in nav or '?run=%22' in nav  # the link carries the id URL-quoted


def test_table_titles_and_cells_go_into_the_page_as_text() -> None:
    page = RunPage(odd_source())
    titles = {c["field"]: c["title"] for c in page.table.columns}
    assert titles[IMG] == IMG and titles["<b>x</b>"] == "<b>x</b>"  # the names, unchanged ...
    # ... because the browser sets them (and every cell) as text, never as HTML
    assert "t.textContent = c.title;" in TABLE_ESM and "d.textContent = v;" in TABLE_ESM
    for html_sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert html_sink not in TABLE_ESM
    assert 'a.href = "?experiment=" + encodeURIComponent(v);' in TABLE_ESM


def test_sliders_of_user_labels_have_no_html_tooltips() -> None:
    page = RunPage(odd_source())
    # string values get a category picker (Bokeh shows button labels as text), not a slider
    assert "opt" in page.slider_panel.pickers and "opt" not in page.sliders
    assert page.sliders["lr"].tooltips is True  # numbers: safe
    few = [n for n, i in page.model.sliders.items() if i.space == "categorical" and not i.picker]
    assert all(page.sliders[n].tooltips is False for n in few)  # noUiSlider: tooltips are HTML


# ---- link parameters (fuzzed) --------------------------------------------------------------
RUNS = {"20260101-0900": ["20260101-0900-0", "20260101-0900-1"],
        "20260102-1000": ["20260102-1000-0"]}
NAMES = ("run", "view", "experiment", "compare")


def one_line(problem: str) -> None:
    assert problem and "\n" not in problem and "\r" not in problem, repr(problem)
    assert len(problem) < 400, len(problem)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(NAMES),
                       st.one_of(st.text(max_size=300), st.binary(max_size=300),
                                 st.from_regex(r"20260101-0900-[0-9,\- ]{0,20}", fullmatch=True)),
                       min_size=1))
def test_fuzzed_links_route_or_say_one_line(values: dict[str, str | bytes]) -> None:
    args = {k: [v] for k, v in values.items()}
    route = route_of(args, RUNS)
    assert route.run_id in RUNS
    for problem in route.problems:
        one_line(problem)
    assert set(route.select) <= set(RUNS[route.run_id])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=500),
                 st.binary(max_size=500).map(lambda b: base64.urlsafe_b64encode(b).decode()),
                 st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=20),
                              lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                              max_leaves=20).map(lambda v: base64.urlsafe_b64encode(
                                  json.dumps(v).encode()).decode())))
def test_fuzzed_view_tokens_decode_or_say_one_line(token: str) -> None:
    try:
        view = decode_view(token)
    except HyperTunerError as exc:
        one_line(str(exc))
    else:
        assert isinstance(view, dict)


MODEL = RunPageModel(FakeRunSource().frames())
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=25)
KEYS = st.sampled_from(["ids", "geometry", "point", "ranges", "x", "y", "type", "x0", "x1", "y0",
                        "y1", "xs", "ys", "x_span", "y_span", "frame", "alpha", "val_loss",
                        "num_epochs", "batch_size"])
SELECTION = st.dictionaries(KEYS, JSON | st.dictionaries(KEYS, JSON, max_size=6), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional={"chart": JSON, "metric": JSON,
                                           "selection": SELECTION | JSON}))
def test_fuzzed_views_restore_or_say_one_line(view: dict[str, Any]) -> None:
    """A decoded token's view on a real run page model: restored, or problems of one line."""
    problems = MODEL.apply_view_state(decode_view(encode_view(view)))
    for problem in problems:
        one_line(problem)
    assert set(MODEL.selection) <= set(MODEL.order)


@pytest.mark.parametrize("name", NAMES)
def test_megabyte_parameters_are_refused_quickly(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    huge = {"run": "2" * 2**20, "experiment": "20260101-0900-" + "1" * 2**20,
            "compare": ",".join(["20260101-0900-0"] * (2**20 // 15)),
            "view": encode_view({"selection": {"ids": ["#1"] * (2**20 // 6)}})}[name]
    assert len(huge) >= 2**20
    start = time.perf_counter()
    route = route_of({name: [huge.encode()]}, RUNS)
    took = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n?{name}= of {len(huge):,} characters: routed in {took * 1000:.1f} ms")
    assert route.run_id == "20260102-1000" and route.select == () and route.view == {}
    [problem] = route.problems
    one_line(problem)
    limit = MAX_VIEW_CHARS if name == "view" else MAX_PARAM_CHARS
    assert f"at most {limit:,}" in problem, problem
    assert took < 5.0  # a sanity bound only; the figure is printed above


def test_deeply_nested_view_is_one_line_not_a_recursion_error() -> None:
    token = base64.urlsafe_b64encode(b"[" * 30_000).decode()
    with pytest.raises(HyperTunerError, match=r"^view='W1tb.*not a view token") as info:
        decode_view(token)
    one_line(str(info.value))


@pytest.mark.parametrize("name", [IMG, SVG, "a}<img src=x onerror=alert(4)>", "{x}", "val loss"])
def test_hover_templates_hold_no_markup_from_names(name: str) -> None:
    """Bokeh puts a hover template's text around the placeholders into the page as HTML."""
    for label, template in tooltips(name, name):
        rest = re.sub(r"@\{[^{}]+\}(\{[^{}]+\})?|@\w+|\$\w+(\{[^{}]+\})?", "", template)
        assert "<" not in rest and ">" not in rest, (label, template)
    assert tooltips("lr", "val loss")[-2:] == [("lr", "@{h:lr}"), ("val loss", "@{m:val loss}{0.[0000]}")]


@pytest.mark.parametrize("name", ["$$x$$", "$$$$$", r"\[x\]", r"\(x\)", r"$$\href{javascript:alert(6)}{x}$$",
                                  "a $ b", "plain"])
def test_slider_titles_carry_no_tex_delimiters(name: str) -> None:
    """Bokeh renders a slider title with TeX delimiters through MathJax, as HTML."""
    title = plain_title(name)
    assert not contains_tex_string(title) and title.replace("\u200b", "") == name
    page = RunPage(FakeRunSource({"lr": [0.1, 0.2]}, metrics=(name,)))
    assert not contains_tex_string(page.sliders[name].name)


#: One page for the note-box fuzzing (its memory is a list: what a store keeps, without the disk).
NOTE_PAGE = RunPage(FakeRunSource(finished=3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000) | st.sampled_from(["", "   ", "<img src=x onerror=alert(1)>", "a\nb\r\nc",
                                                 "\x00", "x" * 2001, "$$x$$", "\u202e\u200b"]))
def test_fuzzed_note_text_is_kept_as_typed_or_refused_in_one_line(text: str) -> None:
    """The note box: whatever is typed is either kept (stripped, shown as the note's label, not
    as HTML) or refused in one line in the header; the page keeps working either way."""
    before = len(NOTE_PAGE.memory.notes(NOTE_PAGE.model.run_frames.run_id))
    NOTE_PAGE.notes.input.value = text
    note = NOTE_PAGE.save_note()
    notes = NOTE_PAGE.memory.notes(NOTE_PAGE.model.run_frames.run_id)
    if note is None:
        one_line(NOTE_PAGE.error)
        assert len(notes) == before and (not text.strip() or len(text.strip()) > 2000)
        NOTE_PAGE.show_error("")
    else:
        assert note.text == text.strip() and notes[-1].text == note.text
        labels = [getattr(item, "label", "") for item in NOTE_PAGE.notes.listing.objects]
        assert any(label.startswith(note.text) for label in labels)


def test_a_note_longer_than_the_limit_is_refused_naming_it() -> None:
    page = RunPage(FakeRunSource(finished=2))
    assert page.save_note("y" * 2001) is None
    assert page.error == ("note: 2,001 characters; a note holds at most 2,000 "
                          "(keep the long text in a file of the project)")
