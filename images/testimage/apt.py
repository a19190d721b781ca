"""A private apt for foreign-architecture Debian packages (download only, never installed).

The host's apt configuration is never read or changed: each (suite, architecture) pair gets its own
directory under ``~/.cache/hallcloud/apt/`` with its own sources list, package lists, cache, an empty
dpkg status and an ``apt.conf`` passed through ``APT_CONFIG`` (which also points apt's configuration
parts directory at an empty private one, so the host's ``/etc/apt/apt.conf.d`` does not apply).
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .arches import DEBIAN_MIRROR

__all__ = [
    "INHERITED_ACQUIRE",
    "KEYRING",
    "LIST_MAX_AGE_S",
    "AptError",
    "DebPackage",
    "PrivateApt",
    "host_acquire_settings",
    "parse_depends",
    "parse_stanzas",
]


KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# network settings of the host's apt that the private one follows too (mirrors that serve a frozen
# snapshot turn off Valid-Until checks; sites behind a proxy set one)
INHERITED_ACQUIRE = re.compile(
    r"^Acquire::(Check-Valid-Until|Check-Date|Retries|ForceIPv4|ForceIPv6|https?::Proxy(::\S+)?) ",
    re.IGNORECASE,
)
LIST_MAX_AGE_S = 7 * 24 * 3600


class AptError(RuntimeError):
    """An apt command failed; the message names the command and apt's own words."""


@dataclass(frozen=True)
class DebPackage:
    """One binary package as the private apt's index describes it."""

    name: str
    version: str
    architecture: str
    size: int
    sha256: str
    depends: tuple[str, ...]
    """First alternative of each ``Depends``/``Pre-Depends`` clause, without version constraints."""


