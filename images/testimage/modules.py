"""Kernel module dependency resolution from ``modules.dep``, ``modules.softdep`` and ``modules.alias``.

Pure parsing and planning: given the text of a kernel's module index files and the module names the
test guest needs, compute which ``.ko`` files to pack and the order ``insmod`` must load them in.
Modules built into the kernel (``modules.builtin``) need nothing.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GUEST_MODULES", "ModuleError", "ModuleIndex", "module_name"]


# what the tiny guest needs: virtio transport, disk, NICs, console, ext4, raw sockets for udhcpc
GUEST_MODULES: tuple[str, ...] = (
    "virtio_pci",
    "virtio_mmio",
    "virtio_blk",
    "virtio_net",
    "virtio_console",
    "af_packet",
    "ext4",
)


class ModuleError(LookupError):
    """A needed module is neither a loadable module nor built into the kernel."""


def module_name(path: str) -> str:
    """``kernel/fs/ext4/ext4.ko.xz`` -> ``ext4`` (dashes and underscores are the same to the kernel)."""
    base = path.rsplit("/", 1)[-1]
    base = base.split(".ko", 1)[0]
    return base.replace("-", "_")


@dataclass
class ModuleIndex:
    """A kernel's module index: dependencies, soft dependencies, aliases and built-in modules."""

    kernel_version: str
    paths: dict[str, str] = field(default_factory=dict)
    """module name -> path relative to ``/lib/modules/<version>/``"""
    deps: dict[str, list[str]] = field(default_factory=dict)
    softdeps_pre: dict[str, list[str]] = field(default_factory=dict)
    aliases: list[tuple[str, str]] = field(default_factory=list)
    builtin: set[str] = field(default_factory=set)

    @classmethod
    def parse(
        cls,
        kernel_version: str,
        modules_dep: str,
        modules_softdep: str = "",
        modules_alias: str = "",
        modules_builtin: str = "",
    ) -> ModuleIndex:
        index = cls(kernel_version)
        for line in modules_dep.splitlines():
            if ":" not in line:
                continue
            path, _, rest = line.partition(":")
            name = module_name(path)
            index.paths[name] = path.strip()
            index.deps[name] = [module_name(d) for d in rest.split()]
        for line in modules_softdep.splitlines():
            words = line.split()
            if len(words) < 3 or words[0] != "softdep":
                continue
            pre: list[str] = []
            mode = ""
            for word in words[2:]:
                if word in ("pre:", "post:"):
                    mode = word
                elif mode == "pre:":
                    pre.append(word)
            if pre:
                index.softdeps_pre.setdefault(module_name(words[1]), []).extend(pre)
        for line in modules_alias.splitlines():
            words = line.split()
            if len(words) == 3 and words[0] == "alias":
                index.aliases.append((words[1], module_name(words[2])))
        index.builtin = {module_name(p) for p in modules_builtin.split()}
        return index

    @classmethod
    def load(cls, modules_dir: Path) -> ModuleIndex:
        """Read the index files of ``/lib/modules/<version>`` (``modules.dep`` must exist)."""

        def read(name: str) -> str:
            path = modules_dir / name
            return path.read_text() if path.exists() else ""

        return cls.parse(
            modules_dir.name,
            read("modules.dep"),
            read("modules.softdep"),
            read("modules.alias"),
            read("modules.builtin"),
        )

    def resolve_name(self, wanted: str) -> list[str]:
        """Module names that ``wanted`` (a module name or an alias) stands for; [] when built in."""
        name = module_name(wanted)
        if name in self.paths:
            return [name]
        if name in self.builtin:
            return []
        matches = [mod for pattern, mod in self.aliases if fnmatch.fnmatchcase(wanted, pattern)]
        if matches:
            return list(dict.fromkeys(matches))
        raise ModuleError(
            f"kernel {self.kernel_version}: module {wanted!r} is neither a loadable module nor built in"
        )

    def load_order(self, wanted: tuple[str, ...] | list[str]) -> list[str]:
        """Paths (relative to the modules dir) of every module needed, dependencies first.

        Soft ``pre:`` dependencies (e.g. ext4/jbd2 -> crc32c) are included when the kernel has them as
        modules; a soft dependency that resolves to nothing is skipped, as modprobe does.
        """
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in ordered or name in visiting:
                return
            visiting.add(name)
            for soft in self.softdeps_pre.get(name, []):
                try:
                    targets = self.resolve_name(soft)
                except ModuleError:
                    continue
                for target in targets:
                    visit(target)
            for dep in self.deps.get(name, []):
                visit(dep)
            visiting.discard(name)
            ordered.append(name)

        for want in wanted:
            for name in self.resolve_name(want):
                visit(name)
        return [self.paths[name] for name in ordered]
