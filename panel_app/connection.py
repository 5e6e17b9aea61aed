"""What a page shows when it loses its server: a banner in the page, retries, and a reload.

Bokeh announces a closed websocket to the document as a ``connection_lost`` event (once per
reconnection attempt it makes). :data:`CONNECTION_JS` answers the first one with a banner at
the top of the page (``.ht-disconnected``, text only, no toast that fades), then polls a static
file of the server (a request that starts no session) every :data:`POLL_MS`; when the server
answers again the page reloads, getting a fresh session with the current state. A server that
was only unreachable for a moment reloads the page at once.

Panel's ``config.disconnect_notification`` shows a toast that needs the notifications area,
and Bokeh's own reconnection cannot reach a session that died with its server process, so
neither brings the page back after a restart.
"""

from __future__ import annotations

from typing import Any

from bokeh.models import CustomJS

__all__ = ["BANNER_CLASS", "CONNECTION_JS", "POLL_MS", "watch_connection"]

#: The banner's class (what tests and users' styles find).
BANNER_CLASS = "ht-disconnected"
#: How often (ms) a disconnected page asks whether the server is back.
POLL_MS = 1000
#: A static file every Panel server serves without a session.
PROBE_PATH = "static/js/bokeh.min.js"

#: CustomJS on the document's ``connection_lost`` events, with args ``{cls, poll_ms, probe}``.
CONNECTION_JS = """
if (window.__ht_disconnected) { return; }
window.__ht_disconnected = true;
const banner = document.createElement("div");
banner.className = cls;
banner.setAttribute("role", "alert");
banner.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:100000;padding:8px 14px;" +
  "background:#c62828;color:#fff;font:600 14px sans-serif;text-align:center;" +
  "box-shadow:0 2px 6px rgba(0,0,0,.3)";
const text = document.createElement("span");
text.textContent = "Disconnected from the dashboard server, retrying... " +
  "(the page reloads when the server is back; what it shows may be out of date)";
const tries = document.createElement("span");
tries.className = cls + "-tries";
tries.style.cssText = "margin-left:10px;font-weight:400;opacity:.85";
banner.append(text, tries);
document.body.appendChild(banner);
document.body.style.paddingTop = `${banner.offsetHeight}px`;  // hide nothing under it
const base = document.baseURI || (location.origin + "/");
const url = new URL(probe, base).href;
let n = 0;
const poll = async () => {
  n += 1;
  tries.textContent = `attempt ${n}`;
  try {
    const r = await fetch(url, {method: "HEAD", cache: "no-store"});
    if (r.ok) { location.reload(); return; }
  } catch (e) { /* still down */ }
  setTimeout(poll, poll_ms);
};
setTimeout(poll, Math.min(poll_ms, 500));
"""


def watch_connection(doc: Any) -> None:
    """Show :data:`CONNECTION_JS`'s banner in the session document ``doc`` when its websocket
    closes (nothing outside a server session)."""
    if doc is None or getattr(doc, "session_context", None) is None:
        return
    doc.js_on_event("connection_lost", CustomJS(
        args={"cls": BANNER_CLASS, "poll_ms": POLL_MS, "probe": PROBE_PATH},
        code=CONNECTION_JS))
