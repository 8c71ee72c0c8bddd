"""Chat notifications: one module per platform, registered here and nowhere else.

``send`` turns a notice into one message per channel that wants it (its events, minimum
severity, registries and repositories). While a queued task runs (``OUTBOX`` is set by
``app.jobs.queue.Jobs``), each message becomes a delivery task of its own, so a slow or dead
channel costs a scan nothing and a rate limit is waited out by the queue; elsewhere (tests,
``tightship scan``) the message is posted right away, once. Either way nothing a channel does
raises here.

A queued message holds the channel's position and a fingerprint of it, never its URL or
secret: the worker reads those from its own settings when it posts, and drops the message if
the channel changed meanwhile. Webhook URLs are bearer credentials: no log line names one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import requests

from app import metrics
from app.config import NotifyChannel, Settings
from app.models import Finding, Notice, WeeklyDigest
from app.notify import google_chat, slack, teams, webhook
from app.notify.text import at_least

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 3600.0  # a longer Retry-After is waited for an hour, then asked again
DEFAULT_RETRY_AFTER = 60.0  # a 429 without a usable Retry-After
MAX_AGE = 24 * 3600.0  # a message still undelivered after a day is news no longer: dropped
DELIVERY_HEADER = "X-Tightship-Delivery"
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


class Platform(Protocol):
    name: str

    def payload(self, notice: Notice) -> dict[str, Any]: ...

    def digest_payload(self, digest: WeeklyDigest) -> dict[str, Any]: ...

    def prepare(self, channel: NotifyChannel, body: bytes) -> tuple[str, dict[str, str]]: ...


PLATFORMS: dict[str, Platform] = {m.name: m for m in (slack, google_chat, teams, webhook)}


@dataclass(frozen=True, slots=True)
class Message:
    """One body for one channel; what a delivery task carries (no URL, no secret)."""

    id: str
    channel: int  # position in settings.notify
    channel_key: str  # fingerprint of the channel, to notice it was reconfigured
    about: str  # for logs: the event and image
    body: bytes
    created: float


class Outbox(Protocol):
    def enqueue_delivery(self, message: Message) -> None: ...


OUTBOX: ContextVar[Outbox | None] = ContextVar("tightship_notify_outbox", default=None)
_POSTING: ContextVar[bool] = ContextVar("tightship_notify_posting", default=False)


class _HideChatRequests(logging.Filter):
    """urllib3 logs each request's path at DEBUG; a chat webhook's path is its credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _POSTING.get()


logging.getLogger("urllib3.connectionpool").addFilter(_HideChatRequests())


