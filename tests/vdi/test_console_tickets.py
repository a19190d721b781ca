"""One-time console credentials and seat ``.vv`` files.

Unit tests run on libvirt's ``test:///default``; integration tests boot two tiny x86_64 desktops on
the real hypervisor, log in over VNC with vncdotool (a real RFB client) and compare what it receives
with ``virDomainScreenshot``.
"""

from __future__ import annotations

import configparser
import io
import secrets
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest
from PIL import Image, ImageChops

from tests.guests import COLOURS, GuestSpec, hypervisor_uri, start_guests, stop_guests
from vdi.conn import connect
from vdi.console_tickets import (
    VNC_PASSWORD_LENGTH,
    issue_ticket,
    locked_graphics,
    revoke,
    seat_vv,
    spice_supported,
    vv_for_desktop,
)
from vdi.exceptions import ConsoleError, InvalidSpec, NotFound
from vdi.seats import Seat, SeatDirectory

VNCDO = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "vncdo")


# -- unit ------------------------------------------------------------------------------------------


def test_locked_graphics_carry_a_random_password_that_no_repr_shows():
    a, b = locked_graphics("vnc"), locked_graphics("vnc")
    assert a.passwd and b.passwd and a.passwd != b.passwd
    assert a.type == "vnc" and a.listen == "127.0.0.1"


def test_seat_needs_two_different_desktops_and_a_clean_name():
    with pytest.raises(InvalidSpec, match="never bridged"):
        Seat("w1", gov="d1", internet="d1")
    with pytest.raises(InvalidSpec, match="name must be"):
        Seat("bad name", gov="a", internet="b")
    seat = Seat("w1", gov="w1-gov", internet="w1-net")
    assert list(seat.desktops()) == [("gov", "w1-gov"), ("internet", "w1-net")]
    assert seat.desktop("internet") == "w1-net"


def test_seat_directory_from_data_refuses_unknown_keys_and_names_defined_seats():
    seats = SeatDirectory.from_data({"seats": [{"name": "w1", "gov": "a", "internet": "b", "window": 1}]})
    assert seats.get("w1").window == 1
    with pytest.raises(NotFound, match="defined: w1"):
        seats.get("w2")
    with pytest.raises(InvalidSpec, match="unknown keys"):
        SeatDirectory.from_data({"seats": [{"name": "w1", "gov": "a", "internet": "b", "colour": "x"}]})


def test_ticket_for_a_desktop_without_graphics_or_not_running_is_refused(test_conn):
    # test:///default's running domain "test" has no graphics device
    with pytest.raises(ConsoleError, match="has no graphics device"):
        issue_ticket(test_conn, "test")
    test_conn.lookupByName("test").destroy()
    with pytest.raises(ConsoleError, match="is not running"):
        issue_ticket(test_conn, "test")
    with pytest.raises(InvalidSpec, match=r"outside 1\.\.600"):
        issue_ticket(test_conn, "test", ttl_s=3600)


def test_vv_for_desktop_splits_a_seat_file():
    seat_file = (
        "[virt-viewer]\ntype=vnc\nhost=h\nport=5901\npassword=p1\ntitle=gov\n\n"
        "[hallcloud-gov]\ntype=vnc\nhost=h\nport=5901\npassword=p1\ntitle=gov\ndesktop=d1\n\n"
        "[hallcloud-internet]\ntype=vnc\nhost=h\nport=5902\npassword=p2\ntitle=net\ndesktop=d2\n"
    )
    single = configparser.ConfigParser(interpolation=None)
    single.read_string(vv_for_desktop(seat_file, "internet"))
    assert single.sections() == ["virt-viewer"]
    assert dict(single["virt-viewer"]) == {
        "type": "vnc",
        "host": "h",
        "port": "5902",
        "password": "p2",
        "title": "net",
    }
    with pytest.raises(InvalidSpec, match="has no desktop 'kiosk'"):
        vv_for_desktop(seat_file, "kiosk")


# -- integration -------------------------------------------------------------------------------------


