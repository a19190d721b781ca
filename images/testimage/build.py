"""Build (or find in the cache) the tiny test image of one architecture from Debian packages.

The image is three files: the Debian kernel of the architecture, a gzipped cpio initramfs holding
``busybox-static``, the virtio/ext4 modules the guest needs and ``/init`` (see ``init.sh`` and the
protocol in ``README.md``), and a small qcow2 data disk with an ext4 filesystem.

Nothing is installed on the host: the .deb files come from a private apt (:mod:`.apt`) and are
unpacked with ``dpkg-deb -x``. Results live in ``<cache>/test-images/<arch>/<key>/`` where the key
hashes the package versions and the recipe (init script, module list, disk layout), so a second build
with the same inputs only reads ``image.json``. Every build happens in a temporary directory that is
renamed into place when complete, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from images import settings

from .apt import AptError, DebPackage, PrivateApt
from .arches import ArchProfile, profile_for
from .disk import DISK_SIZE_MIB, GOLDEN_MARKER, make_data_disk
from .initramfs import Initramfs
from .modules import GUEST_MODULES, ModuleIndex

__all__ = [
    "BUSYBOX_PACKAGE",
    "KEEP_BUILDS",
    "KERNEL_PACKAGE_RE",
    "MANIFEST",
    "RECIPE_VERSION",
    "RESOLVED",
    "Progress",
    "TestImage",
    "build_test_image",
    "cache_key",
    "default_cache_dir",
    "kernel_cmdline",
    "load_cached",
    "prune_old_builds",
    "prune_old_debs",
    "recipe_digest",
    "resolve_packages",
    "resolve_packages_memo",
    "sha256_file",
]


# bump when the build recipe changes in a way the hashed inputs below do not capture
RECIPE_VERSION = 1
KERNEL_PACKAGE_RE = re.compile(r"^linux-(image|binary|modules|base)-\d")
BUSYBOX_PACKAGE = "busybox-static"
MANIFEST = "image.json"
RESOLVED = "resolved.json"
# builds kept per arch: the newest and the one before (a guest may still be booting from it)
KEEP_BUILDS = 2

Progress = Callable[[str], None]


def default_cache_dir() -> Path:
    """``$HALLCLOUD_CACHE_DIR`` or ``~/.cache/hallcloud`` (:mod:`images.settings`): apt lists, .debs,
    test images, firmware."""
    return settings.cache_dir()


@dataclass(frozen=True)
class TestImage:
    """A built test image: boot ``kernel`` + ``initrd`` with ``cmdline``; attach ``disk`` as virtio."""

    __test__ = False  # not a pytest test class despite the name

    arch: str
    kernel: Path
    initrd: Path
    disk: Path
    cmdline: str
    console: str
    sha256: dict[str, str]
    """hex digest of each file, keyed ``kernel``, ``initrd``, ``disk``"""
    kernel_version: str = ""
    packages: dict[str, str] = field(default_factory=dict)
    """Debian package name -> version the image was built from"""
    key: str = ""

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for name in ("kernel", "initrd", "disk"):
            data[name] = getattr(self, name).name
        return data

    @classmethod
    def from_json(cls, directory: Path, data: dict[str, object]) -> TestImage:
        files = {name: directory / str(data[name]) for name in ("kernel", "initrd", "disk")}
        return cls(
            arch=str(data["arch"]),
            kernel=files["kernel"],
            initrd=files["initrd"],
            disk=files["disk"],
            cmdline=str(data["cmdline"]),
            console=str(data["console"]),
            sha256=dict(data["sha256"]),  # type: ignore[call-overload]
            kernel_version=str(data.get("kernel_version", "")),
            packages=dict(data.get("packages", {})),  # type: ignore[call-overload]
            key=str(data.get("key", "")),
        )


def kernel_cmdline(profile: ArchProfile) -> str:
    """Kernel command line of the test guest: serial console, kernel messages off, no wait on panic."""
    return " ".join((f"console={profile.console}", "loglevel=1", "panic=-1", *profile.extra_cmdline))


def _resource(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def recipe_digest() -> str:
    """Hash of everything besides package versions that shapes the image."""
    h = hashlib.sha256()
    h.update(f"recipe={RECIPE_VERSION}\n".encode())
    h.update(_resource("init.sh"))
    h.update(_resource("udhcpc.sh"))
    h.update(" ".join(GUEST_MODULES).encode())
    h.update(f"disk={DISK_SIZE_MIB}MiB marker={GOLDEN_MARKER}\n".encode())
    return h.hexdigest()


def cache_key(profile: ArchProfile, packages: dict[str, str], recipe: str) -> str:
    """Directory name of a build: changes when any package version, the recipe or the cmdline does."""
    h = hashlib.sha256()
    h.update(f"{profile.arch} {profile.suite} {kernel_cmdline(profile)}\n".encode())
    for name in sorted(packages):
        h.update(f"{name}={packages[name]}\n".encode())
    h.update(recipe.encode())
    return h.hexdigest()[:16]


def resolve_packages(apt: PrivateApt, profile: ArchProfile) -> dict[str, DebPackage]:
    """The kernel packages (following the metapackage's versioned dependencies) and busybox-static."""
    found: dict[str, DebPackage] = {}
    pending = [profile.kernel_package]
    while pending:
        batch = [name for name in pending if name not in found]
        pending = []
        if not batch:
            break
        for name, package in apt.show(*batch).items():
            found[name] = package
            pending += [dep for dep in package.depends if KERNEL_PACKAGE_RE.match(dep)]
    found.update(apt.show(BUSYBOX_PACKAGE))
    return found


def resolve_packages_memo(apt: PrivateApt, profile: ArchProfile, memo: Path) -> dict[str, DebPackage]:
    """:func:`resolve_packages`, remembered in ``memo`` for as long as the package lists are unchanged.

    This keeps a cached build free of apt calls: it reads two small JSON files and nothing else.
    """
    stamp = apt.lists_stamp()
    try:
        data = json.loads(memo.read_text())
        if data["lists_stamp"] == stamp and data["kernel_package"] == profile.kernel_package:
            return {
                name: DebPackage(**{**fields, "depends": tuple(fields["depends"])})
                for name, fields in data["packages"].items()
            }
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    packages = resolve_packages(apt, profile)
    data = {
        "lists_stamp": stamp,
        "kernel_package": profile.kernel_package,
        "packages": {name: asdict(package) for name, package in packages.items()},
    }
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, memo)
    return packages


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_cached(directory: Path) -> TestImage | None:
    """The image recorded in ``directory/image.json`` when it and its files exist."""
    try:
        image = TestImage.from_json(directory, json.loads((directory / MANIFEST).read_text()))
    except (FileNotFoundError, ValueError, KeyError):
        return None
    if all(p.is_file() for p in (image.kernel, image.initrd, image.disk)):
        return image
    return None


