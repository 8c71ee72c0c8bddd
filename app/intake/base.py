"""What every registry sender module provides, and the errors intake answers with."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

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


class PayloadError(ValueError):
    """A body that is authentic but cannot be mapped; intake answers 400 with this reason."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP request as a sender module sees it: raw bytes, so signatures can be checked."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]
    received_at: datetime


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


def bearer_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer <token>`` header."""
    scheme, _, value = (header or "").partition(" ")
    expected = token.encode()
    supplied = value.strip().encode() if scheme.lower() == "bearer" else b""
    return hmac.compare_digest(supplied, expected)
