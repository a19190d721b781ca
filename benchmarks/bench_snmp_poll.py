"""SNMP polling: HallCloud's asyncio poller vs net-snmp command-line tools (the LibreNMS way).

A fleet of simulated devices is served by snmpsim processes on loopback: each process listens on many
UDP ports, and on each port answers for several devices, told apart by SNMPv2c community (one data file
each) or SNMPv3 (one user; 1 device in 8). Device mix per port: printers (odd vendor, healthy, jammed),
UPSs (on battery, on line), a switch, kiosks (v2c and v3). Every device is a distinct target for the
poller (address, port, credential).

1. HallCloud: one ``Poller`` polls the fleet twice; the first cycle learns table sizes (and does the
   SNMPv3 engine discovery), the second (steady state, what every later cycle costs) is measured.
   CPU time is the poller process's own (``resource.getrusage``); the simulators run in other processes.
2. net-snmp, as LibreNMS polls: per device one ``snmpget`` of the scalars and one ``snmpbulkwalk`` per
   table, a process per request, 8 devices in parallel. Run on a sample, then extrapolated.

Target: one core polls 10,000 devices of 10 values within a 60 s cycle.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from device_manager.snmp.credentials import SnmpV2c, SnmpV3
from device_manager.snmp.poller import Poller, PollResult, PollTarget
from device_manager.snmp.profiles import DEFAULT_MODULE_DIR, PollProfile, ProfileSet, load_profiles
from device_manager.testing.snmp_agents import V3_USER, SnmpsimAgent, snmpget_args

DEVICES = int(os.environ.get("BENCH_SNMP_DEVICES", "2000"))
SIMULATORS = 2
NETSNMP_SAMPLE = int(os.environ.get("BENCH_SNMP_NETSNMP_SAMPLE", "96"))
NETSNMP_WORKERS = 8
# Real devices answer in parallel; here two simulator processes answer for the whole fleet one request
# at a time, so more outstanding requests only queue up inside them until they time out.
CONCURRENCY = 50
TARGET_DEVICES, TARGET_VALUES, TARGET_SECONDS = 10_000, 10, 60.0
# (device type, community or None for SNMPv3) for the devices behind one simulator port
PER_PORT: list[tuple[str, str | None]] = [
    ("printer", "printer"),
    ("printer", "printer_ok"),
    ("printer", "printer_jam"),
    ("ups", "ups"),
    ("ups", "ups_online"),
    ("switch", "switch"),
    ("kiosk", "kiosk"),
    ("kiosk", None),
]


@dataclass
class Run:
    devices: int
    wall_s: float
    cpu_s: float
    values: int
    timeouts: int
    other_failures: int
    note: str = ""

    @property
    def devices_per_s(self) -> float:
        return self.devices / self.wall_s

    @property
    def cpu_per_1000(self) -> float:
        return 1000 * self.cpu_s / self.devices


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _fleet(agents: list[SnmpsimAgent], count: int) -> list[PollTarget]:
    targets: list[PollTarget] = []
    ports = [(agent, port) for agent in agents for port in agent.ports]
    while len(targets) < count:
        for agent, port in ports:
            for device_type, community in PER_PORT:
                if len(targets) == count:
                    return targets
                credential: SnmpV2c | SnmpV3 = SnmpV2c(community) if community else V3_USER
                targets.append(PollTarget(len(targets), agent.host, port, device_type, credential, 5.0, 1))
    return targets


def _ten_value_profiles(directory: Path) -> ProfileSet:
    """A bench-only device type polling exactly 10 values: the 6 system scalars + 4 UPS scalars."""
    (directory / "modules").mkdir(parents=True)
    shutil.copy(DEFAULT_MODULE_DIR / "system.yaml", directory / "modules" / "system.yaml")
    (directory / "modules" / "ups10.yaml").write_text(
        "name: ups10\ndecoder: ups\nscalars:\n"
        "  upsBatteryStatus: 1.3.6.1.2.1.33.1.2.1.0\n  upsSecondsOnBattery: 1.3.6.1.2.1.33.1.2.2.0\n"
        "  upsEstimatedChargeRemaining: 1.3.6.1.2.1.33.1.2.4.0\n  upsOutputSource: 1.3.6.1.2.1.33.1.4.1.0\n"
    )
    (directory / "ten_values.yaml").write_text(  # a registry of one device type
        "device_type: ten_values\nlabels: {zh-CN: 十个值, en: ten values}\n"
        "poll: {modules: [system, ups10]}\nproblems: [ups_on_battery, ups_battery_low]\n"
    )
    return load_profiles(directory)


def _ten_value_fleet(agents: list[SnmpsimAgent], count: int) -> list[PollTarget]:
    ports = [(agent, port) for agent in agents for port in agent.ports]
    return [
        PollTarget(
            i,
            ports[i % len(ports)][0].host,
            ports[i % len(ports)][1],
            "ten_values",
            SnmpV2c(("ups", "ups_online")[(i // len(ports)) % 2]),
            5.0,
            1,
        )
        for i in range(count)
    ]


async def _poll_cycles(
    targets: list[PollTarget], profiles: ProfileSet | None = None
) -> tuple[Run, Run, list[PollResult]]:
    poller = Poller(profiles or load_profiles(), concurrency=CONCURRENCY)
    runs = []
    results: list[PollResult] = []
    try:
        for _cycle in range(2):
            cpu0, wall0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
            results = await poller.poll_many(targets)
            wall, cpu = time.perf_counter() - wall0, _cpu(resource.RUSAGE_SELF) - cpu0
            timeouts = sum(r.status == "down" for r in results)
            failures = sum(r.status == "auth_error" for r in results)
            values = sum(r.values_count for r in results)
            runs.append(Run(len(targets), wall, cpu, values, timeouts, failures))
    finally:
        poller.close()
    return runs[0], runs[1], results


def _common_prefix(oids: list[str]) -> str:
    prefix: list[str] = []
    for arcs in zip(*(o.split(".") for o in oids), strict=False):
        if len(set(arcs)) != 1:
            break
        prefix.append(arcs[0])
    return ".".join(prefix)


def _netsnmp_device(target: PollTarget, profile: PollProfile) -> tuple[int, bool]:
    """Poll one device the LibreNMS way; return (values, timed_out)."""
    auth = snmpget_args(target.credential)
    peer = f"{target.address}:{target.port}"
    common = [*auth, "-t", str(target.timeout), "-r", str(target.retries), "-On", "-Oq"]
    commands = [["snmpget", *common, peer, *(oid for _, oid in profile.scalar_oids)]]
    tables: dict[str, list[str]] = {}
    for table, _column, oid in profile.columns:
        tables.setdefault(table, []).append(oid)
    for oids in tables.values():
        commands.append(["snmpbulkwalk", *common, "-Cr25", peer, _common_prefix(oids)])
    values, timed_out = 0, False
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if "Timeout" in done.stderr:
            timed_out = True
        values += sum(
            1
            for line in done.stdout.splitlines()
            if line and "No Such" not in line and "No more variables" not in line
        )
    return values, timed_out


def _netsnmp(targets: list[PollTarget], fleet_size: int) -> Run:
    profiles = load_profiles()
    cpu0, wall0 = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    with ThreadPoolExecutor(NETSNMP_WORKERS) as pool:
        outcomes = list(pool.map(lambda t: _netsnmp_device(t, profiles.for_type(t.device_type)), targets))
    wall, cpu = time.perf_counter() - wall0, _cpu(resource.RUSAGE_CHILDREN) - cpu0
    return Run(
        len(targets),
        wall,
        cpu,
        sum(v for v, _ in outcomes),
        sum(t for _, t in outcomes),
        0,
        note=f"sample of {len(targets)}, x{fleet_size / len(targets):.1f} extrapolated",
    )


def run() -> str:
    ports_per_sim = -(-DEVICES // (len(PER_PORT) * SIMULATORS))
    agents = [SnmpsimAgent(endpoints=ports_per_sim, max_var_binds=512) for _ in range(SIMULATORS)]
    try:
        started = time.perf_counter()
        for agent in agents:
            agent.start(timeout=120)
        startup = time.perf_counter() - started
        targets = _fleet(agents, DEVICES)
        first, steady, results = asyncio.run(_poll_cycles(targets))
        with tempfile.TemporaryDirectory() as profile_dir:
            ten_profiles = _ten_value_profiles(Path(profile_dir))
            _, ten, _ = asyncio.run(_poll_cycles(_ten_value_fleet(agents, DEVICES), ten_profiles))
        # an even sample over the fleet keeps the mix of profiles and protocols
        step = max(1, len(targets) // NETSNMP_SAMPLE)
        netsnmp = _netsnmp(targets[::step][:NETSNMP_SAMPLE], len(targets))
    finally:
        for agent in agents:
            agent.close()
    return _table(first, steady, ten, netsnmp, results, startup, ports_per_sim)


def _table(
    first: Run,
    steady: Run,
    ten: Run,
    netsnmp: Run,
    results: list[PollResult],
    startup: float,
    ports_per_sim: int,
) -> str:
    v3 = sum(1 for _, c in PER_PORT if c is None) * DEVICES // len(PER_PORT)
    statuses: dict[str, int] = {}
    for result in results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    scale = first.devices / netsnmp.devices
    ns_full_wall, ns_full_cpu = netsnmp.wall_s * scale, netsnmp.cpu_s * scale
    rows = [
        ("", "devices", "wall s", "devices/s", "values/s", "CPU s / 1000 dev", "timeouts"),
        (
            "hallcloud, cycle 1 (discovery)",
            first.devices,
            f"{first.wall_s:.2f}",
            f"{first.devices_per_s:.0f}",
            f"{first.values / first.wall_s:.0f}",
            f"{first.cpu_per_1000:.2f}",
            first.timeouts,
        ),
        (
            "hallcloud, steady cycle",
            steady.devices,
            f"{steady.wall_s:.2f}",
            f"{steady.devices_per_s:.0f}",
            f"{steady.values / steady.wall_s:.0f}",
            f"{steady.cpu_per_1000:.2f}",
            steady.timeouts,
        ),
        (
            "hallcloud, 10 values/device, steady",
            ten.devices,
            f"{ten.wall_s:.2f}",
            f"{ten.devices_per_s:.0f}",
            f"{ten.values / ten.wall_s:.0f}",
            f"{ten.cpu_per_1000:.2f}",
            ten.timeouts,
        ),
        (
            f"net-snmp CLI ({netsnmp.note})",
            first.devices,
            f"{ns_full_wall:.1f}",
            f"{netsnmp.devices_per_s:.1f}",
            f"{netsnmp.values / netsnmp.wall_s:.0f}",
            f"{netsnmp.cpu_per_1000:.2f}",
            f"{netsnmp.timeouts} of {netsnmp.devices}",
        ),
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    values_per_device = steady.values / steady.devices
    need_ten = TARGET_DEVICES * ten.cpu_s / ten.devices
    need_mixed = TARGET_DEVICES * steady.cpu_s / steady.devices
    met = need_ten <= TARGET_SECONDS and ten.values == TARGET_VALUES * ten.devices
    lines += [
        "",
        f"fleet: {first.devices} devices ({v3} SNMPv3 authPriv, the rest v2c) on {SIMULATORS} snmpsim "
        f"processes x {ports_per_sim} ports; simulators up in {startup:.1f} s; "
        f"{values_per_device:.1f} values/device",
        f"statuses (steady cycle): {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}; "
        f"auth errors {steady.other_failures}",
        f"wall time is bounded by the simulators (snmpsim answers GETBULKs of tens of var-binds at "
        f"~50-300 devices/s per process; {SIMULATORS} of them share {os.cpu_count()} cores with the poller, "
        f"concurrency {CONCURRENCY}); CPU time is the poller's own.",
        f"ratio net-snmp / hallcloud: CPU per device x{netsnmp.cpu_per_1000 / steady.cpu_per_1000:.1f}, "
        f"wall for the fleet x{ns_full_wall / steady.wall_s:.1f} "
        f"(net-snmp extrapolated from {netsnmp.devices} devices, {NETSNMP_WORKERS} in parallel; "
        f"{ns_full_cpu:.0f} CPU s for the fleet)",
        f"target {TARGET_DEVICES:,} devices x {TARGET_VALUES} values in {TARGET_SECONDS:.0f} s on one core: "
        f"{'MET' if met else 'NOT MET'} by extrapolation: {need_ten:.1f} CPU s for {TARGET_DEVICES:,} "
        f"devices of exactly {TARGET_VALUES} values (measured: {ten.values} values, {ten.devices} devices); "
        f"{need_mixed:.1f} CPU s for {TARGET_DEVICES:,} devices of the mixed fleet "
        f"({values_per_device:.0f} values each)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
