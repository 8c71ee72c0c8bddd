"""CNCF Distribution (``registry``, Debian's ``docker-registry``) notifications.

The registry posts envelopes of events and retries every non-2xx forever, in order, so a
bad event must be acknowledged (and recorded as ignored) rather than refused: refusing it
would block every later notification behind it. Only a body that is not an envelope at
all is a 400.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from app.intake.base import (
    IMAGE_INDEX_TYPES,
    IMAGE_MANIFEST_TYPES,
    Delivery,
    PayloadError,
    bearer_matches,
)
from app.models import IgnoredEvent, PushEvent

if TYPE_CHECKING:
    from app.config import RegistrySettings

name = "distribution"

_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def _is_blob(media_type: str) -> bool:
    """Layers and configs: uploads say octet-stream, events built from manifests the real type."""
    return (
        media_type in ("", "application/octet-stream")
        or "rootfs.diff" in media_type
        or ".layer." in media_type
        or media_type.endswith(("container.image.v1+json", "image.config.v1+json"))
    )


def verify(delivery: Delivery, registry: RegistrySettings) -> bool:
    token = registry.webhook.token
    return token is not None and bearer_matches(
        delivery.headers.get("Authorization"), token.get_secret_value()
    )


def parse(delivery: Delivery, registry: RegistrySettings) -> list[PushEvent | IgnoredEvent]:
    try:
        envelope = json.loads(delivery.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("events"), list):
        raise PayloadError('expected a notification envelope: {"events": [...]}')
    return [_event(raw, index, delivery, registry) for index, raw in enumerate(envelope["events"])]


def _event(
    raw: Any, index: int, delivery: Delivery, registry: RegistrySettings
) -> PushEvent | IgnoredEvent:
    event = raw if isinstance(raw, dict) else {}
    target = event.get("target") if isinstance(event.get("target"), dict) else {}
    event_id = _text(event.get("id"))
    usable_id = bool(_ID.fullmatch(event_id))
    # Without a usable id the event can still be recorded (as ignored) under one derived from
    # the delivery, so that two different deliveries never collide.
    delivery_id = event_id if usable_id else f"body-{_body_hash(delivery)}-{index}"

    def ignored(reason: str) -> IgnoredEvent:
        return IgnoredEvent(
            registry=registry.name,
            sender=name,
            delivery_id=delivery_id,
            received_at=delivery.received_at,
            reason=reason,
            repository=_text(target.get("repository"))[:255] or None,
            tag=_text(target.get("tag"))[:128] or None,
            digest=_text(target.get("digest"))[:100] or None,
            media_type=_text(target.get("mediaType"))[:255] or None,
        )

    if not isinstance(raw, dict):
        return ignored("event is not a JSON object")
    if not usable_id:
        return ignored("event has no usable id")
    action = _text(event.get("action"))
    if action != "push":
        return ignored(f"action {action or '(none)'!r} is not a push")
    media_type = _text(target.get("mediaType"))
    if _is_blob(media_type):
        return ignored("blob push (layer or config), not a manifest")
    if media_type == _SCHEMA1:
        return ignored("schema 1 manifests are deprecated and not analyzed")
    if media_type not in IMAGE_MANIFEST_TYPES | IMAGE_INDEX_TYPES:
        return ignored(f"media type {media_type!r} is not an image manifest or index")
    repository, digest, tag = (
        _text(target.get("repository")),
        _text(target.get("digest")),
        _text(target.get("tag")),
    )
    if not _REPOSITORY.fullmatch(repository) or len(repository) > 255:
        return ignored(f"repository {repository[:80]!r} is not a valid repository name")
    if not _DIGEST.fullmatch(digest) or len(digest) > 100:
        return ignored("target has no valid digest")
    if tag and not _TAG.fullmatch(tag):
        return ignored(f"tag {tag[:80]!r} is not a valid tag")
    actor = event.get("actor") if isinstance(event.get("actor"), dict) else {}
    return PushEvent(
        registry=registry.name,
        sender=name,
        host=registry.host,
        repository=repository,
        digest=digest,
        tag=tag or None,
        media_type=media_type,
        delivery_id=delivery_id,
        received_at=delivery.received_at,
        pusher=_text(actor.get("name"))[:255] or None,
    )


def _text(value: Any) -> str:
    """A string from the payload, safe to store: no NUL (PostgreSQL refuses it) and no lone
    surrogates (no database can encode them)."""
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _body_hash(delivery: Delivery) -> str:
    return hashlib.sha256(delivery.body).hexdigest()[:16]
