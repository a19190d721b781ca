"""Pure parts of operations, without devices: the operation catalog, the adapter's generated inventory
and known_hosts, runner event mapping, log redaction, step digests."""

from __future__ import annotations

import base64

import pytest

from device_manager.ansible import adapter
from device_manager.ansible.playbooks import catalog
from device_manager.errors import Invalid
from device_manager.jobs.manager import redact
from device_manager.ssh import operations
from device_manager.ssh.client import HostKey, fingerprint_of, known_hosts_name
from device_manager.windows.workflow import digest

KEY = HostKey("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIPX6zJQ3uRVYQ1Ww0M5o9Jc7n9v0oH1Vz6o3Gk6bqS3A")


def test_operations_build_fixed_commands_from_validated_parameters():
    restart = operations.get("restart_service")
    assert restart.command("kiosk", {"service": "hallcloud-kiosk"}) == (
        "systemctl restart hallcloud-kiosk && systemctl is-active hallcloud-kiosk"
    )
    with pytest.raises(Invalid, match="not allowed here"):
        restart.command("kiosk", {"service": "ssh; reboot"})
    with pytest.raises(Invalid, match="takes no parameter"):
        operations.get("disk_usage").command("kiosk", {"path": "/etc/shadow"})
    with pytest.raises(Invalid, match="does not apply to a printer"):
        operations.get("reboot").command("printer", {})
    with pytest.raises(Invalid, match="known: check_process"):
        operations.get("rm_rf")
    fetch = operations.get("fetch_config")
    assert (
        fetch.command("calling_display", {}, "/tmp/r") == "cat -- /tmp/r/etc/hallcloud/calling-display.json"
    )
    with pytest.raises(Invalid, match="not allowed"):
        fetch.command("calling_display", {"path": "/etc/shadow"})
    assert operations.get("collect_logs").command("kiosk", {"lines": 7}).count("-n 7") == 2
    with pytest.raises(Invalid, match="from 1 to 5000"):
        operations.get("collect_logs").command("kiosk", {"lines": "7; id"})
    # the process check must not find its own shell: '[h]allcloud-seat' matches only the process
    assert "'[h]allcloud-seat'" in operations.get("check_process").command("thin_client", {})


def test_known_hosts_inventory_and_fingerprints(tmp_path):
    host = adapter.InventoryHost(
        "tc-1",
        "10.1.2.3",
        "root",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
        (KEY,),
        port=2222,
        groups=("thin_client",),
        variables={"hall_root": "/r"},
    )
    assert adapter.known_hosts_lines((host,)) == [f"[10.1.2.3]:2222 ssh-ed25519 {KEY.key_base64}"]
    assert known_hosts_name("10.1.2.3", 22) == "10.1.2.3"
    inv = adapter.inventory((host,), tmp_path)
    hv = inv["all"]["hosts"]["tc-1"]
    assert hv["ansible_ssh_private_key_file"] == str(tmp_path / "keys" / "host0")
    assert "StrictHostKeyChecking=yes" in hv["ansible_ssh_common_args"]
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in hv["ansible_ssh_common_args"]
    assert "PRIVATE KEY" not in repr(inv) and "PRIVATE KEY" not in repr(host)
    assert inv["all"]["children"] == {"thin_client": {"hosts": {"tc-1": {}}}}
    env = adapter.write_private_data_dir(
        adapter.PlaybookRequest("thin_client.yml", (host,)), tmp_path, tmp_path
    )
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert (tmp_path / "keys" / "host0").stat().st_mode & 0o777 == 0o600
    assert KEY.fingerprint == fingerprint_of(base64.b64decode(KEY.key_base64))
    assert KEY.fingerprint.startswith("SHA256:") and not KEY.fingerprint.endswith("=")


def test_runner_events_become_log_events():
    event = adapter._event(
        {
            "event": "runner_on_unreachable",
            "stdout": "fatal: [cd]: UNREACHABLE!",
            "event_data": {"host": "cd", "task": "Files", "res": {"msg": "ssh: connect refused"}},
        }
    )
    assert event == adapter.RunnerEvent(
        "unreachable", "cd", "Files", "fatal: [cd]: UNREACHABLE!", "ssh: connect refused"
    )
    looped = adapter._event(
        {
            "event": "runner_on_failed",
            "event_data": {
                "host": "cd",
                "task": "Dirs",
                "res": {
                    "msg": "All items completed",
                    "results": [
                        {"failed": True, "msg": "Permission denied"},
                        {"failed": False},
                        {"failed": True, "msg": "Permission denied"},
                    ],
                },
            },
        }
    )
    assert looped is not None and looped.kind == "failed" and looped.message == "Permission denied"
    changed = adapter._event(
        {"event": "runner_on_ok", "event_data": {"host": "tc", "res": {"changed": True}}}
    )
    assert changed is not None and changed.kind == "changed"
    assert adapter._event({"event": "runner_on_start", "stdout": "", "event_data": {}}) is None


def test_secrets_are_redacted_and_playbook_tasks_counted():
    text = "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\nafter"
    assert redact(text) == "before\n[redacted private key]\nafter"
    assert catalog()["thin_client"].task_count == 3  # assert, write files, remove files
    assert digest({"a": 1, "b": [2]}) == digest({"b": [2], "a": 1}) != digest({"a": 2, "b": [2]})
