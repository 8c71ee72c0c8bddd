"""Google Chat incoming webhooks: a cardsV2 message, threaded per image repository.

Every message about one image repository carries the same ``thread.threadKey``, and the
webhook URL gets ``messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`` (without it
Google Chat starts a new thread each time; the ``threadKey`` query parameter is deprecated,
so the key goes in the body). A card message is limited to about 32 KB; the findings are
cut to stay well inside that.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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

name = "google_chat"
MAX_BYTES = 30_000
MAX_FINDINGS = 30
MAX_TEXT = 1_000
REPLY_OPTION = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"


def thread_key(notice: Notice) -> str:
    """Stable per image repository (host/repository), so pushes and rescans thread together."""
    return f"tightship/{notice.image or notice.reference}"


def payload(notice: Notice) -> dict[str, Any]:
    entries = lines(notice)
    return fitted(entries, MAX_FINDINGS, MAX_BYTES, lambda shown: _message(notice, entries, shown))


def _message(notice: Notice, entries: list[Line], shown: int) -> dict[str, Any]:
    title = f"Tightship: {headline(notice)}"
    widgets: list[dict[str, Any]] = [
        {
            "decoratedText": {
                "topLabel": label(line),
                "text": _html(finding_text(line.finding)),
                "wrapText": True,
            }
        }
        for line in entries[:shown]
    ]
    if len(entries) > shown:
        widgets.append(
            {"textParagraph": {"text": _html(more(len(entries) - shown, notice.dashboard_url))}}
        )
    sections: list[dict[str, Any]] = [
        {"header": _html(f"Findings: {summary(notice)}"), "collapsible": False, "widgets": widgets}
    ]
    fix = f"Fix {fix_text(notice)}"
    buttons = []
    if notice.pull_url:
        buttons.append(_button("Review fix PR", notice.pull_url))
    if notice.dashboard_url:
        buttons.append(_button("Full report", notice.dashboard_url))
    fix_widgets: list[dict[str, Any]] = [{"textParagraph": {"text": _html(fix)}}]
    if buttons:
        fix_widgets.append({"buttonList": {"buttons": buttons}})
    sections.append({"widgets": fix_widgets})
    return {
        "text": cut(title, MAX_TEXT),
        "cardsV2": [
            {
                "cardId": "tightship-notice",
                "card": {
                    "header": {
                        "title": _html(title),
                        "subtitle": _html(f"{notice.reference} {notice.digest}"),
                    },
                    "sections": sections,
                },
            }
        ],
        "thread": {"threadKey": thread_key(notice)},
    }


def digest_payload(digest: WeeklyDigest) -> dict[str, Any]:
    title = digest_headline(digest)
    widgets: list[dict[str, Any]] = [
        {"decoratedText": {"topLabel": _html(label), "text": _html(value)}}
        for label, value in digest_facts(digest)
    ]
    if digest.dashboard_url:
        widgets.append({"buttonList": {"buttons": [_button("Dashboard", digest.dashboard_url)]}})
    return {
        "text": title,
        "cardsV2": [
            {
                "cardId": "tightship-digest",
                "card": {"header": {"title": _html(title)}, "sections": [{"widgets": widgets}]},
            }
        ],
        "thread": {"threadKey": "tightship/weekly-digest"},
    }


def prepare(channel: NotifyChannel, body: bytes) -> tuple[str, dict[str, str]]:
    """The webhook URL with the reply option that makes ``threadKey`` thread the messages."""
    parts = urlsplit(channel.url.get_secret_value())
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "messageReplyOption"]
    query.append(("messageReplyOption", REPLY_OPTION))
    return urlunsplit(parts._replace(query=urlencode(query))), {
        "Content-Type": "application/json; charset=UTF-8"
    }


def _button(text: str, url: str) -> dict[str, Any]:
    return {"text": text, "onClick": {"openLink": {"url": url}}}


def _html(text: str) -> str:
    """Card text is a small HTML subset: image data must not become tags or links."""
    return escape(cut(text, MAX_TEXT), quote=False)
