"""Google Artifact Registry (and Container Registry) through a Pub/Sub push subscription.

Authentic when the ``Authorization`` bearer token is a Google-signed OIDC token for the
configured audience and push service account (``webhook.oidc``). The body is a Pub/Sub
envelope whose base64 ``message.data`` is ``{"action", "digest", "tag"}`` with full image
names; only INSERTs of images on the configured registry's host are analyzed.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from app.intake import oidc
from app.intake.base import (
    Delivery,
    PayloadError,
    delivery_id,
    ignore,
    image_event,
    load_json,
    mapping,
    text,
)
from app.models import IgnoredEvent, PushEvent

if TYPE_CHECKING:
    from app.config import RegistrySettings

name = "gcp"
_KEYS: dict[tuple[str | None, str | None], oidc.Jwks] = {}


def check(registry: RegistrySettings) -> str | None:
    if registry.webhook.oidc is None:
        return "webhook.oidc is required (audience, email, and jwks_url or jwks_file)"
    return None


def _jwks(registry: RegistrySettings) -> oidc.Jwks:
    settings = registry.webhook.oidc
    assert settings is not None  # noqa: S101 - check() made it a requirement
    path = str(settings.jwks_file) if settings.jwks_file else None
    key = (settings.jwks_url if path is None else None, path)
    if key not in _KEYS:
        _KEYS[key] = oidc.Jwks(url=key[0], path=path)
    return _KEYS[key]


def verify(delivery: Delivery, registry: RegistrySettings) -> bool:
    settings = registry.webhook.oidc
    if settings is None:
        return False
    try:
        oidc.verify_bearer(
            delivery.headers.get("Authorization"),
            audience=settings.audience,
            email=settings.email,
            jwks=_jwks(registry),
        )
    except oidc.OidcError:
        return False
    return True


def split_image(full: str) -> tuple[str, str, str | None, str | None]:
    """``host/path@sha256:…`` or ``host/path:tag`` → (host, repository, tag, digest)."""
    host, _, rest = full.partition("/")
    if "@" in rest:
        repository, _, digest = rest.partition("@")
        return host, repository, None, digest
    head, colon, tag = rest.rpartition(":")
    return (host, head, tag, None) if colon else (host, rest, None, None)


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    envelope = load_json(delivery.body)
    message = mapping(mapping(envelope).get("message"))
    if "data" not in message:
        raise PayloadError("expected a Pub/Sub push envelope: message.data")
    own_id = delivery_id(message.get("messageId") or message.get("message_id"), delivery, 0)
    try:
        data: Any = json.loads(base64.b64decode(str(message["data"]), validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise PayloadError("message.data is not base64-encoded JSON") from None
    data = mapping(data)
    action = text(data.get("action"))
    digest_name, tag_name = text(data.get("digest"), 1000), text(data.get("tag"), 1000)
    host, repository, _, digest = split_image(digest_name) if digest_name else ("", "", None, None)
    tag = None
    if tag_name:
        tag_host, tag_repository, tag, _ = split_image(tag_name)
        host, repository = host or tag_host, repository or tag_repository
    if action != "INSERT":
        return [
            ignore(
                name, registry, delivery, own_id, f"action {action!r} is not an INSERT", repository
            )
        ]
    if host != registry.host:
        return [
            ignore(
                name,
                registry,
                delivery,
                own_id,
                f"image on {host!r}, not on this registry's host {registry.host!r}",
                repository,
            )
        ]
    return [
        image_event(
            sender=name,
            registry=registry,
            delivery=delivery,
            delivery_id=own_id,
            repository=repository,
            digest=digest,
            tag=tag,
        )
    ]
