"""The stack's seats as the device manager's seats file (``hall stack seats-file``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import spec_from_stack_file
from infra.summary import seat_directory
from tests.infra.conftest import DEMO_STACK
from vdi.exceptions import InvalidSpec
from vdi.seats import SeatDirectory


def _desktop(domain: str, host: str = "local") -> dict[str, Any]:
    return {
        "domain": domain,
        "host": host,
        "image": "hallcloud-test-x86_64",
        "networks": ["gov"],
        "console": {"vnc": "127.0.0.1:5901"},
        "addresses": [],
        "macs": [],
        "running": True,
    }


def _outputs(internet_host: str = "local") -> dict[str, Any]:
    return {
        "seats": {
            "002": {
                "window": 2,
                "name": "不动产登记",
                "snapshot_policy": None,
                "gov": _desktop("demo-w002-gov"),
                "internet": _desktop("demo-w002-internet", internet_host),
            },
            "001": {
                "window": 1,
                "name": "企业开办",
                "snapshot_policy": None,
                "gov": _desktop("demo-w001-gov"),
                "internet": _desktop("demo-w001-internet"),
            },
        }
    }


def test_seats_file_from_stack_outputs_is_what_the_seat_pages_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI", raising=False)
    spec = spec_from_stack_file(DEMO_STACK)
    host = next(iter(spec.hosts))
    outputs = _outputs(host)
    for seat in outputs["seats"].values():
        seat["gov"]["host"] = seat["internet"]["host"] = host
    path = tmp_path / "seats.yaml"
    seat_directory(spec, outputs, site="demo-hall").write_file(path)
    seats = SeatDirectory.from_file(path)
    assert [s.name for s in seats] == [f"{spec.prefix}-w001", f"{spec.prefix}-w002"]
    first = seats.get(f"{spec.prefix}-w001")
    assert (first.gov, first.internet, first.window, first.site) == (
        "demo-w001-gov",
        "demo-w001-internet",
        1,
        "demo-hall",
    )
    assert first.uri == spec.hosts[host].uri
    monkeypatch.setenv("HALLCLOUD_LIBVIRT_URI", "qemu+ssh://hv1/system")  # as the providers resolve it
    assert seat_directory(spec, outputs).get(f"{spec.prefix}-w002").uri == "qemu+ssh://hv1/system"


def test_a_seat_split_over_two_hosts_is_refused() -> None:
    spec = spec_from_stack_file(DEMO_STACK)
    with pytest.raises(InvalidSpec, match=r"^window 2: its desktops are on different hosts"):
        seat_directory(spec, _outputs("rack-2"))


def test_hall_stack_seats_file_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import infra.cli

    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI", raising=False)
    spec = spec_from_stack_file(DEMO_STACK)
    host = next(iter(spec.hosts))

    class FakeStack:
        def __init__(self, name: str, state_dir: Path, project_dir: Path | None = None) -> None:
            self.name, self.state_dir = name, state_dir

        def exists(self) -> bool:
            return True

        def spec(self) -> Any:
            return spec

        def outputs(self) -> dict[str, Any]:
            return {
                "seats": {
                    "001": {
                        "window": 1,
                        "name": "企业开办",
                        "gov": _desktop("demo-w001-gov", host),
                        "internet": _desktop("demo-w001-internet", host),
                    }
                }
            }

    monkeypatch.setattr(infra.cli, "HallStack", FakeStack)
    out = tmp_path / "seats.yaml"
    result = CliRunner().invoke(infra.cli.stack, ["--state", str(tmp_path), "seats-file", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{out}: 1 seats of stack demo" in result.output
    assert SeatDirectory.from_file(out).get(f"{spec.prefix}-w001").gov == "demo-w001-gov"
