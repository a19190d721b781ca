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

__all__ = [
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
