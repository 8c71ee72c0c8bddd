"""What fixer tests share: an in-memory source tree and a report to fix."""

from __future__ import annotations

from collections.abc import Iterable

from app.models import BaseImage, Builder, Finding, PlatformReport, Severity, SourceHint
from app.remediation.base import FixContext
from app.remediation.bases import BaseMap


class MemoryTree:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def paths(self) -> Iterable[str]:
        return iter(self.files)


def finding(rule: str, path: str | None = None, evidence: str = "e") -> Finding:
    return Finding(rule, Severity.HIGH, rule, evidence, path=path)


def platform(
    *rules: str | Finding,
    kind: str = "jib",
    tool: str | None = "jib-maven-plugin",
    user: str = "",
) -> PlatformReport:
    return PlatformReport(
        platform="linux/amd64",
        digest="sha256:00",
        user=user,
        builder=Builder(kind, tool, None),
        base=BaseImage(),
        source=SourceHint(),
        findings=tuple(r if isinstance(r, Finding) else finding(r) for r in rules),
    )


def context(
    files: dict[str, str],
    *rules: str | Finding,
    kind: str = "jib",
    tool: str | None = "jib-maven-plugin",
    root: str = "",
    user: str = "65532:65532",
    bases: dict[str, str] | None = None,
) -> FixContext:
    return FixContext(
        platform=platform(*rules, kind=kind, tool=tool),
        tree=MemoryTree(files),
        root=root,
        user=user,
        bases=BaseMap(bases or {}),
    )