def build_test_image(arch: str, cache_dir: Path | None = None, progress: Progress | None = None) -> TestImage:
    """The test image of ``arch``, built from Debian packages unless already cached.

    ``cache_dir`` is HallCloud's cache root (default :func:`default_cache_dir`); the image lands in
    ``<cache_dir>/test-images/<arch>/<key>/`` and ``<cache_dir>/test-images/<arch>/current`` points at
    the newest build. Raises ValueError for an unknown ``arch``.
    """
    profile = profile_for(arch)
    say = progress or (lambda _msg: None)
    cache = cache_dir or default_cache_dir()
    arch_dir = cache / "test-images" / arch
    apt = PrivateApt(
        cache / "apt" / f"{profile.suite}-{profile.debian_arch}", profile.suite, profile.debian_arch
    )
    with _locked(arch_dir / ".lock"):
        if apt.lists_age() is None:
            say(f"{arch}: fetching Debian {profile.suite}/{profile.debian_arch} package lists")
        if not apt.ensure_lists():
            say(f"{arch}: could not refresh the package lists (offline?); using the cached ones")
        for attempt in (1, 2):
            packages = resolve_packages_memo(apt, profile, arch_dir / RESOLVED)
            versions = {name: pkg.version for name, pkg in packages.items()}
            key = cache_key(profile, versions, recipe_digest())
            cached = load_cached(arch_dir / key)
            if cached is not None:
                say(f"{arch}: cached {arch_dir / key}")
                _point_current(arch_dir, key)
                return cached
            try:
                debs = _download(apt, packages, cache / "debs" / profile.debian_arch, say)
                break
            except AptError:
                if attempt == 2:
                    raise
                # the mirror dropped a superseded version (sid moves fast): refresh the lists, retry
                say(f"{arch}: package download failed; refreshing the package lists")
                apt.update()
        image = _build(profile, packages, debs, versions, key, arch_dir, say)
        _point_current(arch_dir, key)
        prune_old_builds(arch_dir, keep=KEEP_BUILDS)
        prune_old_debs(cache / "debs" / profile.debian_arch, set(debs.values()))
        return image


