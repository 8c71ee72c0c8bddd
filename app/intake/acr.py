"""Azure Container Registry webhooks: one Distribution-style event per delivery.

ACR adds no headers of its own beyond the custom headers configured on the webhook, so a
configured header (default ``Authorization``) must carry the token. ``ping`` (the portal's
test button) is answered 200.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.intake.base import (
    Delivery,
    PayloadError,
    Ping,
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

name = "acr"


def check(registry: RegistrySettings) -> str | None:
    return None if registry.webhook.token else "webhook.token is required (a custom header value)"


def verify(delivery: Delivery, registry: RegistrySettings) -> bool:
    token = registry.webhook.token
    header = registry.webhook.header or "Authorization"
    return token is not None and same_secret(delivery.headers.get(header), token.get_secret_value())


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    body = load_json(delivery.body)
    if not isinstance(body, dict) or "action" not in body:
        raise PayloadError("expected an ACR event: id, action and target")
    action = text(body.get("action"))
    if action == "ping":
        raise Ping("acr ping")
    target = mapping(body.get("target"))
    own_id = delivery_id(body.get("id"), delivery, 0)
    if action != "push":
        return [
            ignore(
                name,
                registry,
                delivery,
                own_id,
                f"action {action!r} is not a push",
                target.get("repository"),
            )
        ]
    return [
        image_event(
            sender=name,
            registry=registry,
            delivery=delivery,
            delivery_id=own_id,
            repository=target.get("repository"),
            digest=target.get("digest"),
            tag=target.get("tag"),
            media_type=target.get("mediaType"),
        )
    ]
