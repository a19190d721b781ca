"""The engine runner's reading of Pulumi's event log and its summary, and the stack config file's edits
(no engine: synthetic events, files in a temporary project)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from infra.engine import EngineRun, ResourceFailure, _EventReader, clean_message, resource_label
from infra.spec import HallConfigError
from infra.stack_config import StackConfigFile, StackLock
from infra.testing.halls import small_hall_config

URN = "urn:pulumi:demo::hallcloud::hallcloud:hall:Seat$pulumi-python:dynamic/hallcloud:Domain::window-003-gov"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/x/pulumi/dynamic/__main__.py", line 170, in Create\n'
    "    result = provider.create(props)\n"
    "vdi.exceptions.LibvirtOperationFailed: domain demo-w003-gov: cannot start the domain: "
    "Unable to write to '/sys/fs/cgroup/cpuset/machine/qemu-4.libvirt-qemu/emulator/tasks': "
    "No space left on device. Fix: run make setup\n\n"
)


def test_a_provider_traceback_becomes_its_own_message() -> None:
    assert clean_message(TRACEBACK) == (
        "domain demo-w003-gov: cannot start the domain: "
        "Unable to write to '/sys/fs/cgroup/cpuset/machine/qemu-4.libvirt-qemu/emulator/tasks': "
        "No space left on device. Fix: run make setup"
    )
    assert clean_message("rpc error: code = Unknown desc = the pool is gone\n") == "the pool is gone"
    assert resource_label(URN) == "Domain window-003-gov"


def test_the_event_log_gives_progress_failures_and_changes(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    domain = {"urn": URN, "type": "pulumi-python:dynamic/hallcloud:Domain", "custom": True}
    network = {**domain, "urn": URN.replace("Domain::window-003-gov", "Network::networks-local-gov")}
    stack = {"urn": "urn:pulumi:demo::hallcloud::pulumi:pulumi:Stack::hallcloud-demo", "custom": False}
    events = [
        {"resourcePreEvent": {"metadata": {"op": "create", **network, "new": network}}},
        {"resOutputsEvent": {"metadata": {"op": "create", **network, "new": network}}},
        {"resourcePreEvent": {"metadata": {"op": "create", **domain, "new": domain}}},
        {"diagnosticEvent": {"urn": URN, "message": TRACEBACK, "severity": "error"}},
        {"resOpFailedEvent": {"metadata": {"op": "create", **domain, "new": domain}}},
        {"diagnosticEvent": {"urn": stack["urn"], "message": "update failed\n", "severity": "error"}},
        {"diagnosticEvent": {"message": "debug noise", "severity": "debug"}},
        {"summaryEvent": {"resourceChanges": {"create": 3}, "result": "failed"}},
    ]
    said: list[str] = []
    reader = _EventReader(log, said.append)
    text = "\n".join(json.dumps(e) for e in events) + "\n"
    half = len(text) // 2
    log.write_text(text[:half])  # the engine writes as it goes: half a line is kept for later
    reader.poll()
    with log.open("a") as out:
        out.write(text[half:])
    reader.poll()
    assert [line.split("(")[0].split() for line in said] == [
        ["+", "created", "Network", "networks-local-gov"],
        ["x", "create", "failed", "Domain", "window-003-gov"],
    ]
    assert list(reader.failures) == [URN] and reader.errors == [] and reader.changes == {"create": 3}
    run = EngineRun(
        "up",
        "demo",
        "failed",
        41.0,
        tmp_path / "up.log",
        reader.changes,
        list(reader.failures.values()),
        returncode=1,
    )
    summary = run.summary()
    assert summary.splitlines()[0] == "pulumi up of stack demo failed after 41.0 s (3 create)"
    assert summary.count("No space left on device") == 1 and "Traceback" not in summary
    assert f"full log: {tmp_path / 'up.log'}" in summary and "run the command again" in summary
    stopped = EngineRun("up", "demo", "cancelled", 2.0, tmp_path / "up.log", signum=int(signal.SIGINT))
    assert "was interrupted after 2.0 s" in stopped.summary() and "to resume" in stopped.summary()
    timed_out = EngineRun("up", "demo", "cancelled", 9.0, tmp_path / "up.log", signum=int(signal.SIGALRM))
    assert "timed out after 9.0 s" in timed_out.summary()
    assert ResourceFailure(URN, "x").label == "Domain window-003-gov"


DEMO_STYLE = """\
# the operator's comment on the file
config:
  hall:name: comment hall
  hall:prefix: hc-cfg   # the prefix
  hall:windows:
    - number: 1
      name: first   # window one
      seat:
        gov: {image: hallcloud-test-x86_64}
        internet: {image: hallcloud-test-x86_64}
encryptionsalt: v1:abc
"""


def _config(tmp_path: Path) -> StackConfigFile:
    raw = small_hall_config(
        name="comment hall", prefix="hc-cfg", uri="test:///default", octet=77, image="hallcloud-test-x86_64"
    )
    text = DEMO_STYLE.replace(
        "config:\n",
        "config:\n"
        + "".join(
            f"  {k}: {json.dumps(v)}\n"
            for k, v in raw.items()
            if k not in ("hall:name", "hall:prefix", "hall:windows")
        ),
    )
    path = tmp_path / "Pulumi.cfg.yaml"
    path.write_text(text)
    return StackConfigFile(path, StackLock("cfg", tmp_path / "locks" / "stack-cfg.lock"))


def test_config_edits_keep_comments_and_other_keys_and_refuse_an_invalid_hall(tmp_path: Path) -> None:
    config = _config(tmp_path)
    before = config.config_file.read_text()

    def add(values: dict) -> None:
        values["hall:windows"].append({**values["hall:windows"][0], "number": 2, "name": "second"})

    config.edit(add)
    after = config.config_file.read_text()
    for kept in (
        "# the operator's comment on the file",
        "# the prefix",
        "# window one",
        "encryptionsalt: v1:abc",
    ):
        assert kept in after
    assert "name: second" in after and after.startswith(before.split("config:")[0])
    with pytest.raises(HallConfigError):  # an invalid hall is refused and nothing is written
        config.edit(lambda values: values["hall:windows"][0]["seat"].update(gov={"image": "uos-21"}))
    assert config.config_file.read_text() == after
    config.forget_secrets_salt()
    assert "encryptionsalt" not in config.config_file.read_text()


def test_concurrent_edits_of_one_stack_all_land(tmp_path: Path) -> None:
    config = _config(tmp_path)
    errors: list[BaseException] = []

    def add(number: int) -> None:
        def change(values: dict) -> None:
            values["hall:windows"].append(
                {**values["hall:windows"][0], "number": number, "name": f"w{number}"}
            )

        try:  # each thread its own file object, as separate processes would have
            StackConfigFile(config.config_file, StackLock("cfg", config.lock.lock_path)).edit(change)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(2, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(w["number"] for w in config.raw()["hall:windows"]) == list(range(1, 10))
