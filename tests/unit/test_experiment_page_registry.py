"""Which views the experiment page shows: entry points of ``hypertuner.views``, broken ones one line each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from panel_app.experiment_page.registry import check_view, discover_views
from panel_app.experiment_page.views.observatory import EpochObservatory
from tests.example_view import FinalMetrics
from tests.plugin_install import install_views


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_the_built_in_observatory_comes_first_and_a_test_plugin_is_found(site: Path) -> None:
    install_views(site, {"final_metrics": "tests.example_view:FinalMetrics"})
    registry = discover_views()
    names = registry.names()
    assert names[0] == "observatory"
    assert isinstance(registry.views[0], EpochObservatory)
    assert "final_metrics" in names
    assert names.index("final_metrics") > 0  # third-party views after the built-in ones


def test_each_broken_plugin_is_one_line_naming_it_and_why(site: Path) -> None:
    install_views(site, {
        "gone": "tests.no_such_module:View",
        "broken": "tests.example_view:Broken",
        "no_render": "tests.example_view:NoRender",
        "final_metrics": "tests.example_view:FinalMetrics",
    })
    install_views(site, {"observatory": "tests.example_view:FinalMetrics"}, dist="another_views")
    registry = discover_views()
    lines = {line.split("'")[1]: line for line in registry.problems}
    assert "could not be imported (ModuleNotFoundError: No module named 'tests.no_such_module')" in lines["gone"]
    assert "could not be created with no arguments (RuntimeError: no database configured)" in lines["broken"]
    assert "is not an ExperimentView (it lacks render)" in lines["no_render"]
    assert "another plug-in already registered the name 'observatory'" in lines["observatory"]
    assert all("\n" not in line for line in registry.problems)
    # the others still load; the first 'observatory' (the built-in one) wins
    assert isinstance(registry.views[0], EpochObservatory)
    assert "final_metrics" in registry.names()
    assert not {"gone", "broken", "no_render"} & set(registry.names())


def test_third_party_views_are_ordered_by_name(site: Path) -> None:
    install_views(site, {"zeta": "tests.example_view:FinalMetrics"})
    install_views(site, {"alpha": "tests.example_view:FinalMetrics"}, dist="alpha_views")
    registry = discover_views()
    # both are the same class, named final_metrics: the second is one line, not a second card
    assert registry.names().count("final_metrics") == 1
    assert any("taken by another plug-in" in line for line in registry.problems)


def test_check_view_names_what_is_wrong() -> None:
    assert check_view(FinalMetrics()) == ""
    bad = FinalMetrics()
    bad.name = "Has Spaces"  # type: ignore[misc]
    assert check_view(bad) == "name 'Has Spaces' must be 1-40 of a-z, 0-9, _"
    assert "not an ExperimentView" in check_view(object())
    assert sys.modules.get("tests.no_such_module") is None
