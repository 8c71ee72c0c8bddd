"""JFrog Artifactory, predefined Docker webhook ``pushed`` ("Tag was pushed").

``X-JFrog-Event-Auth`` holds the secret token, or, with "Use secret for payload signing",
the hex HMAC-SHA256 of the body: configure ``webhook.secret`` for the signed form (preferred)
or ``webhook.token`` for the plain one. ``sha256`` is the manifest file's hash, which is the
manifest digest; ``list.manifest.json`` is a multi-platform index.

The repository is named as the Docker API at the configured URL names it. With Artifactory's
repository-path access method (``url: https://acme.jfrog.io``) that is
``<repo_key>/<image_name>``; with the subdomain method (``url:
https://<repo_key>.acme.jfrog.io``) the host already says the repository, and it is
``<image_name>`` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.intake.base import (
    Delivery,
    PayloadError,
    hmac_hex,
    ignore,
    image_event,
    load_json,
    mapping,
    same_secret,
    text,
)
from app.models import IgnoredEvent, PushEvent

if TYPE_CHECKING:
    from app.config import RegistrySettings

name = "artifactory"
HEADER = "X-JFrog-Event-Auth"
_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def check(registry: RegistrySettings) -> str | None:
    if registry.webhook.secret or registry.webhook.token:
        return None
    return "webhook.secret (payload signing) or webhook.token is required"


def verify(delivery: Delivery, registry: RegistrySettings) -> bool:
    supplied = delivery.headers.get(HEADER)
    webhook = registry.webhook
    if webhook.secret:
        return same_secret(supplied, hmac_hex(webhook.secret.get_secret_value(), delivery.body))
    return bool(webhook.token) and same_secret(supplied, webhook.token.get_secret_value())  # type: ignore[union-attr]


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    body = load_json(delivery.body)
    if not isinstance(body, dict) or "event_type" not in body:
        raise PayloadError("expected an Artifactory event: domain, event_type and data")
    data = mapping(body.get("data"))
    own_id = f"body-{delivery.digest}"
    domain, event_type = text(body.get("domain")), text(body.get("event_type"))
    if domain != "docker" or event_type != "pushed":
        return [
            ignore(
                name,
                registry,
                delivery,
                own_id,
                f"{domain or '(no domain)'}/{event_type} is not a docker tag push",
                data.get("image_name"),
            )
        ]
    path = text(data.get("path"), 1000)
    sha256 = text(data.get("sha256"), 100)
    return [
        image_event(
            sender=name,
            registry=registry,
            delivery=delivery,
            delivery_id=own_id,
            repository=_repository(data, registry),
            digest=f"sha256:{sha256}" if sha256 else None,
            tag=data.get("tag"),
            media_type=_LIST if path.endswith("list.manifest.json") else _MANIFEST,
            pusher=body.get("source"),
        )
    ]


def _repository(data: dict, registry: RegistrySettings) -> str:
    """``repo_key/image_name``, unless the registry URL's host is the repository's subdomain."""
    repo_key, image = text(data.get("repo_key")), text(data.get("image_name"))
    if registry.host.lower().startswith(f"{repo_key.lower()}."):
        return image
    return f"{repo_key}/{image}"
