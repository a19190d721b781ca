"""Run a playbook with ansible-runner. Pure data in (:class:`PlaybookRequest`), a
:class:`PlaybookResult` out, events to a callback; no database and no HTTP here.

Security: host key checking is ON (``ANSIBLE_HOST_KEY_CHECKING=True``, ``StrictHostKeyChecking=yes``)
against a ``known_hosts`` written from the trusted keys only (the user's and the system's known_hosts
are ignored). Private keys are written 0600 into the private data dir (itself 0700), referenced by
path, never passed as variables, and removed with the directory when the run ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from device_manager.ssh.client import HostKey, known_hosts_name

__all__ = [
    "PLAYBOOK_DIR",
    "HostStats",
    "InventoryHost",
    "PlaybookRequest",
    "PlaybookResult",
    "RunnerEvent",
    "inventory",
    "known_hosts_lines",
    "run",
    "write_private_data_dir",
]

PLAYBOOK_DIR = Path(__file__).resolve().parents[2] / "playbooks"


@dataclass(frozen=True)
class InventoryHost:
    name: str
    address: str
    user: str
    private_key: str = field(repr=False)
    host_keys: tuple[HostKey, ...]
    port: int = 22
    groups: tuple[str, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlaybookRequest:
    playbook: str  # file name in playbooks/
    hosts: tuple[InventoryHost, ...]
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    check: bool = False  # --check --diff
    diff: bool = False
    forks: int = 10
    connect_timeout_s: int = 10


@dataclass(frozen=True)
class RunnerEvent:
    """One ansible-runner event reduced to what a job shows."""

    kind: str  # task_start | ok | changed | skipped | failed | unreachable | stats | output
    host: str | None
    task: str | None
    text: str  # human-readable output of the event (may be several lines, diffs included)
    message: str = ""  # failure message


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class PlaybookResult:
    status: str  # successful | failed | canceled | timeout
    rc: int
    hosts: dict[str, HostStats]
    failures: list[RunnerEvent]

    @property
    def ok(self) -> bool:
        return self.status == "successful" and not self.failures

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.hosts.values())


def known_hosts_lines(hosts: tuple[InventoryHost, ...]) -> list[str]:
    return [
        f"{known_hosts_name(h.address, h.port)} {k.key_type} {k.key_base64}"
        for h in hosts
        for k in h.host_keys
    ]


def inventory(hosts: tuple[InventoryHost, ...], private_dir: Path) -> dict[str, Any]:
    """The YAML inventory: groups from device types; keys by path; the known_hosts we wrote."""
    ssh_args = (
        f"-o UserKnownHostsFile={private_dir / 'known_hosts'} -o GlobalKnownHostsFile=/dev/null "
        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes"
    )
    all_hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for index, host in enumerate(hosts):
        all_hosts[host.name] = {
            **host.variables,
            "ansible_host": host.address,
            "ansible_port": host.port,
            "ansible_user": host.user,
            "ansible_ssh_private_key_file": str(private_dir / "keys" / f"host{index}"),
            "ansible_ssh_common_args": ssh_args,
            "ansible_python_interpreter": host.variables.get("ansible_python_interpreter", "auto_silent"),
        }
        for group in host.groups:
            groups.setdefault(group, {"hosts": {}})["hosts"][host.name] = {}
    return {"all": {"hosts": all_hosts, "children": groups}}


def write_private_data_dir(request: PlaybookRequest, private_dir: Path, control_dir: Path) -> dict[str, str]:
    """Write inventory, keys and known_hosts; return the environment of the run."""
    (private_dir / "inventory").mkdir()
    keys = private_dir / "keys"
    keys.mkdir(mode=0o700)
    for index, host in enumerate(request.hosts):
        path = keys / f"host{index}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(host.private_key if host.private_key.endswith("\n") else host.private_key + "\n")
    (private_dir / "known_hosts").write_text("\n".join(known_hosts_lines(request.hosts)) + "\n")
    (private_dir / "inventory" / "hosts.yml").write_text(
        yaml.safe_dump(inventory(request.hosts, private_dir), allow_unicode=True)
    )
    return {
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_TIMEOUT": str(request.connect_timeout_s),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_LOCAL_TEMP": str(private_dir / "tmp"),
        "ANSIBLE_ROLES_PATH": str(PLAYBOOK_DIR / "roles"),
        "ANSIBLE_FORKS": str(request.forks),
        "ANSIBLE_SSH_RETRIES": "0",
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "False",
        # ansible-playbook from this interpreter's environment (the virtualenv), first on PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
    }


def _message(res: Mapping[str, Any], default: str) -> str:
    """The failure message; for a loop, the distinct messages of the failed items."""
    items = [
        r
        for r in res.get("results") or []
        if isinstance(r, dict) and (r.get("failed") or r.get("unreachable"))
    ]
    if items:
        return "; ".join(dict.fromkeys(str(r.get("msg") or default).strip() for r in items))
    return str(res.get("msg") or res.get("stderr") or default).strip()


def _event(raw: Mapping[str, Any]) -> RunnerEvent | None:
    name = raw.get("event", "")
    data = raw.get("event_data") or {}
    text = str(raw.get("stdout") or "").strip()
    host, task = data.get("host"), data.get("task")
    res = data.get("res") or {}
    if name == "playbook_on_task_start":
        return RunnerEvent("task_start", None, task, text)
    if name == "runner_on_ok":
        return RunnerEvent("changed" if res.get("changed") else "ok", host, task, text)
    if name == "runner_on_skipped":
        return RunnerEvent("skipped", host, task, "")
    if name == "runner_on_failed":
        if data.get("ignore_errors"):
            return RunnerEvent("ok", host, task, text)
        return RunnerEvent("failed", host, task, text, _message(res, "failed"))
    if name == "runner_on_unreachable":
        return RunnerEvent("unreachable", host, task, text, _message(res, "unreachable"))
    if name == "playbook_on_stats":
        return RunnerEvent("stats", None, None, text)
    if name == "runner_item_on_failed":
        item = data.get("res", {}).get("item", "")
        label = item if isinstance(item, str) else (res.get("_ansible_item_label") or "")
        return RunnerEvent("output", host, task, f"{host}: item {label}: {res.get('msg', 'failed')}")
    if text and name not in (
        "runner_on_start",
        "playbook_on_start",
        "runner_item_on_ok",
        "runner_item_on_skipped",
    ):
        return RunnerEvent("output", host, task, text)
    return None


def run(
    request: PlaybookRequest,
    on_event: Callable[[RunnerEvent], None] | None = None,
    cancel: threading.Event | None = None,
    work_dir: Path | None = None,
) -> PlaybookResult:
    import ansible_runner  # imported here: it is slow to import and only jobs need it

    playbook = PLAYBOOK_DIR / request.playbook
    if not playbook.is_file():
        raise FileNotFoundError(f"playbook {request.playbook} not found in {PLAYBOOK_DIR}")
    private_dir = Path(tempfile.mkdtemp(prefix="hallcloud-ansible-", dir=work_dir))
    # SSH control sockets need a short path (108 bytes), whatever work_dir is
    control_dir = Path(tempfile.mkdtemp(prefix="hccp-", dir="/tmp"))
    failures: list[RunnerEvent] = []
    recap: dict[str, Any] = {}

    def handle(raw: dict[str, Any]) -> bool:
        if raw.get("event") == "playbook_on_stats":
            recap.update(raw.get("event_data") or {})
        event = _event(raw)
        if event is not None:
            if event.kind in ("failed", "unreachable"):
                failures.append(event)
            if on_event is not None:
                on_event(event)
        return False  # do not keep event files on disk

    try:
        envvars = write_private_data_dir(request, private_dir, control_dir)
        cmdline = " ".join(
            flag for flag, on in (("--check", request.check), ("--diff", request.check or request.diff)) if on
        )
        runner = ansible_runner.run(
            private_data_dir=str(private_dir),
            project_dir=str(PLAYBOOK_DIR),
            playbook=str(playbook),
            cmdline=cmdline or None,
            envvars=envvars,
            extravars=dict(request.extra_vars),
            event_handler=handle,
            cancel_callback=(lambda: bool(cancel and cancel.is_set())),
            quiet=True,
            suppress_env_files=True,
            forks=request.forks,
        )
        stats: dict[str, HostStats] = {h.name: HostStats() for h in request.hosts}
        for key, attr in (
            ("ok", "ok"),
            ("changed", "changed"),
            ("failures", "failed"),
            ("dark", "unreachable"),
            ("skipped", "skipped"),
        ):
            for host, count in (recap.get(key) or {}).items():
                setattr(stats.setdefault(host, HostStats()), attr, int(count))
        return PlaybookResult(str(runner.status), int(runner.rc or 0), stats, failures)
    finally:
        shutil.rmtree(private_dir / "keys", ignore_errors=True)  # the secrets first, whatever follows
        _close_masters(control_dir)
        # after a cancel, ansible's workers and their ssh clients may outlive ansible-playbook and keep
        # writing temp files or start a ControlPersist master: end them (found by this run's own paths)
        for _attempt in range(15):
            _end_processes_of(private_dir, control_dir)
            for path in (private_dir, control_dir):
                shutil.rmtree(path, ignore_errors=True)
            if not private_dir.exists() and not control_dir.exists():
                break
            time.sleep(0.2)


def _end_processes_of(*paths: Path) -> None:
    """SIGTERM every process whose command line names one of this run's private directories."""
    markers = [str(p).encode() for p in paths]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if any(marker in cmdline for marker in markers):
                os.kill(int(proc.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue


def _close_masters(control_dir: Path) -> None:
    """End the SSH master connections of this run now rather than after ControlPersist."""
    for socket_path in control_dir.iterdir():
        subprocess.run(
            ["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "hallcloud-run"],
            capture_output=True,
            timeout=10,
            check=False,
        )
