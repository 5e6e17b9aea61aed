"""Kerberos for the HTTP clients (WebHDFS, the ResourceManager's REST API): SPNEGO through
``requests-kerberos``, from the user's ticket cache or from a keytab.

With ``security.keytab`` the clients log in by themselves, without kinit: the principal handed to
``requests-kerberos`` is a :class:`spnego.KerberosKeytab`, from which GSSAPI acquires initial
credentials in memory (MIT krb5's client keytab), so nothing is written to the user's cache.
Without a keytab the default ticket cache (``KRB5CCNAME``) is used, as kinit left it.

:func:`login` checks there are credentials before any request: a missing or expired ticket is one
:class:`KerberosError` line naming the principal and the fix, instead of a SPNEGO stack trace on the
first call. ``requests-kerberos`` (with ``gssapi``) is an optional dependency, imported here only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import requests

from workbench_plugin._exceptions import KerberosError

if TYPE_CHECKING:
    from requests.auth import AuthBase

    from workbench_plugin.config import SecuritySettings

__all__ = ["INSTALL_HINT", "KerberosError", "http_auth", "http_session", "login", "requests_kerberos"]

#: How to get the optional Kerberos dependencies.
INSTALL_HINT = "pip install 'hypertuner[kerberos]' (requests-kerberos, gssapi; needs MIT krb5's libkrb5-dev)"


def requests_kerberos() -> Any:
    """The ``requests_kerberos`` module, or a one-line error saying how to install it."""
    try:
        import requests_kerberos as module
    except ImportError as exc:
        raise KerberosError(f"security.auth: kerberos needs requests-kerberos, which is not installed; "
                            f"{INSTALL_HINT}") from exc
    return module


def _principal(security: SecuritySettings) -> Any:
    """What ``requests-kerberos`` takes as ``principal``: a keytab credential, a name, or None (the
    cache's default principal)."""
    if security.keytab:
        import spnego

        return spnego.KerberosKeytab(keytab=os.path.abspath(security.keytab), principal=security.principal)
    return security.principal or None


def login(security: SecuritySettings) -> None:
    """Make sure Kerberos credentials are there (from the keytab, else the ticket cache); a
    :class:`KerberosError` in one line when not. A no-op unless ``security.auth`` is kerberos."""
    if not security.kerberos:
        return
    requests_kerberos()
    import gssapi
    import gssapi.exceptions

    who = security.principal or "your principal"
    if security.krb5_conf and os.environ.get("KRB5_CONFIG") != security.krb5_conf:
        # MIT krb5 reads its configuration file from this variable only, when a context starts
        os.environ["KRB5_CONFIG"] = security.krb5_conf
    if security.keytab and not os.path.isfile(security.keytab):
        raise KerberosError(f"security.keytab: {security.keytab[:200]!r} is not a file; give the keytab "
                            f"that holds {who}")
    try:
        name = gssapi.Name(security.principal, gssapi.NameType.kerberos_principal) if security.principal else None
        if security.keytab:
            # MIT krb5 gets an initial ticket from the client keytab, into a private memory cache
            creds = gssapi.Credentials(name=name, usage="initiate", store={
                "client_keytab": os.path.abspath(security.keytab), "ccache": "MEMORY:hypertuner"})
        else:
            creds = gssapi.Credentials(name=name, usage="initiate")
        lifetime = creds.lifetime
    except gssapi.exceptions.GSSError as exc:
        raise KerberosError(_no_ticket(security, exc)) from exc
    if lifetime is not None and lifetime <= 0:
        raise KerberosError(_no_ticket(security, None))


def _no_ticket(security: SecuritySettings, exc: BaseException | None) -> str:
    who = security.principal or "<principal>"
    detail = ""
    if exc is not None:
        text = " ".join(str(exc).split())
        for marker, said in (("expired", "expired"), ("No Kerberos credentials available", "no credentials"),
                             ("No key table entry found", "not in the keytab"),
                             ("Cannot find KDC", "no KDC for the realm"),
                             ("Cannot contact any KDC", "cannot contact any KDC"),
                             ("Client not found", "unknown to the KDC")):
            if marker.lower() in text.lower():
                detail = f" ({said})"
                break
    if security.keytab:
        return (f"security.keytab: no Kerberos ticket for {who} from {security.keytab[:200]}{detail}; "
                "check that the keytab holds the principal (klist -kt) and that the KDC is reachable")
    return f"security: no Kerberos ticket for {who}{detail}; run kinit {who} or set security.keytab"


class _Session(requests.Session):
    """A session whose ``verify`` is what it says: plain requests lets ``$REQUESTS_CA_BUNDLE`` /
    ``$CURL_CA_BUNDLE`` replace a session's CA bundle on every request (psf/requests#3829)."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:
            settings["verify"] = self.verify
        return settings


def http_session(security: SecuritySettings, *, auth: bool = False) -> requests.Session:
    """One ``requests.Session`` for the cluster's REST APIs: ``verify`` from ``security.verify``
    (a CA bundle or whether to verify), proxies from the environment as requests reads them, and
    with ``auth`` SPNEGO when ``security.auth`` is kerberos."""
    session = _Session()
    session.verify = security.verify
    if auth:
        session.auth = http_auth(security)
    return session


def http_auth(security: SecuritySettings) -> AuthBase | None:
    """The ``requests`` auth for SPNEGO (mutual authentication optional, as Hadoop's HTTP servers
    do not always sign their answers), or None when ``security.auth`` is none."""
    if not security.kerberos:
        return None
    module = requests_kerberos()
    login(security)
    auth: AuthBase = module.HTTPKerberosAuth(mutual_authentication=module.OPTIONAL,
                                             principal=_principal(security))
    return auth


def hdfs_kwargs(security: SecuritySettings) -> dict[str, Any]:
    """Keyword arguments for HdfsCLI's ``KerberosClient`` (passed on to ``HTTPKerberosAuth``)."""
    login(security)
    principal = _principal(security)
    return {"principal": principal} if principal is not None else {}
