"""Tests of the tiny test-image builder: pure planning (unit) and real boots under QEMU (integration)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from images.testimage import KNOWN_ARCHES, build_test_image, profile_for
from images.testimage import build as build_mod
from images.testimage.apt import AptError, DebPackage, PrivateApt, parse_depends, parse_stanzas
from images.testimage.build import cache_key, recipe_digest
from images.testimage.firmware import firmware_descriptor, install_loongarch_descriptor, loongarch_firmware
from images.testimage.initramfs import Initramfs
from images.testimage.modules import ModuleError, ModuleIndex
from images.testimage.qemu import SerialGuest, clean_line, copy_for_boot, direct_boot_argv

# ---------------------------------------------------------------------------------------------------
# unit tests


def test_unknown_arch_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"'sparc64'.*x86_64, aarch64, loongarch64"):
        build_test_image("sparc64", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_profiles_cover_three_arches_with_their_consoles():
    assert KNOWN_ARCHES == ("x86_64", "aarch64", "loongarch64")
    assert {a: profile_for(a).console for a in KNOWN_ARCHES} == {
        "x86_64": "ttyS0",
        "aarch64": "ttyAMA0",
        "loongarch64": "ttyS0",
    }


MODULES_DEP = """\
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/net/core/failover.ko.xz:
kernel/fs/ext4/ext4.ko.xz: kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz
kernel/fs/mbcache.ko.xz:
kernel/fs/jbd2/jbd2.ko.xz:
kernel/lib/crc16.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/drivers/block/virtio_blk.ko.xz:
"""
SOFTDEP = "softdep jbd2 pre: crypto-crc32c\nsoftdep ext4 pre: nonexistent-thing\n"
ALIAS = "alias crypto-crc32c crc32c_generic\nalias crc32c* crc32c_generic\n"
BUILTIN = "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/char/virtio_console.ko\n"


def _index() -> ModuleIndex:
    return ModuleIndex.parse("1.0-test", MODULES_DEP, SOFTDEP, ALIAS, BUILTIN)


def test_load_order_puts_dependencies_first_and_skips_builtins():
    order = _index().load_order(["virtio_pci", "virtio_net", "virtio_blk", "virtio_console"])
    assert order == [
        "kernel/net/core/failover.ko.xz",
        "kernel/drivers/net/net_failover.ko.xz",
        "kernel/drivers/net/virtio_net.ko.xz",
        "kernel/drivers/block/virtio_blk.ko.xz",
    ]


def test_load_order_follows_soft_dependencies_through_aliases():
    order = _index().load_order(["ext4"])
    # crc32c (jbd2's soft dependency, named by alias) loads before jbd2; the unresolvable soft
    # dependency of ext4 is skipped as modprobe skips it
    assert order.index("kernel/crypto/crc32c_generic.ko.xz") < order.index("kernel/fs/jbd2/jbd2.ko.xz")
    assert order[-1] == "kernel/fs/ext4/ext4.ko.xz"
    assert set(order) == {
        "kernel/crypto/crc32c_generic.ko.xz",
        "kernel/fs/jbd2/jbd2.ko.xz",
        "kernel/fs/mbcache.ko.xz",
        "kernel/lib/crc16.ko.xz",
        "kernel/fs/ext4/ext4.ko.xz",
    }


def test_missing_module_is_a_clear_error():
    with pytest.raises(ModuleError, match=r"kernel 1.0-test: module 'virtio_gpu'"):
        _index().load_order(["virtio_gpu"])


def test_parse_depends_takes_first_alternative_without_versions():
    field = (
        "linux-base (>= 4.3~), dracut | initramfs-tools (>= 0.120), "
        "linux-modules-7.2+deb14-loong64 (= 7.2-1), kmod:any"
    )
    assert parse_depends(field) == ("linux-base", "dracut", "linux-modules-7.2+deb14-loong64", "kmod")


def test_parse_stanzas_joins_continuation_lines():
    text = "Package: a\nVersion: 1\nDescription: x\n more\n\nPackage: b\nVersion: 2\n"
    assert parse_stanzas(text) == [
        {"Package": "a", "Version": "1", "Description": "x\nmore"},
        {"Package": "b", "Version": "2"},
    ]


def test_private_apt_ignores_the_host_configuration(tmp_path):
    apt = PrivateApt(tmp_path / "apt", "sid", "loong64")
    apt._prepare()
    env = {"APT_CONFIG": str(apt.config), "PATH": "/usr/bin:/bin"}
    dump = subprocess.run(["apt-config", "dump"], env=env, capture_output=True, text=True, check=True).stdout
    assert 'APT::Architecture "loong64";' in dump
    assert f'dir::etc::sourceparts "{tmp_path}/apt/sources.list.d";' in dump.lower()
    assert f'dir::etc::parts "{tmp_path}/apt/apt.conf.d";' in dump.lower()
    assert f'Dir::State::status "{tmp_path}/apt/state/status";' in dump
    assert "DPkg::Post-Invoke" not in dump  # nothing from /etc/apt/apt.conf.d
    assert (tmp_path / "apt" / "sources.list").read_text().endswith(" sid main\n")


def test_stale_lists_are_used_when_the_mirror_is_unreachable(tmp_path):
    # port 9 on loopback refuses at once: the refresh fails, the old lists stay usable
    apt = PrivateApt(tmp_path / "apt", "sid", "loong64", mirror="http://127.0.0.1:9/debian")
    apt._prepare()
    (tmp_path / "apt" / "apt.conf.d" / "10no-retries").write_text('Acquire::Retries "0";\n')
    stamp = tmp_path / "apt" / "lists" / ".hallcloud-updated"
    stamp.touch()
    os.utime(stamp, (0, 0))
    assert apt.ensure_lists() is False
    stamp.unlink()
    with pytest.raises(AptError, match=r"private apt \(sid/loong64\): apt-get update"):
        apt.ensure_lists()


def test_cache_key_changes_with_package_versions_and_recipe():
    profile = profile_for("aarch64")
    base = {"linux-image-6.1.0-1-arm64": "6.1.1-1", "busybox-static": "1:1.35.0-4"}
    key = cache_key(profile, base, "recipe-a")
    assert key == cache_key(profile, dict(reversed(list(base.items()))), "recipe-a")
    assert key != cache_key(profile, {**base, "busybox-static": "1:1.35.0-5"}, "recipe-a")
    assert key != cache_key(profile, base, "recipe-b")
    assert key != cache_key(profile_for("x86_64"), base, "recipe-a")


def test_initramfs_is_a_valid_deterministic_newc_archive(tmp_path):
    ramfs = Initramfs()
    ramfs.add_file("/init", b"#!/bin/sh\necho hi\n", 0o755)
    ramfs.add_symlink("/bin/sh", "busybox")
    ramfs.add_chardev("/dev/console", 5, 1)
    first = ramfs.to_cpio()
    assert first == ramfs.to_cpio()
    listing = subprocess.run(["cpio", "-itv"], input=first, capture_output=True, check=True).stdout.decode()
    lines = {}
    for line in listing.splitlines():
        name = line.split(" -> ")[0].split()[-1]
        lines[name] = line
    assert set(lines) == {"bin", "bin/sh", "dev", "dev/console", "init"}
    assert lines["dev/console"].startswith("crw-------")
    assert lines["init"].startswith("-rwxr-xr-x")
    assert lines["bin/sh"].startswith("lrwxrwxrwx")
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(
        ["cpio", "-id", "--no-absolute-filenames", "init"],
        input=first,
        cwd=out,
        capture_output=True,
        check=True,
    )
    assert (out / "init").read_bytes() == b"#!/bin/sh\necho hi\n"


def test_clean_line_strips_firmware_escapes_and_cr():
    assert clean_line("\x1bc\x1b[?7l\x1b[2JNIC eth0 52:54:00:48:43:00 10.0.2.15\r\n") == (
        "NIC eth0 52:54:00:48:43:00 10.0.2.15"
    )


def test_loongarch_direct_boot_requires_firmware(tmp_path):
    image = build_mod.TestImage(
        "loongarch64", tmp_path / "k", tmp_path / "i", tmp_path / "d", "console=ttyS0", "ttyS0", {}
    )
    with pytest.raises(ValueError, match="loongarch64: direct boot needs UEFI firmware"):
        direct_boot_argv(image, tmp_path / "d")
    argv = direct_boot_argv(image, tmp_path / "d", firmware=(tmp_path / "code", tmp_path / "vars"))
    assert argv[0] == "qemu-system-loongarch64"
    assert argv.count("-netdev") == 2
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={tmp_path / 'code'}" in argv


# --- the whole build pipeline on fake Debian packages (no network) ---------------------------------

FAKE_KVER = "1.0.0-fake"


def _deb(tmp: Path, name: str, files: dict[str, bytes]) -> Path:
    root = tmp / f"pkg-{name}"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1\nArchitecture: arm64\nMaintainer: t <t@example.org>\nDescription: t\n"
    )
    deb = tmp / f"{name}.deb"
    subprocess.run(["dpkg-deb", "-b", "-Zgzip", str(root), str(deb)], check=True, capture_output=True)
    return deb


class FakeApt:
    """Stands in for PrivateApt: an index of two packages and .deb files built on the spot."""

    def __init__(self, root: Path, suite: str, debian_arch: str, debs: dict[str, Path]) -> None:
        self.debs = debs
        self.downloads: list[str] = []
        self.shown: list[str] = []

    def lists_age(self) -> float:
        return 0.0

    def ensure_lists(self) -> bool:
        return True

    def lists_stamp(self) -> int:
        return 1

    def update(self) -> None:
        pass

    def show(self, *names: str) -> dict[str, DebPackage]:
        self.shown += names
        deps = {"linux-image-arm64": ("linux-image-1.0.0-fake",)}
        return {n: DebPackage(n, "1", "arm64", 1, "", deps.get(n, ())) for n in names}

    def download(self, package: DebPackage, dest_dir: Path) -> Path:
        self.downloads.append(package.name)
        return self.debs[package.name]


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    mods = f"lib/modules/{FAKE_KVER}"
    kernel_files = {
        f"boot/vmlinuz-{FAKE_KVER}": b"fake kernel",
        f"{mods}/kernel/fs/ext4/ext4.ko": b"ext4 module",
        f"{mods}/kernel/fs/jbd2/jbd2.ko": b"jbd2 module",
        f"{mods}/kernel/drivers/net/virtio_net.ko": b"virtio_net module",
        f"{mods}/kernel/drivers/block/virtio_blk.ko": b"virtio_blk module",
        f"{mods}/modules.dep": (
            b"kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\nkernel/fs/jbd2/jbd2.ko:\n"
            b"kernel/drivers/net/virtio_net.ko:\nkernel/drivers/block/virtio_blk.ko:\n"
        ),
        f"{mods}/modules.builtin": b"".join(
            f"kernel/x/{m}.ko\n".encode()
            for m in ("virtio_pci", "virtio_mmio", "virtio_console", "af_packet")
        ),
    }
    debs = {
        "linux-image-arm64": _deb(tmp_path, "linux-image-arm64", {}),
        "linux-image-1.0.0-fake": _deb(tmp_path, "linux-image-1.0.0-fake", kernel_files),
        "busybox-static": _deb(tmp_path, "busybox-static", {"bin/busybox": b"fake busybox"}),
    }
    apts: list[FakeApt] = []

    def make_apt(root, suite, debian_arch):
        apt = FakeApt(root, suite, debian_arch, debs)
        apts.append(apt)
        return apt

    monkeypatch.setattr(build_mod, "PrivateApt", make_apt)
    return debs, apts


def test_build_packs_modules_in_order_and_second_build_is_cached(tmp_path, fake_packages):
    _debs, apts = fake_packages
    cache = tmp_path / "cache"
    image = build_test_image("aarch64", cache_dir=cache)
    assert image.kernel.read_bytes() == b"fake kernel"
    assert image.console == "ttyAMA0" and "console=ttyAMA0" in image.cmdline
    assert image.packages == {"linux-image-arm64": "1", "linux-image-1.0.0-fake": "1", "busybox-static": "1"}
    assert image.kernel.parent == cache / "test-images" / "aarch64" / image.key
    assert (cache / "test-images" / "aarch64" / "current").resolve() == image.kernel.parent
    files = (
        subprocess.run(
            f"zcat {image.initrd} | cpio -i --to-stdout etc/hallcloud/modules.load",
            shell=True,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split()
    )
    assert files == [
        "kernel/drivers/block/virtio_blk.ko",
        "kernel/drivers/net/virtio_net.ko",
        "kernel/fs/jbd2/jbd2.ko",
        "kernel/fs/ext4/ext4.ko",
    ]
    # the disk is qcow2 holding ext4 with the golden marker
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(image.disk)], capture_output=True, check=True
        ).stdout
    )
    assert info["format"] == "qcow2" and info["virtual-size"] == 64 * 1024 * 1024
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image.disk), str(raw)], check=True)
    marker = subprocess.run(["debugfs", "-R", "cat /marker", str(raw)], capture_output=True, check=True)
    assert marker.stdout == b"golden\n"
    assert image.sha256["kernel"] == build_mod.sha256_file(image.kernel)

    before = {p: p.stat().st_mtime_ns for p in (image.kernel, image.initrd, image.disk)}
    again = build_test_image("aarch64", cache_dir=cache)
    assert again == image
    assert apts[-1].downloads == []
    assert apts[-1].shown == []  # resolution remembered while the package lists are unchanged
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_failed_build_leaves_no_partial_files(tmp_path, fake_packages, monkeypatch):
    def broken_disk(target: Path) -> None:
        target.write_bytes(b"half a disk")
        raise RuntimeError("mkfs.ext4 failed")

    monkeypatch.setattr(build_mod, "make_data_disk", broken_disk)
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match=r"mkfs\.ext4 failed"):
        build_test_image("aarch64", cache_dir=cache)
    left = sorted(p.name for p in (cache / "test-images" / "aarch64").iterdir())
    assert left == [".lock", "resolved.json"]  # no build directory, no temporary directory


def test_prune_keeps_the_newest_builds_and_unrelated_debs(tmp_path):
    arch_dir = tmp_path / "test-images" / "x86_64"
    for age, name in enumerate(["new", "older", "oldest", "ancient"]):
        (arch_dir / name).mkdir(parents=True)
        os.utime(arch_dir / name, (1_000_000 - age, 1_000_000 - age))
    (arch_dir / "current").symlink_to("ancient")  # pinned although old
    (arch_dir / ".build-x").mkdir()
    removed = build_mod.prune_old_builds(arch_dir, keep=2)
    assert sorted(p.name for p in removed) == ["oldest"]
    assert sorted(p.name for p in arch_dir.iterdir()) == [".build-x", "ancient", "current", "new", "older"]

    debs = tmp_path / "debs"
    debs.mkdir()
    names = [
        "linux-image-6.1.0-1-amd64_1_amd64.deb",
        "linux-image-6.1.0-2-amd64_2_amd64.deb",
        "busybox-static_1%3a1_amd64.deb",
        "qemu-efi-loongarch64_1_all.deb",
    ]
    for name in names:
        (debs / name).write_bytes(b"")
    build_mod.prune_old_debs(debs, {debs / names[1]})
    assert sorted(p.name for p in debs.iterdir()) == sorted(names[1:2] + names[3:])


def test_recipe_digest_covers_the_init_script():
    digest = recipe_digest()
    assert len(digest) == 64
    assert digest == recipe_digest()


def test_firmware_descriptor_shape_and_install(tmp_path, monkeypatch):
    code, nvram = tmp_path / "QEMU_EFI.fd", tmp_path / "QEMU_VARS.fd"
    code.write_bytes(b"code")
    nvram.write_bytes(b"vars")
    monkeypatch.setattr("images.testimage.firmware.loongarch_firmware", lambda *_a: (code, nvram))
    descriptor = install_loongarch_descriptor(
        descriptor_dir=tmp_path / "etc-qemu-firmware", install_dir=tmp_path / "share"
    )
    data = json.loads(descriptor.read_text())
    share = tmp_path / "share"
    assert data == firmware_descriptor(share / "QEMU_EFI.fd", share / "QEMU_VARS.fd")
    assert data["targets"] == [{"architecture": "loongarch64", "machines": ["virt*"]}]
    assert (tmp_path / "share" / "QEMU_EFI.fd").read_bytes() == b"code"
    mtime = descriptor.stat().st_mtime_ns
    install_loongarch_descriptor(descriptor_dir=tmp_path / "etc-qemu-firmware", install_dir=share)
    assert descriptor.stat().st_mtime_ns == mtime


# ---------------------------------------------------------------------------------------------------
# integration: real Debian packages, real QEMU under TCG


def _boot(arch: str, image, workdir: Path, disk: Path, artifacts: Path, tag: str) -> SerialGuest:
    firmware = None
    if profile_for(arch).needs_firmware:
        code, nvram = loongarch_firmware()
        firmware = (code, copy_for_boot(nvram, workdir / f"vars-{tag}"))
    argv = direct_boot_argv(image, disk, nics=2, firmware=firmware)
    return SerialGuest(argv, log=artifacts / f"testimage-{arch}-{tag}.log")


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("arch", KNOWN_ARCHES)
def test_boot_two_nics_marker_roundtrip_and_second_boot(arch, tmp_path, artifacts_dir):
    for tool in (profile_for(arch).qemu_binary, "mkfs.ext4", "qemu-img", "dpkg-deb", "depmod"):
        assert shutil.which(tool), f"{tool} is missing: run make setup"
    image = build_test_image(arch)
    disk = copy_for_boot(image.disk, tmp_path)

    guest = _boot(arch, image, tmp_path, disk, artifacts_dir, "first")
    try:
        ready = guest.wait_for("GUEST-READY", timeout=240)
        seconds = time.monotonic() - guest.started
        assert ready == f"GUEST-READY {arch}"
        nics = [line.split() for line in guest.lines if line.startswith("NIC ")]
        assert [n[1:3] for n in nics] == [["eth0", "52:54:00:48:43:00"], ["eth1", "52:54:00:48:43:01"]]
        assert all(n[3] == "10.0.2.15" for n in nics), nics  # QEMU user networking's DHCP answered
        assert "DISK-MARKER golden" in guest.lines
        assert guest.command("hc read", "MARKER ") == "MARKER golden"
        assert guest.command("hc write hello", "MARKER-WRITTEN") == "MARKER-WRITTEN hello"
        assert guest.command("hc read", "MARKER ") == "MARKER hello"
        assert guest.command("hc ping 127.0.0.1", "PING") == "PING 127.0.0.1 ok"
        guest.send("hc ls")
        listing = guest.wait_for("LS-END")
        assert listing == "LS-END 3"
        assert "FILE marker 6" in guest.lines and "DIR lost+found" in guest.lines
        assert guest.command("echo $((6 * 7))", "42") == "42"
        assert guest.command("hc frobnicate", "HC-ERROR") == "HC-ERROR unknown command: hc frobnicate"
        assert guest.command("hc poweroff", "POWEROFF") == "POWEROFF"
        assert guest.proc.wait(timeout=60) == 0
    finally:
        guest.close()
    print(f"{arch}: GUEST-READY after {seconds:.1f} s")

    with _boot(arch, image, tmp_path, disk, artifacts_dir, "second") as second:
        second.wait_for("GUEST-READY", timeout=240)
        assert "DISK-MARKER hello" in second.lines
        assert second.command("hc damage notes.txt", "DAMAGED") == "DAMAGED notes.txt"
        assert second.command("hc sync", "SYNCED") == "SYNCED"
        second.send("hc ip")
        second.wait_for("IP-END")
        assert sum(line.startswith("NIC ") for line in second.lines) == 4
    # the cached golden disk was never touched by the guests
    assert build_mod.sha256_file(image.disk) == image.sha256["disk"]


@pytest.mark.integration
@pytest.mark.slow
def test_boot_without_disk_reports_none_and_refuses_writes(tmp_path):
    image = build_test_image("aarch64")
    argv = direct_boot_argv(image, tmp_path / "unused.qcow2", nics=1)
    disk_at = argv.index("-drive")
    del argv[disk_at : disk_at + 4]  # -drive ... -device virtio-blk-pci,...
    assert not any("virtio-blk" in arg for arg in argv)
    with SerialGuest(argv) as guest:
        guest.wait_for("GUEST-READY", timeout=240)
        assert "DISK-MARKER none" in guest.lines
        assert sum(line.startswith("NIC ") for line in guest.lines) == 1
        assert guest.command("hc write x", "HC-ERROR") == "HC-ERROR no disk mounted at /data"
        assert guest.command("hc read", "MARKER") == "MARKER none"
        guest.send("")
        assert guest.command("true", "SH-EXIT") == "SH-EXIT 0"


@pytest.mark.integration
def test_libvirt_auto_selection_sees_the_loongarch_descriptor():
    libvirt = pytest.importorskip("libvirt")
    descriptor = install_loongarch_descriptor()
    loader = json.loads(descriptor.read_text())["mapping"]["executable"]["filename"]
    assert Path(loader).stat().st_mode & 0o004, "QEMU under libvirt runs as libvirt-qemu: must be readable"
    conn = libvirt.open("qemu:///system")
    try:
        caps = conn.getDomainCapabilities(None, "loongarch64", "virt", "qemu", 0)
    finally:
        conn.close()
    assert f"<value>{loader}</value>" in caps
