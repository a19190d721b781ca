"""Seat tokens, the websockify manager and the web endpoints' access rules, without a browser."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from device_manager.i18n import pick_language, translate
from device_manager.web import seat_tokens
from device_manager.web.vncproxy import ConsoleProxies
from tests.device_manager.web.browser import watch_page_errors
from tests.plugin import SECRET_KEY
from vdi.seats import Seat, SeatDirectory


def test_seat_token_opens_its_seat_only_and_expires():
    token = seat_tokens.issue(SECRET_KEY, "w1", 60, now=1000.0)
    assert token.startswith("hcs_")
    assert seat_tokens.verify(SECRET_KEY, token, "w1", now=1001.0) is not None
    assert seat_tokens.verify(SECRET_KEY, token, "w2", now=1001.0) is None
    assert seat_tokens.verify(SECRET_KEY, token, "w1", now=1061.0) is None
    assert seat_tokens.verify("another-secret", token, "w1", now=1001.0) is None
    body, mac = token.split(".")
    assert seat_tokens.verify(SECRET_KEY, body[:-2] + "xx." + mac, "w1", now=1001.0) is None
    assert seat_tokens.verify(SECRET_KEY, "hcs_garbage", "w1") is None
    with pytest.raises(ValueError, match="outside"):
        seat_tokens.issue(SECRET_KEY, "w1", 0)


def test_language_defaults_to_chinese():
    assert pick_language(None) == "zh-CN"
    assert pick_language("en-US,en;q=0.9") == "en"
    assert pick_language("en-US", chosen="zh-CN") == "zh-CN"
    assert translate("nav.map") == "大厅地图" and translate("nav.map", "en") == "Hall map"


def test_each_console_gets_its_own_one_time_websockify():
    with socket.socket() as target:  # a stand-in VNC server: only the proxies' lifecycle matters here
        target.bind(("127.0.0.1", 0))
        target.listen()
        port = target.getsockname()[1]
        proxies = ConsoleProxies(connect_timeout_s=2)
        try:
            gov = proxies.open("seat w1 gov", "127.0.0.1", port)
            internet = proxies.open("seat w1 internet", "127.0.0.1", port)
            assert gov.port != internet.port and gov.process.pid != internet.process.pid
            assert gov.token != internet.token and "token=" in gov.path
            again = proxies.open("seat w1 gov", "127.0.0.1", port)  # reopening replaces the old one
            assert not gov.running and again.running
            assert sorted(p.key for p in proxies.active()) == ["seat w1 gov", "seat w1 internet"]
            deadline = time.monotonic() + 15  # unused proxies exit after --timeout
            while proxies.active() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert proxies.active() == []
        finally:
            proxies.close()


@pytest.fixture
def web_app(serve):
    seats = SeatDirectory(
        [
            Seat("w1", gov="hc-w-x-gov", internet="hc-w-x-net", site="north-hall", window=1),
            Seat("w9", gov="hc-w-y-gov", internet="hc-w-y-net", site="south-hall", window=9),
        ]
    )
    return serve(state={"seats": seats})


def test_seat_tokens_are_issued_by_it_staff_within_their_sites(web_app):
    with httpx.Client(base_url=web_app.url) as client:
        admin = {"Authorization": f"Bearer {web_app.token('admin')}"}
        north = client.post("/api/v1/sites", json={"name": "北", "slug": "north-hall"}, headers=admin).json()
        client.post("/api/v1/sites", json={"name": "南", "slug": "south-hall"}, headers=admin)
        viewer = {"Authorization": f"Bearer {web_app.token('viewer')}"}
        assert client.post("/ui/api/seats/w1/token", headers=viewer).status_code == 403
        scoped = {"Authorization": f"Bearer {web_app.token('it_staff', site_ids=[north['id']])}"}
        assert client.post("/ui/api/seats/w9/token", headers=scoped).status_code == 404
        issued = client.post("/ui/api/seats/w1/token", json={"ttl_hours": 1}, headers=scoped)
        assert issued.status_code == 200
        token = issued.json()["token"]
        assert seat_tokens.verify(SECRET_KEY, token, "w1") is not None
        assert issued.json()["url"] == f"/seat/w1#token={token}"
        assert client.post("/ui/api/seats/w1/token").status_code == 401
        # the seat session: good token sets an HttpOnly cookie scoped to the seat's path
        session = client.post("/seat/w1/session", json={"token": token})
        assert session.status_code == 200
        cookie = session.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/seat/w1" in cookie
        assert client.get("/seat/w1").status_code == 200
        assert client.get("/seat/w9").status_code == 401  # the cookie is for w1 only


def test_stream_tickets_are_one_time(web_app):
    with httpx.Client(base_url=web_app.url) as client:
        headers = {"Authorization": f"Bearer {web_app.token('viewer')}"}
        assert client.post("/ui/api/stream-ticket").status_code == 401
        ticket = client.post("/ui/api/stream-ticket", headers=headers).json()["ticket"]
        with client.stream("GET", "/ui/api/stream", params={"ticket": ticket}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("event:"):
                    assert line == "event: overview"
                    break
        assert client.get("/ui/api/stream", params={"ticket": ticket}).status_code == 401


def test_files_are_served_without_escaping_their_directories(web_app):
    with httpx.Client(base_url=web_app.url) as client:
        assert client.get("/ui/").status_code == 200
        assert client.get("/ui/novnc/core/rfb.js").status_code == 200
        assert client.get("/ui/static/../routes.py").status_code == 404
        assert client.get("/ui/static/%2e%2e/routes.py").status_code == 404
        assert client.get("/ui/novnc/..%2f..%2fetc/passwd").status_code == 404
        assert client.get("/ui/i18n/fr.json").status_code == 404


@pytest.mark.integration
def test_javascript_errors_of_a_page_are_collected(browser):
    """What fails a browser test (the ``page`` fixture) when a page throws: its errors are collected,
    popups' included."""
    context = browser.new_context()
    errors = watch_page_errors(context)
    try:
        page = context.new_page()
        page.set_content("<script>setTimeout(() => { throw new Error('broken dashboard') }, 0)</script>")
        page.wait_for_timeout(200)
        with page.expect_popup() as popup:
            page.evaluate("window.open('about:blank')")
        popup.value.evaluate("setTimeout(() => { throw new Error('broken seat page') }, 0)")
        popup.value.wait_for_timeout(200)
    finally:
        context.close()
    assert len(errors) == 2
    assert "broken dashboard" in errors[0] and "broken seat page" in errors[1]