def prune_old_builds(arch_dir: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest builds of an arch (``current`` is always kept)."""
    current = (arch_dir / "current").resolve()
    builds = sorted(
        (p for p in arch_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and not p.is_symlink()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = [p for p in builds[keep:] if p != current]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def prune_old_debs(deb_dir: Path, in_use: set[Path]) -> list[Path]:
    """Remove superseded kernel and busybox .debs (the firmware's and others' are left alone)."""
    removed = []
    for deb in deb_dir.glob("*.deb"):
        if deb not in in_use and (deb.name.startswith(("linux-", f"{BUSYBOX_PACKAGE}_"))):
            deb.unlink(missing_ok=True)
            removed.append(deb)
    return removed


def _download(
    apt: PrivateApt, packages: dict[str, DebPackage], deb_dir: Path, say: Progress
) -> dict[str, Path]:
    debs: dict[str, Path] = {}
    for name, package in sorted(packages.items()):
        target = deb_dir / f"{name}_{package.version.replace(':', '%3a')}_{package.architecture}.deb"
        if not target.exists():
            say(f"downloading {name} {package.version} ({package.size / 1e6:.1f} MB)")
        debs[name] = apt.download(package, deb_dir)
    return debs


def _point_current(arch_dir: Path, key: str) -> None:
    link = arch_dir / "current"
    if link.is_symlink() and os.readlink(link) == key:
        return
    tmp = arch_dir / f".current-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(key)
    os.replace(tmp, link)


def _build(
    profile: ArchProfile,
    packages: dict[str, DebPackage],
    debs: dict[str, Path],
    versions: dict[str, str],
    key: str,
    arch_dir: Path,
    say: Progress,
) -> TestImage:
    arch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=arch_dir, prefix=".build-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "root"
        out = tmp / key
        out.mkdir()
        say(f"{profile.arch}: unpacking {len(debs)} packages")
        for deb in debs.values():
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        modules_dir, kernel_file = _find_kernel(root)
        kernel_version = modules_dir.name
        if not (modules_dir / "modules.dep").exists():
            say(f"{profile.arch}: depmod {kernel_version}")
            subprocess.run(
                ["depmod", "-b", str(modules_dir.parents[2]), kernel_version], check=True, capture_output=True
            )
        index = ModuleIndex.load(modules_dir)
        load_order = index.load_order(GUEST_MODULES)

        say(f"{profile.arch}: packing initramfs ({len(load_order)} modules, kernel {kernel_version})")
        initrd = Initramfs()
        busybox = next(p for p in (root / "bin/busybox", root / "usr/bin/busybox") if p.exists())
        initrd.add_file("/bin/busybox", busybox.read_bytes(), 0o755)
        initrd.add_symlink("/bin/sh", "busybox")
        initrd.add_file("/init", _resource("init.sh"), 0o755)
        initrd.add_file("/etc/hallcloud/udhcpc.script", _resource("udhcpc.sh"), 0o755)
        initrd.add_file("/etc/hallcloud/arch", f"{profile.arch}\n".encode())
        initrd.add_file("/etc/hallcloud/kernel-version", f"{kernel_version}\n".encode())
        loaded: list[str] = []
        for rel in load_order:
            plain = _strip_compression(rel)
            initrd.add_file(f"/lib/modules/{kernel_version}/{plain}", _read_module(modules_dir / rel))
            loaded.append(plain)
        initrd.add_file("/etc/hallcloud/modules.load", "".join(f"{m}\n" for m in loaded).encode())
        # the kernel opens /dev/console for init before devtmpfs is mounted
        initrd.add_chardev("/dev/console", 5, 1)
        initrd.add_chardev("/dev/null", 1, 3, 0o666)
        for directory in ("/proc", "/sys", "/data", "/tmp", "/run"):
            initrd.add_dir(directory)
        initrd.write_gz(out / "initrd.img")

        shutil.copyfile(kernel_file, out / "vmlinuz")
        say(f"{profile.arch}: creating the ext4 data disk")
        make_data_disk(out / "disk.qcow2")

        image = TestImage(
            arch=profile.arch,
            kernel=out / "vmlinuz",
            initrd=out / "initrd.img",
            disk=out / "disk.qcow2",
            cmdline=kernel_cmdline(profile),
            console=profile.console,
            sha256={
                name: sha256_file(out / f)
                for name, f in (("kernel", "vmlinuz"), ("initrd", "initrd.img"), ("disk", "disk.qcow2"))
            },
            kernel_version=kernel_version,
            packages=versions,
            key=key,
        )
        (out / MANIFEST).write_text(json.dumps(image.to_json(), indent=2, sort_keys=True) + "\n")
        final = arch_dir / key
        if final.exists():  # an interrupted earlier build left an incomplete directory
            shutil.rmtree(final)
        os.rename(out, final)
    say(f"{profile.arch}: built {final}")
    result = load_cached(final)
    assert result is not None
    return result


def _find_kernel(root: Path) -> tuple[Path, Path]:
    """(``.../lib/modules/<version>``, kernel image) inside an unpacked kernel package tree."""
    for base in (root / "usr/lib/modules", root / "lib/modules"):
        if not base.is_dir():
            continue
        for modules_dir in sorted(base.iterdir()):
            for kernel in (modules_dir / "vmlinuz", root / "boot" / f"vmlinuz-{modules_dir.name}"):
                if kernel.is_file():
                    return modules_dir, kernel
    raise RuntimeError(f"no kernel image and modules directory found in the unpacked packages at {root}")


def _strip_compression(rel: str) -> str:
    for suffix in (".xz", ".zst", ".gz"):
        if rel.endswith(suffix):
            return rel[: -len(suffix)]
    return rel


def _read_module(path: Path) -> bytes:
    """The module's ELF bytes; compressed modules are unpacked so plain busybox insmod can load them."""
    if path.suffix == ".xz":
        return lzma.decompress(path.read_bytes())
    if path.suffix == ".zst":
        return subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    return path.read_bytes()
