"""The browser half of the run page's experiment table (:mod:`panel_app.run_page.table`): one
scrolling list of fixed-height rows, of which only those on screen exist in the page.

The list's full height is a spacer (``total`` rows of ``row_height`` pixels); the rows on screen
are drawn from a cache of the windows the server sent (``window``: rows ``start`` to
``start + len(rows)`` of the sorted, filtered view, with their marks). Rows not yet in the cache
are asked for by setting ``viewport`` to ``[start, count]``; a new ``version`` (sort, filter,
marks or data changed) empties the cache. The scroll position is the browser's own: the server
moves it only by ``window.scroll`` (a sort, a filter, a selection made elsewhere: to the top).

Every value and title is put into the page with ``textContent`` (never as HTML), the experiment
link's address with ``encodeURIComponent``; a class name is made of a user string only when it
is a plain token.
"""

from __future__ import annotations

__all__ = ["TABLE_ESM", "TABLE_STYLE"]

TABLE_ESM = r"""
const PLAIN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const own = (o, k) => o != null && Object.prototype.hasOwnProperty.call(o, k);

function cellEl(c, v) {
  const d = document.createElement("div");
  d.className = "ht-cell" + (c.frozen ? " ht-frozen" : "") + (c.kind === "number" ? " ht-num" : "");
  d.setAttribute("data-field", c.field);
  d.style.width = c.width + "px";
  if (c.kind === "state") {
    const b = document.createElement("span");
    b.className = "ht-state";
    b.style.background = own(c.colors, v) ? c.colors[v] : "#9e9e9e";
    b.textContent = v;
    d.append(b);
  } else if (c.kind === "health") {
    for (const line of String(v).split("\n")) {
      const at = line.indexOf(": ");
      if (at < 0) { continue; }
      const flag = line.slice(0, at);
      const b = document.createElement("span");
      b.className = "ht-health";
      if (PLAIN.test(flag)) { b.classList.add("ht-health-" + flag); }
      b.title = line.slice(at + 2);
      b.style.background = own(c.colors, flag) ? c.colors[flag] : "#9e9e9e";
      b.textContent = flag;
      d.append(b);
    }
  } else if (c.kind === "link") {
    const a = document.createElement("a");
    a.className = "ht-open-experiment";
    a.href = "?experiment=" + encodeURIComponent(v);
    a.textContent = v;
    d.append(a);
  } else {
    d.textContent = v;
  }
  return d;
}

export function render({ model, el }) {
  const H = model.row_height;
  const scroller = document.createElement("div");
  scroller.className = "ht-table";
  scroller.style.height = (model.height || 430) + "px";
  const head = document.createElement("div");
  head.className = "ht-table-head";
  const titles = document.createElement("div");
  titles.className = "ht-table-titles";
  const filters = document.createElement("div");
  filters.className = "ht-table-filters";
  head.append(titles, filters);
  const body = document.createElement("div");
  body.className = "ht-table-body";
  scroller.append(head, body);
  el.append(scroller);

  let total = 0, version = null, seq = null, cache = new Map(), asked = null;
  let frame = null, report = null;

  function showSort() {
    const s = model.sort || {};
    for (const th of titles.children) {
      const on = own(s, "field") && th.getAttribute("data-field") === s.field;
      th.classList.toggle("ht-sorted-asc", on && !s.descending);
      th.classList.toggle("ht-sorted-desc", on && !!s.descending);
      th.lastChild.textContent = on ? (s.descending ? " \u25bc" : " \u25b2") : "";
    }
  }

  function buildHead() {
    titles.replaceChildren();
    filters.replaceChildren();
    let width = 0;
    const typed = model.filters || {};
    for (const c of model.columns) {
      const th = document.createElement("div");
      th.className = "ht-col" + (c.frozen ? " ht-frozen" : "");
      th.setAttribute("data-field", c.field);
      th.style.width = c.width + "px";
      const t = document.createElement("span");
      t.className = "ht-col-title";
      t.textContent = c.title;
      th.title = "Sort by " + c.title + " (again: the other way)";
      th.append(t, document.createElement("span"));
      th.addEventListener("click", () => {
        const s = model.sort || {};
        const again = own(s, "field") && s.field === c.field;
        model.sort = {field: c.field, descending: again ? !s.descending : false};
      });
      titles.append(th);
      const f = document.createElement("div");
      f.className = "ht-col" + (c.frozen ? " ht-frozen" : "");
      f.style.width = c.width + "px";
      const input = document.createElement("input");
      input.className = "ht-col-filter";
      input.setAttribute("data-field", c.field);
      input.placeholder = c.kind === "number" ? "> 0.5" : "filter";
      input.maxLength = 200;
      input.value = own(typed, c.field) ? typed[c.field] : "";
      let wait = null;
      input.addEventListener("input", () => {
        clearTimeout(wait);
        wait = setTimeout(() => {
          model.filters = Object.assign({}, model.filters || {}, {[c.field]: input.value});
        }, 250);
      });
      f.append(input);
      filters.append(f);
      width += c.width;
    }
    for (const part of [titles, filters, body]) { part.style.width = width + "px"; }
    showSort();
  }

  function ask(start, count) {
    const key = version + ":" + start + ":" + count;
    if (asked === key) { return; }
    asked = key;
    model.viewport = [start, count];
  }

  function draw() {
    frame = null;
    const first = Math.max(0, Math.floor(scroller.scrollTop / H));
    const n = Math.ceil(Math.max(scroller.clientHeight - head.offsetHeight, H) / H) + 1;
    const last = Math.min(total, first + n);
    const rows = [];
    let missing = false;
    for (let p = first; p < last; p++) {
      const r = cache.get(p);
      if (r === undefined) { missing = true; continue; }
      const row = document.createElement("div");
      row.className = r.mark ? "ht-row ht-row-selected" : "ht-row";
      row.style.top = p * H + "px";
      row.style.height = H + "px";
      row.setAttribute("data-pos", String(p));
      model.columns.forEach((c, i) => row.append(cellEl(c, r.cells[i])));
      rows.push(row);
    }
    body.replaceChildren(...rows);
    const lo = Math.max(0, first - n), hi = Math.min(total, last + n);
    if (missing) {
      ask(lo, hi - lo);
    } else {  // all there: tell the server where we are once the scrolling stops (live updates)
      clearTimeout(report);
      report = setTimeout(() => ask(lo, hi - lo), 150);
    }
  }

  function later() {
    if (frame === null) { frame = requestAnimationFrame(draw); }
  }

  function take() {
    const w = model.window;
    if (w == null || w.seq === seq) { return; }
    seq = w.seq;
    if (w.version !== version || cache.size > 20000) { cache = new Map(); version = w.version; }
    total = w.total;
    body.style.height = total * H + "px";
    w.rows.forEach((cells, i) => cache.set(w.start + i, {cells: cells, mark: w.marks[i]}));
    if (w.scroll !== null && w.scroll !== undefined) { scroller.scrollTop = w.scroll * H; }
    draw();
  }

  body.addEventListener("click", (e) => {
    if (e.target.closest("a")) { return; }  // the link opens the experiment's page
    const row = e.target.closest(".ht-row");
    if (row === null) { return; }
    const ctrl = e.ctrlKey || e.metaKey;
    if (!ctrl && !e.shiftKey) {  // shown at once; the server's answer confirms it
      for (const other of body.querySelectorAll(".ht-row-selected")) {
        other.classList.remove("ht-row-selected");
      }
      row.classList.add("ht-row-selected");
    }
    model.send_msg({pos: Number(row.getAttribute("data-pos")), ctrl: ctrl, shift: e.shiftKey});
  });
  scroller.addEventListener("scroll", later, {passive: true});
  new ResizeObserver(later).observe(scroller);
  model.on("columns", () => { buildHead(); draw(); });
  model.on("sort", showSort);
  model.on("window", take);
  buildHead();
  take();
}
"""

