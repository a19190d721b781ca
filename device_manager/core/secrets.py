"""Credential encryption at rest: AES-256-GCM under a master key kept outside the database.

The master key comes from ``Settings.master_key`` or ``Settings.master_key_file``; only in development
is one generated (mode 0600, in the data directory) when neither is set. Ciphertexts carry a version
byte and the 96-bit nonce; the associated data binds a ciphertext to the kind of credential it holds,
so a v2c community cannot be swapped into an SSH profile row unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from device_manager.core.config import Settings

__all__ = ["DecryptionError", "MasterKeyError", "SecretBox", "generate_master_key", "load_master_key"]

_VERSION = b"\x01"
_NONCE_BYTES = 12


class MasterKeyError(RuntimeError):
    """The master key is missing, unreadable or malformed."""


class DecryptionError(RuntimeError):
    """A stored secret cannot be decrypted with the configured master key."""


def _decode_key(raw: bytes, origin: str) -> bytes:
    if len(raw) == 32:
        return raw
    text = raw.strip()
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            key = decode(text + b"=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(key) == 32:
            return key
    raise MasterKeyError(f"{origin}: expected 32 bytes or their base64 encoding, got {len(raw)} bytes")


def generate_master_key() -> str:
    """A new master key as url-safe base64 text (what ``master_key_file`` should contain)."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def load_master_key(settings: Settings) -> bytes:
    if settings.master_key is not None:
        return _decode_key(settings.master_key.get_secret_value().encode(), "HALLCLOUD_MASTER_KEY")
    path: Path | None = settings.master_key_file
    if path is None:
        if settings.environment != "development":
            raise MasterKeyError(
                "no master key configured (HALLCLOUD_MASTER_KEY_FILE or HALLCLOUD_MASTER_KEY)"
            )
        path = settings.default_master_key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_master_key() + "\n")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MasterKeyError(
            f"master key file {path}: {exc.strerror}; create it with 32 random bytes"
        ) from exc
    return _decode_key(raw, f"master key file {path}")


class SecretBox:
    """Encrypts and decrypts small JSON secrets (dict of str) bound to a purpose string."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise MasterKeyError("the master key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<redacted>)"

    def encrypt(self, secret: dict[str, str], purpose: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = json.dumps(secret, sort_keys=True).encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, purpose.encode())

    def decrypt(self, blob: bytes, purpose: str) -> dict[str, str]:
        if not blob or blob[:1] != _VERSION:
            raise DecryptionError("unknown ciphertext version")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, body, purpose.encode())
        except InvalidTag as exc:
            raise DecryptionError("stored secret does not decrypt: wrong master key or tampered row") from exc
        data = json.loads(plaintext)
        return {str(k): str(v) for k, v in data.items()}
