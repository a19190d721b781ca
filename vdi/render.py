"""The one place where vdi's models become libvirt XML, and libvirt XML becomes models again.

``*_xml(model) -> str`` renders; ``parse_*(xml) -> model`` reads back the fields vdi owns (libvirt's
additions such as PCI addresses are ignored), so ``ensure_*`` can compare what exists with what is
wanted. Output is indented and attribute order is fixed, so expected-output files can be compared
byte for byte.

Why one module of ~600 lines: XML is produced and read in exactly one place (the virtinst model), and
its sections follow :mod:`vdi.models` one for one (networks, network filters, pools and volumes,
domains, snapshots, backups, vdi's own metadata), so a reader finds an element's writer and reader side
by side. Split by element it would add a second ``network``, ``storage`` and ``domain`` module beside
the operation modules of those names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vdi.models import (
    BackingStore,
    Controller,
    Cpu,
    DesktopRecord,
    Disk,
    DiskOrigin,
    Domain,
    DomainBackup,
    DomainOS,
    Features,
    FilterRule,
    Graphics,
    InputDevice,
    Interface,
    Loader,
    Network,
    NetworkFilter,
    NetworkIP,
    Nvram,
    Pool,
    PoolAuth,
    PoolHost,
    PoolSource,
    Serial,
    Snapshot,
    SnapshotDisk,
    Video,
    Volume,
)

__all__ = [
    "DESKTOP_METADATA_KEY",
    "DESKTOP_METADATA_NS",
    "backup_xml",
    "desktop_record_xml",
    "domain_xml",
    "interface_xml",
    "network_xml",
    "nwfilter_xml",
    "parse_desktop_record",
    "parse_domain",
    "parse_network",
    "parse_nwfilter",
    "parse_pool",
    "parse_snapshot",
    "parse_volume",
    "pool_xml",
    "snapshot_xml",
    "volume_xml",
]


# -- helpers ----------------------------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str | None) -> ET.Element:
    clean = {k.rstrip("_"): v for k, v in attrs.items() if v is not None}
    el = ET.SubElement(parent, tag, clean)
    if text is not None:
        el.text = text
    return el


def _yesno(value: bool) -> str:
    return "yes" if value else "no"


def _to_string(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return found.text if found is not None and found.text is not None else None


def _attr(el: ET.Element | None, path: str, name: str) -> str | None:
    if el is None:
        return None
    found = el.find(path) if path else el
    return found.get(name) if found is not None else None


_UNIT_BYTES = {
    "b": 1,
    "bytes": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
    "t": 1024**4,
    "tib": 1024**4,
    "tb": 1000**4,
}


def _bytes(el: ET.Element | None, default_unit: str = "bytes") -> int | None:
    if el is None or el.text is None:
        return None
    return int(el.text) * _UNIT_BYTES[el.get("unit", default_unit).lower()]


# -- networks ---------------------------------------------------------------------------------------


def network_xml(net: Network) -> str:
    root = ET.Element("network")
    _sub(root, "name", net.name)
    if net.uuid:
        _sub(root, "uuid", net.uuid)
    if net.forward != "isolated":
        _sub(root, "forward", mode=net.forward)
    if net.bridge is not None or net.forward == "bridge":
        bridge_attrs: dict[str, str | None] = {"name": net.bridge}
        if net.forward != "bridge":
            bridge_attrs.update(stp="on", delay="0")
        _sub(root, "bridge", **bridge_attrs)
    if net.ip is not None:
        ip = _sub(root, "ip", address=net.ip.address, prefix=str(net.ip.prefix))
        if net.ip.dhcp_start and net.ip.dhcp_end:
            _sub(_sub(ip, "dhcp"), "range", start=net.ip.dhcp_start, end=net.ip.dhcp_end)
    return _to_string(root)


def parse_network(text: str) -> Network:
    root = ET.fromstring(text)
    mode = _attr(root, "forward", "mode")
    forward = "isolated" if mode is None else mode
    if forward not in ("isolated", "nat", "bridge"):
        forward = mode or "isolated"
    ip_el = root.find("ip")
    ip = None
    if ip_el is not None:
        prefix = ip_el.get("prefix")
        if prefix is None and ip_el.get("netmask"):
            prefix = str(sum(bin(int(o)).count("1") for o in ip_el.get("netmask", "").split(".")))
        ip = NetworkIP(
            address=ip_el.get("address", ""),
            prefix=int(prefix or 0),
            dhcp_start=_attr(ip_el, "dhcp/range", "start"),
            dhcp_end=_attr(ip_el, "dhcp/range", "end"),
        )
    return Network(
        name=_text(root, "name") or "",
        forward=forward,  # type: ignore[arg-type]
        bridge=_attr(root, "bridge", "name"),
        ip=ip,
        uuid=_text(root, "uuid"),
    )


# -- network filters --------------------------------------------------------------------------------


def nwfilter_xml(flt: NetworkFilter) -> str:
    root = ET.Element("filter", name=flt.name, chain=flt.chain)
    if flt.uuid:
        _sub(root, "uuid", flt.uuid)
    for rule in flt.rules:
        el = _sub(root, "rule", action=rule.action, direction=rule.direction, priority=str(rule.priority))
        _sub(
            el,
            "ip",
            dstipaddr=rule.dst_address,
            dstipmask=None if rule.dst_prefix is None else str(rule.dst_prefix),
        )
    return _to_string(root)


def parse_nwfilter(text: str) -> NetworkFilter:
    root = ET.fromstring(text)
    rules = []
    for el in root.findall("rule"):
        ip = el.find("ip")
        if ip is None:
            continue  # not a rule vdi writes; the comparison then reports a different rule count
        mask = ip.get("dstipmask")
        rules.append(
            FilterRule(
                action=el.get("action", "accept"),  # type: ignore[arg-type]
                direction=el.get("direction", "inout"),  # type: ignore[arg-type]
                priority=int(el.get("priority", "500")),
                dst_address=ip.get("dstipaddr"),
                dst_prefix=int(mask) if mask is not None and mask.isdigit() else None,
            )
        )
    return NetworkFilter(
        name=root.get("name", ""),
        chain=root.get("chain", "root"),
        rules=rules,
        uuid=_text(root, "uuid"),
    )


# -- pools and volumes ------------------------------------------------------------------------------


def pool_xml(pool: Pool) -> str:
    root = ET.Element("pool", type=pool.type)
    _sub(root, "name", pool.name)
    if pool.uuid:
        _sub(root, "uuid", pool.uuid)
    if pool.source is not None:
        src = _sub(root, "source")
        for host in pool.source.hosts:
            _sub(src, "host", name=host.name, port=str(host.port) if host.port else None)
        if pool.source.dir is not None:
            _sub(src, "dir", path=pool.source.dir)
        if pool.source.name is not None:
            _sub(src, "name", pool.source.name)
        if pool.source.format is not None:
            _sub(src, "format", type=pool.source.format)
        if pool.source.auth is not None:
            auth = _sub(src, "auth", type=pool.source.auth.type, username=pool.source.auth.username)
            _sub(auth, "secret", uuid=pool.source.auth.secret_uuid)
    if pool.target_path is not None:
        _sub(_sub(root, "target"), "path", pool.target_path)
    return _to_string(root)


def parse_pool(text: str) -> Pool:
    root = ET.fromstring(text)
    src_el = root.find("source")
    source = None
    if src_el is not None and len(src_el):
        auth_el = src_el.find("auth")
        auth = None
        if auth_el is not None:
            auth = PoolAuth(
                username=auth_el.get("username", ""),
                secret_uuid=_attr(auth_el, "secret", "uuid") or "",
                type=auth_el.get("type", "ceph"),  # type: ignore[arg-type]
            )
        source = PoolSource(
            hosts=[
                PoolHost(h.get("name", ""), int(h.get("port", "0")) or None) for h in src_el.findall("host")
            ],
            dir=_attr(src_el, "dir", "path"),
            name=_text(src_el, "name"),
            format=_attr(src_el, "format", "type"),
            auth=auth,
        )
    return Pool(
        name=_text(root, "name") or "",
        type=root.get("type", "dir"),  # type: ignore[arg-type]
        target_path=_text(root, "target/path"),
        source=source,
        uuid=_text(root, "uuid"),
    )


def volume_xml(vol: Volume) -> str:
    root = ET.Element("volume")
    _sub(root, "name", vol.name)
    _sub(root, "capacity", str(vol.capacity_bytes), unit="bytes")
    if vol.allocation_bytes is not None:
        _sub(root, "allocation", str(vol.allocation_bytes), unit="bytes")
    target = _sub(root, "target")
    _sub(target, "format", type=vol.format)
    if vol.mode is not None:
        _sub(_sub(target, "permissions"), "mode", vol.mode)
    if vol.backing is not None:
        backing = _sub(root, "backingStore")
        _sub(backing, "path", vol.backing.path)
        _sub(backing, "format", type=vol.backing.format)
    return _to_string(root)


def parse_volume(text: str) -> Volume:
    root = ET.fromstring(text)
    backing_el = root.find("backingStore")
    backing = None
    if backing_el is not None and _text(backing_el, "path"):
        backing = BackingStore(
            path=_text(backing_el, "path") or "",
            format=_attr(backing_el, "format", "type") or "raw",  # type: ignore[arg-type]
        )
    return Volume(
        name=_text(root, "name") or "",
        capacity_bytes=_bytes(root.find("capacity")) or 0,
        format=_attr(root, "target/format", "type") or "raw",  # type: ignore[arg-type]
        allocation_bytes=_bytes(root.find("allocation")),
        backing=backing,
        path=_text(root, "target/path"),
        mode=_text(root, "target/permissions/mode"),
    )


# -- domains ----------------------------------------------------------------------------------------


def domain_xml(dom: Domain) -> str:
    root = ET.Element("domain", type=dom.type)
    _sub(root, "name", dom.name)
    if dom.uuid:
        _sub(root, "uuid", dom.uuid)
    if dom.description:
        _sub(root, "description", dom.description)
    _sub(root, "memory", str(dom.memory_mib), unit="MiB")
    _sub(root, "vcpu", str(dom.vcpus))
    _render_os(root, dom.os)
    _render_features(root, dom.features)
    if dom.cpu is not None:
        cpu = _sub(root, "cpu", mode=dom.cpu.mode)
        if dom.cpu.model:
            _sub(cpu, "model", dom.cpu.model, fallback="forbid")
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "restart")
    _sub(root, "on_crash", "destroy")
    devices = _sub(root, "devices")
    for disk in dom.disks:
        _render_disk(devices, disk)
    for ctrl in dom.controllers:
        _sub(devices, "controller", type=ctrl.type, model=ctrl.model)
    for nic in dom.interfaces:
        _render_interface(devices, nic)
    for index, serial in enumerate(dom.serials):
        _render_serial(devices, serial, "serial")
        if index == 0:
            _render_serial(devices, serial, "console")
    for inp in dom.inputs:
        _sub(devices, "input", type=inp.type, bus=inp.bus)
    for gfx in dom.graphics:
        autoport = gfx.port is None
        g = _sub(
            devices,
            "graphics",
            type=gfx.type,
            port=str(gfx.port) if gfx.port is not None else "-1",
            autoport=_yesno(autoport),
            listen=gfx.listen,
            passwd=gfx.passwd,
        )
        _sub(g, "listen", type="address", address=gfx.listen)
    if dom.video is not None:
        _sub(_sub(devices, "video"), "model", type=dom.video.model)
    return _to_string(root)


def interface_xml(nic: Interface) -> str:
    """One ``<interface>`` on its own, as ``virDomainUpdateDeviceFlags`` takes it."""
    holder = ET.Element("devices")
    return _to_string(_render_interface(holder, nic))


def _render_interface(devices: ET.Element, nic: Interface) -> ET.Element:
    iface = _sub(devices, "interface", type=nic.type)
    if nic.mac:
        _sub(iface, "mac", address=nic.mac)
    if nic.type == "network":
        _sub(iface, "source", network=nic.source)
    else:
        _sub(iface, "source", bridge=nic.source)
    if nic.model:
        _sub(iface, "model", type=nic.model)
    if nic.filter:
        _sub(iface, "filterref", filter=nic.filter)
    return iface


def _render_os(root: ET.Element, os_: DomainOS) -> None:
    os_el = _sub(root, "os")
    _sub(os_el, "type", os_.type, arch=os_.arch, machine=os_.machine)
    if os_.loader is not None:
        secure = None if os_.loader.secure is None else _yesno(os_.loader.secure)
        _sub(
            os_el,
            "loader",
            os_.loader.path,
            readonly=_yesno(os_.loader.readonly),
            secure=secure,
            type_=os_.loader.type,
        )
    if os_.nvram is not None:
        _sub(os_el, "nvram", os_.nvram.path, template=os_.nvram.template)
    if os_.kernel:
        _sub(os_el, "kernel", os_.kernel)
    if os_.initrd:
        _sub(os_el, "initrd", os_.initrd)
    if os_.cmdline:
        _sub(os_el, "cmdline", os_.cmdline)
    for dev in os_.boot_devices:
        _sub(os_el, "boot", dev=dev)


def _render_features(root: ET.Element, feats: Features) -> None:
    if not (feats.acpi or feats.apic or feats.pae or feats.gic_version):
        return
    el = _sub(root, "features")
    if feats.acpi:
        _sub(el, "acpi")
    if feats.apic:
        _sub(el, "apic")
    if feats.pae:
        _sub(el, "pae")
    if feats.gic_version:
        _sub(el, "gic", version=feats.gic_version)


def _render_disk(devices: ET.Element, disk: Disk) -> None:
    el = _sub(devices, "disk", type=disk.type, device=disk.device)
    if disk.driver_type:
        _sub(el, "driver", name="qemu", type=disk.driver_type)
    if disk.type == "file":
        _sub(el, "source", file=disk.source_file)
    elif disk.type == "volume":
        _sub(el, "source", pool=disk.source_pool, volume=disk.source_volume)
    _sub(el, "target", dev=disk.target_dev, bus=disk.bus)
    if disk.readonly:
        _sub(el, "readonly")


def _render_serial(devices: ET.Element, serial: Serial, tag: str) -> None:
    el = _sub(devices, tag, type=serial.type)
    if serial.type == "unix":
        _sub(el, "source", mode="bind", path=serial.path)
    if tag == "serial":
        _sub(el, "target", port=str(serial.port))
    else:
        _sub(el, "target", type="serial", port=str(serial.port))


def parse_domain(text: str) -> Domain:
    root = ET.fromstring(text)
    os_el = root.find("os")
    loader_el = os_el.find("loader") if os_el is not None else None
    loader = None
    if loader_el is not None and loader_el.text:
        secure = loader_el.get("secure")
        loader = Loader(
            path=loader_el.text,
            type=loader_el.get("type", "rom"),  # type: ignore[arg-type]
            readonly=loader_el.get("readonly") == "yes",
            secure=None if secure is None else secure == "yes",
        )
    nvram_el = os_el.find("nvram") if os_el is not None else None
    nvram = Nvram(template=nvram_el.get("template"), path=nvram_el.text) if nvram_el is not None else None
    os_ = DomainOS(
        arch=_attr(os_el, "type", "arch") or "",
        machine=_attr(os_el, "type", "machine") or "",
        type=_text(os_el, "type") or "hvm",
        loader=loader,
        nvram=nvram,
        kernel=_text(os_el, "kernel"),
        initrd=_text(os_el, "initrd"),
        cmdline=_text(os_el, "cmdline"),
        boot_devices=[b.get("dev", "") for b in os_el.findall("boot")] if os_el is not None else [],
    )
    feats_el = root.find("features")
    features = Features(
        acpi=feats_el is not None and feats_el.find("acpi") is not None,
        apic=feats_el is not None and feats_el.find("apic") is not None,
        pae=feats_el is not None and feats_el.find("pae") is not None,
        gic_version=_attr(feats_el, "gic", "version"),
    )
    cpu_el = root.find("cpu")
    cpu = Cpu(mode=cpu_el.get("mode", "custom"), model=_text(cpu_el, "model")) if cpu_el is not None else None
    devices = root.find("devices")
    if devices is None:
        devices = ET.Element("devices")
    memory = _bytes(root.find("memory"), default_unit="KiB") or 0
    video_model = _attr(devices, "video/model", "type")
    return Domain(
        name=_text(root, "name") or "",
        uuid=_text(root, "uuid"),
        type=root.get("type", "qemu"),
        description=_text(root, "description"),
        memory_mib=memory // 1024**2,
        vcpus=int(_text(root, "vcpu") or "1"),
        os=os_,
        cpu=cpu,
        features=features,
        disks=[_parse_disk(d) for d in devices.findall("disk")],
        interfaces=[_parse_interface(i) for i in devices.findall("interface")],
        graphics=[_parse_graphics(g) for g in devices.findall("graphics")],
        serials=[_parse_serial(s) for s in devices.findall("serial")],
        video=Video(video_model) if video_model else None,
        inputs=[InputDevice(i.get("type", ""), i.get("bus", "")) for i in devices.findall("input")],
        controllers=[Controller(c.get("type", ""), c.get("model")) for c in devices.findall("controller")],
    )


def _parse_disk(el: ET.Element) -> Disk:
    return Disk(
        target_dev=_attr(el, "target", "dev") or "",
        bus=_attr(el, "target", "bus") or "",
        device=el.get("device", "disk"),  # type: ignore[arg-type]
        type=el.get("type", "file"),  # type: ignore[arg-type]
        source_file=_attr(el, "source", "file"),
        source_pool=_attr(el, "source", "pool"),
        source_volume=_attr(el, "source", "volume"),
        driver_type=_attr(el, "driver", "type"),
        readonly=el.find("readonly") is not None,
    )


def _parse_interface(el: ET.Element) -> Interface:
    kind = el.get("type", "network")
    source = _attr(el, "source", "network") if kind == "network" else _attr(el, "source", "bridge")
    return Interface(
        type=kind,  # type: ignore[arg-type]
        source=source or "",
        model=_attr(el, "model", "type"),
        mac=_attr(el, "mac", "address"),
        filter=_attr(el, "filterref", "filter"),
    )


def _parse_graphics(el: ET.Element) -> Graphics:
    port = el.get("port")
    listen = el.get("listen") or _attr(el, "listen", "address") or ""
    return Graphics(
        type=el.get("type", "vnc"),  # type: ignore[arg-type]
        port=int(port) if port and port != "-1" else None,
        listen=listen,
        passwd=el.get("passwd"),
    )


def _parse_serial(el: ET.Element) -> Serial:
    return Serial(
        type=el.get("type", "pty"),  # type: ignore[arg-type]
        path=_attr(el, "source", "path"),
        port=int(_attr(el, "target", "port") or "0"),
    )


# -- snapshots --------------------------------------------------------------------------------------


def snapshot_xml(snap: Snapshot) -> str:
    root = ET.Element("domainsnapshot")
    _sub(root, "name", snap.name)
    if snap.description:
        _sub(root, "description", snap.description)
    _sub(root, "memory", snapshot=snap.memory, file=snap.memory_file if snap.memory == "external" else None)
    if snap.disks:
        disks = _sub(root, "disks")
        for d in snap.disks:
            el = _sub(disks, "disk", name=d.name, snapshot=d.snapshot)
            if d.snapshot == "external":
                if d.driver_type:
                    _sub(el, "driver", type=d.driver_type)
                if d.source_file:
                    _sub(el, "source", file=d.source_file)
    return _to_string(root)


def parse_snapshot(text: str) -> Snapshot:
    root = ET.fromstring(text)
    mem = root.find("memory")
    return Snapshot(
        name=_text(root, "name") or "",
        description=_text(root, "description"),
        memory=(mem.get("snapshot", "no") if mem is not None else "no"),  # type: ignore[arg-type]
        memory_file=mem.get("file") if mem is not None else None,
        disks=[
            SnapshotDisk(
                name=d.get("name", ""),
                snapshot=d.get("snapshot", "no"),  # type: ignore[arg-type]
                source_file=_attr(d, "source", "file"),
                driver_type=_attr(d, "driver", "type"),
            )
            for d in root.findall("disks/disk")
        ],
        state=_text(root, "state"),
        creation_time=int(_text(root, "creationTime") or 0) or None,
        parent=_text(root, "parent/name"),
    )


# -- backups ----------------------------------------------------------------------------------------


def backup_xml(backup: DomainBackup) -> str:
    root = ET.Element("domainbackup", mode="push")
    disks = _sub(root, "disks")
    for d in backup.disks:
        if d.target_file is None:
            _sub(disks, "disk", name=d.name, backup="no")
            continue
        el = _sub(disks, "disk", name=d.name, backup="yes", type="file")
        _sub(el, "target", file=d.target_file)
        _sub(el, "driver", type=d.driver_type)
    return _to_string(root)


# -- vdi's own domain metadata ----------------------------------------------------------------------

DESKTOP_METADATA_NS = "https://hallcloud.invalid/xmlns/desktop/1"
DESKTOP_METADATA_KEY = "hallcloud"


def desktop_record_xml(record: DesktopRecord) -> str:
    """The ``<desktop>`` element vdi keeps in a domain's ``<metadata>`` (``virDomainSetMetadata``)."""
    root = ET.Element("desktop")
    if record.golden_pool and record.golden_volume:
        _sub(root, "golden", pool=record.golden_pool, volume=record.golden_volume)
    for origin in record.disks:
        _sub(root, "disk", dev=origin.dev, pool=origin.pool, volume=origin.volume)
    return _to_string(root)


def parse_desktop_record(text: str) -> DesktopRecord:
    root = ET.fromstring(text)
    return DesktopRecord(
        golden_pool=_attr(root, "golden", "pool"),
        golden_volume=_attr(root, "golden", "volume"),
        disks=[
            DiskOrigin(dev=d.get("dev", ""), pool=d.get("pool", ""), volume=d.get("volume", ""))
            for d in root.findall("disk")
        ],
    )
