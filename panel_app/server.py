"""The dashboard server: one page factory that routes a session's URL, and the ways to serve it.

Routes (:func:`route_of`, a pure function of the session's arguments and the project's runs):

* ``?run=<run id>``: that run's page; an unknown or missing run shows the latest run;
* ``?experiment=<experiment id>``: the experiment page (an id reads ``<run id>-<number>``);
  with ``&log=stdout`` or ``&log=stderr`` its whole log;
* ``?compare=<id>,<id>,...``: the compare page of those experiments (2 to 10, of any runs of
  the project: :attr:`Route.compare`); fewer or more: a one-line refusal in the header of the run
  page of the first one's run, with those of that run selected;
* ``?new=<run id>``: the new-run page (the next batch from that run's locks; served by
  ``hypertuner serve``, which knows the project folder); an unknown run: its run page route;
* ``?view=<token>``: the view state a link carries (selection as made, metric, chart); when it
  has a selection, that one wins over the experiments of the link.

A malformed or unknown id gives a one-line error in the page header (escaped, as every shown
string) and the latest run. Parameters are bounded: at most :data:`MAX_PARAM_CHARS` characters
and :data:`MAX_IDS` experiments.
"""

from __future__ import annotations

import contextlib
import html
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from panel_app.run_page.view_state import view_from_args
from workbench_plugin._exceptions import ConfigError, ExperimentNotFound
from workbench_plugin.experiment_info import compare_count_problem
from workbench_plugin.frames import RunSource
from workbench_plugin.index import ProjectIndex, RunView
from workbench_plugin.store import Store, run_id_of

if TYPE_CHECKING:
    from panel_app.run_page.view import RunPage
    from workbench_plugin.config import Config
    from workbench_plugin.project import ProjectSettings

__all__ = [
    "MAX_IDS",
    "MAX_PARAM_CHARS",
    "Route",
    "ServedPage",
    "login_options",
    "make_page",
    "new_run_of",
    "route_of",
    "serve_app",
    "serve_dashboard",
    "serve_run_page",
]

#: The longest ``?run=``, ``?experiment=`` or ``?compare=`` value read.
MAX_PARAM_CHARS = 2000
#: The most experiments one ``?compare=`` names.
MAX_IDS = 50
#: Where an error names an id, at most this many of its characters.
_SHOWN_CHARS = 60

SessionArgs = Mapping[str, Sequence[bytes | str]]


@dataclass(frozen=True)
class Route:
    """What a session's URL asks for, resolved against the project's runs.

    ``run_id`` is the run page to show (None: the project has no runs); ``select`` the
    experiments to select when ``view`` has no selection; ``problems`` one-line errors for
    the page header; ``compare`` the experiments of a compare page (empty: a run page);
    ``experiment`` the experiment whose page to show instead ("" for none).
    """

    run_id: str | None
    select: tuple[str, ...] = ()
    view: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    compare: tuple[str, ...] = ()
    #: the experiment page to show (``?experiment=``; "" for a run page)
    experiment: str = ""


class _BadLink(ValueError):
    """A link parameter that names no experiment (or not one usable run of them)."""


def _arg(args: SessionArgs, name: str) -> str:
    values = args.get(name) or [b""]
    raw = values[0]
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "...")


def _experiments(name: str, value: str, runs: Mapping[str, Collection[str]]) -> tuple[str, tuple[str, ...]]:
    """The run (the first experiment's) and experiments of an ``?experiment=`` or ``?compare=`` value."""
    parts = value.split(",") if name == "compare" else [value]
    ids = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if not ids:
        raise _BadLink(f"{name}={_shown(value)}: no experiment id; use {name}=<run id>-<number>")
    if len(ids) > MAX_IDS:
        raise _BadLink(f"{name}: {len(ids)} experiments; a link compares at most {MAX_IDS}")
    run: str | None = None
    for eid in ids:
        try:
            of = run_id_of(eid)
        except ExperimentNotFound:
            raise _BadLink(f"{name}: {_shown(eid)} is not an experiment id "
                           "(they read <run id>-<number>)") from None
        if of not in runs:
            raise _BadLink(f"{name}: {_shown(eid)}: the project has no run {_shown(of)}")
        if eid not in runs[of]:
            raise _BadLink(f"{name}: {_shown(eid)} is not an experiment of run {_shown(of)}")
        run = of if run is None else run
    assert run is not None
    return run, ids