def parse_depends(field: str) -> tuple[str, ...]:
    """Package names of a Depends field: the first alternative of each clause, no versions/arch."""
    names: list[str] = []
    for clause in field.split(","):
        first = clause.split("|")[0].strip()
        if not first:
            continue
        name = re.split(r"[\s(:\[]", first, maxsplit=1)[0]
        names.append(name)
    return tuple(names)


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Parse deb822 stanzas (``apt-cache show`` output) into dicts; continuation lines are joined."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def host_acquire_settings() -> list[str]:
    """The host apt's network-related ``Acquire::`` lines (read only, via ``apt-config dump``)."""
    env = {k: v for k, v in os.environ.items() if k != "APT_CONFIG"}
    proc = subprocess.run(
        ["apt-config", "dump", "Acquire"], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return []
    return [line for line in proc.stdout.splitlines() if INHERITED_ACQUIRE.match(line)]


class PrivateApt:
    """apt-get / apt-cache for one Debian suite and architecture, isolated from the host's apt."""

    def __init__(self, root: Path, suite: str, debian_arch: str, mirror: str = DEBIAN_MIRROR) -> None:
        self.root = root
        self.suite = suite
        self.debian_arch = debian_arch
        self.mirror = mirror
        self.config = root / "apt.conf"

    def _prepare(self) -> None:
        for sub in (
            "lists/partial",
            "cache/archives/partial",
            "state",
            "apt.conf.d",
            "preferences.d",
            "sources.list.d",
        ):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "state" / "status").touch()
        (self.root / "apt.conf.main").touch()
        sources = f"deb [signed-by={KEYRING}] {self.mirror} {self.suite} main\n"
        self._write_if_changed(self.root / "sources.list", sources)
        r = self.root
        config = "\n".join(
            [
                f'Dir::Etc::main "{r}/apt.conf.main";',
                f'Dir::Etc::Parts "{r}/apt.conf.d";',
                f'Dir::Etc::SourceList "{r}/sources.list";',
                f'Dir::Etc::SourceParts "{r}/sources.list.d";',
                f'Dir::Etc::Preferences "{r}/preferences";',
                f'Dir::Etc::PreferencesParts "{r}/preferences.d";',
                f'Dir::State "{r}/state";',
                f'Dir::State::Lists "{r}/lists";',
                f'Dir::State::status "{r}/state/status";',
                f'Dir::Cache "{r}/cache";',
                f'APT::Architecture "{self.debian_arch}";',
                f'APT::Architectures {{ "{self.debian_arch}"; }};',
                'Acquire::Languages "none";',
                # keep the cache small: lists stay gzipped and no source-package cache is kept
                'Acquire::GzipIndexes "true";',
                'Acquire::CompressionTypes::Order { "gz"; };',
                'Dir::Cache::srcpkgcache "";',
                # the cache lives in root's home, which apt's sandbox user cannot enter
                'APT::Sandbox::User "root";',
                *host_acquire_settings(),
                "",
            ]
        )
        self._write_if_changed(self.config, config)

    @staticmethod
    def _write_if_changed(path: Path, text: str) -> None:
        if not path.exists() or path.read_text() != text:
            path.write_text(text)

    def _run(self, argv: list[str], cwd: Path | None = None, merge_stderr: bool = False) -> str:
        env = dict(os.environ, APT_CONFIG=str(self.config), LC_ALL="C")
        # one apt at a time per private root: apt-get refuses to run while another holds its locks
        with (self.root / ".hallcloud-lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise AptError(
                f"private apt ({self.suite}/{self.debian_arch}): {' '.join(argv)} failed "
                f"(exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc.stdout + proc.stderr if merge_stderr else proc.stdout

    @property
    def _stamp(self) -> Path:
        return self.root / "lists" / ".hallcloud-updated"

    def lists_age(self) -> float | None:
        """Seconds since the last successful update, or None when never updated."""
        try:
            return time.time() - self._stamp.stat().st_mtime
        except FileNotFoundError:
            return None

    def lists_stamp(self) -> int | None:
        """Identity of the current package lists (changes with every update), None when never updated."""
        try:
            return self._stamp.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def update(self) -> None:
        """Fetch the suite's package lists (a few MB)."""
        self._prepare()
        out = self._run(["apt-get", "update", "-q"], merge_stderr=True)
        # apt-get update exits 0 when it could not fetch and kept the old lists: that is a failure here
        failed = [line for line in out.splitlines() if line.startswith(("W: Failed to fetch", "E: "))]
        if failed:
            raise AptError(f"private apt ({self.suite}/{self.debian_arch}): apt-get update: {failed[0]}")
        self._stamp.touch()

    def ensure_lists(self, max_age_s: float = LIST_MAX_AGE_S) -> bool:
        """Update the lists when they are missing or older than ``max_age_s``.

        Returns False when stale lists could not be refreshed (offline) and are used as they are, so
        that images already cached from them still build without a network.
        """
        self._prepare()
        age = self.lists_age()
        if age is None:
            self.update()
        elif age > max_age_s:
            try:
                self.update()
            except AptError:
                return False
        return True

    def show(self, *names: str) -> dict[str, DebPackage]:
        """The candidate version of each named package, keyed by name."""
        self._prepare()
        found: dict[str, DebPackage] = {}
        try:
            out = self._run(["apt-cache", "show", "--no-all-versions", *names])
        except AptError as exc:
            raise AptError(f"{exc}; is the package name right for {self.suite}/{self.debian_arch}?") from None
        for stanza in parse_stanzas(out):
            deps = ", ".join(f for f in (stanza.get("Pre-Depends"), stanza.get("Depends")) if f)
            found[stanza["Package"]] = DebPackage(
                name=stanza["Package"],
                version=stanza["Version"],
                architecture=stanza.get("Architecture", self.debian_arch),
                size=int(stanza.get("Size", "0")),
                sha256=stanza.get("SHA256", ""),
                depends=parse_depends(deps),
            )
        missing = [n for n in names if n not in found]
        if missing:
            raise AptError(f"private apt ({self.suite}/{self.debian_arch}): no package {', '.join(missing)}")
        return found

    def download(self, package: DebPackage, dest_dir: Path) -> Path:
        """The package's .deb in ``dest_dir`` (downloaded once; apt checks the index's hash)."""
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / f"{package.name}_{package.version.replace(':', '%3a')}_{package.architecture}.deb"
        if target.exists() and target.stat().st_size == package.size:
            return target
        with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".download-") as tmp:
            self._run(["apt-get", "download", "-q", f"{package.name}={package.version}"], cwd=Path(tmp))
            debs = list(Path(tmp).glob("*.deb"))
            if len(debs) != 1:
                raise AptError(f"apt-get download {package.name}: expected one .deb, got {debs}")
            os.replace(debs[0], target)
        return target
