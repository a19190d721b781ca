"""Real libvirt + QEMU (TCG): boots of every architecture, the console protocol, the golden image
pipeline, and bad input that must be refused leaving nothing behind.

Runs against ``$HALLCLOUD_TEST_URI`` (default ``qemu:///system``); every object is named ``hc-t-<hex>...``.
"""

from __future__ import annotations

import hashlib
import lzma
import subprocess
import sys
from pathlib import Path

import libvirt
import pytest
from click.testing import CliRunner

from images.catalog import load_catalog
from tests.vdi.conftest import leftovers
from vdi.cli.images import image_commands
from vdi.domain import define_domain, undefine_domain
from vdi.exceptions import (
    ChecksumMismatch,
    Conflict,
    FirmwareMissing,
    InvalidPoolPath,
    UnknownArchitecture,
)
from vdi.golden import golden_volume_name, import_golden
from vdi.models import Network, Pool
from vdi.network import delete_network, ensure_network, get_network
from vdi.serial_console import SerialConsole
from vdi.storage import default_pool_path, delete_pool, ensure_pool, get_pool, get_volume, volume_names
from vdi.testguest import (
    boot_test,
    boot_to_marker,
    build_test_image,
    define_test_guest,
    stage_test_image,
)

pytestmark = pytest.mark.integration

ARCHES = ["x86_64", "aarch64", "loongarch64"]


def _command(name: str):
    return next(c for c in image_commands if c.name == name)


@pytest.fixture
def pool(live_conn, prefix):
    """A fresh dir pool named after the test's prefix, deleted with its volumes afterwards."""
    name = f"{prefix}-pool"
    ensure_pool(live_conn, Pool(name=name, target_path=default_pool_path(name)))
    yield name
    delete_pool(live_conn, name, delete_volumes=True)


# -- booting -----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHES)
def test_boot_test_reaches_the_marker_with_both_nics_and_removes_everything(
    live_uri, live_conn, prefix, arch
):
    result = boot_test(arch, live_uri, prefix=prefix)
    assert f"GUEST-READY {arch}" in result.transcript
    assert len(result.nics) == 2 and result.sees_all_nics, result.nics
    assert 0 < result.seconds < 300
    assert leftovers(live_conn, prefix) == {}


@pytest.mark.slow
def test_boot_test_cli_prints_the_marker_line_last(live_uri, live_conn, prefix, monkeypatch):
    import vdi.testguest

    original = vdi.testguest.boot_test
    monkeypatch.setattr(
        "vdi.cli.images.boot_test", lambda arch, uri, **kw: original(arch, uri, prefix=prefix, **kw)
    )
    result = CliRunner().invoke(_command("boot-test"), ["--arch", "x86_64", "--uri", live_uri])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("GUEST-READY arch=x86_64 seconds=")
    assert float(last.rsplit("=", 1)[1]) > 0
    assert leftovers(live_conn, prefix) == {}


@pytest.mark.slow
def test_console_writes_and_reads_a_marker_on_the_guest_disk(live_conn, prefix, pool):
    nets = [f"{prefix}-a", f"{prefix}-b"]
    for net in nets:
        ensure_network(live_conn, Network(name=net))
    name = f"{prefix}-guest"
    try:
        staged = stage_test_image(live_conn, pool, build_test_image("x86_64"))
        define_test_guest(live_conn, name, staged, nets)
        result, console = boot_to_marker(live_conn, name, "x86_64")
        with console:
            assert console.command(f"hc write {prefix}-data", f"MARKER-WRITTEN {prefix}-data")
            match = console.command("hc read", "MARKER ", timeout=30)
            assert match
            console.wait_for(f"{prefix}-data", 10)
        assert result.sees_all_nics
        # the guest wrote to its own linked clone; the golden image is untouched
        assert get_volume(get_pool(live_conn, pool), f"{name}.qcow2").backing is not None
    finally:
        undefine_domain(live_conn, name)
        for net in nets:
            delete_network(live_conn, net)


# -- validate --------------------------------------------------------------------------------------------


def test_validate_accepts_every_catalog_entry_and_leaves_no_domain(live_uri, live_conn):
    result = CliRunner().invoke(_command("validate"), ["--uri", live_uri])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    total = len(load_catalog())
    assert total >= 9 and lines[-1] == f"valid: {total}/{total}"
    assert all(line.startswith("ok") for line in lines[:-1])
    assert leftovers(live_conn, "hc-validate-") == {}


# -- golden image pipeline -----------------------------------------------------------------------------------


def _raw_disk(tmp_path: Path) -> Path:
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "create", "-f", "raw", str(raw), "16M"], check=True, capture_output=True)
    with raw.open("r+b") as f:
        f.write(b"HALLCLOUD-GOLDEN" * 4096)
    return raw


