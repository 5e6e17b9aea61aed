"""Where the run page's first render and a brush spend their time (used by ``bench/dashboard.py``).

Server side, measured in the bench's own process (:func:`session_breakdown`): the page's session
build (``new_run_page``: model, Bokeh figures, widgets), Panel turning it into Bokeh models, and
the Bokeh document the browser is sent (models by kind and bytes, by part of the page).

Browser side, :data:`PROBES_JS` (an init script) records in the page's clock: the HTML response,
Bokeh's JS loaded, the websocket frames (bytes and times), Bokeh's document, every plot view
built, first paint; and for a brush the time spent in each ``CustomJS`` (hit test, highlight
update) and in each plot's primary and overlay repaints (the highlight must repaint overlays
only), plus any websocket traffic before the highlight is complete.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any


def _json_len(rep: Any) -> int:
    """Bytes of a serialized rep as sent (binary buffers are referenced by id)."""
    return len(json.dumps(rep, default=lambda o: {"id": getattr(o, "id", "?")}))


__all__ = ["PROBES_JS", "WRAP_JS", "browser_breakdown", "brush_breakdown", "session_breakdown"]


def session_breakdown(source: Any, page_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build one run page outside a server and take its Bokeh document apart."""
    from bokeh.core.serialization import Serializer
    from bokeh.document import Document

    from panel_app.run_page.session import new_run_page

    t0 = time.perf_counter()
    page = new_run_page(source, refresh_ms=60_000, **(page_options or {}))
    t1 = time.perf_counter()
    doc = Document()
    root = page.__panel__().get_root(doc)
    doc.add_root(root)
    t2 = time.perf_counter()
    content = doc.to_json(deferred=True)
    t3 = time.perf_counter()
    doc_bytes = _json_len(content.content) + sum(len(b.data) for b in content.buffers)

    models = list(doc.models)
    by_type: Counter[str] = Counter(type(m).__name__ for m in models)
    size: dict[str, int] = {}
    every = set(models)
    for m in models:
        ser = Serializer(references=every - {m}, deferred=True)
        rep = ser.encode(m)
        size[m.id] = _json_len(rep) + sum(len(b.data) for b in ser.buffers)
    bytes_by_type: Counter[str] = Counter()
    for m in models:
        bytes_by_type[type(m).__name__] += size[m.id]

    def bokeh_of(viewable: Any) -> list[Any]:
        return [pair[0] for pair in getattr(viewable, "_models", {}).values()]

    parts: dict[str, list[Any]] = {
        "table": bokeh_of(page.table),
        "scatter matrix": [f for f in page.plots.scatters.values()],
        "charts": [f for f in (page.plots.bars, page.plots.epochs) if f is not None],
        "sliders": bokeh_of(page.slider_panel.panel),
    }
    seen: set[str] = set()
    by_part: dict[str, tuple[int, int]] = {}
    for name, tops in parts.items():
        ids: set[str] = set()
        for top in tops:
            ids |= {r.id for r in top.references()}
        ids -= seen
        seen |= ids
        by_part[name] = (len(ids), sum(size.get(i, 0) for i in ids))
    rest = {m.id for m in models} - seen
    by_part["rest (page, header, notes, shared sources)"] = (
        len(rest), sum(size[i] for i in rest))
    page.stop_live()
    return {
        "page build s": t1 - t0, "bokeh models s": t2 - t1, "serialize s": t3 - t2,
        "models": len(models), "doc bytes": doc_bytes,
        "types": by_type.most_common(8),
        "bytes by type": bytes_by_type.most_common(8),
        "by part": by_part,
    }


