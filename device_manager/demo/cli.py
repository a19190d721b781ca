"""``hall demo up`` / ``hall demo down`` / ``hall demo status`` (``make demo`` / ``make demo-down``).

``up`` brings the whole demo hall up on this machine, each step idempotent (a second ``up`` changes
nothing and resumes after a failure):

1. the stack: ``pulumi up`` of ``Pulumi.demo.yaml`` on the local libvirt (:mod:`infra.demo`);
2. the simulated hall devices (:mod:`device_manager.demo.devices`);
3. the controller: its settings file, ``hall serve`` in the background on loopback, the seats of the stack
   for the seat pages (:mod:`device_manager.demo.controller`);
4. its inventory through the API (:mod:`device_manager.demo.inventory`);

then prints where the dashboard is and how to sign in (the admin token is in a 0600 file, never on the
screen), the seat page of window 1 and the next commands. ``down`` removes all of it: controller,
devices, stack, and every file the demo wrote under the state directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from device_manager.demo.controller import DEFAULT_PORT, Controller, write_private
from device_manager.demo.devices import DemoDevice, DeviceSet
from device_manager.demo.inventory import SITE_SLUG, seed
from infra.cli import run_reporting
from infra.demo import stack_down, stack_up
from infra.spec import HallSpec
from infra.summary import render_summary, seat_directory
from vdi.paths import state_dir

__all__ = ["demo"]

# (name, device type, snmprec data, area): the hall-wide devices the simulator serves
HALL_DEVICES = [
    ("printer-a1", "printer", "printer_ok", "A"),
    ("printer-b1", "printer", "printer_jam", "B"),
    ("ups-1", "ups", "ups_online", "A"),
    ("switch-core", "switch", "switch", "A"),
    ("kiosk-1", "kiosk", "kiosk", "A"),
    ("queue-ticket-1", "queue_ticket_machine", "kiosk", "A"),
]


def _say(line: str) -> None:
    click.echo(line.rstrip("\n"))


def demo_dir() -> Path:
    return state_dir() / "demo"


def _client_key(directory: Path) -> tuple[str, str]:
    """The SSH key the controller logs in to the window devices with (made once, kept 0600)."""
    from device_manager.testing.ssh_hosts import new_client_key

    private, public = directory / "ssh_client_key", directory / "ssh_client_key.pub"
    if not private.exists():
        key, authorized = new_client_key()
        write_private(private, key)
        public.write_text(authorized + "\n")
    return private.read_text(), public.read_text().strip()


def _start_devices(spec: HallSpec, devices: DeviceSet) -> list[DemoDevice]:
    running = set(devices.running())
    if devices.devices and len(running) == len(devices.hosts) * 2 + 1:
        _say(f"  devices: {len(devices.devices)} simulated devices already running")
        return devices.devices
    if devices.hosts or devices.snmpsim:
        devices.stop(_say)  # left by an interrupted or rebooted run: start them afresh
    _key, authorized = _client_key(demo_dir())
    for window in spec.windows:
        for device_type, short in (("thin_client", "tc"), ("calling_display", "cd")):
            devices.start_window_device(
                f"{short}-w{window.number:03d}", device_type, window.number, authorized
            )
    hall = [(name, kind, data, _area_name(area)) for name, kind, data, area in HALL_DEVICES]
    devices.start_hall_devices(hall, Path("/var/tmp") / f"hallcloud-demo-snmpsim-{state_dir().stat().st_ino}")
    _say(
        f"  devices: {len(devices.hosts)} window devices in network namespaces (sshd + snmpd), "
        f"{len(HALL_DEVICES)} hall devices on an SNMP simulator"
    )
    return devices.devices


def _area_name(letter: str) -> str:
    return f"{letter}区 受理区 service area {letter}"


@click.group(help="The demo hall on this machine: stack, controller, inventory, simulated devices.")
def demo() -> None:
    pass


@demo.command(help="Bring the whole demo hall up (again: changes nothing, resumes after a failure).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="the controller's port on 127.0.0.1")
@click.option("--quiet", is_flag=True, help="no line per resource")
@click.option("--debug", is_flag=True, help="show tracebacks")
def up(port: int, quiet: bool, debug: bool) -> None:
    with run_reporting(debug):
        hall, outputs = stack_up(_say, quiet=quiet)
        spec = hall.spec()
        _say("")
        _say(render_summary(spec, outputs))
        _say("")
        _say("hall devices and controller:")
        devices = DeviceSet(demo_dir())
        found = _start_devices(spec, devices)
        controller = Controller(demo_dir(), port)
        settings = controller.write_settings(demo_dir() / "device-roots")
        seat_directory(spec, outputs, site=SITE_SLUG).write_file(settings.seats_path)
        token = controller.admin_token(settings)
        pid = controller.start()
        _say(f"  controller: hall serve at {controller.url} (pid {pid}, log {controller.log_file})")
        seed(controller.url, token, spec, found, _client_key(demo_dir())[0], _say)
        seat = seat_directory(spec, outputs, site=SITE_SLUG)
        first = next(iter(seat), None)
        seat_url_file = demo_dir() / "seat-window-1.url"
        if first is not None:
            from device_manager.web import seat_tokens

            seat_token = seat_tokens.issue(
                settings.secret_key.get_secret_value(), first.name, ttl_s=24 * 3600
            )
            write_private(seat_url_file, f"{controller.url}/seat/{first.name}#token={seat_token}\n")
    click.echo(
        f"""
the demo hall is up.
  dashboard (IT staff): {controller.url}/ui/   sign in with the admin token in {controller.token_file}
                        (cat it once and paste it; it is never printed); API docs: {controller.url}/docs
  seat page of window 1 (clerk): the URL with its one-day seat token is in {seat_url_file}
next:
  .venv/bin/hall window setup 1          # one call: seat, thin client, calling display, verify
  .venv/bin/hall window status 1
  .venv/bin/hall desktop snapshot demo-w001-gov ; .venv/bin/hall desktop backups demo-w001-gov
  PATH=$PWD/.venv/bin:$PATH pulumi preview   # the plain Pulumi CLI on the same stack
  make demo-down                         # removes everything the demo made"""
    )


@demo.command(help="Remove everything the demo created.")
@click.option("--quiet", is_flag=True, help="no line per resource")
@click.option("--debug", is_flag=True, help="show tracebacks")
def down(quiet: bool, debug: bool) -> None:
    with run_reporting(debug):
        controller = Controller(demo_dir())
        if controller.stop():
            _say("stopped the controller")
        DeviceSet(demo_dir()).stop(_say)
        stack_down(_say, quiet=quiet)
        for path in (demo_dir(), controller.data_dir):
            if path.exists():
                shutil.rmtree(path)
                _say(f"removed {path}")
        _remove_state_if_only_demo()


def _remove_state_if_only_demo() -> None:
    """The passphrase, Pulumi home and logs go too when no other stack uses the state directory."""
    from infra.automation import stack_names

    root = state_dir()
    if stack_names(root):
        return
    for name in ("pulumi", "logs", "locks", "passphrase", "drills.jsonl", "scheduler.json"):
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if not any(root.iterdir()):
        root.rmdir()
        _say(f"removed {root}")


@demo.command(help="What of the demo runs now.")
def status() -> None:
    controller = Controller(demo_dir())
    pid = controller.running_pid()
    click.echo(f"controller: {'running at ' + controller.url + f' (pid {pid})' if pid else 'not running'}")
    for line in DeviceSet(demo_dir()).running():
        click.echo(f"  {line}")