def route_of(args: SessionArgs, runs: Mapping[str, Collection[str]]) -> Route:
    """The page a session's arguments ask for; ``runs`` maps each run id to its experiment ids.

    The first of ``experiment``, ``compare`` and ``run`` given decides the run; see the module
    docstring for the rules.
    """
    view, problem = view_from_args(args)
    problems = [problem] if problem else []
    run_id: str | None = None
    select: tuple[str, ...] = ()
    experiment = ""
    for name in ("experiment", "compare", "run"):
        value = _arg(args, name)
        if not value:
            continue
        if len(value) > MAX_PARAM_CHARS:
            problems.append(f"{name}: {len(value):,} characters; a link carries at most "
                            f"{MAX_PARAM_CHARS:,}")
        elif name == "run":
            run_id = value if value in runs else None  # unknown: the latest run, as always
        else:
            try:
                run_id, select = _experiments(name, value, runs)
            except _BadLink as exc:
                problems.append(str(exc))
            else:
                experiment = select[0] if name == "experiment" else ""
            if name == "compare" and select:
                refusal = compare_count_problem(len(select))
                if not refusal:
                    return Route(run_id, select, view, tuple(problems), compare=select)
                problems.append(refusal)
                select = tuple(e for e in select if run_id is not None and e in runs[run_id])
        break
    if run_id is None:
        run_id = max(runs) if runs else None
    return Route(run_id, select, view, tuple(problems), experiment=experiment)


def new_run_of(args: SessionArgs, runs: Collection[str]) -> tuple[str | None, str]:
    """The run a ``?new=<run id>`` asks the new-run page of (None: not asked, or not a run) and a
    one-line problem for the header ("" when none)."""
    value = _arg(args, "new")
    if not value:
        return None, ""
    if len(value) > MAX_PARAM_CHARS:
        return None, f"new: {len(value):,} characters; a link carries at most {MAX_PARAM_CHARS:,}"
    if value not in runs:
        return None, f"new: the project has no run {_shown(value)}; 'New run' on a run's page opens it"
    return value, ""


def no_runs_html(project: str) -> str:
    """The page of a project without runs (HTML, not Markdown: Markdown passes HTML through)."""
    return (f'<h2 class="ht-project">{html.escape(project)}</h2>'
            "<p>No runs yet. Launch one with <code>hypertuner run NAME=VALUES</code>.</p>")


def nav_html(project: str, run_ids: Sequence[str], current: str) -> str:
    """The line above a run page: the project and a link to each run (the current one bold)."""
    links = " · ".join(
        f"<b>{html.escape(r)}</b>" if r == current
        else f'<a href="?run={html.escape(quote(r, safe=""))}">{html.escape(r)}</a>'
        for r in run_ids)
    return f'<span class="ht-nav"><b class="ht-project">{html.escape(project)}</b> — runs: {links}</span>'


def make_page(index: ProjectIndex, *, refresh_ms: int = 1500, config: Config | None = None,
              settings: ProjectSettings | None = None) -> Any:
    """A per-session page factory over a project: routes the session's URL (:func:`route_of`);
    each page polls the store every ``refresh_ms``. With ``config`` and ``settings`` (the project
    folder: ``hypertuner serve``), run pages have a "New run" button and ``?new=`` is served."""
    import panel as pn

    from panel_app.run_page.session import new_run_page

    planning = config is not None and settings is not None

    def page(args: SessionArgs | None = None) -> Any:
        """The page of the session's URL (or of ``args``, as Tornado gives them: tests)."""
        index.refresh()
        if args is None:
            args = pn.state.session_args if pn.state.curdoc is not None else {}
        new, problem = new_run_of(args, index.runs.keys()) if planning else (None, "")
        if new is not None and config is not None and settings is not None:
            from panel_app.new_run.session import new_run_view

            return new_run_view(index, new, config, settings)
        route = route_of(args, {r: entry.by_id.keys() for r, entry in list(index.runs.items())})
        if route.compare:
            from panel_app.compare_page.session import new_compare_page

            nav = pn.pane.HTML(nav_html(index.project, sorted(index.runs, reverse=True), ""), margin=(0, 10))
            return new_compare_page(index, route.compare, view=route.view, problems=route.problems,
                                    nav=nav).__panel__()
        run_id = route.run_id
        if run_id is None:
            from panel_app.connection import watch_connection

            watch_connection(pn.state.curdoc)
            return pn.pane.HTML(no_runs_html(index.project), margin=(0, 10))
        header: Any = pn.pane.HTML(nav_html(index.project, sorted(index.runs, reverse=True), run_id),
                                   margin=(0, 10))
        if route.experiment:
            from panel_app.experiment_page.session import experiment_page_view, log_page

            if _arg(args, "log"):
                return log_page(index, route.experiment, _arg(args, "log")[:MAX_PARAM_CHARS])
            return experiment_page_view(index, route.experiment, config=config, view=route.view,
                                        problems=route.problems, nav=header, refresh_ms=refresh_ms)
        if planning:
            from panel_app.new_run.session import new_run_button

            header = pn.Row(header, new_run_button(run_id), margin=0)
        problems = (*route.problems, problem) if problem else route.problems
        return new_run_page(RunView(index, run_id), nav=header, view=route.view, refresh_ms=refresh_ms,
                            select=route.select, problems=problems).__panel__()

    return page


