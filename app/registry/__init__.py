"""The OCI registry client: manifests and blobs, each checked against its digest."""

from app.registry.client import (
    DigestMismatchError,
    Manifest,
    RegistryClient,
    RegistryError,
    RepositorySource,
)

__all__ = [
    "DigestMismatchError",
    "Manifest",
    "RegistryClient",
    "RegistryError",
    "RepositorySource",
]
