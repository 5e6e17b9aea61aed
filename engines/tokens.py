"""HDFS delegation tokens for YARN containers on a Kerberized cluster.

A container has no Kerberos ticket, so the experiment wrapper in it could not write to an HDFS
store. At each submission the Spark engine asks the NameNode (over WebHDFS, with the gateway's
Kerberos login) for a delegation token, ships it as a private local resource
(``--files <file>#hypertuner.token``; Spark puts it in the user's own ``.sparkStaging`` folder)
and points ``HYPERTUNER_HDFS_TOKEN_FILE`` at it; the wrapper then writes through HdfsCLI's
``TokenClient``.

A token lives for the NameNode's renewal interval (a day by default) unless renewed, and at most
its maximum lifetime (a week). :class:`TokenKeeper` holds the tokens of the applications this
gateway submitted, renews each before 3/4 of its interval has passed while the application runs
(renewal needs Kerberos: the gateway has it, its renewer is the gateway's user), and cancels it
once the application has ended. Open clusters (``security.auth = none``) get no token.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench_plugin._exceptions import StoreError
from workbench_plugin.config import HdfsSettings

__all__ = ["TOKEN_LINK", "KeptToken", "TokenKeeper", "renewer_of", "write_token_file"]

#: The name the token file has in the container's working directory (``--files ...#hypertuner.token``).
TOKEN_LINK = "hypertuner.token"
#: Renew when this share of the time from the last renewal to the expiry has passed.
RENEW_AT = 0.75


@dataclass
class KeptToken:
    """One delegation token: its ``urlString``, when it was last renewed and when it expires
    (epoch seconds, as the NameNode said at the last renewal)."""

    token: str
    renewed_at: float
    expires_at: float

    @property
    def renew_due(self) -> float:
        return self.renewed_at + RENEW_AT * max(0.0, self.expires_at - self.renewed_at)


def renewer_of(hdfs: HdfsSettings) -> str:
    """The short name of the user who renews the tokens (the gateway's: its principal's first
    component, else the HDFS user, else the login name); the NameNode refuses renewal by anyone
    else."""
    principal = hdfs.security.principal
    if principal:
        return principal.split("@", 1)[0].split("/", 1)[0]
    if hdfs.user:
        return hdfs.user
    import getpass

    return getpass.getuser()


def write_token_file(token: str, folder: str) -> str:
    """``token`` in a new file only its owner may read (0600) in ``folder``; its path."""
    fd, path = tempfile.mkstemp(prefix="hypertuner-", suffix=".token", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode("ascii"))
    finally:
        os.close(fd)
    return path


class TokenKeeper:
    """The delegation tokens of the applications this gateway submitted, renewed while they run
    and cancelled when they have ended. ``fs`` is the store's WebHDFS filesystem (anything with
    ``get_delegation_token``, ``renew_delegation_token`` and ``cancel_delegation_token``);
    ``clock`` gives epoch seconds (a fake one in tests)."""

    def __init__(self, fs: Any, renewer: str, *, clock: Callable[[], float] = time.time) -> None:
        self.fs = fs
        self.renewer = renewer
        self.clock = clock
        self.tokens: dict[str, KeptToken] = {}  # engine id -> its token
        self.problems: list[str] = []  # one line per failed renewal or cancellation (the last few)

    def issue(self) -> KeptToken | None:
        """A new token for one submission, renewed once to learn its expiry; None when the cluster
        hands out none (no security)."""
        token = self.fs.get_delegation_token(self.renewer)
        if token is None:
            return None
        now = self.clock()
        expires_ms = self.fs.renew_delegation_token(token.url_string)
        return KeptToken(token.url_string, now, expires_ms / 1000.0)

    def keep(self, engine_id: str, token: KeptToken) -> None:
        """Look after ``token`` from now on: the application ``engine_id`` uses it."""
        self.tokens[engine_id] = token

    def discard(self, token: KeptToken) -> None:
        """Cancel a token no application got (its submission failed)."""
        self._cancel(token)

    def tend(self, alive: Callable[[str], bool]) -> list[str]:
        """Renew the tokens that are due and whose application is ``alive``; cancel and forget
        those whose application has ended. The engine ids renewed."""
        renewed = []
        for engine_id, kept in list(self.tokens.items()):
            if not alive(engine_id):
                self._cancel(kept)
                del self.tokens[engine_id]
                continue
            now = self.clock()
            if now < kept.renew_due:
                continue
            try:
                expires_ms = self.fs.renew_delegation_token(kept.token)
            except StoreError as exc:  # said once and tried again at the next step
                self._problem(f"renewing the HDFS delegation token of {engine_id}: {exc}")
                continue
            kept.renewed_at, kept.expires_at = now, expires_ms / 1000.0
            renewed.append(engine_id)
        return renewed

    def cancel_all(self) -> None:
        """Cancel every token kept (the gateway is stopping and its applications have ended)."""
        for kept in self.tokens.values():
            self._cancel(kept)
        self.tokens.clear()

    def _cancel(self, kept: KeptToken) -> None:
        try:
            self.fs.cancel_delegation_token(kept.token)
        except StoreError as exc:  # it expires by itself; nothing else depends on it
            self._problem(f"cancelling an HDFS delegation token: {exc}")

    def _problem(self, line: str) -> None:
        self.problems = [*self.problems[-9:], line[:500]]