def test_golden_pipeline_verifies_decompresses_converts_and_uploads(live_conn, pool, tmp_path):
    xz = tmp_path / "disk.raw.xz"
    xz.write_bytes(lzma.compress(_raw_disk(tmp_path).read_bytes()))
    digest = hashlib.sha256(xz.read_bytes()).hexdigest()
    golden = import_golden(
        live_conn, pool, "hc-t-img", xz, sha256=digest, source_format="raw", compression="xz"
    )
    assert golden.outcome == "created" and golden.volume == golden_volume_name("hc-t-img", digest)
    vol = get_volume(get_pool(live_conn, pool), golden.volume)
    assert vol.format == "qcow2" and vol.capacity_bytes == 16 * 1024**2
    again = import_golden(
        live_conn, pool, "hc-t-img", xz, sha256=digest, source_format="raw", compression="xz"
    )
    assert again.outcome == "unchanged"


def test_catalog_download_entry_fetches_and_checks_the_vendor_checksum_file(live_conn, pool, tmp_path):
    from images.catalog import DownloadSource
    from vdi.domain_plan import image_for
    from vdi.golden import import_catalog_image

    xz = tmp_path / "vendor-image.raw.xz"
    xz.write_bytes(lzma.compress(_raw_disk(tmp_path).read_bytes()))
    digest = hashlib.sha256(xz.read_bytes()).hexdigest()
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{'f' * 64}  other.qcow2\n{digest} *vendor-image.raw.xz\n")
    source = DownloadSource(
        kind="download", url=xz.as_uri(), sha256_url=sums.as_uri(), compression="xz", format="raw"
    )
    manifest = image_for("openeuler-24.03-lts-x86_64").model_copy(
        update={"name": "hc-t-vendor", "source": source}
    )
    golden = import_catalog_image(live_conn, pool, manifest)
    assert golden.sha256 == digest and golden.outcome == "created"
    assert get_volume(get_pool(live_conn, pool), golden.volume).format == "qcow2"
    # the vendor republishes different bytes under the same name: refused, nothing new in the pool
    sums.write_text(f"{'0' * 64}  vendor-image.raw.xz\n")
    manifest2 = manifest.model_copy(update={"name": "hc-t-vendor2"})
    with pytest.raises(
        ChecksumMismatch, match=r"^image hc-t-vendor2: sha256 of .* the catalog expects 0{64}"
    ):
        import_catalog_image(live_conn, pool, manifest2)
    assert volume_names(get_pool(live_conn, pool)) == [golden.volume]


def test_sha256_mismatch_is_refused_before_anything_is_created(live_conn, pool, tmp_path):
    raw = _raw_disk(tmp_path)
    with pytest.raises(
        ChecksumMismatch,
        match=r"^image hc-t-img: sha256 of .* is [0-9a-f]{64}, the catalog "
        r"expects 0{64}\. Fix: ",
    ):
        import_golden(live_conn, pool, "hc-t-img", raw, sha256="0" * 64, source_format="raw")
    assert volume_names(get_pool(live_conn, pool)) == []


# -- bad input leaves nothing behind ------------------------------------------------------------------------


def test_unknown_arch_is_refused_naming_the_known_ones(live_uri, live_conn, prefix):
    with pytest.raises(UnknownArchitecture, match=r"'sparc64'.*known: aarch64, loongarch64, x86_64"):
        boot_test("sparc64", live_uri, prefix=prefix)
    assert leftovers(live_conn, prefix) == {}


def test_missing_firmware_is_refused_before_anything_is_created(live_uri, live_conn, prefix, monkeypatch):
    # the LoongArch firmware provider is absent (None in sys.modules makes its import fail)
    monkeypatch.setitem(sys.modules, "images.testimage.firmware", None)
    with pytest.raises(FirmwareMissing, match=r"^loongarch64 firmware: provider .* is not installed.*Fix: "):
        boot_test("loongarch64", live_uri, prefix=prefix)
    assert leftovers(live_conn, prefix) == {}


def test_provider_returning_absent_files_is_missing_firmware(monkeypatch, tmp_path):
    from images.profiles import get_profile
    from vdi.domain_plan import resolve_firmware

    monkeypatch.setattr(
        "images.profiles.call_firmware_provider",
        lambda arch, provider: (tmp_path / "c.fd", tmp_path / "v.fd"),
    )
    with pytest.raises(FirmwareMissing, match=r"c\.fd .* does not exist\. Fix: run `hall images build-test"):
        resolve_firmware(get_profile("loongarch64"), "uefi")


def test_duplicate_domain_name_with_another_definition_is_refused(live_conn, prefix, pool):
    staged = stage_test_image(live_conn, pool, build_test_image("x86_64"))
    name = f"{prefix}-dup"
    try:
        assert define_test_guest(live_conn, name, staged, []) == "created"
        assert define_test_guest(live_conn, name, staged, []) == "unchanged"
        with pytest.raises(
            Conflict,
            match=rf"^domain {name}: exists with a different definition \(memory_mib: "
            r"256, wanted 512\)\. Fix: undefine it",
        ):
            define_test_guest(live_conn, name, staged, [], memory_mib=512)
        assert live_conn.lookupByName(name).maxMemory() == 256 * 1024
        # a refused new name creates nothing, not even its disk
        other = f"{prefix}-dup2"
        live_conn.defineXML(
            f"<domain type='qemu'><name>{other}</name><memory>65536</memory>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os></domain>"
        )
        with pytest.raises(Conflict, match=rf"^domain {other}: exists with a different definition"):
            define_test_guest(live_conn, other, staged, [])
        assert f"{other}.qcow2" not in volume_names(get_pool(live_conn, pool))
    finally:
        undefine_domain(live_conn, name)
        undefine_domain(live_conn, f"{prefix}-dup2")
    assert "domains" not in leftovers(live_conn, prefix)


