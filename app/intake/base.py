"""What every registry sender module provides, and the helpers they share.

A sender module has ``name``, ``verify(delivery, registry) -> bool``,
``parse(delivery, registry) -> list[PushEvent | IgnoredEvent]`` and
``check(registry) -> str | None`` (what its webhook configuration lacks, or None). Parsing
never trusts the payload's host: events are named by the configured registry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from app.models import IgnoredEvent, PushEvent

if TYPE_CHECKING:
    from app.config import RegistrySettings

# Manifest media types that describe a runnable image (or a set of them).
IMAGE_MANIFEST_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    }
)
IMAGE_INDEX_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    }
)
DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
REPOSITORY = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# cosign stores what it attaches to an image under tags named by the image's digest
COSIGN_TAG = re.compile(r"sha256-[a-f0-9]{64}\.(?P<kind>sig|att|sbom)")
_COSIGN_KINDS = {"sig": "signature", "att": "attestation", "sbom": "SBOM"}
DELIVERY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class PayloadError(ValueError):
    """A body that is authentic but cannot be mapped; intake answers 400 with this reason."""


class Ping(Exception):
    """A sender's test or ping delivery: answered 200, nothing stored."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP request as a sender module sees it: raw bytes, so signatures can be checked."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]
    received_at: datetime

    @property
    def digest(self) -> str:
        """Identifies the body, for senders whose events carry no id of their own."""
        return hashlib.sha256(self.body).hexdigest()[:16]


class Sender(Protocol):
    name: str

    def verify(self, delivery: Delivery, registry: RegistrySettings) -> bool:
        """True when the delivery proves it comes from the configured registry."""
        ...

    def parse(
        self, delivery: Delivery, registry: RegistrySettings
    ) -> list[PushEvent | IgnoredEvent]:
        """Map the payload; raise PayloadError when it is not the sender's format at all."""
        ...

    def check(self, registry: RegistrySettings) -> str | None:
        """What the registry's webhook settings lack for this sender, or None."""
        ...


def same_secret(supplied: str | bytes | None, expected: str) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if supplied is None:
        return False
    raw = supplied.encode() if isinstance(supplied, str) else supplied
    return hmac.compare_digest(raw, expected.encode())


def bearer_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer <token>`` header."""
    scheme, _, value = (header or "").partition(" ")
    return same_secret(value.strip() if scheme.lower() == "bearer" else None, token)


def check_url_token(registry: RegistrySettings) -> str | None:
    """For senders that can neither sign nor add headers: the token rides in the URL."""
    return None if registry.webhook.token else "webhook.token is required (?token= in the URL)"


def verify_url_token(delivery: Delivery, registry: RegistrySettings) -> bool:
    token = registry.webhook.token
    return token is not None and same_secret(delivery.query.get("token"), token.get_secret_value())


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise PayloadError(f"body is not usable JSON: {str(exc)[:100]}") from None


def text(value: Any, limit: int = 255) -> str:
    """A string from the payload, safe to store: no NUL (PostgreSQL refuses it), no lone
    surrogates (no database can encode them), and no longer than a column."""
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:limit]


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def delivery_id(candidate: Any, delivery: Delivery, index: int) -> str:
    """The sender's own id when it has a usable one, else one derived from the body."""
    value = text(candidate, 200)
    return value if DELIVERY_ID.fullmatch(value) else f"body-{delivery.digest}-{index}"


def image_event(
    *,
    sender: str,
    registry: RegistrySettings,
    delivery: Delivery,
    delivery_id: str,
    repository: Any,
    digest: Any = None,
    tag: Any = None,
    media_type: Any = None,
    pusher: Any = None,
) -> PushEvent | IgnoredEvent:
    """A PushEvent when the fields name an image precisely, else an IgnoredEvent saying why."""
    repository, digest, tag = text(repository), text(digest, 200), text(tag, 200)
    media_type = text(media_type) or None
    if tag == digest or DIGEST.fullmatch(tag):
        tag = ""  # senders put the digest in the tag field of an untagged push

    def ignored(reason: str) -> IgnoredEvent:
        return IgnoredEvent(
            registry=registry.name,
            sender=sender,
            delivery_id=delivery_id,
            received_at=delivery.received_at,
            reason=reason,
            repository=repository or None,
            tag=tag[:128] or None,
            digest=digest[:100] or None,
            media_type=media_type,
        )

    if not REPOSITORY.fullmatch(repository):
        return ignored(f"repository {repository[:80]!r} is not a valid repository name")
    if media_type and media_type not in IMAGE_MANIFEST_TYPES | IMAGE_INDEX_TYPES:
        return ignored(f"media type {media_type!r} is not an image manifest or index")
    if digest and not DIGEST.fullmatch(digest):
        return ignored("the event's digest is not a valid digest")
    if tag and not TAG.fullmatch(tag):
        return ignored(f"tag {tag[:80]!r} is not a valid tag")
    if cosign := COSIGN_TAG.fullmatch(tag):
        return ignored(f"tag {tag!r} is a cosign {_COSIGN_KINDS[cosign['kind']]}, not an image")
    if not digest and not tag:
        return ignored("the event names neither a digest nor a tag")
    return PushEvent(
        registry=registry.name,
        sender=sender,
        host=registry.host,
        repository=repository,
        digest=digest or None,
        tag=tag or None,
        media_type=media_type,
        delivery_id=delivery_id,
        received_at=delivery.received_at,
        pusher=text(pusher) or None,
    )


def ignore(
    sender: str,
    registry: RegistrySettings,
    delivery: Delivery,
    delivery_id: str,
    reason: str,
    repository: Any = None,
) -> IgnoredEvent:
    return IgnoredEvent(
        registry=registry.name,
        sender=sender,
        delivery_id=delivery_id,
        received_at=delivery.received_at,
        reason=reason,
        repository=text(repository) or None,
    )
