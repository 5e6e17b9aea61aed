"""The dashboard's login over real HTTP on 127.0.0.1: Panel's login form checked against one user
and a scrypt hash, failed logins throttled per client, every page and the websocket behind it."""

from __future__ import annotations

import base64
import http.client
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from panel_app.server import ServedPage, login_options, serve_run_page
from tests.fakes import FakeRunSource
from tests.integration.browser import READY_JS, VIEWPORT
from workbench_plugin.config import hash_password

USER, PASSWORD = "ada", "correct horse battery staple"
MAX_FAILURES = 5


def serve() -> ServedPage:
    options = login_options(USER, hash_password(PASSWORD), max_failures=MAX_FAILURES,
                            window_s=600.0, lockout_s=600.0)
    return serve_run_page(FakeRunSource(), **options)


@pytest.fixture(scope="module")
def served() -> Iterator[ServedPage]:
    with serve() as server:
        yield server


@pytest.fixture()
def fresh() -> Iterator[ServedPage]:
    """A server of its own (the lockout test leaves 127.0.0.1 locked out)."""
    with serve() as server:
        yield server


def login(served: ServedPage, user: str, password: str) -> requests.Response:
    with requests.Session() as session:
        session.get(served.url + "login", timeout=30)
        return session.post(served.url + "login", data={"username": user, "password": password},
                            allow_redirects=False, timeout=30)


def logged_in(served: ServedPage) -> requests.Session:
    """A session holding the auth cookie (the login that sets it must succeed)."""
    session = requests.Session()
    response = session.post(served.url + "login", data={"username": USER, "password": PASSWORD},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 302 and "user" in session.cookies, response.text[:300]
    return session


def websocket_status(served: ServedPage, cookies: str = "", token: str = "x") -> int:
    """The HTTP status of a websocket handshake on /ws (101: accepted)."""
    connection = http.client.HTTPConnection(served.address, served.port, timeout=30)
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
               "Sec-WebSocket-Protocol": f"bokeh, {token}",
               "Origin": f"http://{served.address}:{served.port}"}
    if cookies:
        headers["Cookie"] = cookies
    try:
        connection.request("GET", "/ws", headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_every_page_is_behind_the_login_form(served: ServedPage) -> None:
    response = requests.get(served.url, allow_redirects=False, timeout=30)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    form = requests.get(served.url + "login", timeout=30)
    assert form.status_code == 200 and 'name="password"' in form.text
    # a link cannot put words of its own into the form
    spoofed = requests.get(served.url + "login?error=Call+555-0100+to+unlock", timeout=30)
    assert spoofed.status_code == 200 and "555-0100" not in spoofed.text


def test_right_credentials_load_the_page_and_its_websocket(served: ServedPage) -> None:
    with logged_in(served) as session:
        page = session.get(served.url, timeout=60)
        assert page.status_code == 200 and "bokeh" in page.text.lower()
        [token] = re.findall(r'"token":\s*"([^"]+)"', page.text)[:1]
        cookies = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    assert websocket_status(served, cookies, token) == 101
    # the same handshake without the auth cookie is refused
    assert websocket_status(served, "", token) != 101


def test_wrong_user_and_wrong_password_are_refused(served: ServedPage) -> None:
    for user, password in ((USER + "x", PASSWORD), ("", PASSWORD), (USER, PASSWORD + "x"),
                           (USER, "")):
        response = login(served, user, password)
        assert response.status_code == 401, (user, password, response.status_code)
        assert "Wrong user name or password." in response.text
        assert "user" not in response.cookies
    assert login(served, USER, PASSWORD).status_code == 302  # a success clears the count


def test_the_attempt_after_the_failures_is_locked_out_even_when_right(
        fresh: ServedPage, capsys: pytest.CaptureFixture[str]) -> None:
    served = fresh
    start = time.perf_counter()
    codes = [login(served, USER, f"guess {i}").status_code for i in range(MAX_FAILURES)]
    assert codes == [401] * MAX_FAILURES
    locked = login(served, USER, PASSWORD)  # the right password, too late
    assert locked.status_code == 429 and "Too many failed logins from 127.0.0.1" in locked.text
    assert "user" not in locked.cookies
    rest = [login(served, USER, f"guess {i}").status_code for i in range(50 - MAX_FAILURES - 1)]
    took = time.perf_counter() - start
    assert rest == [429] * len(rest)
    with capsys.disabled():
        print(f"\n50 logins, {MAX_FAILURES} wrong then locked: {took:.2f} s; "
              f"only {MAX_FAILURES} passwords were tried")
    # still no way in: the page sends the client to the login form
    assert requests.get(served.url, allow_redirects=False, timeout=30).status_code == 302


#: A user name is shown as a note's author: markup in it must stay text.
MARKUP_USER = "<img src=x onerror=alert(5)>"


@pytest.mark.browser
def test_the_login_form_in_chromium_and_the_user_as_note_author_escaped(browser: Any) -> None:
    options = login_options(MARKUP_USER, hash_password(PASSWORD))
    with serve_run_page(FakeRunSource(), **options) as served:
        page = browser.new_page(viewport=VIEWPORT)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        try:
            page.goto(served.url)
            expect(page.locator("input[name=password]")).to_be_visible()  # sent to the form
            page.fill("input[name=username]", MARKUP_USER)
            page.fill("input[name=password]", PASSWORD + "x")
            page.click("button[type=submit]")
            expect(page.locator(".errormessage")).to_have_text("Wrong user name or password.")
            page.fill("input[name=username]", MARKUP_USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_function(READY_JS, timeout=60_000)
            page.get_by_placeholder("A note on this view...").fill("by whom?")
            page.get_by_role("button", name="Save note").click()
            expect(page.locator(".ht-note button")).to_contain_text(f"by whom?  ({MARKUP_USER},")
            page.wait_for_timeout(300)
            assert dialogs == []
            [page_object] = served.live_pages()
            [note] = page_object.memory.notes(page_object.model.run_frames.run_id)
            assert note.author == MARKUP_USER
        finally:
            page.close()