def test_network_that_exists_with_another_definition_is_refused_and_kept(live_uri, live_conn, prefix):
    # a network of the name boot-test will use, but bridged: boot-test must refuse it and not delete it
    taken = Network(name=f"{prefix}-a", forward="bridge", bridge=f"{prefix}-br")
    live_conn.networkDefineXML(__import__("vdi.render", fromlist=["x"]).network_xml(taken))
    try:
        with pytest.raises(
            Conflict,
            match=rf"^network {prefix}-a: exists with a different definition "
            r"\(forward: bridge, wanted isolated",
        ):
            boot_test("x86_64", live_uri, prefix=prefix)
        assert get_network(live_conn, f"{prefix}-a") is not None
        assert leftovers(live_conn, prefix) == {"networks": [f"{prefix}-a"]}
    finally:
        delete_network(live_conn, f"{prefix}-a")
    assert leftovers(live_conn, prefix) == {}


def test_pool_path_that_is_a_file_is_refused(live_conn, prefix, tmp_path, monkeypatch):
    path = tmp_path / "not-a-dir"
    path.write_text("a file")
    spec = Pool(name=f"{prefix}-pool", target_path=str(path))
    with pytest.raises(
        InvalidPoolPath,
        match=rf"^pool {prefix}-pool: target path {path} exists and is not a "
        r"directory\. Fix: ",
    ):
        ensure_pool(live_conn, spec)
    assert leftovers(live_conn, prefix) == {}
    # a remote hypervisor cannot be pre-checked: libvirt's own refusal must be converted and undone too
    monkeypatch.setattr("vdi.storage.is_local", lambda _conn: False)
    with pytest.raises(
        InvalidPoolPath, match=rf"^pool {prefix}-pool: target {path} is not a usable directory"
    ):
        ensure_pool(live_conn, spec)
    assert leftovers(live_conn, prefix) == {}
    assert path.read_text() == "a file"


def test_console_on_a_stopped_domain_is_a_clear_error(live_conn, prefix, pool):
    from vdi.exceptions import VdiError

    staged = stage_test_image(live_conn, pool, build_test_image("x86_64"))
    name = f"{prefix}-off"
    define_test_guest(live_conn, name, staged, [])
    try:
        with pytest.raises(
            VdiError, match=rf"^console of domain {name}: cannot open the console: .*Fix: start"
        ):
            SerialConsole(live_conn, name).open()
    finally:
        undefine_domain(live_conn, name)


def test_define_domain_roundtrip_on_the_real_hypervisor_is_unchanged(live_conn, prefix, pool):
    from vdi.domain_plan import DiskSource, DomainRequest, image_for, plan_domain

    for image in ("openeuler-24.03-lts-x86_64", "kylin-v10-sp3-aarch64"):
        dom = plan_domain(
            image_for(image),
            DomainRequest(name=f"{prefix}-{image}", disks=[DiskSource(pool=pool, volume="x.qcow2")]),
        )
        try:
            assert define_domain(live_conn, dom) == "created"
            assert define_domain(live_conn, dom) == "unchanged"
        finally:
            undefine_domain(live_conn, dom.name)
    assert leftovers(live_conn, prefix) == {"pools": [f"{prefix}-pool"]}


@pytest.mark.slow
def test_boot_test_interrupted_by_ctrl_c_removes_everything(live_uri, live_conn):
    """Held before its marker (the guest is paused as soon as it runs), so the signal always lands in the
    boot; started with SIGINT inherited as ignored, as a job started in the background by a
    non-interactive shell gets it: the command must install its own handler."""
    import re
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "hall", "images", "boot-test", "--arch", "x86_64", "--uri", live_uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert proc.stderr is not None
    run = None
    deadline = time.monotonic() + 240
    for line in proc.stderr:  # "booting hc-bt-xxxxxx" comes once the domain is defined
        match = re.match(r"booting (hc-bt-[0-9a-f]{6})", line)
        if match:
            run = match.group(1)
            break
        assert time.monotonic() < deadline, "boot-test never reached the boot step"
    assert run is not None
    while True:  # hold the guest before it can print its marker
        assert time.monotonic() < deadline, "the boot-test guest never ran"
        try:
            dom = live_conn.lookupByName(run)
            if dom.isActive():
                dom.suspend()
                break
        except libvirt.libvirtError:
            pass
        time.sleep(0.05)
    assert leftovers(live_conn, run).get("domains") == [run]
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert time.monotonic() - sent < 10
    assert "interrupted; everything the boot test created was removed" in err
    assert "GUEST-READY" not in out
    assert leftovers(live_conn, run) == {}
