"""The device-type registry and the alert-kind vocabulary are the one source of every list derived from
them: database seeds, i18n labels, poll profiles, the SSH and playbook catalogs, window setup and the
alert rule kinds. A device type polled over SNMP only is one new file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import select

from device_manager.alert_kinds import ALERT_KINDS, PROBLEM_CODES, THRESHOLD_KINDS
from device_manager.ansible import playbooks
from device_manager.ansible.adapter import PLAYBOOK_DIR
from device_manager.db import migrate
from device_manager.db.models import AlertRule, DeviceType, SeededDefault
from device_manager.db.session import make_engine, make_session_factory
from device_manager.device_types import (
    DEFAULT_DIR,
    LANGUAGES,
    Registry,
    RegistryError,
    default_registry,
    load_registry,
)
from device_manager.i18n import build_catalog, catalog
from device_manager.schemas.alerts import AlertRuleCreate
from device_manager.services import seeds
from device_manager.services.alerts import OBSERVERS
from device_manager.snmp.decode import DECODER_PROBLEMS
from device_manager.snmp.profiles import DEFAULT_MODULE_DIR, ProfileError, build_profiles, load_modules
from device_manager.ssh import operations


def fresh_database(tmp_path: Path, registry: Registry | None = None):
    """A migrated SQLite database synced from ``registry``, as the app's lifespan leaves it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    seeds.sync(factory, registry)
    return engine, factory


def assert_derived_lists_agree(registry: Registry, tmp_path: Path, i18n: dict[str, dict[str, str]]) -> None:
    """Every list derived from ``registry`` and the alert kinds has exactly their entries."""
    slugs = set(registry.slugs)

    # database seeds: one row per device type, one default rule per kind that has one
    engine, factory = fresh_database(tmp_path, registry)
    try:
        with factory() as db:
            assert set(db.scalars(select(DeviceType.slug))) == slugs
            rules = list(db.scalars(select(AlertRule)))
            seeded = set(db.scalars(select(SeededDefault.key)))
    finally:
        engine.dispose()
    with_default = {k.name for k in ALERT_KINDS.values() if k.default_rule is not None}
    assert sorted(r.kind for r in rules) == sorted(with_default)
    assert seeded == {seeds.rule_seed_key(kind) for kind in with_default}
    for rule in rules:
        default = ALERT_KINDS[rule.kind].default_rule
        assert default is not None and (rule.name, rule.threshold) == (default.name, default.threshold)

    # i18n: a label per device type and per alert kind in every language, and no other
    for language in LANGUAGES:
        strings = i18n[language]
        types = {k.removeprefix("type."): v for k, v in strings.items() if k.startswith("type.")}
        assert types == {t.slug: t.labels.get(language) for t in registry}
        kinds = {k.removeprefix("kind."): v for k, v in strings.items() if k.startswith("kind.")}
        assert kinds == {k.name: k.labels[language] for k in ALERT_KINDS.values()}
    assert set(i18n["zh-CN"]) == set(i18n["en"])

    # poll profiles: one per type with a poll section, with its modules and thresholds
    profiles = build_profiles(registry, load_modules(DEFAULT_MODULE_DIR))
    assert set(profiles.profiles) == {t.slug for t in registry.polled()}
    for spec in registry.polled():
        assert spec.poll is not None
        profile = profiles.for_type(spec.slug)
        assert [m.name for m in profile.modules] == spec.poll.modules
        assert profile.thresholds == spec.poll.thresholds
        raised = set().union(*(DECODER_PROBLEMS[m.decoder] for m in profile.modules))
        assert set(spec.problems) == raised

    # SSH catalog: an operation applies to exactly the types that list it, with what they let it touch
    ssh = operations.catalog(registry)
    for op in ssh.values():
        listing = {t.slug: t.ssh for t in registry.with_ssh() if t.ssh and op.name in t.ssh.operations}
        assert dict(op.targets) == listing
    for spec in registry.with_ssh():
        assert spec.ssh is not None and set(spec.ssh.operations) <= set(ssh)

    # playbook catalog: each type's playbooks name it; window_setup covers the types it configures
    catalog_ = playbooks.catalog(registry)
    for spec in registry:
        for name in spec.playbooks:
            assert spec.slug in catalog_[name].device_types
    for playbook in catalog_.values():
        assert set(playbook.device_types) <= slugs
        assert (PLAYBOOK_DIR / playbook.file).is_file()
        for name in playbook.device_types:
            spec = registry.get(name)
            assert spec is not None
            assert playbook.name == playbooks.WINDOW_SETUP or playbook.name in spec.playbooks

    # window setup: its types in their order; each configured type's role exists and is in the playbook
    configured = [t for t in registry.window_setup_types() if t.window_setup and t.window_setup.configure]
    window = catalog_[playbooks.WINDOW_SETUP]
    assert list(window.device_types) == [t.slug for t in configured]
    for spec in configured:
        assert spec.window_setup is not None and spec.window_setup.configure is not None
        role = spec.window_setup.configure.ansible_role
        assert (
            role in window.ansible_roles and (PLAYBOOK_DIR / "roles" / role / "tasks" / "main.yml").is_file()
        )
        assert set(spec.window_setup.configure.variables) <= set(window.variables)
    play = yaml.safe_load((PLAYBOOK_DIR / "window_setup.yml").read_text())
    assert play[0]["tasks"][0]["ansible.builtin.include_role"]["name"] == "{{ hall_window_setup_role }}"

    # alert kinds: one vocabulary for decoders, device types, observers and rule kinds
    assert set(OBSERVERS) == set(ALERT_KINDS)
    assert set().union(*DECODER_PROBLEMS.values()) == PROBLEM_CODES
    for spec in registry:
        assert set(spec.problems) <= PROBLEM_CODES
    for kind in ALERT_KINDS:
        threshold = 50.0 if kind in THRESHOLD_KINDS else None
        assert AlertRuleCreate(name=f"r {kind}", kind=kind, threshold=threshold).kind == kind


