"""Non-root: a production container should never run as uid 0."""

from __future__ import annotations

from app.analysis.facts import ImageFacts
from app.analysis.user import is_root
from app.models import Finding, Severity

ROOT_USER = "root-user"


def judge(facts: ImageFacts) -> list[Finding]:
    if not is_root(facts.user):
        return []
    shown = repr(facts.user) if facts.user else "empty (defaults to root)"
    return [
        Finding(
            rule=ROOT_USER,
            severity=Severity.HIGH,
            title="Container runs as root",
            evidence=f"config User is {shown}",
        )
    ]
