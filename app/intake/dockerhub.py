"""Docker Hub. It signs nothing and sends no headers of its own, so the only proof of origin
is an unguessable token in the webhook URL (``/webhooks/<name>?token=…``). The payload has
no digest: the tag is resolved when the scan starts, and the digest found is recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.intake.base import (
    Delivery,
    PayloadError,
    check_url_token,
    image_event,
    load_json,
    mapping,
    verify_url_token,
)
from app.models import IgnoredEvent, PushEvent

if TYPE_CHECKING:
    from app.config import RegistrySettings

name = "dockerhub"


check = check_url_token
verify = verify_url_token


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    body = load_json(delivery.body)
    if not isinstance(body, dict) or "push_data" not in body or "repository" not in body:
        raise PayloadError("expected a Docker Hub push: push_data and repository")
    push, repository = mapping(body["push_data"]), mapping(body["repository"])
    # Hub sends one delivery per push and no id; a re-delivery is the same body.
    return [
        image_event(
            sender=name,
            registry=registry,
            delivery=delivery,
            delivery_id=f"body-{delivery.digest}",
            repository=repository.get("repo_name"),
            tag=push.get("tag"),
            pusher=push.get("pusher"),
        )
    ]