class RateLimited(Exception):
    """The channel answered 429: post again after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"rate limited for {delay:.0f}s")
        self.delay = delay


class Unavailable(Exception):
    """A 5xx or no answer: worth trying again later."""


def send(settings: Settings, notice: Notice, timeout: float = 10.0) -> int:
    """Tell every channel that wants this notice; returns how many messages were queued or
    accepted."""
    messages = []
    for index, channel in enumerate(settings.notify):
        told = for_channel(channel, notice)
        if told is not None:
            about = f"{told.events[0]} {told.reference}"
            messages += _build(index, channel, about, lambda p, n=told: p.payload(n))
    return _dispatch(settings, messages, timeout)


def send_digest(settings: Settings, digest: WeeklyDigest, timeout: float = 10.0) -> int:
    """The weekly digest to every channel whose events include ``digest``."""
    messages = []
    for index, channel in enumerate(settings.notify):
        if "digest" in channel.events:
            about = f"digest {digest.week}"
            messages += _build(index, channel, about, lambda p: p.digest_payload(digest))
    return _dispatch(settings, messages, timeout)


def for_channel(channel: NotifyChannel, notice: Notice) -> Notice | None:
    """The notice as this channel sees it (findings below its minimum severity left out), or
    None when nothing in it is for this channel."""
    host, _, repository = (notice.image or "").partition("/")
    if not channel.wants(notice.registry, host or None, repository or None):
        return None

    def kept(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
        return tuple(f for f in findings if at_least(f.severity, channel.min_severity))

    findings, fixed = kept(notice.findings), kept(notice.fixed)
    new = None if notice.new is None else kept(notice.new)
    happened = {
        "findings": bool(findings if new is None else new),
        "pr": bool(findings),
        "fixed": bool(fixed),
    }
    events = tuple(e for e in notice.events if e in channel.events and happened.get(e))
    if not events:
        return None
    return replace(notice, findings=findings, new=new, fixed=fixed, events=events)


def deliver(
    settings: Settings,
    message: Message,
    timeout: float = 10.0,
    queued: bool = False,
    final: bool = True,
) -> bool:
    """Post one message. True: accepted; False: dropped for good (a 4xx, a channel gone or
    changed, a message too old). Raises RateLimited or Unavailable when a later try may work.
    ``queued``: the queue retries (a 429 always, until MAX_AGE; the rest unless ``final``);
    only the log depends on them."""
    context: dict[str, Any] = {"channel": f"notify.{message.channel}", "about": message.about}
    channel = _channel(settings, message)
    if channel is None:
        log.warning("chat channel changed since the message was queued; dropped", extra=context)
        return False
    context["type"] = channel.type
    if time.time() - message.created > MAX_AGE:
        log.warning("chat message expired undelivered; dropped", extra=context)
        return False
    url, headers = PLATFORMS[channel.type].prepare(channel, message.body)
    headers[DELIVERY_HEADER] = message.id
    posting = _POSTING.set(True)
    try:
        response = requests.post(
            url, data=message.body, headers=headers, timeout=timeout, allow_redirects=False
        )
    except requests.RequestException as exc:
        # The exception's text holds the URL, a credential: only its type is logged.
        _failed(context, None, type(exc).__name__, "retry" if queued and not final else "drop")
        raise Unavailable(f"{context['channel']}: {type(exc).__name__}") from None
    finally:
        _POSTING.reset(posting)
    status = response.status_code
    if 200 <= status < 300:
        log.info("chat message delivered", extra={**context, "status": status})
        return True
    if status == 429:
        delay = retry_after(response.headers.get("Retry-After"))
        _failed(context, status, "rate limited", "retry" if queued else "drop", delay)
        raise RateLimited(delay)
    if status >= 500:
        _failed(context, status, "server error", "retry" if queued and not final else "drop")
        raise Unavailable(f"{context['channel']}: answered {status}")
    # 4xx (Slack 404 channel_not_found, 410 channel_is_archived, 403 no_service, …), or a
    # redirect: the same message will never be accepted.
    reason = response.text.strip()[:40]  # Slack's error codes; anything else could echo a URL
    _failed(context, status, reason if _ERROR_CODE.fullmatch(reason) else "refused", "drop")
    return False


def retry_after(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), within bounds."""
    seconds = DEFAULT_RETRY_AFTER
    if value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 1.0), MAX_RETRY_AFTER)


def channel_key(channel: NotifyChannel) -> str:
    return hashlib.sha256(f"{channel.type}\0{channel.url.get_secret_value()}".encode()).hexdigest()[
        :16
    ]


def _build(
    index: int,
    channel: NotifyChannel,
    about: str,
    make: Callable[[Platform], dict[str, Any]],
) -> list[Message]:
    """The channel's message, or none if its format fails (logged: never the sender's problem)."""
    try:
        body = json.dumps(make(PLATFORMS[channel.type]), ensure_ascii=False).encode()
    except Exception:
        log.exception("chat message not built", extra={"channel": f"notify.{index}"})
        return []
    return [
        Message(
            id=str(uuid.uuid4()),
            channel=index,
            channel_key=channel_key(channel),
            about=about,
            body=body,
            created=time.time(),
        )
    ]


def _dispatch(settings: Settings, messages: list[Message], timeout: float) -> int:
    outbox = OUTBOX.get()
    done = 0
    for message in messages:
        if outbox is not None:
            try:
                outbox.enqueue_delivery(message)
                done += 1
                continue
            except Exception as exc:  # the queue's storage is down: post it now instead
                log.warning(
                    "chat message not queued; posting it now",
                    extra={"channel": f"notify.{message.channel}", "error": type(exc).__name__},
                )
        try:
            done += deliver(settings, message, timeout=timeout)
        except (RateLimited, Unavailable):
            continue  # logged; inline there is no later try
        except Exception:  # a chat channel must never fail the caller
            log.exception("chat delivery crashed", extra={"channel": f"notify.{message.channel}"})
    return done


def _channel(settings: Settings, message: Message) -> NotifyChannel | None:
    if message.channel >= len(settings.notify):
        return None
    channel = settings.notify[message.channel]
    return channel if channel_key(channel) == message.channel_key else None


def _failed(
    context: dict[str, Any], status: int | None, error: str, action: str, delay: float | None = None
) -> None:
    metrics.chat_failure(str(context.get("type", "unknown")))
    log.warning(
        "chat delivery failed",
        extra={**context, "status": status, "error": error, "action": action, "retry_in": delay},
    )
