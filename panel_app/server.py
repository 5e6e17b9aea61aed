"""Serving the dashboard for one project, with an in-process gateway beside it."""

from __future__ import annotations

import secrets
import socket
import threading
from typing import Any
from urllib.parse import quote

from workbench_plugin._exceptions import ConfigError
from workbench_plugin.index import ProjectIndex, RunView
from workbench_plugin.store import Store

__all__ = ["make_page", "serve_dashboard"]


def make_page(index: ProjectIndex) -> Any:
    """A per-session page factory: ``/?run=<run id>`` shows that run, else the latest one."""
    import panel as pn

    from panel_app.app import build_run_page

    def page() -> Any:
        index.refresh()
        args = pn.state.session_args if pn.state.curdoc is not None else {}
        raw = args.get("run", [b""])[0]
        run_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        run_id = run_id if run_id in index.runs else (index.latest_run() or "")
        if not run_id:
            return pn.pane.Markdown(
                f"## {index.project}\nNo runs yet. Launch one with `hypertuner run NAME=VALUES`."
            )
        links = " · ".join(
            f"**{r}**" if r == run_id else f"[{r}](?run={quote(r)})" for r in sorted(index.runs, reverse=True)
        )
        header = pn.pane.Markdown(f"**{index.project}** — runs: {links}", margin=(0, 10))
        return build_run_page(RunView(index, run_id), nav=header)

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


def serve_dashboard(
    store: Store, project: str, *, host: str = "127.0.0.1", port: int = 5006, password: str = "",
    gateway: Any = None, show: bool = False,
) -> None:
    """Serve until interrupted. Binds ``host``; a password is required off loopback (checked
    by the caller) and then enforced with Panel's basic auth."""
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
    if password:
        kwargs.update(basic_auth=password, cookie_secret=secrets.token_hex(32))
    print(f"dashboard for project {project}: http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    try:
        pn.serve({"/": make_page(index)}, **kwargs)
    except OSError as exc:  # the address is taken or not ours
        raise ConfigError(f"server.port: cannot listen on {host}:{port} ({exc.strerror}); "
                          "choose another with --port") from exc
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
