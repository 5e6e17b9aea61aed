"""Entry points: build a run page for the current session, or serve one on a thread."""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import panel as pn
from panel.io.state import state

from panel_app.run_page import RunPage
from workbench_plugin._exceptions import ConfigError
from workbench_plugin.frames import RunSource
from workbench_plugin.memory import decode_view

__all__ = ["ServedPage", "build_run_page", "new_run_page", "serve_run_page"]


def build_run_page(source: RunSource, *, refresh_ms: int = 1500,
                   nav: pn.viewable.Viewable | None = None) -> pn.viewable.Viewable:
    """A new run page over ``source``; live (polling every ``refresh_ms``) in a server session.

    Call it once per session (``pn.serve(lambda: build_run_page(source))``): every browser
    tab gets its own page, selection and periodic callback, stopped with its session.
    """
    return new_run_page(source, refresh_ms=refresh_ms, nav=nav).__panel__()


def new_run_page(source: RunSource, *, refresh_ms: int = 1500,
                 nav: pn.viewable.Viewable | None = None, **options: Any) -> RunPage:
    """Like :func:`build_run_page`, but returns the :class:`RunPage` viewer itself. ``nav`` is
    shown above the run header (inside the page's own layout: wrapping the page in another
    layout collapses its fixed-size scatter matrix)."""
    doc = pn.state.curdoc
    in_session = doc is not None and doc.session_context is not None
    view: dict[str, Any] = {}
    problem = ""
    if in_session:
        raw = pn.state.session_args.get("view", [b""])[0]
        token = raw.decode() if isinstance(raw, bytes) else str(raw)
        if token:
            try:
                view = decode_view(token)
            except ConfigError as exc:
                problem = str(exc)
    author = (pn.state.user or None) if in_session else None
    page = RunPage(source, refresh_ms=refresh_ms, nav=nav, view=view, author=author, **options)
    if problem:
        page.show_error(problem)
    if in_session:
        page.start_live()
    return page


@dataclass
class ServedPage:
    """A run page served on its own thread; :meth:`stop` shuts it down and waits."""

    server: Any
    port: int
    address: str
    thread: Any = field(repr=False)
    server_id: str = ""
    #: The pages of the sessions opened so far (weakly held), newest last.
    pages: list[weakref.ReferenceType[RunPage]] = field(default_factory=list, repr=False)

    def live_pages(self) -> list[RunPage]:
        return [p for p in (ref() for ref in self.pages) if p is not None]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"

    def stop(self, timeout: float = 10.0) -> None:
        if self.thread.is_alive():
            self.thread.stop()
            self.thread.join(timeout)
        state._servers.pop(self.server_id, None)
        state._threads.pop(self.server_id, None)
        if self.thread.is_alive():
            raise RuntimeError(f"run page server on port {self.port}: still running "
                               f"{timeout:.0f} s after stop()")

    def __enter__(self) -> ServedPage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_run_page(source: RunSource, *, address: str = "127.0.0.1", port: int = 0,
                   refresh_ms: int = 1500, title: str | None = None,
                   start_timeout: float = 30.0, page_options: dict[str, Any] | None = None,
                   **kwargs: Any) -> ServedPage:
    """Serve the run page of ``source`` at ``http://address:port/`` on a background thread.

    ``port=0`` picks a free port; the returned :class:`ServedPage` has the actual one. Extra
    keyword arguments go to :func:`panel.serve` (``websocket_origin``, ``basic_auth``, ...).
    """
    frames = source.frames()
    pages: list[weakref.ReferenceType[RunPage]] = []

    def session() -> pn.viewable.Viewable:
        page = new_run_page(source, refresh_ms=refresh_ms, **(page_options or {}))
        pages.append(weakref.ref(page))
        return page.__panel__()

    thread = pn.serve(
        session,
        address=address, port=port, threaded=True, show=False, verbose=False,
        title=title or f"HyperTuner · run {frames.run_id}", **kwargs,
    )
    server_id = thread.server_id
    deadline = time.monotonic() + start_timeout
    while server_id not in state._servers:
        if not thread.is_alive() or time.monotonic() > deadline:
            with contextlib.suppress(Exception):
                thread.stop()
            raise RuntimeError(f"run page server on {address}:{port}: did not start within "
                               f"{start_timeout:.0f} s")
        time.sleep(0.02)
    server = state._servers[server_id][0]
    _wait_listening(server, deadline)
    return ServedPage(server=server, port=int(server.port), address=address, thread=thread,
                      server_id=server_id, pages=pages)


def _wait_listening(server: Any, deadline: float) -> None:
    """``state._servers`` is filled before the IO loop starts; wait until it runs."""
    started = threading.Event()
    server.io_loop.add_callback(started.set)
    if not started.wait(max(0.0, deadline - time.monotonic())):
        raise RuntimeError(f"run page server on port {server.port}: IO loop did not start")
