"""CNCF Distribution (``registry``, Debian's ``docker-registry``; GitLab's registry too).

The registry posts envelopes of events and retries every non-2xx forever, in order, so a
bad event must be acknowledged (and recorded as ignored) rather than refused: refusing it
would block every later notification behind it. Only a body that is not an envelope at
all is a 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.intake.base import (
    DELIVERY_ID,
    Delivery,
    PayloadError,
    bearer_matches,
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

name = "distribution"
_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def check(registry: RegistrySettings) -> str | None:
    return None if registry.webhook.token else "webhook.token is required (sent as a Bearer token)"


def verify(delivery: Delivery, registry: RegistrySettings) -> bool:
    token = registry.webhook.token
    return token is not None and bearer_matches(
        delivery.headers.get("Authorization"), token.get_secret_value()
    )


def _is_blob(media_type: str) -> bool:
    """Layers and configs: uploads say octet-stream, events built from manifests the real type."""
    return (
        media_type in ("", "application/octet-stream")
        or "rootfs.diff" in media_type
        or ".layer." in media_type
        or media_type.endswith(("container.image.v1+json", "image.config.v1+json"))
    )


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    envelope = load_json(delivery.body)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("events"), list):
        raise PayloadError('expected a notification envelope: {"events": [...]}')
    return [_event(raw, index, delivery, registry) for index, raw in enumerate(envelope["events"])]


def _event(
    raw: Any, index: int, delivery: Delivery, registry: RegistrySettings
) -> PushEvent | IgnoredEvent:
    event = mapping(raw)
    target = mapping(event.get("target"))
    own_id = text(event.get("id"), 200)
    event_id = delivery_id(own_id, delivery, index)

    def ignored(reason: str) -> IgnoredEvent:
        return ignore(name, registry, delivery, event_id, reason, target.get("repository"))

    if not isinstance(raw, dict):
        return ignored("event is not a JSON object")
    if not DELIVERY_ID.fullmatch(own_id):
        return ignored("event has no usable id")
    action = text(event.get("action"))
    if action != "push":
        return ignored(f"action {action or '(none)'!r} is not a push")
    media_type = text(target.get("mediaType"))
    if _is_blob(media_type):
        return ignored("blob push (layer or config), not a manifest")
    if media_type == _SCHEMA1:
        return ignored("schema 1 manifests are deprecated and not analyzed")
    if not target.get("digest"):
        return ignored("target has no valid digest")
    return image_event(
        sender=name,
        registry=registry,
        delivery=delivery,
        delivery_id=event_id,
        repository=target.get("repository"),
        digest=target.get("digest"),
        tag=target.get("tag"),
        media_type=media_type,
        pusher=mapping(event.get("actor")).get("name"),
    )