def vnc_login(port: int, password: str, out: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Log in with vncdotool and capture the screen to ``out``."""
    return subprocess.run(
        [
            VNCDO,
            "-s",
            f"127.0.0.1::{port}",
            "-p",
            password,
            "-t",
            str(int(timeout)),
            "--nocursor",
            "capture",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=timeout + 15,
        check=False,
    )


def rgb(data: bytes | Path) -> Image.Image:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    return Image.open(source).convert("RGB")


def share(image: Image.Image, colour: tuple[int, int, int]) -> float:
    counts = dict((c, n) for n, c in image.getcolors(image.width * image.height) or [])
    return counts.get(colour, 0) / (image.width * image.height)


def differing_pixels(a: Image.Image, b: Image.Image) -> int:
    mask = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v else 0)
    return mask.histogram()[255]


@pytest.fixture(scope="module")
def console_uri():
    return hypervisor_uri()


@pytest.fixture
def live_conn(console_uri):
    conn = connect(console_uri)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def desktops(console_uri):
    run = f"hc-w-{secrets.token_hex(3)}"
    specs = [
        GuestSpec(f"{run}-gov", "blue", "GOV DESKTOP", spice=True),
        GuestSpec(f"{run}-net", "red", "INTERNET DESKTOP"),
    ]
    guests = start_guests(console_uri, specs)
    try:
        yield guests
    finally:
        stop_guests(guests)


@pytest.mark.integration
@pytest.mark.slow
def test_vnc_ticket_logs_in_and_sees_the_guest_screen(desktops, live_conn, tmp_path, artifacts_dir):
    gov = desktops.specs[0].name
    started = time.monotonic()
    ticket = issue_ticket(live_conn, gov, ttl_s=60)
    issue_ms = (time.monotonic() - started) * 1000
    assert ticket.protocol == "vnc" and len(ticket.password) == VNC_PASSWORD_LENGTH
    assert ticket.password not in repr(ticket)
    assert 55 <= ticket.seconds_left <= 60
    done = vnc_login(ticket.port, ticket.password, tmp_path / "gov.png")
    assert done.returncode == 0, done.stderr
    received = rgb(tmp_path / "gov.png")
    expected = rgb(desktops.screenshot(gov))
    received.save(artifacts_dir / "console-vnc-gov-received.png")
    assert received.size == expected.size == (720, 400)
    assert share(received, COLOURS["blue"][1]) > 0.8  # the painted desktop, not a black screen
    diff = differing_pixels(received, expected)
    assert diff / (720 * 400) < 0.01, f"{diff} pixels differ from virDomainScreenshot"
    print(f"ticket issued in {issue_ms:.0f} ms; {diff} pixels differ from virDomainScreenshot")


@pytest.mark.integration
@pytest.mark.slow
def test_wrong_expired_replaced_and_revoked_passwords_are_refused(desktops, live_conn, tmp_path):
    net = desktops.specs[1].name
    first = issue_ticket(live_conn, net, ttl_s=60)
    assert vnc_login(first.port, "wrong123", tmp_path / "x.png", timeout=20).returncode != 0
    second = issue_ticket(live_conn, net, ttl_s=3)
    assert second.password != first.password
    assert vnc_login(first.port, first.password, tmp_path / "x.png", timeout=20).returncode != 0
    time.sleep(5)
    assert vnc_login(second.port, second.password, tmp_path / "x.png", timeout=20).returncode != 0
    third = issue_ticket(live_conn, net, ttl_s=60)
    assert vnc_login(third.port, third.password, tmp_path / "ok.png", timeout=30).returncode == 0
    revoke(live_conn, net)
    assert vnc_login(third.port, third.password, tmp_path / "x.png", timeout=20).returncode != 0


@pytest.mark.integration
@pytest.mark.slow
def test_passwords_are_not_in_the_ordinary_domain_xml(desktops, live_conn):
    gov = desktops.specs[0].name
    ticket = issue_ticket(live_conn, gov, ttl_s=30)
    plain = live_conn.lookupByName(gov).XMLDesc(0)
    assert ticket.password not in plain
    secure = ET.fromstring(live_conn.lookupByName(gov).XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE))
    vnc = secure.find("./devices/graphics[@type='vnc']")
    assert vnc is not None and vnc.get("passwd") == ticket.password and vnc.get("passwdValidTo")


@pytest.mark.integration
@pytest.mark.slow
def test_spice_ticket_when_the_host_supports_it(desktops, live_conn):
    assert spice_supported(live_conn), "qemu-system-modules-spice is installed here"
    gov = desktops.specs[0].name
    ticket = issue_ticket(live_conn, gov, protocol="auto", ttl_s=30)
    assert ticket.protocol == "spice" and len(ticket.password) >= 16
    secure = ET.fromstring(live_conn.lookupByName(gov).XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE))
    spice = secure.find("./devices/graphics[@type='spice']")
    assert spice is not None and spice.get("passwd") == ticket.password
    with pytest.raises(ConsoleError, match="has no spice graphics"):
        issue_ticket(live_conn, desktops.specs[1].name, protocol="spice")


@pytest.mark.integration
@pytest.mark.slow
def test_seat_vv_holds_both_desktops_and_each_part_logs_in(
    desktops, live_conn, console_uri, tmp_path, artifacts_dir
):
    seat = Seat("w7", gov=desktops.specs[0].name, internet=desktops.specs[1].name, uri=console_uri)
    text = seat_vv(live_conn, seat, ttl_s=60)
    (artifacts_dir / "seat-w7.vv.example").write_text(
        "\n".join(
            line if not line.startswith("password=") else "password=<one-time>" for line in text.splitlines()
        )
        + "\n"
    )
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    assert parser.sections() == ["virt-viewer", "hallcloud-seat", "hallcloud-gov", "hallcloud-internet"]
    assert parser["virt-viewer"]["type"] == "spice"  # gov has SPICE and the host supports it
    assert parser["virt-viewer"]["password"] == parser["hallcloud-gov"]["password"]
    assert parser["hallcloud-internet"]["type"] == "vnc"
    assert parser["virt-viewer"]["delete-this-file"] == "1"
    internet = configparser.ConfigParser(interpolation=None)
    internet.read_string(vv_for_desktop(text, "internet"))
    part = internet["virt-viewer"]
    done = vnc_login(int(part["port"]), part["password"], tmp_path / "net.png")
    assert done.returncode == 0, done.stderr
    assert share(rgb(tmp_path / "net.png"), COLOURS["red"][1]) > 0.8


@pytest.mark.integration
@pytest.mark.slow
def test_hall_console_commands(desktops, console_uri, tmp_path):
    from click.testing import CliRunner

    from vdi.cli.console import console

    gov, net = (s.name for s in desktops.specs)
    runner = CliRunner()
    ticket = runner.invoke(console, ["ticket", net, "--uri", console_uri, "--ttl", "20"])
    assert ticket.exit_code == 0, ticket.output
    fields = dict(line.split(None, 1) for line in ticket.output.splitlines())
    assert fields["protocol"] == "vnc" and len(fields["password"]) == VNC_PASSWORD_LENGTH
    seats = tmp_path / "seats.yaml"
    seats.write_text(f"seats:\n  - {{name: w3, gov: {gov}, internet: {net}, uri: '{console_uri}'}}\n")
    out = tmp_path / "w3.vv"
    made = runner.invoke(console, ["vv", "w3", "--seats-file", str(seats), "-o", str(out), "--split"])
    assert made.exit_code == 0, made.output
    for path in (out, tmp_path / "w3-gov.vv", tmp_path / "w3-internet.vv"):
        assert path.stat().st_mode & 0o777 == 0o600  # the files hold passwords
    assert "[hallcloud-internet]" in out.read_text()
    assert "[virt-viewer]" in (tmp_path / "w3-internet.vv").read_text()
    missing = runner.invoke(console, ["vv", "w4", "--seats-file", str(seats)])
    assert missing.exit_code != 0 and "seat w4: is not defined; defined: w3" in missing.output
