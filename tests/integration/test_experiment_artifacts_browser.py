"""The experiment page's artifact cards in Chromium, on real runs of the demo's three scripts
(``hypertuner run --script``): a digits experiment's confusion matrix whose worst cell shows its
examples on hover, the k-means run's elbow chart naming its elbow, the binary classifier's ROC and
PR curves, and a damaged confusion_matrix.json as one line while the observatory still draws."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from panel_app.experiment_page.views.confusion import HEATMAP_NAME
from panel_app.experiment_page.views.elbow import elbow_label
from panel_app.experiment_page.views.roc import PR_NAME, ROC_NAME
from tests.integration.browser import VIEWPORT, column
from tests.integration.processes import cli, served_dashboard
from workbench_plugin.demo import prepare_demo
from workbench_plugin.experiment_info import cell_examples, confusion_info, elbow_info, roc_info
from workbench_plugin.index import ProjectIndex
from workbench_plugin.store import Store
from workbench_plugin.tracking import CONFUSION_MATRIX_FILE

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.usefixtures("no_server_errors")]

CELL_JS = """([name, t, p]) => {
  const fig = [...Bokeh.documents[0].all_models].find((m) => m.name === name);
  const view = Bokeh.index.get_one(fig);
  view.el.scrollIntoView({block: "center"});  // below the observatory: scroll as a user does
  const c = view.canvas_view.el.getBoundingClientRect();
  const f = view.frame;
  return [c.left + f.x_scale.compute(fig.x_range.synthetic(p)), c.top + f.y_scale.compute(fig.y_range.synthetic(t))];
}"""
DRAWN_JS = """(name) => window.Bokeh && Bokeh.documents.length > 0 &&
  [...Bokeh.documents[0].all_models].some((m) => m.name === name && Bokeh.index.get_one(m)?.is_idle === true)"""
OBSERVATORY = "observatory:loss"


class Demo:
    """A demo project with one run per script: digits (2 experiments), kmeans, binary."""

    def __init__(self, base: Path) -> None:
        self.root = base / "store"
        self.store = Store(str(self.root))
        self.folder = base / "digits"
        settings = prepare_demo(self.store, self.folder)
        self.project = settings.name
        self.ids: dict[str, list[tuple[str, str]]] = {}
        for script, values in (("train.py", ["num_epochs=4", "alpha=0.0001,0.001"]),
                               ("kmeans.py", ["max_k=10"]), ("binary.py", ["C=0.5"])):
            done = cli(self.store, "run", "--project", str(self.folder), "--script", script, *values,
                       cwd=self.folder)
            assert done.returncode == 0, done.stdout + done.stderr
            index = ProjectIndex(self.store, self.project)
            index.refresh()
            latest = max(index.runs)
            assert index.entry(latest).run.script == script
            exps = index.frames(latest).experiments["experiment_id"].astype(str).tolist()
            self.ids[script] = [(latest, e) for e in sorted(exps)]

    def artifact(self, script: str, name: str, which: int = 0) -> bytes:
        run_id, eid = self.ids[script][which]
        return self.store.read_artifact(self.project, run_id, eid, name)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return Demo(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def demo_url(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_dashboard(demo.store, demo.folder, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


def open_experiment(browser: Any, url: str, eid: str, figure: str) -> Page:
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}?experiment={eid}")
    page.wait_for_function(DRAWN_JS, arg=figure, timeout=60_000)
    assert not errors, errors
    return page


def test_hovering_the_worst_cell_of_a_digits_run_shows_its_examples(browser: Any, demo: Demo, demo_url: str) -> None:
    info = confusion_info(demo.artifact("train.py", CONFUSION_MATRIX_FILE))
    worst = info.largest_off_diagonal()
    assert worst is not None and worst.samples > 0
    cell = cell_examples(info, info.index_of(worst.true), info.index_of(worst.pred))
    page = open_experiment(browser, demo_url, demo.ids["train.py"][0][1], HEATMAP_NAME)
    try:
        card = page.locator(".ht-view-confusion")
        expect(card).to_be_visible()
        page.mouse.move(*page.evaluate(CELL_JS, [HEATMAP_NAME, worst.true, worst.pred]))
        expect(card.locator(".ht-cm-head")).to_contain_text(f"true {worst.true} → predicted {worst.pred}")
        expect(card.locator(".ht-cm-count")).to_have_text(cell.text)
        expect(card.locator("img.ht-cm-example")).to_have_count(cell.kept)
        assert cell.kept == min(worst.samples, len(cell.examples)) and cell.kept > 0
        # views this experiment has nothing for: one muted line each, not a failure
        expect(page.locator(".ht-view-elbow .ht-not-applicable")).to_contain_text("recorded no artifact 'curve_*.json'")
        expect(page.locator(".ht-view-roc .ht-not-applicable")).to_contain_text("recorded no artifact 'scores.json'")
    finally:
        page.close()


def test_the_kmeans_run_shows_its_elbow(browser: Any, demo: Demo, demo_url: str) -> None:
    info = elbow_info(demo.artifact("kmeans.py", "curve_k.json"), artifact="curve_k.json")
    assert info.knee is not None
    page = open_experiment(browser, demo_url, demo.ids["kmeans.py"][0][1], "ht-elbow")
    try:
        card = page.locator(".ht-view-elbow")
        expect(card.locator(".ht-elbow-text")).to_have_text(elbow_label(info))
        assert elbow_label(info) == f"elbow at k = {info.knee:g}"
        # the marker: the label drawn on the chart at the elbow (a Bokeh Label model)
        marker = page.evaluate("""() => { const m = Bokeh.documents[0].get_model_by_name('ht-elbow-label');
            return m == null ? null : [m.x, m.text]; }""")
        assert marker == [info.knee, elbow_label(info)]
    finally:
        page.close()


def test_the_binary_run_shows_roc_and_pr(browser: Any, demo: Demo, demo_url: str) -> None:
    info = roc_info(demo.artifact("binary.py", "scores.json"))
    page = open_experiment(browser, demo_url, demo.ids["binary.py"][0][1], ROC_NAME)
    try:
        titles = page.evaluate("""(names) => names.map((n) =>
            Bokeh.documents[0].get_model_by_name(n)?.title?.text ?? null)""", [ROC_NAME, PR_NAME])
        assert titles == [f"ROC (AUC {info.auc:.3f})", f"Precision-recall (AP {info.average_precision:.3f})"]
        # its confusion matrix of table rows is there too
        expect(page.locator(".ht-view-confusion")).to_be_visible()
    finally:
        page.close()


def test_a_damaged_confusion_matrix_is_one_line_and_the_observatory_draws(browser: Any, demo: Demo,
                                                                           demo_url: str) -> None:
    run_id, eid = demo.ids["train.py"][1]
    path = Path(demo.root, "projects", demo.project, "runs", run_id, "artifacts", eid, CONFUSION_MATRIX_FILE)
    assert path.is_file(), path
    path.write_bytes(b'{"labels": [0, 1], "matrix": [[1, 2], [3')  # cut short, as a full disk leaves it
    page = open_experiment(browser, demo_url, eid, OBSERVATORY)
    try:
        line = page.locator(".ht-view-confusion [role=alert]")
        expect(line).to_have_count(1)
        text = line.inner_text()
        assert CONFUSION_MATRIX_FILE in text and "\n" not in text.strip(), text
        assert page.locator(".ht-view-confusion .ht-cm-examples").count() == 0
        xs = column(page, "obs-shown:val_loss", "x") or []
        assert max(xs) == 4.0  # the observatory drew every epoch
    finally:
        page.close()
