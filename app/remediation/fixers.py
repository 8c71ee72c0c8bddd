"""The one place fixers are registered; the first whose ``applies`` is true owns the build."""

from __future__ import annotations

from app.remediation import dockerfile, jib_gradle, jib_maven
from app.remediation.base import Fixer

FIXERS: tuple[Fixer, ...] = (jib_maven, jib_gradle, dockerfile)  # type: ignore[assignment]  # modules as Fixers
