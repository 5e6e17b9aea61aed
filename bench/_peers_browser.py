"""The browser side of ``bench/peers.py``: one page, three questions, asked of each dashboard.

Every time is in the browser's clock (``performance.now()``, origin = that navigation's start):

* ``first_rows``: the list of runs shows its first row;
* ``all_reachable``: from the first rows, what it takes until the LAST run of the sweep is on
  screen, scrolling only (``clicks`` = 0) or, where the list pages, clicking its paging button;
* ``view``: a fresh navigation to the page with a scatter / parallel-coordinates view until
  that view is drawn, with ``view_runs`` = how many runs it plots.

Each dashboard has one function per question (``<peer>_rows``, ``<peer>_reach``,
``<peer>_view``); :func:`hypertuner_reach` is the one to adapt when the run page's table
becomes a scrolling list (today above 5,000 experiments it pages 12 rows on the server).
"""

from __future__ import annotations

import math
import time
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

#: time in ms since this navigation started (the origin of every figure)
NOW = "() => performance.now()"

_OPTUNA_ITEMS = """() => [...document.querySelectorAll('.MuiListItemButton-root')]
    .filter((e) => /^Trial \\d+/.test(e.textContent))"""


def _wait(page: Page, js: str, arg: Any = None, *, timeout: float) -> float:
    """Wait (polling every 50 ms) until ``js`` is truthy; the browser's time when it was."""
    page.wait_for_function(js, arg=arg, timeout=timeout * 1000, polling=50)
    return float(page.evaluate(NOW))


# ---- Optuna Dashboard -----------------------------------------------------------------------
def optuna_rows(page: Page, base: str, *, timeout: float) -> float:
    page.goto(f"{base}/dashboard/studies/0/trials", wait_until="commit")
    return _wait(page, f"() => ({_OPTUNA_ITEMS})().length > 0", timeout=timeout)


def optuna_reach(page: Page, n: int, *, timeout: float) -> dict[str, Any]:
    """The trial list is virtual: scroll its container to the end until ``Trial n-1`` shows."""
    t0 = float(page.evaluate(NOW))
    last = f"Trial {n - 1}"
    js = f"""(last) => {{
      const items = ({_OPTUNA_ITEMS})();
      if (items.some((e) => e.textContent.startsWith(last + "") &&
                            !/\\d/.test(e.textContent.slice(last.length, last.length + 1)))) {{
        return true;
      }}
      let el = items.length ? items[0].parentElement : null;
      while (el && el.scrollHeight <= el.clientHeight + 2) {{ el = el.parentElement; }}
      if (el) {{ el.scrollTop = el.scrollHeight; }}
      return false;
    }}"""
    t1 = _wait(page, js, last, timeout=timeout)
    return {"ms": t1 - t0, "clicks": 0, "how": "scrolls (virtual list)"}


def optuna_view(page: Page, base: str, n: int, *, timeout: float) -> dict[str, Any]:
    """Analytics -> Slice: one scatter point per trial (0.21 shows no parallel coordinates for
    a multi-objective study)."""
    page.goto(f"{base}/dashboard/studies/0/analytics", wait_until="commit")
    js = """(n) => { const p = document.getElementById('plot-slice');
                     return p && p.querySelectorAll('.point').length >= n; }"""
    t = _wait(page, js, n, timeout=timeout)
    runs = page.evaluate("() => document.getElementById('plot-slice').querySelectorAll('.point').length")
    return {"ms": t, "runs": int(runs), "what": "Slice scatter (Analytics)"}


# ---- MLflow UI ------------------------------------------------------------------------------
_ML_COUNT = """() => { const m = document.body.innerText.match(/([\\d,]+) matching runs/);
                       return m ? parseInt(m[1].replace(/,/g, '')) : 0; }"""


def mlflow_rows(page: Page, base: str, exp_id: str, *, timeout: float) -> float:
    page.goto(f"{base}/#/experiments/{exp_id}/runs", wait_until="commit")
    return _wait(page, """() => [...document.querySelectorAll('.ag-row')]
                            .some((r) => /run-\\d+/.test(r.textContent))""", timeout=timeout)


