"""Amazon ECR "ECR Image Action" events from EventBridge: delivered by an API destination
(its connection adds a header: ``webhook.header`` + ``webhook.token``) or through an SNS
topic (``webhook.sns``: the message signature is verified, subscriptions are confirmed).

The registry host is ``<account>.dkr.ecr.<region>.amazonaws.com``, built from the event;
only events for the configured registry's host, PUSH and SUCCESS, are analyzed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from app.intake import sns
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

name = "ecr"
_CERTIFICATES = sns.CertificateCache()
_IMAGE_CONFIGS = (
    "",  # older events do not say
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
)


def check(registry: RegistrySettings) -> str | None:
    webhook = registry.webhook
    if webhook.sns is not None or (webhook.token and webhook.header):
        return None
    return "webhook.sns (topic_arns) or webhook.header with webhook.token is required"


def _sns_message(delivery: Delivery) -> dict[str, Any] | None:
    try:
        body = json.loads(delivery.body)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) and "Signature" in body else None


def verify(delivery: Delivery, registry: RegistrySettings) -> bool:
    webhook = registry.webhook
    if webhook.sns is not None:
        message = _sns_message(delivery)
        if message is None:
            return False
        try:
            sns.verify(message, _CERTIFICATES, webhook.sns.topic_arns)
        except sns.SnsError:
            return False
        return True
    if webhook.token is None or webhook.header is None:
        return False
    return same_secret(delivery.headers.get(webhook.header), webhook.token.get_secret_value())


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    body = load_json(delivery.body)
    if not isinstance(body, dict):
        raise PayloadError("expected an EventBridge event or an SNS message")
    if registry.webhook.sns is not None:
        kind = text(body.get("Type"))
        if kind == "SubscriptionConfirmation":
            try:
                sns.confirm_subscription(body)
            except sns.SnsError as exc:
                raise PayloadError(f"subscription not confirmed: {exc}") from None
            raise Ping("sns subscription confirmed")
        if kind != "Notification":
            raise Ping(f"sns {kind}")
        own_id = delivery_id(body.get("MessageId"), delivery, 0)
        event = load_json(text(body.get("Message"), 1024 * 1024).encode())
    else:
        event = body
        own_id = delivery_id(body.get("id"), delivery, 0)
    event = mapping(event)
    detail = mapping(event.get("detail"))
    repository = detail.get("repository-name")

    def ignored(reason: str) -> list[PushEvent | IgnoredEvent]:
        return [ignore(name, registry, delivery, own_id, reason, repository)]

    kind = text(event.get("detail-type"))
    if text(event.get("source")) != "aws.ecr" or kind != "ECR Image Action":
        return ignored(f"{kind or 'event'!r} is not an image action")
    action, result = text(detail.get("action-type")), text(detail.get("result"))
    if action != "PUSH" or result != "SUCCESS":
        return ignored(f"action {action} {result} is not a push")
    host = f"{text(event.get('account'))}.dkr.ecr.{text(event.get('region'))}.amazonaws.com"
    if host != registry.host:
        return ignored(f"image on {host!r}, not on this registry's host {registry.host!r}")
    media_type = detail.get("manifest-media-type")
    artifact = text(detail.get("artifact-media-type"))
    if artifact not in _IMAGE_CONFIGS:
        return ignored(f"artifact type {artifact!r} is not an image")
    return [
        image_event(
            sender=name,
            registry=registry,
            delivery=delivery,
            delivery_id=own_id,
            repository=repository,
            digest=detail.get("image-digest"),
            tag=detail.get("image-tag"),
            media_type=media_type,
        )
    ]