def test_every_derived_list_agrees_with_the_registry(tmp_path: Path) -> None:
    registry = default_registry()
    assert_derived_lists_agree(registry, tmp_path, {lang: catalog(lang) for lang in LANGUAGES})
    with pytest.raises(ValidationError, match="unknown rule kind 'toner_smell'"):
        AlertRuleCreate(name="r", kind="toner_smell")
    with pytest.raises(ValidationError, match="needs a threshold"):
        AlertRuleCreate(name="r", kind="cpu_high")


def copy_registry(tmp_path: Path) -> Path:
    target = tmp_path / "device_types"
    shutil.copytree(DEFAULT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def test_a_device_type_polled_over_snmp_only_is_one_new_file(tmp_path: Path) -> None:
    directory = copy_registry(tmp_path)
    (directory / "environment_sensor.yaml").write_text(
        "device_type: environment_sensor\n"
        "labels: {zh-CN: 环境监测仪, en: Environment sensor}\n"
        "poll: {modules: [system]}\n",
        encoding="utf-8",
    )
    registry = load_registry(directory)
    i18n = {lang: build_catalog(lang, registry) for lang in LANGUAGES}
    assert_derived_lists_agree(registry, tmp_path, i18n)
    assert i18n["zh-CN"]["type.environment_sensor"] == "环境监测仪"
    profile = build_profiles(registry, load_modules()).for_type("environment_sensor")
    assert profile.decoders == ("system",)
    engine, factory = fresh_database(tmp_path / "again", registry)
    try:
        with factory() as db:
            row = db.scalar(select(DeviceType).where(DeviceType.slug == "environment_sensor"))
            assert row is not None and row.name == "Environment sensor (环境监测仪)"
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("file", "change", "error", "message"),
    [
        (
            "printer.yaml",
            ("problems: [supply_low, supply_empty", "problems: [supply_empty"),
            ProfileError,
            r"printer.yaml: problems \[.*\] are not what its poll modules raise; list exactly: door_open,",
        ),
        (
            "ups.yaml",
            ("problems: [ups_on_battery", "problems: [ups_on_fire, ups_on_battery"),
            RegistryError,
            r"ups.yaml: problems: unknown problem code\(s\) ups_on_fire; known: cpu_high",
        ),
        (
            "kiosk.yaml",
            ("operations: [reboot,", "operations: [format_disk, reboot,"),
            RegistryError,
            r"kiosk.yaml: ssh.operations: unknown operation\(s\) format_disk; known: check_process",
        ),
        (
            "queue_ticket_machine.yaml",
            ("playbooks: [hardening]", "playbooks: [hardening, queue_setup]"),
            RegistryError,
            r"queue_ticket_machine.yaml: playbooks: 'queue_setup' is not a shared playbook",
        ),
        (
            "camera.yaml",
            ("labels: {zh-CN: 摄像头, en: Camera}", "labels: {zh-CN: 摄像头}"),
            RegistryError,
            r"camera.yaml: invalid:\n  labels.en: Field required",
        ),
        (
            "thin_client.yaml",
            ("  verify: consoles_in_config", "  verify: not_down\n  count: many"),
            RegistryError,
            r"thin_client.yaml: invalid:\n  window_setup.count: Input should be 'one' or 'any'",
        ),
    ],
    ids=["problems", "problem-code", "operation", "playbook", "label", "window-setup"],
)
def test_a_wrong_registry_file_is_named_with_the_fix(tmp_path, file, change, error, message) -> None:
    directory = copy_registry(tmp_path)
    path = directory / file
    text = path.read_text(encoding="utf-8")
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1]), encoding="utf-8")
    with pytest.raises(error, match=message):
        registry = load_registry(directory)
        build_profiles(registry, load_modules())
        operations.catalog(registry)
        playbooks.catalog(registry)