TABLE_STYLE = """
.ht-table { position: relative; overflow: auto; font-size: 12px; border: 1px solid #ddd;
  background: #fff; font-family: sans-serif; }
.ht-table-head { position: sticky; top: 0; z-index: 3; background: #f4f4f4;
  border-bottom: 1px solid #ccc; }
.ht-table-titles, .ht-table-filters { display: flex; }
.ht-table-body { position: relative; }
.ht-col { box-sizing: border-box; flex: none; padding: 3px 5px; font-weight: bold; cursor: pointer;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; background: #f4f4f4;
  border-right: 1px solid #e2e2e2; user-select: none; }
.ht-table-filters .ht-col { padding: 0 3px 3px; cursor: default; }
.ht-col-filter { box-sizing: border-box; width: 100%; font-size: 11px; padding: 1px 3px; }
.ht-row { position: absolute; left: 0; display: flex; height: 24px; cursor: pointer;
  border-bottom: 1px solid #eee; background: #fff; }
.ht-row:hover, .ht-row:hover .ht-frozen { background: #f0f6ff; }
.ht-row-selected, .ht-row-selected .ht-frozen, .ht-row-selected:hover,
.ht-row-selected:hover .ht-frozen { background: #cfe3ff; }
.ht-cell { box-sizing: border-box; flex: none; padding: 3px 5px; line-height: 17px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; border-right: 1px solid #f2f2f2; }
.ht-num { text-align: right; font-variant-numeric: tabular-nums; }
.ht-frozen { position: sticky; left: 0; z-index: 1; background: #fff; }
.ht-col.ht-frozen { z-index: 4; background: #f4f4f4; }
.ht-state { display: inline-block; min-width: 58px; padding: 0 5px; border-radius: 7px;
  color: #fff; text-align: center; }
.ht-health { display: inline-block; padding: 0 5px; margin-right: 3px; border-radius: 7px;
  color: #fff; font-size: 11px; }
"""
