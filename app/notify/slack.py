"""Slack incoming webhooks with Block Kit.

Slack rejects a message with more than 50 blocks or a section text over 3,000 characters,
so the findings are summarised into a bounded number of sections.
"""

from __future__ import annotations

from typing import Any

from app.models import Notice

name = "slack"
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FINDING_BLOCKS = 20
_ICON = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":white_circle:",
}


def payload(notice: Notice) -> dict[str, Any]:
    count = len(notice.findings)
    headline = f"{count} finding{'s' if count != 1 else ''} in {notice.reference}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"Tightship: {headline}", 150)},
        },
        _section(f"*Image* `{_escape(notice.reference)}`\n*Digest* `{_escape(notice.digest)}`"),
    ]
    for finding in notice.findings[:MAX_FINDING_BLOCKS]:
        icon = _ICON.get(finding.severity.value, "")
        where = f" at `{_escape(finding.path)}`" if finding.path else ""
        blocks.append(
            _section(
                f"{icon} *{finding.rule}* ({finding.severity.value}){where}\n"
                f"{_escape(finding.title)}: {_escape(finding.evidence)}"
            )
        )
    if count > MAX_FINDING_BLOCKS:
        blocks.append(_section(f"…and {count - MAX_FINDING_BLOCKS} more"))
    if notice.pull_url:
        detail = _escape(notice.fix_detail or "")
        fix = f"*Fix* {notice.fix_status}: <{notice.pull_url}|{detail or 'pull request'}>"
    elif notice.branch:
        fix = f"*Fix* {notice.fix_status} branch `{notice.branch}` in `{notice.repository}`"
    else:
        detail = _escape(notice.fix_detail or "no change proposed")
        fix = f"*Fix* {notice.fix_status or 'none'}: {detail}"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(fix, MAX_SECTION_CHARS)}]}
    )
    return {"text": f"Tightship: {headline}", "blocks": blocks[:MAX_BLOCKS]}


def _escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as markup; image data must not become links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION_CHARS)}}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
