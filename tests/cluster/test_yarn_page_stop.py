"""Stop on the experiment page ends a YARN application on the real mini cluster.

The page is the one a server session builds (its model reads the HDFS store, its Stop kills
through the configured engine); the buttons are clicked as Panel clicks them, no browser:
Stop asks, the confirmation kills. The ResourceManager's REST API is the judge.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from panel_app.experiment_page.model import ExperimentPageModel
from panel_app.experiment_page.registry import Registry
from panel_app.experiment_page.session import stopper
from panel_app.experiment_page.view import ExperimentPage
from tests.cluster.test_yarn_engine import _env, _state, rm_app
from tests.integration.processes import HYPERTUNER, launch_batch, stop_process, wait_for
from workbench_plugin.config import load_config
from workbench_plugin.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def on_yarn(minicluster: Any) -> Iterator[dict[str, str]]:
    """HyperTuner's settings for the cluster: YARN engine, store on its HDFS."""
    host = minicluster.webhdfs_url.split("://", 1)[1]
    yield {
        **minicluster.client_env(),
        "HADOOP_CONF_DIR": str(minicluster.conf_dir),
        "HYPERTUNER_ENGINE": "spark",
        "HYPERTUNER_SPARK_MASTER": "yarn",
        "HYPERTUNER_YARN_RM": minicluster.rm_url,
        "HYPERTUNER_STORE": f"webhdfs://{host}/hypertuner-{uuid.uuid4().hex[:8]}",
        "HYPERTUNER_FLUSH_SECONDS": "1",
        "HYPERTUNER_SLOTS": "1",
    }


def test_stop_on_the_page_kills_the_yarn_application(on_yarn: dict[str, str], minicluster: Any,
                                                      project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in on_yarn.items():
        monkeypatch.setenv(name, value)  # the server's own settings: the page's engine talks to this RM
    config = load_config()
    store = Store(on_yarn["HYPERTUNER_STORE"])
    index, exps = launch_batch(store, project_dir, {"x": 1, "epochs": 600, "sleep": 0.5})
    eid = exps[0].experiment_id
    gateway = subprocess.Popen([*HYPERTUNER, "gateway"], env=_env(on_yarn), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _state(index, eid) == "running", timeout=180, what="the experiment to run on YARN")
        app_id = str(index.experiment(eid)[2].get("engine_id")).split(":", 1)[1]
        assert rm_app(minicluster.rm_url, app_id)["state"] == "RUNNING"

        # the page of a session whose user is alice, as session.new_experiment_page builds it
        model = ExperimentPageModel(index, eid, config=config)
        page = ExperimentPage(model, Registry((), ()), stop=stopper(index, config, "alice"))
        page.__panel__()

        # the header links the engine id to the RM's page of the application
        link = f"{minicluster.rm_url}/cluster/app/{app_id}"
        assert model.header.engine_link == link
        assert f'<a href="{html.escape(link)}" target="_blank" rel="noopener">yarn:{app_id}</a>' \
            in page.header.object

        assert page.stop_button.visible and not page.confirm_button.visible
        page.stop_button.clicks += 1  # first click asks
        assert page.confirm_button.visible and page.confirm_button.label == f"Really stop experiment {eid}?"
        assert _state(index, eid) == "running"  # asking kills nothing
        # confirmed: what the button runs, on a thread and loop of its own (outside a server session
        # Panel would schedule it on whatever event loop an earlier test left running, to run later)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, page._confirm()).result(timeout=120)
        wait_for(lambda: html.unescape(str(page.stop_said.object)).endswith(f"{eid}: running -> killed</span>"),
                 timeout=60, what="the page to say the stop ended")
        wait_for(lambda: rm_app(minicluster.rm_url, app_id)["state"] == "KILLED", timeout=60,
                 what="the YARN application to be KILLED")
        app = rm_app(minicluster.rm_url, app_id)
        assert (app["state"], app["finalStatus"]) == ("KILLED", "KILLED")
        index.refresh()
        state = index.experiment(eid)[2]
        assert state.state == "killed" and state.get("kill_requested_by") == "alice"
        assert str(state.get("reason")).endswith("stop asked by alice"), state.fields
        # and the page says so (once: in the reason), without Stop
        wait_for(lambda: "stop asked by alice</span>" in page.header.object and ">killed<" in page.header.object,
                 timeout=30, what="the header to say killed, stop asked by alice")
        assert not page.stop_button.visible
    finally:
        stop_process(gateway)
