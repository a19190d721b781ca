"""``pulumi up`` of a 20-window hall from empty, then adding one window through ``infra.automation``.

The hall: 4 networks, 2 pools, the x86_64 test image as golden volume, and 20 seats (40 desktops,
linked clones, started) on the local libvirt, through the real Pulumi engine with a file backend in a
temporary directory. Window 21 is then added with :func:`infra.automation.add_window` (config change +
targeted up of that seat only). Both in the same run; everything is destroyed at the end.
``$HALLCLOUD_URI`` picks the hypervisor (default ``qemu:///system``).
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from infra.automation import HallStack, scratch_project
from infra.demo import leftovers
from infra.testing.halls import small_hall_config
from infra.windows import add_window
from vdi import settings

WINDOWS = 20
IMAGE = "hallcloud-test-x86_64"
MEMORY_MIB = 160


def _window(number: int) -> dict[str, Any]:
    desktop = {"image": IMAGE, "memory_mib": MEMORY_MIB}
    return {"number": number, "name": f"window {number}", "seat": {"gov": desktop, "internet": desktop}}


def hall_config(prefix: str, uri: str, octet: int) -> dict[str, Any]:
    windows = [_window(n) for n in range(1, WINDOWS + 1)]
    return small_hall_config(
        name="benchmark hall", prefix=prefix, uri=uri, octet=octet, image=IMAGE, windows=windows
    )


def run() -> str:
    uri = settings.libvirt_uri()
    prefix = f"hc-bp-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="hallcloud-bench-pulumi-") as tmp:
        hall = HallStack("bench", Path(tmp) / "state", project_dir=scratch_project(Path(tmp) / "project"))
        spec = hall.write_config(hall_config(prefix, uri, 150 + secrets.randbelow(40)))
        rows: list[tuple[str, float, str]] = []
        try:
            started = time.monotonic()
            result = hall.up()
            up_s = time.monotonic() - started
            created = dict(result.changes)
            rows.append((f"pulumi up, {WINDOWS}-window hall from empty", up_s, f"{created}"))

            added = add_window(hall, _window(WINDOWS + 1))
            rows.append(
                (
                    f"add window {WINDOWS + 1} (infra.automation, targeted up)",
                    added.seconds,
                    f"{added.changes}",
                )
            )
        finally:
            started = time.monotonic()
            hall.destroy()
            rows.append(("pulumi destroy (cleanup)", time.monotonic() - started, ""))
            left = leftovers(spec)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'step'.ljust(width)}  seconds  resource changes", f"{'-' * width}  -------  ----------------"]
    lines += [f"{name.ljust(width)}  {seconds:7.1f}  {extra}" for name, seconds, extra in rows]
    lines.append(
        f"per desktop in the full up: {rows[0][1] / (2 * WINDOWS):.2f} s; leftovers: {left or 'none'}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
