"""The stack config schema: the demo hall is valid, and bad halls are refused naming path and fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.spec import HallConfigError, HallSpec, load_spec

Raw = dict[str, Any]


def test_the_demo_hall_is_valid(demo_raw: Raw) -> None:
    spec = load_spec(demo_raw)
    assert isinstance(spec, HallSpec)
    assert spec.prefix == "demo"
    assert [w.number for w in spec.windows] == [1, 2, 3, 4]
    assert set(spec.networks) >= {"gov", "internet", "mgmt", "storage"}
    assert spec.storage_tier.file_server is not None and len(spec.app_tier.vms) == 1


def test_to_config_round_trips(demo_raw: Raw) -> None:
    spec = load_spec(demo_raw)
    assert load_spec(spec.to_config()) == spec


def _set(path: str, value: Any) -> Callable[[Raw], None]:
    """A mutation setting ``hall:a.b[2].c`` (dots and [i] inside the first key's value)."""

    def apply(raw: Raw) -> None:
        head, _, rest = path.partition(".")
        key, index = _split_index(head)
        if not rest and index is None:
            raw[key] = value
            return
        target: Any = raw[key]
        if index is not None:
            target = target[index]
        parts = rest.split(".") if rest else []
        for part in parts[:-1]:
            name, idx = _split_index(part)
            target = target[name] if idx is None else target[name][idx]
        if parts:
            target[parts[-1]] = value
        else:
            raw[key][index] = value

    return apply


def _split_index(part: str) -> tuple[str, int | None]:
    if part.endswith("]"):
        name, _, idx = part[:-1].partition("[")
        return name, int(idx)
    return part, None


def _delete(key: str, sub: str) -> Callable[[Raw], None]:
    def apply(raw: Raw) -> None:
        del raw[key][sub]

    return apply


def _more_windows(raw: Raw) -> None:
    raw["hall:windows"].append(dict(raw["hall:windows"][0], number=2, name="duplicate number"))


def _bridge_mode_same_device(raw: Raw) -> None:
    raw["hall:networks"]["gov"] = {"forward": "bridge"}
    raw["hall:networks"]["internet"] = {"forward": "bridge"}
    raw["hall:hosts"]["local"]["bridges"] = {"gov": "br0", "internet": "br0"}


BAD_CONFIGS: list[tuple[str, Callable[[Raw], None], str, str]] = [
    (
        "an image that is not in the catalog",
        _set("hall:windows[3].seat.internet.image", "uos-21"),
        "hall:windows[3].seat.internet.image",
        "'uos-21' is not in the image catalog; known: hallcloud-test-aarch64",
    ),
    ("no gov network", _delete("hall:networks", "gov"), "hall:networks", "the hall needs a 'gov' network"),
    ("a misspelt top-level key", _set("hall:windws", []), "hall:windws", "unknown key"),
    (
        "a seat whose desktops share a network",
        _set("hall:windows[0].seat.internet.network", "gov"),
        "hall:windows[0].seat.internet.network",
        "both desktops of window 1 would be on network 'gov'",
    ),
    (
        "gov and internet on one bridge",
        lambda raw: (
            _set("hall:networks.gov.bridge", "br-hall")(raw),
            _set("hall:networks.internet.bridge", "br-hall")(raw),
        ),
        "hall:networks.internet.bridge",
        "networks 'gov' and 'internet' (never bridged: 一屏双机) would share bridge 'br-hall'",
    ),
    (
        "gov and internet with overlapping subnets",
        _set("hall:networks.internet.subnet", "10.218.1.128/25"),
        "hall:networks.internet.subnet",
        "overlapping subnets 10.218.1.0/24 and 10.218.1.128/25",
    ),
    (
        "a host joining gov and internet to the same host bridge",
        _bridge_mode_same_device,
        "hall:hosts.local.bridges",
        "host 'local' would join networks 'gov' and 'internet' (never bridged: 一屏双机) to the same "
        "bridge 'br0'",
    ),
    (
        "an app VM with NICs on gov and internet",
        _set("hall:app_tier.vms[0].networks", ["gov", "internet"]),
        "hall:app_tier.vms[0].networks",
        "VM 'queue' would have NICs on both 'gov' and 'internet', bridging them",
    ),
    ("two windows with one number", _more_windows, "hall:windows[4].number", "window 2 is already defined"),
    (
        "a schedule that is not cron",
        _set("hall:snapshot_policies.desktops.snapshot_schedule", "every two hours"),
        "hall:snapshot_policies.desktops.snapshot_schedule",
        "every two hours",
    ),
    (
        "an unknown snapshot policy",
        _set("hall:windows[1].snapshot_policy", "hourly"),
        "hall:windows[1].snapshot_policy",
        "policy 'hourly' is not defined in hall:snapshot_policies; defined: desktops",
    ),
    (
        "too little memory",
        _set("hall:windows[0].seat.gov.memory_mib", 16),
        "hall:windows[0].seat.gov.memory_mib",
        "greater than or equal to 64",
    ),
    (
        "a window on an unknown host",
        _set("hall:windows[2].host", "rack-2"),
        "hall:windows[2].host",
        "host 'rack-2' is not defined in hall:hosts; defined: local",
    ),
    (
        "a catalog image the hall does not import",
        _set("hall:windows[0].seat.gov.image", "openeuler-24.03-lts-x86_64"),
        "hall:windows[0].seat.gov.image",
        "'openeuler-24.03-lts-x86_64' is not imported by this hall",
    ),
    ("a prefix with capitals", _set("hall:prefix", "Demo"), "hall:prefix", "'Demo' is not a valid name"),
    (
        "a storage tier on an unknown pool",
        _set("hall:storage_tier.pool", "nas"),
        "hall:storage_tier.pool",
        "pool 'nas' is not defined in hall:pools; defined: backup, desktops",
    ),
    (
        "an unknown key in a window",
        _set("hall:windows[0].colour", "red"),
        "hall:windows[0].colour",
        "unknown key",
    ),
    (
        "a vendor-ISO image without its installed disk",
        _set("hall:images.uos-20-aarch64", {"pools": ["desktops"]}),
        "hall:images.uos-20-aarch64",
        "has no public disk image (built from the vendor ISO)",
    ),
    (
        "a NAT network without a subnet",
        _set("hall:networks.internet", {"forward": "nat"}),
        "hall:networks.internet.subnet",
        "an nat network needs a subnet",
    ),
    (
        "the gov desktop on the internet network",
        lambda raw: (
            _set("hall:windows[0].seat.gov.network", "internet")(raw),
            _set("hall:windows[0].seat.internet.network", "mgmt")(raw),
        ),
        "hall:windows[0].seat.gov.network",
        "the gov desktop would sit on the internet network",
    ),
]


@pytest.mark.parametrize(("label", "mutate", "path", "problem"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_refused_naming_path_problem_and_fix(
    demo_raw: Raw, label: str, mutate: Callable[[Raw], None], path: str, problem: str
) -> None:
    mutate(demo_raw)
    with pytest.raises(HallConfigError) as caught:
        load_spec(demo_raw)
    matching = [i for i in caught.value.issues if i.path == path]
    assert matching, f"{label}: no issue at {path}; got {[str(i) for i in caught.value.issues]}"
    assert any(problem in i.problem for i in matching), [str(i) for i in matching]
    for issue in caught.value.issues:
        assert issue.fix, f"{issue.path} has no fix"
        assert str(issue).startswith(f"{issue.path}: ") and ". Fix: " in str(issue)
    assert path in str(caught.value)


def test_every_problem_is_reported_at_once(demo_raw: Raw) -> None:
    _set("hall:windows[0].seat.gov.image", "nope")(demo_raw)
    _set("hall:windows[1].snapshot_policy", "hourly")(demo_raw)
    with pytest.raises(HallConfigError) as caught:
        load_spec(demo_raw)
    paths = {i.path for i in caught.value.issues}
    assert {"hall:windows[0].seat.gov.image", "hall:windows[1].snapshot_policy"} <= paths


def test_other_namespaces_are_ignored(demo_raw: Raw) -> None:
    demo_raw["pulumi:tags"] = {"team": "hall"}
    demo_raw["aws:region"] = "cn-north-1"
    assert load_spec(demo_raw).prefix == "demo"


# every slot of the stack config that names another section's key: (mutation, path, kind, section, fix)
DANGLING = [
    (
        _set("hall:hosts.local.bridges", {"dmz": "br9"}),
        "hall:hosts.local.bridges.dmz",
        "network",
        "networks",
        "name a defined network",
    ),
    (
        _set("hall:networks.mgmt.hosts", ["rack-2"]),
        "hall:networks.mgmt.hosts",
        "host",
        "hosts",
        "name a defined host",
    ),
    (
        _set("hall:pools.backup.host", "rack-2"),
        "hall:pools.backup.host",
        "host",
        "hosts",
        "name a defined host",
    ),
    (
        _set("hall:images.hallcloud-test-x86_64.pools", ["nas"]),
        "hall:images.hallcloud-test-x86_64.pools[0]",
        "pool",
        "pools",
        "name a defined pool",
    ),
    (
        _set("hall:snapshot_policies.desktops.backup_pool", "nas"),
        "hall:snapshot_policies.desktops.backup_pool",
        "pool",
        "pools",
        "name a defined pool (normally the storage tier's)",
    ),
    (_set("hall:windows[0].host", "rack-2"), "hall:windows[0].host", "host", "hosts", "name a defined host"),
    (
        _set("hall:app_tier.vms[0].networks", ["dmz"]),
        "hall:app_tier.vms[0].networks[0]",
        "network",
        "networks",
        "name a defined network",
    ),
    (
        _set("hall:windows[1].snapshot_policy", "hourly"),
        "hall:windows[1].snapshot_policy",
        "policy",
        "snapshot_policies",
        "name a defined policy or give the policy inline",
    ),
    (_set("hall:storage_tier.pool", "nas"), "hall:storage_tier.pool", "pool", "pools", "name a defined pool"),
]


@pytest.mark.parametrize(("mutate", "path", "kind", "section", "fix"), DANGLING, ids=[d[1] for d in DANGLING])
def test_every_dangling_reference_is_worded_the_same_way(
    demo_raw: Raw, mutate: Callable[[Raw], None], path: str, kind: str, section: str, fix: str
) -> None:
    defined = ", ".join(sorted(demo_raw[f"hall:{section}"]))
    mutate(demo_raw)
    with pytest.raises(HallConfigError) as caught:
        load_spec(demo_raw)
    found = [i for i in caught.value.issues if i.path == path]
    assert len(found) == 1, [str(i) for i in caught.value.issues]
    name = found[0].problem.split("'")[1]
    assert found[0].problem == f"{kind} '{name}' is not defined in hall:{section}; defined: {defined}"
    assert found[0].fix == fix