def _check_listenable(host: str, port: int) -> None:
    """A one-line error for a port that is taken, before anything starts."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"server.host: {host!r} cannot be resolved ({exc}); "
                          "use an address such as 127.0.0.1") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigError(f"server.port: cannot listen on {host}:{port} ({exc.strerror}); "
                              "choose another with --port") from exc


def login_options(user: str, password_hash: str, **throttle: Any) -> dict[str, Any]:
    """:func:`panel.serve` options that put every page and the websocket behind the login form
    of ``user`` with ``password_hash`` (:class:`panel_app.auth.LoginProvider`); ``throttle``
    goes to :class:`panel_app.auth.LoginThrottle`."""
    from panel_app.auth import LoginProvider, LoginThrottle

    provider = LoginProvider(user, password_hash, throttle=LoginThrottle(**throttle))
    return {"auth_provider": provider, "cookie_secret": secrets.token_hex(32)}


def serve_dashboard(
    store: Store, project: str, *, host: str = "127.0.0.1", port: int = 5006,
    login: tuple[str, str] | None = None, gateway: Any = None, show: bool = False,
    config: Config | None = None, settings: ProjectSettings | None = None,
) -> None:
    """Serve until interrupted. Binds ``host``; a login (user name, password hash) is required
    off loopback (checked by the caller) and then asked for by a login form
    (:func:`login_options`). ``config`` and ``settings`` enable the new-run page (:func:`make_page`)."""
    import panel as pn

    _check_listenable(host, port)
    index = ProjectIndex(store, project)
    stop = threading.Event()
    thread = None
    if gateway is not None:
        thread = threading.Thread(target=gateway.serve, args=(stop,), name="gateway", daemon=True)
        thread.start()
    kwargs: dict[str, Any] = {
        "address": host, "port": port, "show": show, "title": f"HyperTuner - {project}",
        "websocket_origin": [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"],
    }
    if login is not None:
        kwargs.update(login_options(*login))
    print(f"dashboard for project {project}: http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    try:
        pn.serve({"/": make_page(index, config=config, settings=settings)}, **kwargs)
    except OSError as exc:  # the address is taken or not ours
        raise ConfigError(f"server.port: cannot listen on {host}:{port} ({exc.strerror}); "
                          "choose another with --port") from exc
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)


@dataclass
class ServedPage:
    """A run page served on its own thread (:func:`serve_run_page`); :meth:`stop` shuts it
    down and waits."""

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
        from panel.io.state import state

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
    keyword arguments go to :func:`panel.serve` (``websocket_origin``, ``**login_options(...)``).
    """
    from panel_app.run_page.session import new_run_page

    frames = source.frames()
    pages: list[weakref.ReferenceType[RunPage]] = []

    def session() -> Any:
        page = new_run_page(source, refresh_ms=refresh_ms, **(page_options or {}))
        pages.append(weakref.ref(page))
        return page.__panel__()

    served = serve_app(session, address=address, port=port,
                       title=title or f"HyperTuner · run {frames.run_id}",
                       start_timeout=start_timeout, **kwargs)
    served.pages = pages
    return served


def serve_app(factory: Any, *, address: str = "127.0.0.1", port: int = 0, title: str = "HyperTuner",
              start_timeout: float = 30.0, **kwargs: Any) -> ServedPage:
    """Serve a per-session page ``factory`` (e.g. :func:`make_page`) on a background thread;
    extra keyword arguments go to :func:`panel.serve`."""
    import panel as pn
    from panel.io.state import state

    thread = pn.serve(factory, address=address, port=port, threaded=True, show=False,
                      verbose=False, title=title, **kwargs)
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
                      server_id=server_id)


def _wait_listening(server: Any, deadline: float) -> None:
    """``state._servers`` is filled before the IO loop starts; wait until it runs."""
    started = threading.Event()
    server.io_loop.add_callback(started.set)
    if not started.wait(max(0.0, deadline - time.monotonic())):
        raise RuntimeError(f"run page server on port {server.port}: IO loop did not start")
