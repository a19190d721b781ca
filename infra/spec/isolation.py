"""The hall's isolation rules: nothing may bridge the ``gov`` extranet and the ``internet`` network."""

from __future__ import annotations

from infra.spec.issues import Issue
from infra.spec.schema import ISOLATED_PAIR, NAMESPACE, HallSpec

__all__ = ["isolation_issues"]


def isolation_issues(spec: HallSpec) -> list[Issue]:
    """Everything that would bridge ``gov`` and ``internet``, or put a seat's desktops on one network.

    Refused: a seat whose two desktops share a network; a machine (desktop or VM) with NICs on both;
    the two networks sharing a bridge name, joining the same host bridge in bridge mode (on any host),
    or having overlapping subnets. Any two networks sharing a bridge or overlapping are refused too,
    since either would merge their traffic.
    """
    issues: list[Issue] = []
    a, b = ISOLATED_PAIR
    for i, window in enumerate(spec.windows):
        path = f"{NAMESPACE}:windows[{i}].seat"
        gov_net, internet_net = window.seat.network_of("gov"), window.seat.network_of("internet")
        if gov_net == internet_net:
            issues.append(
                Issue(
                    f"{path}.internet.network",
                    f"both desktops of window {window.number} would "
                    f"be on network '{gov_net}'; a seat's desktops never share a network",
                    "put the gov desktop on 'gov' and the internet desktop on 'internet'",
                )
            )
        if gov_net == b:
            issues.append(
                Issue(
                    f"{path}.gov.network",
                    "the gov desktop would sit on the internet network",
                    "use network 'gov' for the gov side",
                )
            )
        if internet_net == a:
            issues.append(
                Issue(
                    f"{path}.internet.network",
                    "the internet desktop would sit on the gov network",
                    "use network 'internet' for the internet side",
                )
            )
    vms = [(f"{NAMESPACE}:app_tier.vms[{i}]", vm) for i, vm in enumerate(spec.app_tier.vms)]
    if spec.storage_tier.file_server is not None:
        vms.append((f"{NAMESPACE}:storage_tier.file_server", spec.storage_tier.file_server))
    for path, vm in vms:
        if a in vm.networks and b in vm.networks:
            issues.append(
                Issue(
                    f"{path}.networks",
                    f"VM '{vm.name}' would have NICs on both '{a}' and '{b}', bridging them",
                    f"remove '{a}' or '{b}' from its networks",
                )
            )
        if len(set(vm.networks)) != len(vm.networks):
            issues.append(Issue(f"{path}.networks", "a network is listed twice", "list each network once"))

    nets = list(spec.networks.items())
    for x, (key1, net1) in enumerate(nets):
        for key2, net2 in nets[x + 1 :]:
            pair = {key1, key2} == {a, b}
            what = f"'{key1}' and '{key2}'" + (" (never bridged: 一屏双机)" if pair else "")
            shared_hosts = set(spec.hosts_of_network(key1)) & set(spec.hosts_of_network(key2))
            if net1.bridge is not None and net1.bridge == net2.bridge and shared_hosts:
                issues.append(
                    Issue(
                        f"{NAMESPACE}:networks.{key2}.bridge",
                        f"networks {what} would share bridge '{net1.bridge}'",
                        "give each network its own bridge",
                    )
                )
            if net1.subnet is not None and net2.subnet is not None and net1.subnet.overlaps(net2.subnet):
                issues.append(
                    Issue(
                        f"{NAMESPACE}:networks.{key2}.subnet",
                        f"networks {what} have overlapping subnets {net1.subnet} and {net2.subnet}",
                        "give each network its own subnet",
                    )
                )
            if net1.forward == "bridge" and net2.forward == "bridge":
                for host in sorted(shared_hosts):
                    if host not in spec.hosts:
                        continue
                    dev1 = spec.hosts[host].bridges.get(key1) or net1.bridge
                    dev2 = spec.hosts[host].bridges.get(key2) or net2.bridge
                    if (
                        dev1 is not None
                        and dev1 == dev2
                        and not (net1.bridge is not None and net1.bridge == net2.bridge)
                    ):
                        issues.append(
                            Issue(
                                f"{NAMESPACE}:hosts.{host}.bridges",
                                f"host '{host}' would join networks {what} to the same bridge '{dev1}'",
                                "give each network its own host bridge",
                            )
                        )
    return issues
