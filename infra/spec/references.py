"""The hall's reference rules: what one section names must exist in another, and names are unique.

Hosts, networks, pools, images (and the image catalog), snapshot policies, windows and VMs refer to one
another by key; :func:`reference_issues` reports every dangling reference, duplicate window number or
name, duplicate VM name, and what a network's forward mode requires.
"""

from __future__ import annotations

from images.catalog import CatalogError, load_catalog
from infra.spec.issues import Issue, known, undefined
from infra.spec.schema import NAMESPACE, REQUIRED_NETWORKS, SIDES, HallSpec, PolicyConfig
from vdi.policy import Policy, PolicyError

__all__ = ["reference_issues"]


def reference_issues(spec: HallSpec) -> list[Issue]:
    """References between sections (hosts, networks, pools, images, policies) and uniqueness."""
    issues: list[Issue] = []
    try:
        catalog = {m.name: m for m in load_catalog()}
    except CatalogError as exc:  # pragma: no cover - the catalog ships with the package
        return [Issue(f"{NAMESPACE}:images", f"the image catalog cannot be read: {exc}", "fix the catalog")]

    for required in REQUIRED_NETWORKS:
        if required not in spec.networks:
            issues.append(
                Issue(
                    f"{NAMESPACE}:networks",
                    f"the hall needs a '{required}' network; defined: {known(spec.networks)}",
                    f"add hall:networks.{required}",
                )
            )
    for key, host_spec in spec.hosts.items():
        for bridged in host_spec.bridges:
            if bridged not in spec.networks:
                issues.append(
                    undefined(
                        f"{NAMESPACE}:hosts.{key}.bridges.{bridged}",
                        "network",
                        bridged,
                        "networks",
                        spec.networks,
                    )
                )
    for key, net_spec in spec.networks.items():
        path = f"{NAMESPACE}:networks.{key}"
        for carrier in net_spec.hosts or []:
            if carrier not in spec.hosts:
                issues.append(undefined(f"{path}.hosts", "host", carrier, "hosts", spec.hosts))
        if net_spec.forward == "bridge":
            if net_spec.subnet is not None:
                issues.append(
                    Issue(
                        f"{path}.subnet",
                        "a bridge-mode network takes its addresses from the physical LAN, not from libvirt",
                        "remove the subnet",
                    )
                )
            for carrier in spec.hosts_of_network(key):
                if carrier in spec.hosts and not (spec.hosts[carrier].bridges.get(key) or net_spec.bridge):
                    issues.append(
                        Issue(
                            f"{path}.bridge",
                            f"bridge mode needs the host bridge to join (none given for host '{carrier}')",
                            f"set {path}.bridge or hall:hosts.{carrier}.bridges.{key}",
                        )
                    )
        elif net_spec.subnet is None:
            issues.append(
                Issue(
                    f"{path}.subnet",
                    f"an {net_spec.forward} network needs a subnet",
                    "give a private /24, e.g. 10.231.1.0/24",
                )
            )
        elif net_spec.subnet.num_addresses < 8:
            issues.append(
                Issue(
                    f"{path}.subnet",
                    f"{net_spec.subnet} is too small for a gateway and DHCP",
                    "use at least a /29",
                )
            )
    for key, pool_spec in spec.pools.items():
        if pool_spec.host is not None and pool_spec.host not in spec.hosts:
            issues.append(
                undefined(f"{NAMESPACE}:pools.{key}.host", "host", pool_spec.host, "hosts", spec.hosts)
            )
    for name, image in spec.images.items():
        path = f"{NAMESPACE}:images.{name}"
        if name not in catalog:
            issues.append(
                Issue(
                    path,
                    f"'{name}' is not in the image catalog; known: {known(catalog)}",
                    "use a name `hall images list` prints",
                )
            )
        for i, pool in enumerate(image.pools):
            if pool not in spec.pools:
                issues.append(undefined(f"{path}.pools[{i}]", "pool", pool, "pools", spec.pools))
        if (
            name in catalog
            and catalog[name].source.kind == "vendor-iso"
            and not (image.file and image.sha256)
        ):
            issues.append(
                Issue(
                    path,
                    f"'{name}' has no public disk image (built from the vendor ISO)",
                    f"install it from the ISO and set {path}.file and {path}.sha256",
                )
            )

    def check_policy(path: str, policy: PolicyConfig) -> None:
        try:
            Policy.from_mapping(policy, path)
        except PolicyError as exc:
            issues.append(Issue(exc.obj, exc.problem, exc.fix or "correct the policy"))
        pool = policy.get("backup_pool")
        if pool is not None and pool not in spec.pools:
            issues.append(
                undefined(
                    f"{path}.backup_pool",
                    "pool",
                    pool,
                    "pools",
                    spec.pools,
                    "name a defined pool (normally the storage tier's)",
                )
            )

    for key, named in spec.snapshot_policies.items():
        check_policy(f"{NAMESPACE}:snapshot_policies.{key}", named)

    def check_machine(
        path: str, image: str, host: str | None, networks: list[tuple[str, str]], host_path: str | None = None
    ) -> None:
        if host is not None and host not in spec.hosts:
            issues.append(undefined(host_path or f"{path}.host", "host", host, "hosts", spec.hosts))
            host = None
        if image not in catalog:
            issues.append(
                Issue(
                    f"{path}.image",
                    f"'{image}' is not in the image catalog; known: {known(catalog)}",
                    "use a name `hall images list` prints",
                )
            )
        elif image not in spec.images:
            issues.append(
                Issue(
                    f"{path}.image",
                    f"'{image}' is not imported by this hall; imported: {known(spec.images)}",
                    f"add hall:images.{image} with the pools to hold it",
                )
            )
        else:
            where = host or spec.default_host
            pools = [p for p in spec.images[image].pools if p in spec.pools and spec.host_of_pool(p) == where]
            if not pools:
                issues.append(
                    Issue(
                        f"{path}.image",
                        f"'{image}' is not imported into any pool on host '{where}'",
                        f"add a pool on '{where}' to hall:images.{image}.pools",
                    )
                )
        for net_path, net in networks:
            if net not in spec.networks:
                issues.append(undefined(net_path, "network", net, "networks", spec.networks))
            elif host is not None and host not in spec.hosts_of_network(net):
                issues.append(
                    Issue(
                        net_path,
                        f"network '{net}' is not carried by host '{host}'",
                        f"add '{host}' to hall:networks.{net}.hosts",
                    )
                )

    numbers: dict[int, int] = {}
    names: dict[str, int] = {}
    for i, window in enumerate(spec.windows):
        path = f"{NAMESPACE}:windows[{i}]"
        if window.number in numbers:
            issues.append(
                Issue(
                    f"{path}.number",
                    f"window {window.number} is already defined by hall:windows[{numbers[window.number]}]",
                    "give each window its own number",
                )
            )
        numbers.setdefault(window.number, i)
        if window.name in names:
            issues.append(
                Issue(
                    f"{path}.name",
                    f"window name {window.name!r} is already used by hall:windows[{names[window.name]}]",
                    "give each window its own name",
                )
            )
        names.setdefault(window.name, i)
        for side in SIDES:
            desktop = window.seat.side(side)
            side_path = f"{path}.seat.{side}"
            check_machine(
                side_path,
                desktop.image,
                window.host,
                [(f"{side_path}.network", window.seat.network_of(side))],
                host_path=f"{path}.host",
            )
        window_policy = window.snapshot_policy
        if isinstance(window_policy, str) and window_policy not in spec.snapshot_policies:
            issues.append(
                undefined(
                    f"{path}.snapshot_policy",
                    "policy",
                    window_policy,
                    "snapshot_policies",
                    spec.snapshot_policies,
                    "name a defined policy or give the policy inline",
                )
            )
        elif isinstance(window_policy, dict):
            check_policy(f"{path}.snapshot_policy", window_policy)

    vm_names: dict[str, str] = {}
    vms = [(f"{NAMESPACE}:app_tier.vms[{i}]", vm) for i, vm in enumerate(spec.app_tier.vms)]
    if spec.storage_tier.file_server is not None:
        vms.append((f"{NAMESPACE}:storage_tier.file_server", spec.storage_tier.file_server))
    for path, vm in vms:
        if vm.name in vm_names:
            issues.append(
                Issue(
                    f"{path}.name",
                    f"'{vm.name}' is already the name of {vm_names[vm.name]}",
                    "give each VM its own name",
                )
            )
        vm_names.setdefault(vm.name, path)
        check_machine(
            path, vm.image, vm.host, [(f"{path}.networks[{j}]", net) for j, net in enumerate(vm.networks)]
        )
    if spec.storage_tier.pool not in spec.pools:
        issues.append(
            undefined(f"{NAMESPACE}:storage_tier.pool", "pool", spec.storage_tier.pool, "pools", spec.pools)
        )
    return issues
