"""The clerk's seat page in headless Chromium against two running test desktops.

Both consoles must connect through their own websockify and show *their* guest's screen: the pixels
noVNC received (read from its canvas) are compared with ``virDomainScreenshot`` of each desktop, and
the two desktops are painted differently (blue 政务外网, red 互联网) so a swapped or shared console fails.
"""

from __future__ import annotations

import base64
import io
import secrets
import time

import httpx
import pytest
from PIL import Image, ImageChops
from sqlalchemy import select

from device_manager.db.models import AuditEntry
from device_manager.web import seat_tokens
from device_manager.web.state import web_state
from tests.guests import COLOURS, GuestSpec, hypervisor_uri, start_guests, stop_guests
from tests.plugin import SECRET_KEY
from vdi.seats import Seat, SeatDirectory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CANVAS_PNG = """(side) => {
  const canvas = document.querySelector(`#pane-${side} canvas`);
  return canvas ? canvas.toDataURL("image/png") : null;
}"""


def canvas_image(page, side: str) -> Image.Image | None:
    url = page.evaluate(CANVAS_PNG, side)
    if not url:
        return None
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def differing_share(a: Image.Image, b: Image.Image) -> float:
    if a.size != b.size:
        return 1.0
    mask = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v else 0)
    return mask.histogram()[255] / (a.width * a.height)


def colour_share(image: Image.Image, colour: tuple[int, int, int]) -> float:
    counts = {c: n for n, c in image.getcolors(image.width * image.height) or []}
    return counts.get(colour, 0) / (image.width * image.height)


@pytest.fixture(scope="module")
def seat_desktops():
    uri = hypervisor_uri()
    run = f"hc-w-{secrets.token_hex(3)}"
    guests = start_guests(
        uri,
        [
            GuestSpec(f"{run}-gov", "blue", "GOV DESKTOP 1"),
            GuestSpec(f"{run}-net", "red", "INTERNET DESKTOP 1"),
        ],
    )
    try:
        yield guests
    finally:
        stop_guests(guests)


@pytest.fixture
def seat_server(serve, seat_desktops):
    seat = Seat(
        "w1",
        gov=seat_desktops.specs[0].name,
        internet=seat_desktops.specs[1].name,
        uri=seat_desktops.uri,
        window=1,
    )
    other = Seat("w2", gov="hc-w-none-gov", internet="hc-w-none-net", uri=seat_desktops.uri, window=2)
    return serve(state={"seats": SeatDirectory([seat, other])})


def test_wrong_expired_and_other_seat_tokens_are_refused(seat_server, page, artifacts_dir):
    url = f"{seat_server.url}/seat/w1"
    response = page.goto(url)
    assert response.status == 401
    assert page.locator("#token-form").is_visible()
    assert page.locator("#pane-gov").count() == 0  # no seat content without the token
    page.fill("#token", "hcs_forged.token")
    page.click("button[type=submit]")
    page.wait_for_selector("#token-error:not([hidden])")
    page.screenshot(path=str(artifacts_dir / "seat-token-refused.png"))

    expired = seat_tokens.issue(SECRET_KEY, "w1", 60, now=time.time() - 3600)
    other_seat = seat_tokens.issue(SECRET_KEY, "w2", 3600)
    other_key = seat_tokens.issue("other-key", "w1", 3600)
    for bad in (expired, other_seat, other_key):
        page.goto(f"{url}#token={bad}")
        page.wait_for_selector("#token-error:not([hidden])")
        assert page.locator("#pane-gov").count() == 0
    with httpx.Client(base_url=seat_server.url) as client:
        assert client.post("/seat/w1/consoles/gov").status_code == 401
        assert client.post("/seat/w1/session", json={"token": expired}).status_code == 401
        client.cookies.set("hc_seat_w1", seat_tokens.issue(SECRET_KEY, "w2", 3600))
        assert client.post("/seat/w1/consoles/gov").status_code == 401
        assert client.get("/seat/w1/info").status_code == 401
    assert web_state(seat_server.app).proxies.active() == []  # nothing was opened


def test_both_consoles_show_their_own_desktop_and_switch_by_click_and_hotkey(
    seat_server, seat_desktops, page, artifacts_dir
):
    token = seat_tokens.issue(SECRET_KEY, "w1", 3600)
    started = time.monotonic()
    page.goto(f"{seat_server.url}/seat/w1#token={token}")
    page.wait_for_selector("#pane-gov[data-state=connected]", state="attached")
    page.wait_for_selector("#pane-internet[data-state=connected]", state="attached")
    connected_s = time.monotonic() - started
    assert "token=" not in page.url  # the token left the address bar

    expected = {
        side: Image.open(io.BytesIO(seat_desktops.screenshot(spec.name))).convert("RGB")
        for side, spec in zip(("gov", "internet"), seat_desktops.specs, strict=True)
    }
    received: dict[str, Image.Image] = {}
    deadline = time.monotonic() + 60
    for side in ("gov", "internet"):
        while True:
            image = canvas_image(page, side)
            if image is not None and differing_share(image, expected[side]) < 0.01:
                break
            assert time.monotonic() < deadline, (
                f"{side} canvas never matched virDomainScreenshot "
                f"(last: {None if image is None else differing_share(image, expected[side]):.3f})"
            )
            time.sleep(0.3)
        received[side] = image
        image.save(artifacts_dir / f"seat-canvas-{side}.png")
    assert received["gov"].size == (720, 400)
    assert colour_share(received["gov"], COLOURS["blue"][1]) > 0.8
    assert colour_share(received["internet"], COLOURS["red"][1]) > 0.8
    assert differing_share(received["gov"], expected["internet"]) > 0.8  # not swapped, not shared

    # each console its own websockify (own port, own process, one connection each)
    proxies = web_state(seat_server.app).proxies.active()
    assert sorted(p.key for p in proxies) == ["seat w1 gov", "seat w1 internet"]
    assert len({p.port for p in proxies}) == 2 and len({p.process.pid for p in proxies}) == 2

    with seat_server.app.state.session_factory() as db:
        opened = db.scalars(select(AuditEntry.detail).where(AuditEntry.action == "console.open")).all()
    assert sorted(opened) == [
        f"seat w1 gov desktop {seat_desktops.specs[0].name}",
        f"seat w1 internet desktop {seat_desktops.specs[1].name}",
    ]

    assert page.get_attribute("body", "data-active") == "gov"
    assert page.locator("#pane-gov").is_visible() and not page.locator("#pane-internet").is_visible()
    page.screenshot(path=str(artifacts_dir / "seat-page-gov.png"))
    page.keyboard.press("Alt+2")
    assert page.get_attribute("body", "data-active") == "internet"
    assert page.locator("#pane-internet").is_visible() and not page.locator("#pane-gov").is_visible()
    page.screenshot(path=str(artifacts_dir / "seat-page-internet.png"))
    page.keyboard.press("Alt+Backquote")
    assert page.get_attribute("body", "data-active") == "gov"
    page.click("#tab-internet")
    assert page.get_attribute("body", "data-active") == "internet"
    page.click("#lang")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.locator("#tab-gov").inner_text().startswith("Gov extranet")
    page.screenshot(path=str(artifacts_dir / "seat-page-internet-en.png"))
    diffs = {side: differing_share(received[side], expected[side]) for side in received}
    print(
        f"both consoles connected {connected_s:.1f} s after opening the page; pixels differing from "
        f"virDomainScreenshot: gov {diffs['gov']:.4%}, internet {diffs['internet']:.4%}"
    )
