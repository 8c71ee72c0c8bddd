"""Slack incoming webhooks with Block Kit.

Slack rejects a message with more than 50 blocks or a section text over 3,000 characters,
so the findings are summarised into a bounded number of sections.
"""

from __future__ import annotations

from typing import Any

from app.config import NotifyChannel
from app.models import Notice, WeeklyDigest
from app.notify.text import (
    cut,
    digest_facts,
    digest_headline,
    fix_text,
    headline,
    lines,
    summary,
)

name = "slack"
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_FINDING_BLOCKS = 20
_ICON = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":white_circle:",
}


def payload(notice: Notice) -> dict[str, Any]:
    title = f"Tightship: {headline(notice)}"
    blocks: list[dict[str, Any]] = [
        _header(title),
        _section(
            f"*Image* `{_escape(notice.reference)}`\n*Digest* `{_escape(notice.digest)}`\n"
            f"*Findings* {summary(notice)}"
        ),
    ]
    entries = lines(notice)
    for line in entries[:MAX_FINDING_BLOCKS]:
        finding = line.finding
        icon = ":white_check_mark:" if line.status == "fixed" else _ICON[finding.severity.value]
        mark = f" *{line.status}*" if line.status != "open" else ""
        where = f" at `{_escape(finding.path)}`" if finding.path else ""
        blocks.append(
            _section(
                f"{icon}{mark} *{finding.rule}* ({finding.severity.value}){where}\n"
                f"{_escape(finding.title)}: {_escape(finding.evidence)}"
            )
        )
    if len(entries) > MAX_FINDING_BLOCKS:
        blocks.append(_section(_more(len(entries) - MAX_FINDING_BLOCKS, notice.dashboard_url)))
    if notice.pull_url:
        detail = _escape(notice.fix_detail or "")
        fix = f"*Fix* {notice.fix_status}: <{notice.pull_url}|{detail or 'pull request'}>"
    elif notice.branch:
        fix = f"*Fix* {notice.fix_status} branch `{notice.branch}` in `{notice.repository}`"
    else:
        fix = f"*Fix* {_escape(fix_text(notice))}"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(fix, MAX_SECTION_CHARS)}]}
    )
    return {"text": title, "blocks": blocks[:MAX_BLOCKS]}


def digest_payload(digest: WeeklyDigest) -> dict[str, Any]:
    title = digest_headline(digest)
    facts = "\n".join(
        f"*{_escape(label)}* {_escape(value)}" for label, value in digest_facts(digest)
    )
    blocks: list[dict[str, Any]] = [_header(title), _section(facts)]
    if digest.dashboard_url:
        blocks.append(_section(f"<{digest.dashboard_url}|Open the dashboard>"))
    return {"text": title, "blocks": blocks}


def prepare(channel: NotifyChannel, body: bytes) -> tuple[str, dict[str, str]]:
    return channel.url.get_secret_value(), {"Content-Type": "application/json"}


def _more(count: int, url: str | None) -> str:
    return f"…and {count} more" + (f": <{url}|full report>" if url else "")


def _escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as markup; image data must not become links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, MAX_HEADER_CHARS)}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION_CHARS)}}