#: Init script: marks in the page's clock and websocket traffic, before any page script runs.
PROBES_JS = """
(() => {
  const h = window.__ht = window.__ht || {};
  h.t = {}; h.frames = []; h.sent = [];
  const mark = (k) => { if (h.t[k] == null) { h.t[k] = performance.now(); } };
  h.mark = mark;
  const W = window.WebSocket;
  const size = (d) => typeof d === "string" ? d.length : (d.byteLength || d.size || 0);
  const head = (d) => typeof d === "string" ? d.slice(0, h.headLen || 120) : "";
  function Probe(...args) {
    const ws = new W(...args);
    mark("ws created");
    ws.addEventListener("open", () => mark("ws open"));
    ws.addEventListener("message", (e) => h.frames.push([performance.now(), size(e.data), head(e.data)]));
    const send = ws.send.bind(ws);
    ws.send = (d) => { h.sent.push([performance.now(), size(d), head(d)]); return send(d); };
    return ws;
  }
  Probe.prototype = W.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) { Probe[k] = W[k]; }
  window.WebSocket = Probe;
  h.longtasks = [];
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) { h.longtasks.push([e.startTime, e.duration]); } })
      .observe({type: "longtask", buffered: true});
  } catch (e) { /* not supported */ }
  const poll = () => {
    if (window.Bokeh) {
      mark("bokeh js");
      if (Bokeh.documents && Bokeh.documents.length) {
        mark("document");
        const views = [...Bokeh.index.all_views()];
        if (views.length) { mark("first view"); }
        if (h.expected && h.plots) {
          const plots = h.plots[h.design]();
          if (plots.length >= h.expected) { mark("plot views built"); }
        }
      }
    }
    if (h.ready == null) { requestAnimationFrame(poll); }
  };
  requestAnimationFrame(poll);
})();
"""

#: After the first render: time every CustomJS and every plot repaint (primary vs overlay).
WRAP_JS = """([labels]) => {
  const h = window.__ht;
  h.js = []; h.paints = [];
  const views = [...Bokeh.index.all_views()];
  const doc = Bokeh.documents[0];
  const all = doc._all_models || doc.all_models;
  const models = all ? [...(all.values ? all.values() : all)] : [];
  const cjs = models.find((m) => m.constructor.__name__ === "CustomJS" || m.type === "CustomJS");
  const label = (code) => { for (const [k, snip] of labels) { if (code.includes(snip)) return k; } return "other"; };
  if (cjs && !h.wrappedJS) {
    h.wrappedJS = true;
    const proto = Object.getPrototypeOf(cjs);
    const exec = proto.execute;
    proto.execute = async function (...a) {
      const t0 = performance.now();
      try { return await exec.apply(this, a); }
      finally { h.js.push([label(this.code), t0, performance.now()]); }
    };
  }
  const plot = views.find((v) => v.model.name === "bars" || (v.model.name || "").startsWith("scatter:"));
  if (plot && !h.wrappedPaint) {
    h.wrappedPaint = true;
    let proto = Object.getPrototypeOf(plot);
    while (proto && !Object.prototype.hasOwnProperty.call(proto, "_paint_primary")) {
      proto = Object.getPrototypeOf(proto);
    }
    for (const kind of ["_paint_primary", "_paint_overlays"]) {
      const f = proto[kind];
      proto[kind] = function (...a) {
        const t0 = performance.now();
        try { return f.apply(this, a); }
        finally {
          h.paints.push([kind === "_paint_primary" ? "primary" : "overlay", this.model.name || "?",
                         t0, performance.now()]);
        }
      };
    }
  }
  return {customjs: !!cjs, paint: !!plot, models: models.length};
}"""

#: What the probes saw, for the first render.
COLLECT_JS = """() => {
  const h = window.__ht;
  const nav = performance.getEntriesByType("navigation")[0] || {};
  const res = performance.getEntriesByType("resource");
  const js = res.filter((r) => /\\.js(\\?|$)/.test(r.name));
  const paint = Object.fromEntries(performance.getEntriesByType("paint").map((p) => [p.name, p.startTime]));
  return {
    t: h.t, ready: h.ready, frames: h.frames, sent: h.sent, longtasks: h.longtasks,
    html: {responseStart: nav.responseStart, responseEnd: nav.responseEnd,
           domInteractive: nav.domInteractive, bytes: nav.decodedBodySize},
    js: js.map((r) => [r.name.split("/").pop().split("?")[0], r.responseEnd, r.decodedBodySize]),
    css: res.filter((r) => /\\.css(\\?|$)/.test(r.name))
            .map((r) => [r.name.split("/").pop(), r.responseEnd, r.decodedBodySize]),
    paint,
  };
}"""


