"""Credential profiles: how to authenticate to a device (SNMP v2c/v3, SSH). Secrets go in, never out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr

from device_manager.schemas.common import Name, Strict

__all__ = [
    "SECRET_FIELDS",
    "Community",
    "CredentialKind",
    "CredentialProfileCreate",
    "CredentialProfilePublic",
    "CredentialProfileUpdate",
    "SnmpV2cCreate",
    "SnmpV3Create",
    "SshCreate",
    "SshKey",
    "UserName",
    "UsmKey",
]

CredentialKind = Literal["snmp_v2c", "snmp_v3", "ssh"]


def _usm_key(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < 8:
        raise ValueError("SNMPv3 keys must be at least 8 characters (RFC 3414)")
    return value


def _ssh_private_key(value: SecretStr) -> SecretStr:
    from cryptography.hazmat.primitives import serialization

    data = value.get_secret_value().encode()
    loaders = (serialization.load_ssh_private_key, serialization.load_pem_private_key)
    for load in loaders:
        try:
            load(data, password=None)
            return value
        except TypeError:
            raise ValueError(
                "passphrase-protected keys are not supported; store the key unencrypted"
            ) from None
        except (ValueError, Exception):
            continue
    raise ValueError("not an OpenSSH or PEM private key")


Community = Annotated[SecretStr, Field(min_length=1, max_length=255)]
UsmKey = Annotated[SecretStr, Field(max_length=255), AfterValidator(_usm_key)]
SshKey = Annotated[SecretStr, AfterValidator(_ssh_private_key)]
UserName = Annotated[str, Field(min_length=1, max_length=100)]


class SnmpV2cCreate(Strict):
    kind: Literal["snmp_v2c"]
    name: Name
    community: Community


class SnmpV3Create(Strict):
    """SNMPv3 authPriv with SHA-256 authentication and AES-128 privacy."""

    kind: Literal["snmp_v3"]
    name: Name
    username: UserName
    auth_key: UsmKey
    priv_key: UsmKey


class SshCreate(Strict):
    kind: Literal["ssh"]
    name: Name
    username: UserName
    private_key: SshKey


CredentialProfileCreate = Annotated[SnmpV2cCreate | SnmpV3Create | SshCreate, Field(discriminator="kind")]


class CredentialProfileUpdate(Strict):
    """Partial update; secret fields replace the stored secret and must match the profile's kind."""

    name: Name | None = None
    username: UserName | None = None
    community: Community | None = None
    auth_key: UsmKey | None = None
    priv_key: UsmKey | None = None
    private_key: SshKey | None = None


class CredentialProfilePublic(BaseModel):
    id: int
    name: str
    kind: CredentialKind
    username: str
    has_secret: bool
    auth_protocol: str | None
    priv_protocol: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "snmp_v2c": ("community",),
    "snmp_v3": ("auth_key", "priv_key"),
    "ssh": ("private_key",),
}
