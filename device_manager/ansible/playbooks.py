"""The playbooks the device manager may run, which device types each applies to, and the variables a
caller may set. Anything not listed here cannot be run through the API."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from device_manager.ansible.adapter import PLAYBOOK_DIR
from device_manager.errors import Invalid


@dataclass(frozen=True)
class Playbook:
    name: str
    file: str
    description: str
    device_types: tuple[str, ...]
    roles: tuple[str, ...]
    variables: tuple[str, ...]

    @property
    def task_count(self) -> int:
        """Tasks per host (for progress); handlers and loops are not counted."""
        return sum(_role_tasks(role) for role in self.roles)


@cache
def _role_tasks(role: str) -> int:
    path = PLAYBOOK_DIR / "roles" / role / "tasks" / "main.yml"
    data = yaml.safe_load(Path(path).read_text()) or []
    return len(data)


CATALOG: dict[str, Playbook] = {
    p.name: p
    for p in (
        Playbook(
            "thin_client",
            "thin_client.yml",
            "thin client: two connection profiles (one per seat desktop), local switch hotkey, kiosk, "
            "auto-reconnect",
            ("thin_client",),
            ("thin_client",),
            (
                "hall_window_number",
                "hall_window_name",
                "hall_consoles",
                "hall_switch_hotkey",
                "hall_switch_hotkey_evdev",
                "hall_kiosk_mode",
                "hall_reconnect_delay_s",
                "hall_reconnect_max_attempts",
                "hall_state",
            ),
        ),
        Playbook(
            "calling_display",
            "calling_display.yml",
            "calling display: window number and text",
            ("calling_display",),
            ("calling_display",),
            (
                "hall_window_number",
                "hall_window_name",
                "hall_window_services",
                "hall_display_text",
                "hall_state",
            ),
        ),
        Playbook(
            "window_setup",
            "window_setup.yml",
            "window setup: thin client (two desktops' consoles) and calling display, one run",
            ("thin_client", "calling_display"),
            ("thin_client", "calling_display"),
            (
                "hall_window_number",
                "hall_window_name",
                "hall_consoles",
                "hall_window_services",
                "hall_display_text",
                "hall_state",
            ),
        ),
        Playbook(
            "kiosk",
            "kiosk.yml",
            "self-service kiosk: service URL, autologin, watchdog",
            ("kiosk",),
            ("common", "kiosk"),
            ("hall_kiosk_service_url", "hall_kiosk_user", "hall_kiosk_watchdog_interval_s"),
        ),
        Playbook(
            "hardening",
            "hardening.yml",
            "common hardening: sshd, sysctl, file modes",
            ("thin_client", "calling_display", "kiosk", "queue_ticket_machine"),
            ("common", "hardening"),
            ("hall_ssh_allow_users",),
        ),
    )
}


def get(name: str) -> Playbook:
    try:
        return CATALOG[name]
    except KeyError:
        raise Invalid.field(
            "playbook", f"unknown playbook '{name}'; known: {', '.join(sorted(CATALOG))}"
        ) from None
