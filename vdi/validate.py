"""Checking generated XML: libvirt's RNG schemas (``virt-xml-validate``) and the hypervisor itself.

:func:`validate_entries` is what ``hall images validate`` runs over the whole catalog
(:func:`validate_catalog`): for every entry it plans the domain, renders it, checks it against the
schema, and has libvirt accept it (define, then undefine with NVRAM) under a unique throw-away name.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import libvirt

from images.catalog import ImageManifest, load_catalog
from images.profiles import ResolvedFirmware
from vdi.domain import undefine_domain
from vdi.domain_plan import DiskSource, DomainRequest, KernelBoot, plan_domain, profile_for, resolve_firmware
from vdi.exceptions import InvalidSpec, VdiError
from vdi.render import domain_xml

__all__ = [
    "EntryResult",
    "Schema",
    "plan_for_validation",
    "validate_catalog",
    "validate_entries",
    "virt_xml_validate",
]


Schema = Literal["domain", "network", "storagepool", "storagevol", "domainsnapshot"]


def virt_xml_validate(xml: str, schema: Schema, label: str) -> None:
    """Raise :class:`InvalidSpec` with the validator's complaint if ``xml`` breaks libvirt's schema."""
    tool = shutil.which("virt-xml-validate")
    if tool is None:
        raise InvalidSpec(
            label,
            "cannot validate XML: virt-xml-validate is not installed",
            "install libvirt-clients (`make setup`)",
        )
    with tempfile.NamedTemporaryFile("w", suffix=".xml", prefix="hallcloud-") as f:
        f.write(xml)
        f.flush()
        result = subprocess.run([tool, f.name, schema], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().replace(f.name, "<xml>")
        raise InvalidSpec(
            label,
            f"generated {schema} XML fails the libvirt schema: {detail}",
            "fix the model or profile that produced it",
        )


@dataclass
class EntryResult:
    name: str
    ok: bool
    detail: str


def _placeholder_firmware(manifest: ImageManifest) -> ResolvedFirmware | None:
    """Firmware for a definition that will never boot: a provider's files need not be fetched.

    Profiles whose firmware comes from a provider are checked with the provider when it is installed;
    otherwise the planned loader path stands in, since define-only validation never reads it.
    """
    profile = profile_for(manifest.arch)
    spec = profile.firmware_spec(manifest.firmware)
    if spec.provider is None:
        return None
    try:
        return resolve_firmware(profile, manifest.firmware, check_files=False)
    except VdiError:
        return ResolvedFirmware(
            loader=f"/var/lib/libvirt/images/hallcloud/{manifest.arch}-code.fd",
            loader_type=spec.loader_type,
            secure_boot=spec.secure_boot,
            nvram_template=f"/var/lib/libvirt/images/hallcloud/{manifest.arch}-vars.fd",
            local=False,
        )


def plan_for_validation(manifest: ImageManifest, name: str) -> str:
    kernel_boot = None
    if manifest.source.kind == "test-image":
        profile = profile_for(manifest.arch)
        kernel_boot = KernelBoot(
            kernel="/var/lib/libvirt/images/hallcloud/vmlinuz",
            initrd="/var/lib/libvirt/images/hallcloud/initrd.img",
            cmdline=f"console={profile.serial_console} panic=-1",
        )
    request = DomainRequest(
        name=name,
        disks=[DiskSource(path=f"/var/lib/libvirt/images/hallcloud/{name}.qcow2")],
        networks=["hc-validate-a", "hc-validate-b"],
        kernel_boot=kernel_boot,
        firmware=_placeholder_firmware(manifest),
    )
    return domain_xml(plan_domain(manifest, request))


def validate_entries(conn: libvirt.virConnect, manifests: Iterable[ImageManifest]) -> list[EntryResult]:
    results = []
    run = secrets.token_hex(3)
    for manifest in manifests:
        name = f"hc-validate-{run}-{manifest.name}"
        try:
            xml = plan_for_validation(manifest, name)
            virt_xml_validate(xml, "domain", f"image {manifest.name}")
            try:
                conn.defineXML(xml)
            except libvirt.libvirtError as exc:
                raise InvalidSpec(
                    f"image {manifest.name}",
                    f"libvirt refuses the domain: {exc.get_error_message()}",
                    "fix the manifest or profile",
                ) from exc
            finally:
                undefine_domain(conn, name)
            results.append(EntryResult(manifest.name, True, "schema ok, libvirt accepts it"))
        except VdiError as exc:
            results.append(EntryResult(manifest.name, False, str(exc)))
    return results


def validate_catalog(conn: libvirt.virConnect) -> list[EntryResult]:
    return validate_entries(conn, load_catalog())
