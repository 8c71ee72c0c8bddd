"""The one place fixers are registered; the first whose ``applies`` is true owns the build."""

from __future__ import annotations

from app.remediation import dockerfile, gcp_buildpacks, jib_gradle, jib_maven, paketo
from app.remediation.base import Fixer

FIXERS: tuple[Fixer, ...] = (  # type: ignore[assignment]  # modules as Fixers
    jib_maven,
    jib_gradle,
    gcp_buildpacks,
    paketo,
    dockerfile,
)