def browser_breakdown(raw: dict[str, Any], metrics: dict[str, float]) -> dict[str, Any]:
    """Milestones (ms since navigation start) and bytes from :data:`COLLECT_JS` and CDP metrics."""
    t = raw.get("t") or {}
    html = raw.get("html") or {}
    js = raw.get("js") or []
    frames = raw.get("frames") or []
    ready = raw.get("ready")
    before = [f for f in frames if ready is None or f[0] <= ready]
    biggest = max(before, key=lambda f: f[1]) if before else None
    out: dict[str, Any] = {
        "html response (server session build)": html.get("responseStart"),
        "html bytes": html.get("bytes"),
        "js loaded": max((r[1] for r in js), default=None),
        "js bytes": sum(r[2] or 0 for r in js),
        "js files": len(js),
        "js list": js,
        "css bytes": sum(r[2] or 0 for r in (raw.get("css") or [])),
        "bokeh js": t.get("bokeh js"),
        "ws open": t.get("ws open"),
        "ws bytes in before ready": sum(f[1] for f in before),
        "ws frames in before ready": len(before),
        "largest ws frame": (biggest[1], biggest[0]) if biggest else None,
        "last ws frame before ready": before[-1][0] if before else None,
        "document": t.get("document"),
        "plot views built": t.get("plot views built"),
        "first paint": (raw.get("paint") or {}).get("first-paint"),
        "first contentful paint": (raw.get("paint") or {}).get("first-contentful-paint"),
        "ready": ready,
        "long tasks ms": sum(d for _, d in raw.get("longtasks") or []),
        "ws sent before ready": [s[2][:60] for s in raw.get("sent") or []
                                 if ready is None or s[0] <= ready][:6],
    }
    for k in ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "TaskDuration"):
        if k in metrics:
            out[f"cdp {k} ms"] = metrics[k] * 1000
    return out


def brush_breakdown(raw: dict[str, Any]) -> dict[str, Any]:
    """One brush: time in each CustomJS, primary/overlay repaints, websocket traffic."""
    up, done = raw["up"], raw["done"]
    js: dict[str, float] = {}
    for label, t0, t1 in raw.get("js") or []:
        if t0 >= up - 5 and t0 <= done:
            js[label] = js.get(label, 0.0) + (t1 - t0)
    primary = [p for p in raw.get("paints") or [] if p[0] == "primary" and up <= p[2] <= done]
    overlay = [p for p in raw.get("paints") or [] if p[0] == "overlay" and up <= p[2] <= done]
    hl_end = max((t1 for label, t0, t1 in raw.get("js") or []
                  if label == "highlight update" and up - 5 <= t0 <= done), default=None)
    first_in = min((f[0] for f in raw.get("frames") or [] if up <= f[0] <= done), default=None)
    paints = [p for p in raw.get("paints") or [] if up <= p[2] <= done]
    long = [(t, d) for t, d in raw.get("longtasks") or [] if t + d >= up and t <= done]
    return {
        "first server frame": (first_in - up) if first_in is not None else None,
        "first paint": (min(p[2] for p in paints) - up) if paints else None,
        "last paint end": (max(p[3] for p in paints) - up) if paints else None,
        "long tasks": sum(d for _, d in long), "long task count": len(long),
        "total": done - up,
        "js": js,
        "until highlight data set": (hl_end - up) if hl_end is not None else None,
        "primary repaints": len(primary), "primary ms": sum(p[3] - p[2] for p in primary),
        "overlay repaints": len(overlay), "overlay ms": sum(p[3] - p[2] for p in overlay),
        "ws sent": sum(1 for s in raw.get("sent") or [] if up <= s[0] <= done),
        "ws received": sum(1 for f in raw.get("frames") or [] if up <= f[0] <= done),
    }
