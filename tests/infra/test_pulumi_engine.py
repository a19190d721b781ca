"""The real Pulumi engine (the CLI make setup provides) on a throw-away Python program.

One dynamic-provider resource (:class:`infra.testing.echo_provider.EchoFile`, which writes a file) goes
through preview, up, an up with no changes, drift picked up by refresh and repaired by up, and destroy,
on a local file backend with a passphrase secrets provider. The provider class lives in our installed
package, so the provider process the engine starts must import it: the file appearing proves it did.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from infra.pulumi_env import LocalBackend, PulumiCliMissingError, find_cli, sdk_version

pytestmark = pytest.mark.integration

ECHO_TYPE = "pulumi-python:dynamic/hallcloud-testing:EchoFile"
# How the state marks a secret value: {SECRET_SIG: SECRET_SIG_VALUE, "ciphertext" | "plaintext": ...}.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"

PROGRAM = """\
import pulumi

from infra.testing.echo_provider import EchoFile

config = pulumi.Config()
greeting = EchoFile("greeting", path=config.require("path"), content=config.require("content"))
pulumi.export("path", greeting.path)
pulumi.export("content", greeting.content)
pulumi.export("checksum", greeting.checksum)
"""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def change_summary(backend: LocalBackend, program: Path) -> dict[str, int]:
    """What the most recent update/refresh/destroy did, from the backend's own history."""
    history = backend.run_json("stack", "history", "--show-secrets", cwd=program)
    return dict(history[0]["resourceChanges"])


def echo_resources(backend: LocalBackend, program: Path) -> list[dict[str, Any]]:
    state = backend.run_json("stack", "export", "--show-secrets", cwd=program, json_flag=False)
    resources = state["deployment"].get("resources") or []
    return [r for r in resources if r["type"] == ECHO_TYPE]


@pytest.fixture
def program(tmp_path: Path) -> Path:
    directory = tmp_path / "program"
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text(
        "name: hallcloud-engine-test\nruntime: python\ndescription: throw-away program of the engine test\n"
    )
    (directory / "__main__.py").write_text(PROGRAM)
    return directory


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    try:
        find_cli()
    except PulumiCliMissingError as exc:
        pytest.fail(str(exc))
    backend = LocalBackend(root=tmp_path / "pulumi", passphrase="hallcloud-test-passphrase")
    backend.login()
    return backend


def test_cli_matches_the_pinned_sdk(backend: LocalBackend, tmp_path: Path) -> None:
    version = backend.run("version", cwd=tmp_path).stdout.strip()
    assert version == f"v{sdk_version()}"
    whoami = backend.run_json("whoami", "--verbose", cwd=tmp_path)
    assert whoami["url"] == backend.url


def test_engine_lifecycle_with_a_dynamic_provider(
    backend: LocalBackend, program: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "greeting.txt"
    backend.run("stack", "init", "dev", cwd=program)
    backend.run("config", "set", "path", str(target), cwd=program)
    backend.run("config", "set", "content", "hello hall", cwd=program)
    # The passphrase secrets provider: the stack file carries its salt, the state lives in the backend.
    assert "encryptionsalt:" in (program / "Pulumi.dev.yaml").read_text()
    assert (backend.state_dir / ".pulumi" / "stacks" / "hallcloud-engine-test" / "dev.json").exists()

    # preview: plans the stack and the resource, touches nothing
    preview = backend.run_json("preview", cwd=program)
    assert preview["changeSummary"] == {"create": 2}
    assert [s["op"] for s in preview["steps"] if s.get("newState", {}).get("type") == ECHO_TYPE] == ["create"]
    assert not target.exists()

    # up: the provider process (started by the engine) imports infra and writes the file
    backend.run("up", "--yes", "--skip-preview", cwd=program)
    assert change_summary(backend, program) == {"create": 2}
    assert target.read_text() == "hello hall"
    outputs = backend.run_json("stack", "output", "--show-secrets", cwd=program)
    assert outputs == {"path": str(target), "content": "hello hall", "checksum": sha256("hello hall")}
    written_at = target.stat().st_mtime_ns

    # the provider was pickled by reference to our module, not by value
    (resource,) = echo_resources(backend, program)
    assert resource["id"] == str(target)
    # it is a secret: the passphrase provider encrypts it in the state, --show-secrets decrypts it
    provider_secret = resource["inputs"]["__provider"]
    assert provider_secret[SECRET_SIG] == SECRET_SIG_VALUE
    pickled = base64.b64decode(json.loads(provider_secret["plaintext"]))
    assert b"infra.testing.echo_provider" in pickled and b"EchoFileProvider" in pickled
    assert b"_create_code" not in pickled  # dill's marker of a class/function pickled by value
    stored = json.loads(
        (backend.state_dir / ".pulumi" / "stacks" / "hallcloud-engine-test" / "dev.json").read_text()
    )
    (stored_echo,) = [r for r in stored["checkpoint"]["latest"]["resources"] if r["type"] == ECHO_TYPE]
    assert set(stored_echo["inputs"]["__provider"]) == {SECRET_SIG, "ciphertext"}

    # a second up changes nothing
    backend.run("up", "--yes", "--skip-preview", cwd=program)
    assert change_summary(backend, program) == {"same": 2}
    assert target.stat().st_mtime_ns == written_at

    # drift: refresh reads the file back into the state, the next up restores what the program says
    target.write_text("edited by hand")
    backend.run("refresh", "--yes", "--skip-preview", cwd=program)
    assert change_summary(backend, program) == {"same": 1, "update": 1}
    (resource,) = echo_resources(backend, program)
    assert resource["outputs"]["content"] == "edited by hand"
    assert resource["outputs"]["checksum"] == sha256("edited by hand")
    backend.run("up", "--yes", "--skip-preview", cwd=program)
    assert change_summary(backend, program) == {"same": 1, "update": 1}
    assert target.read_text() == "hello hall"

    # destroy: the provider deletes the file and the state keeps no resource
    backend.run("destroy", "--yes", "--skip-preview", cwd=program)
    assert change_summary(backend, program) == {"delete": 2}
    assert not target.exists()
    assert echo_resources(backend, program) == []
    state = backend.run_json("stack", "export", cwd=program, json_flag=False)
    assert not state["deployment"].get("resources")
    history = backend.run_json("stack", "history", cwd=program)
    assert [h["kind"] for h in history] == ["destroy", "update", "refresh", "update", "update"]
