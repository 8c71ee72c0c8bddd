"""GitHub Packages (ghcr.io): ``package`` and ``registry_package`` webhook events.

Authentic when ``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body with the
configured secret. Owner and package names are lower-cased (OCI names are); only container
packages are images. ``package_version.name`` is the manifest digest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.intake.base import (
    Delivery,
    PayloadError,
    Ping,
    delivery_id,
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

name = "github"
EVENTS = frozenset({"package", "registry_package"})
CONTAINER_TYPES = frozenset({"container", "docker"})


def check(registry: RegistrySettings) -> str | None:
    return None if registry.webhook.secret else "webhook.secret is required (the webhook's secret)"


def verify(delivery: Delivery, registry: RegistrySettings) -> bool:
    secret = registry.webhook.secret
    if secret is None:
        return False
    signature = delivery.headers.get("X-Hub-Signature-256", "")
    expected = "sha256=" + hmac_hex(secret.get_secret_value(), delivery.body)
    return same_secret(signature, expected)


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    event = delivery.headers.get("X-GitHub-Event", "")
    if event == "ping":
        raise Ping("github ping")
    body = load_json(delivery.body)
    if not isinstance(body, dict):
        raise PayloadError("expected a GitHub webhook payload (a JSON object)")
    own_id = delivery_id(delivery.headers.get("X-GitHub-Delivery"), delivery, 0)
    package = mapping(body.get("package") or body.get("registry_package"))
    owner = text(mapping(package.get("owner")).get("login")).lower()
    repository = f"{owner}/{text(package.get('name')).lower()}"
    if event not in EVENTS:
        return [ignore(name, registry, delivery, own_id, f"event {event!r} is not a package event")]
    action = text(body.get("action"))
    if action not in ("published", "updated"):
        return [
            ignore(
                name, registry, delivery, own_id, f"action {action!r} is not a publish", repository
            )
        ]
    kind = text(package.get("package_type")).lower()
    registry_type = text(mapping(package.get("registry")).get("type")).lower()
    if kind not in CONTAINER_TYPES and registry_type != "container":
        return [
            ignore(
                name,
                registry,
                delivery,
                own_id,
                f"package type {kind!r} is not a container",
                repository,
            )
        ]
    version = mapping(package.get("package_version"))
    container = mapping(version.get("container_metadata"))
    return [
        image_event(
            sender=name,
            registry=registry,
            delivery=delivery,
            delivery_id=own_id,
            repository=repository,
            digest=version.get("name"),
            tag=mapping(container.get("tag")).get("name"),
            media_type=mapping(container.get("manifest")).get("media_type"),
            pusher=mapping(body.get("sender")).get("login"),
        )
    ]
