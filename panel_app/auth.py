"""The dashboard's login: Panel's login form, checked against one user and a salted password
hash, with failed logins throttled per client address.

:class:`LoginProvider` is Panel's :class:`~panel.auth.BasicAuthProvider` (its form, its signed
``user`` cookie, its guard on every page and on the websocket) with its own login handler:

* the user name must be the configured one, the password must match the scrypt hash
  (:func:`workbench_plugin.config.verify_password`, in a worker thread: a check costs some
  50 ms and must not stall the pages being served);
* every attempt counts against its client address until one succeeds; the next attempt after
  :attr:`LoginThrottle.max_failures` of them within :attr:`LoginThrottle.window_s` is refused,
  even with the right password, and so is every one for :attr:`LoginThrottle.lockout_s`
  (HTTP 429);
* a wrong user or password is refused with HTTP 401 and the form again, one line saying so.

The client is Tornado's ``remote_ip``: behind a reverse proxy every user shares the proxy's.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from panel.auth import BasicAuthProvider, BasicLoginHandler, _validate_next_url
from panel.io.resources import CDN_DIST
from panel.io.state import state

from workbench_plugin.config import check_password_hash, verify_password

__all__ = ["LoginProvider", "LoginThrottle"]

log = logging.getLogger(__name__)


class LoginThrottle:
    """Login attempts per client: an attempt after ``max_failures`` without a success within
    ``window_s`` locks the client out for ``lockout_s``. At most ``max_clients`` are remembered (the
    oldest forgotten first). Safe to share between threads."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0, lockout_s: float = 300.0,
                 *, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_clients = max_clients
        self.clock = clock
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def attempt(self, client: str) -> float:
        """Count a login attempt of ``client`` before it is checked (parallel ones count too).

        Returns 0 when it may be checked, else the seconds ``client`` is still refused: it is
        locked out by an attempt after ``max_failures`` unsuccessful ones within the window.
        """
        now = self.clock()
        with self._lock:
            until = self._locked_until.get(client)
            if until is not None:
                if until > now:
                    return until - now
                del self._locked_until[client]
            times = self._attempts.pop(client, None) or deque()
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.max_failures:
                self._locked_until[client] = now + self.lockout_s
                return self.lockout_s
            times.append(now)
            self._attempts[client] = times
            while len(self._attempts) > self.max_clients:
                self._attempts.popitem(last=False)
            return 0.0

    def succeeded(self, client: str) -> None:
        """A right login: its attempt (and earlier failures) no longer count."""
        with self._lock:
            self._attempts.pop(client, None)


class _LoginHandler(BasicLoginHandler):
    """Panel's login form, checked against :class:`LoginProvider`'s user and hash."""

    _provider: LoginProvider

    def _form(self, status: int, message: str) -> None:
        self.set_status(status)
        self.write(self._login_template.render(login_endpoint=self._login_endpoint,
                                               errormessage=message, PANEL_CDN=CDN_DIST))

    def get(self) -> None:
        """The form. Panel's shows any ``?error=`` text a link carries; this one shows none
        (its own errors come with the refused POST)."""
        next_url = _validate_next_url(self.get_argument("next", state.base_url))
        if next_url:
            self.set_cookie("next_url", next_url)
        self._form(200, "")

    async def post(self) -> None:
        provider = self._provider
        throttle = provider.throttle
        client = self.request.remote_ip or "unknown"
        username = self.get_argument("username", "")
        password = self.get_argument("password", "")
        wait = throttle.attempt(client)
        if wait > 0:
            log.warning("login refused: %s is locked out for %.0f s more", client, wait)
            self._form(429, f"Too many failed logins from {client}; try again in "
                            f"{math.ceil(wait)} s.")
            return
        if await asyncio.to_thread(provider.check, username, password):
            throttle.succeeded(client)
            self.set_current_user(username)
            self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)))
            return
        log.warning("login refused: wrong user name or password from %s", client)
        self._form(401, "Wrong user name or password.")


class LoginProvider(BasicAuthProvider):
    """Panel's login form and cookie guard for one ``user`` with a ``password_hash`` (from
    ``hypertuner hash-password``); failed logins throttled by ``throttle``."""

    def __init__(self, user: str, password_hash: str, *, throttle: LoginThrottle | None = None,
                 **options: Any) -> None:
        if not user:
            raise ValueError("LoginProvider: empty user name")
        check_password_hash(password_hash)
        self.user = user
        self.password_hash = password_hash
        self.throttle = throttle or LoginThrottle()
        super().__init__(**options)

    def check(self, username: str, password: str) -> bool:
        """Whether the user name and password are right (both compared in constant time)."""
        right_password = verify_password(password, self.password_hash)
        right_user = hmac.compare_digest(username.encode("utf-8", "surrogatepass"),
                                         self.user.encode("utf-8", "surrogatepass"))
        return right_user and right_password

    @property
    def login_handler(self) -> type[BasicLoginHandler]:
        # a class of its own: Panel configures its handler through class attributes
        return type("HyperTunerLoginHandler", (_LoginHandler,), {
            "_login_endpoint": self._login_endpoint, "_login_template": self._login_template,
            "_provider": self})
