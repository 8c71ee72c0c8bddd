"""A generic JSON webhook, signed, for whatever a team runs itself.

Body (``Content-Type: application/json``), schema ``tightship.notice/v1``::

    {"schema": "tightship.notice/v1",
     "kind": "findings" | "pr" | "fixed",       # the main event; "digest" for the weekly one
     "events": ["findings", "pr"],              # every event this notice is about
     "registry": "local", "image": "reg.example/acme/orders",
     "reference": "reg.example/acme/orders:1.0", "digest": "sha256:…",
     "findings": [{"rule", "severity", "title", "evidence", "path", "status": "new" | "open"}],
     "fixed": [{"rule", "severity", "title", "evidence", "path"}],
     "omitted": 0,                              # findings left out past MAX_FINDINGS
     "fix": {"status", "detail", "url", "repository", "branch"},
     "dashboard_url": null}

    {"schema": "tightship.notice/v1", "kind": "digest", "week": "2026-W48", "images": 12,
     "passing": {"non-root": 0.75, …}, "new_findings": 3, "fixed_findings": 5, "open_prs": 2,
     "dashboard_url": null}

Evidence is redacted before it is stored, so no secret value reaches the body.

Signature: each POST has ``X-Tightship-Timestamp`` (Unix seconds, when it was sent) and
``X-Tightship-Signature-256: sha256=<hex>``, the HMAC-SHA256 with the channel's ``secret`` of
the bytes ``<timestamp>.<raw body>`` (the timestamp header's value, one ASCII dot, then the
body exactly as received). A receiver recomputes it over the raw body, compares in constant
time, and rejects a timestamp more than a few minutes old, which stops replays.
``X-Tightship-Delivery`` names the message; a retry keeps it, so a receiver can drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from app.config import NotifyChannel, WebhookChannel
from app.models import Finding, Notice, WeeklyDigest
from app.notify.text import lines

name = "webhook"
SCHEMA = "tightship.notice/v1"
MAX_FINDINGS = 500
SIGNATURE_HEADER = "X-Tightship-Signature-256"
TIMESTAMP_HEADER = "X-Tightship-Timestamp"
DELIVERY_HEADER = "X-Tightship-Delivery"


def payload(notice: Notice) -> dict[str, Any]:
    entries = lines(notice)
    shown = entries[:MAX_FINDINGS]
    return {
        "schema": SCHEMA,
        "kind": notice.events[0] if notice.events else "findings",
        "events": list(notice.events),
        "registry": notice.registry,
        "image": notice.image,
        "reference": notice.reference,
        "digest": notice.digest,
        "findings": [
            {**_finding(line.finding), "status": line.status}
            for line in shown
            if line.status != "fixed"
        ],
        "fixed": [_finding(line.finding) for line in shown if line.status == "fixed"],
        "omitted": len(entries) - len(shown),
        "fix": {
            "status": notice.fix_status,
            "detail": notice.fix_detail,
            "url": notice.pull_url,
            "repository": notice.repository,
            "branch": notice.branch,
        },
        "dashboard_url": notice.dashboard_url,
    }


def digest_payload(digest: WeeklyDigest) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": "digest",
        "week": digest.week,
        "images": digest.images,
        "passing": dict(digest.passing),
        "new_findings": digest.new_findings,
        "fixed_findings": digest.fixed_findings,
        "open_prs": digest.open_prs,
        "dashboard_url": digest.dashboard_url,
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def prepare(channel: NotifyChannel, body: bytes) -> tuple[str, dict[str, str]]:
    if not isinstance(channel, WebhookChannel):
        raise TypeError(f"a {channel.type} channel has no signing secret")
    return channel.url.get_secret_value(), signed_headers(channel.secret.get_secret_value(), body)


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "title": finding.title,
        "evidence": finding.evidence,
        "path": finding.path,
    }
