"""Harbor 2.x webhooks, Default and CloudEvents formats.

Harbor copies the policy's auth header value into ``Authorization`` verbatim (no "Bearer"
added), so the whole header is compared with the configured token. Untagged pushes carry
the digest in ``tag``; only ``PUSH_ARTIFACT`` / ``harbor.artifact.pushed`` asks for a scan.

A proxy-cache project fires the same push event whenever a pull caches an upstream image.
Harbor stores it under its proxy-cache service identity, which becomes the event's
``operator`` (``harbor#proxy-cache-service``; the ``#`` keeps it from any real user's name),
so those events are recorded as ignored: nobody here built that image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.intake.base import (
    Delivery,
    PayloadError,
    delivery_id,
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

name = "harbor"
PUSH_TYPES = frozenset({"PUSH_ARTIFACT", "harbor.artifact.pushed"})
PROXY_CACHE_OPERATOR = "harbor#proxy-cache-service"  # Harbor's proxycachesecret identity


def check(registry: RegistrySettings) -> str | None:
    return None if registry.webhook.token else "webhook.token is required (the auth header value)"


def verify(delivery: Delivery, registry: RegistrySettings) -> bool:
    token = registry.webhook.token
    return token is not None and same_secret(
        delivery.headers.get("Authorization"), token.get_secret_value()
    )


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    body = load_json(delivery.body)
    if not isinstance(body, dict) or "type" not in body:
        raise PayloadError("expected a Harbor event: type and event_data (or CloudEvents data)")
    cloudevent = "specversion" in body
    data: Any = body.get("data") if cloudevent else body.get("event_data")
    event_type = text(body.get("type"))
    repository = mapping(mapping(data).get("repository"))
    own_id = body.get("id") if cloudevent else None

    def ignored(reason: str) -> list[PushEvent | IgnoredEvent]:
        event_id, repo = delivery_id(own_id, delivery, 0), repository.get("repo_full_name")
        return [ignore(name, registry, delivery, event_id, reason, repo)]

    if event_type not in PUSH_TYPES:
        return ignored(f"event type {event_type!r} is not a push")
    resources = mapping(data).get("resources")
    if not isinstance(resources, list) or not resources:
        raise PayloadError("a push event without resources")
    operator = body.get("operator")
    if operator == PROXY_CACHE_OPERATOR:
        return ignored(
            f"a proxy-cache project stored an upstream image on a pull (operator "
            f"{PROXY_CACHE_OPERATOR}), not a push"
        )
    return [
        image_event(
            sender=name,
            registry=registry,
            delivery=delivery,
            delivery_id=delivery_id(f"{own_id}-{index}" if own_id else None, delivery, index),
            repository=repository.get("repo_full_name"),
            digest=mapping(resource).get("digest"),
            tag=mapping(resource).get("tag"),
            pusher=operator,
        )
        for index, resource in enumerate(resources[:100])
    ]
