"""HallCloud's dynamic providers, thin over :mod:`vdi`: Network, StoragePool, GoldenImage, Volume, Domain."""

from infra.providers.domain import Domain, DomainProvider
from infra.providers.network import Network, NetworkProvider
from infra.providers.storage import (
    GoldenImage,
    GoldenImageProvider,
    StoragePool,
    StoragePoolProvider,
    Volume,
    VolumeProvider,
)

PROVIDERS = {
    f"pulumi-python:dynamic/hallcloud:{kind}": provider
    for kind, provider in (
        ("Domain", DomainProvider),
        ("GoldenImage", GoldenImageProvider),
        ("Network", NetworkProvider),
        ("StoragePool", StoragePoolProvider),
        ("Volume", VolumeProvider),
    )
}
"""Resource type (as the engine names it) -> its provider class."""

__all__ = [
    "PROVIDERS",
    "Domain",
    "DomainProvider",
    "GoldenImage",
    "GoldenImageProvider",
    "Network",
    "NetworkProvider",
    "StoragePool",
    "StoragePoolProvider",
    "Volume",
    "VolumeProvider",
]