def mlflow_reach(page: Page, n: int, *, timeout: float, max_clicks: int) -> dict[str, Any]:
    """The runs table loads 100 runs a page with a "Load more" button at its end: scroll down,
    click it, wait for the count to grow; at most ``max_clicks`` clicks, then extrapolate."""
    t0 = float(page.evaluate(NOW))
    loaded = int(page.evaluate(_ML_COUNT))
    per_page = loaded or 100
    needed = max(0, math.ceil(n / per_page) - 1)
    clicks, click_ms = 0, []
    while loaded < n and clicks < max_clicks:
        page.evaluate("""() => { for (const v of document.querySelectorAll('.ag-body-viewport'))
                                 { v.scrollTop = v.scrollHeight; } }""")
        button = page.get_by_role("button", name="Load more")
        try:
            button.first.wait_for(state="visible", timeout=timeout * 1000)
        except PlaywrightError:
            return {"ms": None, "clicks": clicks, "needed": needed, "how": "no 'Load more' button found"}
        c0 = float(page.evaluate(NOW))
        button.first.click()
        _wait(page, f"() => ({_ML_COUNT})() > {loaded}", timeout=timeout)
        loaded = int(page.evaluate(_ML_COUNT))
        clicks += 1
        click_ms.append(float(page.evaluate(NOW)) - c0)
    ms = float(page.evaluate(NOW)) - t0
    out: dict[str, Any] = {"clicks": clicks, "needed": needed, "per_page": per_page, "loaded": loaded,
                           "click_ms": click_ms}
    if loaded >= n:
        out.update(ms=ms, how=f"{clicks} 'Load more' clicks")
    else:
        per = sum(click_ms) / len(click_ms) if click_ms else None
        out.update(ms=None, estimate_ms=(ms + per * (needed - clicks)) if per else None,
                   how=f"not possible without {needed} 'Load more' clicks ({clicks} timed)")
    return out


def mlflow_view(page: Page, base: str, exp_id: str, *, timeout: float) -> dict[str, Any]:
    """Chart view of the runs page: its charts plot the runs the table shows, 10 by default."""
    page.goto(f"{base}/#/experiments/{exp_id}/runs?compareRunsMode=CHART", wait_until="commit")
    js = """() => [...document.querySelectorAll('.js-plotly-plot')]
                    .some((p) => p.querySelectorAll('.point, .trace').length > 0)"""
    t = _wait(page, js, timeout=timeout)
    page.wait_for_timeout(1000)
    # a bar chart of a final metric has one bar per plotted run; line charts one point per step
    runs = page.evaluate("""() => Math.min(...[...document.querySelectorAll('.js-plotly-plot')]
                              .map((p) => p.querySelectorAll('.point').length).filter((k) => k > 0))""")
    return {"ms": t, "runs": int(runs), "what": "chart view (runs shown in the table)"}


# ---- HyperTuner run page --------------------------------------------------------------------
#: Panel renders widgets in shadow roots: every match of ``sel`` in the page, shadow roots included.
_DEEP_ALL = """(sel) => { const out = [];
  const walk = (root) => { out.push(...root.querySelectorAll(sel));
    for (const n of root.querySelectorAll('*')) { if (n.shadowRoot) { walk(n.shadowRoot); } } };
  walk(document); return out; }"""


def hypertuner_rows(page: Page, url: str, *, timeout: float) -> float:
    page.goto(url, wait_until="commit")
    return _wait(page, f"() => ({_DEEP_ALL})('.ht-row').length > 0", timeout=timeout)


def hypertuner_reach(page: Page, n: int, *, timeout: float) -> dict[str, Any]:
    """The run page's table is one scrolling list (rows loaded from the server as it scrolls):
    scroll it to the end and wait until the last run's row is drawn."""
    t0 = float(page.evaluate(NOW))
    js = f"""() => {{ const h = ({_DEEP_ALL})('.ht-table')[0];
                    if (!h) {{ return false; }}
                    h.scrollTop = h.scrollHeight;
                    return ({_DEEP_ALL})(".ht-row .ht-cell[data-field='#']")
                        .some((c) => c.textContent.trim() === '#{n}'); }}"""
    t1 = _wait(page, js, timeout=timeout)
    return {"ms": t1 - t0, "clicks": 0, "how": "scrolls (one list; rows loaded from the server as it scrolls)"}


def hypertuner_view(page: Page, url: str, n_plots: int, ready_js: str, *, timeout: float) -> dict[str, Any]:
    """The scatter matrix (every run, density layers when dense) and the bar chart drawn."""
    page.goto(url, wait_until="commit")
    _wait(page, ready_js, ["run page", n_plots], timeout=timeout)
    t = float(page.evaluate("() => window.__ht.ready"))
    return {"ms": t, "runs": None, "what": "scatter matrix"}


def settle(page: Page, seconds: float = 1.0) -> None:
    """Let the page finish its trailing work before the next step is timed."""
    time.sleep(seconds)
