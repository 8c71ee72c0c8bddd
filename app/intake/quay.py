"""Quay.io and Project Quay ``repo_push`` notifications: no signature and no custom headers,
so a token in the URL (``?token=…``); tags only, no digests (resolved at scan time).

Two pushes of one tag send byte-identical bodies (no digest, no time, no id), so the body
cannot name a delivery: each one is named by the moment it arrived. Quay never retries a
delivery, so no re-delivery is lost by that; a second push while the first is still waiting
for its scan is recognised by the store's (repository, tag) window instead, and that scan
resolves the tag to the newest image anyway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.intake.base import (
    Delivery,
    PayloadError,
    check_url_token,
    image_event,
    load_json,
    verify_url_token,
)
from app.models import IgnoredEvent, PushEvent

if TYPE_CHECKING:
    from app.config import RegistrySettings

name = "quay"


check = check_url_token
verify = verify_url_token


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    body = load_json(delivery.body)
    if not isinstance(body, dict) or "repository" not in body or "updated_tags" not in body:
        raise PayloadError("expected a Quay repo_push: repository and updated_tags")
    tags = body["updated_tags"]
    if isinstance(tags, dict):  # the 2013 format mapped tag → image id
        tags = list(tags)
    if not isinstance(tags, list):
        raise PayloadError("updated_tags is neither a list nor an object")
    return [
        image_event(
            sender=name,
            registry=registry,
            delivery=delivery,
            delivery_id=f"quay-{delivery.received_at:%Y%m%dT%H%M%S.%f}-{delivery.digest}-{index}",
            repository=body.get("repository"),
            tag=tag,
        )
        for index, tag in enumerate(tags[:100])
    ]
