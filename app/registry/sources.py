"""Turn what a user typed (``tightship scan REF``) into an image source.

``oci-layout:PATH`` and ``docker-archive:FILE`` read from disk; anything else is a registry
reference, parsed as crane parses it. A registry named in Tightship's config is reached
with that entry's URL, credentials and TLS setting; any other with the docker config's
credentials, over https unless it is a local registry (as crane does).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from app.analysis.analyze import ImageSource
from app.config import Settings
from app.registry import credentials
from app.registry.client import RegistryClient, RepositorySource
from app.registry.local import LocalSource
from app.registry.reference import parse_reference

OCI_LAYOUT = "oci-layout:"
DOCKER_ARCHIVE = "docker-archive:"


@dataclass(frozen=True)
class Opened:
    source: ImageSource
    name: str  # how reports name the image
    reference: str  # what to ask the source for: a tag, a digest, or "" for a local default


def open_source(text: str, settings: Settings) -> Opened:
    if text.startswith((OCI_LAYOUT, DOCKER_ARCHIVE)):
        path = text.partition(":")[2]
        return Opened(LocalSource(path), text, "")
    reference = parse_reference(text)
    configured = next(
        (r for r in settings.registries if urlsplit(r.url).netloc == reference.registry), None
    )
    if configured is not None:
        auth = configured.auth
        client = RegistryClient(
            configured.url,
            username=auth.username if auth else None,
            password=auth.password.get_secret_value() if auth else None,
            verify_tls=not configured.insecure,
        )
    else:
        found = credentials.lookup(reference.registry)
        client = RegistryClient(
            f"{reference.scheme}://{reference.registry}",
            username=found.username if found else None,
            password=found.password if found else None,
        )
    return Opened(
        RepositorySource(client, reference.repository), str(reference), reference.identifier
    )
