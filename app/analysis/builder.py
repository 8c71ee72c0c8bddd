"""Which tool built an image, judged from its config history (see research/analysis.md §2)."""

from __future__ import annotations

import re

from app.analysis.facts import ImageFacts
from app.models import Builder

_JIB_CREATED_BY = re.compile(
    r"^(?P<tool>jib(?:-maven-plugin|-gradle-plugin|-cli|-core)?)(?::(?P<version>\S*))?$"
)


def detect(facts: ImageFacts) -> Builder:
    for entry in facts.history:
        created_by = entry.get("created_by")
        created_by = created_by.strip() if isinstance(created_by, str) else ""
        match = _JIB_CREATED_BY.match(created_by)
        if match or entry.get("author") == "Jib":
            version = match["version"] if match else None
            return Builder(
                kind="jib",
                tool=match["tool"] if match else None,
                version=None if version in (None, "", "null") else version,
                evidence=f"history created_by {created_by!r}, author {entry.get('author')!r}",
            )
    return Builder(kind="unknown")
