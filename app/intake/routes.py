"""``POST /webhooks/<registry name>``: verify, normalize, persist, enqueue, answer 202.

Status codes are chosen for senders that retry: only a request that can never succeed
gets a 4xx, and nothing a payload contains can produce a 5xx.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, jsonify, request

from app import metrics
from app.intake import SENDERS
from app.intake.base import Delivery, PayloadError, Ping
from app.models import IgnoredEvent, PushEvent
from app.store import repo
from app.store.db import WriteBusy

if TYPE_CHECKING:
    from app.config import RegistrySettings

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024

bp = Blueprint("intake", __name__)


def _error(status: int, reason: str) -> tuple[Response, int]:
    return jsonify(error=reason), status


def _filtered(
    event: PushEvent | IgnoredEvent, registry: RegistrySettings
) -> PushEvent | IgnoredEvent:
    """Repositories the registry's include/exclude globs leave out are recorded, not analyzed."""
    if isinstance(event, IgnoredEvent) or registry.wanted(event.repository):
        return event
    return IgnoredEvent(
        registry=event.registry,
        sender=event.sender,
        delivery_id=event.delivery_id,
        received_at=event.received_at,
        reason="repository left out by the registry's include/exclude",
        repository=event.repository,
        tag=event.tag,
        digest=event.digest,
        media_type=event.media_type,
    )


@bp.post("/webhooks/<name>")
def receive(name: str) -> tuple[Response, int]:
    settings = current_app.extensions["tightship.settings"]
    registry = settings.registry(name)
    if registry is None:
        return _error(404, "no such webhook")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, f"body is larger than {MAX_BODY} bytes")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _error(413, f"body is larger than {MAX_BODY} bytes")
    delivery = Delivery(
        body=body,
        headers=request.headers,
        query=request.args,
        received_at=datetime.now(UTC),
    )
    sender = SENDERS[registry.sender]
    if not sender.verify(delivery, registry):
        log.warning("webhook rejected", extra={"registry": name, "reason": "authentication"})
        metrics.event(registry.sender, "rejected")
        return _error(401, "unauthorized")
    try:
        events = [_filtered(event, registry) for event in sender.parse(delivery, registry)]
    except PayloadError as exc:
        log.info("webhook refused", extra={"registry": name, "reason": str(exc)})
        metrics.event(registry.sender, "rejected")
        return _error(400, str(exc))
    except Ping as ping:
        log.info("webhook ping", extra={"registry": name, "kind": str(ping)})
        return jsonify(ping="ok"), 200
    db = current_app.extensions["tightship.db"]
    jobs = current_app.extensions["tightship.jobs"]
    try:
        # With a SQLite store, the SQLite queue's write happens inside the same turn.
        with db.writing():
            with db.session() as session:
                recorded = repo.record_events(session, events)
            jobs.enqueue_events(recorded.queued)
    except WriteBusy as exc:  # nothing was stored: the sender delivers it again later
        log.warning("webhook deferred", extra={"registry": name, "reason": str(exc)})
        response, status = _error(503, "the store is busy; deliver again later")
        response.headers["Retry-After"] = "5"
        return response, status
    metrics.event(registry.sender, "stored", len(recorded.queued))
    metrics.event(registry.sender, "ignored", recorded.ignored)
    log.info(
        "webhook accepted",
        extra={
            "registry": name,
            "events": len(events),
            "queued": len(recorded.queued),
            "ignored": recorded.ignored,
            "duplicates": recorded.duplicates,
            "images": sorted({e.image for e in events if isinstance(e, PushEvent)}),
        },
    )
    return (
        jsonify(
            queued=len(recorded.queued), ignored=recorded.ignored, duplicates=recorded.duplicates
        ),
        202,
    )
