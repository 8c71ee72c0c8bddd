"""Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received").

The Office 365 connectors are retired; a Workflows trigger takes a message whose one
attachment is an Adaptive Card (version 1.4 renders in Teams). Teams refuses a message over
about 28 KB, so the findings are cut until the whole body fits.
"""

from __future__ import annotations

import re
from typing import Any

from app.config import NotifyChannel
from app.models import Notice, WeeklyDigest
from app.notify.text import (
    Line,
    cut,
    digest_facts,
    digest_headline,
    finding_text,
    fitted,
    fix_text,
    headline,
    label,
    lines,
    more,
    summary,
)

name = "teams"
MAX_BYTES = 27_000  # under Teams' ~28 KB, with room for the envelope Workflows adds
MAX_FINDINGS = 40
MAX_TEXT = 1_000
CARD_VERSION = "1.4"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>#~|])")


def payload(notice: Notice) -> dict[str, Any]:
    entries = lines(notice)
    return fitted(
        entries, MAX_FINDINGS, MAX_BYTES, lambda shown: _envelope(*_card(notice, entries, shown))
    )


def _card(
    notice: Notice, entries: list[Line], shown: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    facts = [
        {"title": label(line), "value": _text(finding_text(line.finding))}
        for line in entries[:shown]
    ]
    body: list[dict[str, Any]] = [
        _title(f"Tightship: {headline(notice)}"),
        {
            "type": "TextBlock",
            "text": _text(f"{notice.reference} {notice.digest}"),
            "isSubtle": True,
            "spacing": "None",
            "wrap": True,
        },
        {"type": "TextBlock", "text": _text(f"Findings: {summary(notice)}"), "wrap": True},
    ]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    if len(entries) > shown:
        body.append(
            {
                "type": "TextBlock",
                "text": _text(more(len(entries) - shown, notice.dashboard_url)),
                "wrap": True,
            }
        )
    body.append({"type": "TextBlock", "text": _text(f"Fix {fix_text(notice)}"), "wrap": True})
    actions = []
    if notice.pull_url:
        actions.append(_open("Review fix PR", notice.pull_url))
    if notice.dashboard_url:
        actions.append(_open("Full report", notice.dashboard_url))
    return body, actions


def digest_payload(digest: WeeklyDigest) -> dict[str, Any]:
    facts = [{"title": _text(k), "value": _text(v)} for k, v in digest_facts(digest)]
    body = [_title(digest_headline(digest)), {"type": "FactSet", "facts": facts}]
    actions = [_open("Dashboard", digest.dashboard_url)] if digest.dashboard_url else []
    return _envelope(body, actions)


def prepare(channel: NotifyChannel, body: bytes) -> tuple[str, dict[str, str]]:
    return channel.url.get_secret_value(), {"Content-Type": "application/json"}


def _envelope(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }


def _title(text: str) -> dict[str, Any]:
    return {
        "type": "TextBlock",
        "text": _text(text),
        "size": "Large",
        "weight": "Bolder",
        "wrap": True,
    }


def _open(title: str, url: str) -> dict[str, Any]:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def _text(text: str) -> str:
    """Card text is Markdown: image data must not become links or formatting."""
    return _MARKDOWN.sub(r"\\\1", cut(text, MAX_TEXT))
