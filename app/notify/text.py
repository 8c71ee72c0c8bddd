"""What every platform says, before its own markup: the headline, the finding lines, the fix.

The platform modules decide layout and limits; the wording lives here so that a message
reads the same in every chat.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.models import Finding, Notice, Severity, WeeklyDigest

SEVERITIES = tuple(Severity)  # lowest first


def at_least(severity: Severity, minimum: Severity) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(minimum)


@dataclass(frozen=True, slots=True)
class Line:
    status: str  # new, open, fixed
    finding: Finding


def lines(notice: Notice) -> list[Line]:
    """Current findings (most severe first, new ones marked when the notice says which),
    then the fixed ones."""
    new = {f.fingerprint for f in notice.fresh} if notice.new is not None else set()
    ordered = sorted(notice.findings, key=lambda f: -SEVERITIES.index(f.severity))
    current = [Line("new" if f.fingerprint in new else "open", f) for f in ordered]
    return current + [Line("fixed", f) for f in notice.fixed]


def label(line: Line) -> str:
    """The severity, and the finding's state when it is not simply open: ``High (fixed)``."""
    severity = line.finding.severity.value.capitalize()
    return severity if line.status == "open" else f"{severity} ({line.status})"


def finding_text(finding: Finding) -> str:
    where = f" at {finding.path}" if finding.path else ""
    return f"{finding.rule}{where}: {finding.title}: {finding.evidence}"


def fitted(
    entries: list[Line], most: int, max_bytes: int, message: Callable[[int], dict[str, Any]]
) -> dict[str, Any]:
    """``message(shown)`` with as many of the first findings as keep its JSON within
    ``max_bytes``: a platform refuses a message over its size limit outright, so the findings
    are halved until it fits (the rest is said as "…and N more")."""
    shown = min(len(entries), most)
    while True:
        body = message(shown)
        if shown == 0 or len(json.dumps(body).encode()) <= max_bytes:
            return body
        shown //= 2


def headline(notice: Notice) -> str:
    if notice.events == ("fixed",):
        count = len(notice.fixed)
        return f"{count} finding{_s(count)} fixed in {notice.reference}"
    count = len(notice.findings)
    return f"{count} finding{_s(count)} in {notice.reference}"


def summary(notice: Notice) -> str:
    """One line: what changed since the previous scan of this tag."""
    parts = []
    if notice.new is not None:
        parts.append(f"{len(notice.new)} new")
    if notice.fixed:
        parts.append(f"{len(notice.fixed)} fixed")
    parts.append(f"{len(notice.findings)} open")
    return ", ".join(parts)


def fix_text(notice: Notice) -> str:
    """The fix in plain words (each platform adds its own link markup for ``pull_url``)."""
    status = notice.fix_status or "none"
    if notice.pull_url:
        return f"{status}: {notice.fix_detail or 'pull request'}"
    if notice.branch:
        return f"{status} branch {notice.branch} in {notice.repository}"
    return f"{status}: {notice.fix_detail or 'no change proposed'}"


def more(count: int, url: str | None) -> str:
    return f"…and {count} more" + (f" in the full report: {url}" if url else "")


def digest_headline(digest: WeeklyDigest) -> str:
    return f"Tightship weekly digest {digest.week}: {digest.images} image{_s(digest.images)}"


def digest_facts(digest: WeeklyDigest) -> list[tuple[str, str]]:
    facts = [(concern, f"{share:.0%} passing") for concern, share in digest.passing.items()]
    return [
        *facts,
        ("New findings", str(digest.new_findings)),
        ("Fixed findings", str(digest.fixed_findings)),
        ("Open PRs", str(digest.open_prs)),
    ]


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
