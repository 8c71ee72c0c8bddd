"""The pipeline's data types: one per arrow in DESIGN.md, defined once, consumed by the next stage.

They are plain frozen dataclasses so that a stage can be tested by constructing its input
directly, without a registry, a database or a code host behind it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

REPORT_SCHEMA = "tightship.report/v1"


@dataclass(frozen=True, slots=True)
class PushEvent:
    """intake → queue: one image manifest pushed to a configured registry."""

    registry: str  # the configured registry's name (its webhook is /webhooks/<name>)
    sender: str
    host: str  # the configured canonical host, never one the payload claims
    repository: str
    digest: str | None
    tag: str | None
    media_type: str | None
    delivery_id: str
    received_at: datetime
    pusher: str | None = None

    @property
    def image(self) -> str:
        """host/repository, the name map rules and branch names are derived from."""
        return f"{self.host}/{self.repository}"


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """An authentic delivery that asks for no analysis; kept so an operator can see why."""

    registry: str
    sender: str
    delivery_id: str
    received_at: datetime
    reason: str
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    media_type: str | None = None


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    title: str
    evidence: str
    path: str | None = None
    layer: str | None = None

    @property
    def fingerprint(self) -> str:
        """Stable across rescans, so unchanged findings are recognised and not re-reported."""
        key = "\0".join((self.rule, self.path or "", self.layer or "", self.evidence))
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Builder:
    kind: str  # jib, paketo, gcp-buildpacks, dockerfile, unknown, ...
    tool: str | None = None
    version: str | None = None
    evidence: str | None = None


@dataclass(frozen=True, slots=True)
class BaseImage:
    distro: str | None = None
    version: str | None = None
    minimal: bool | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SourceHint:
    repository: str | None = None
    revision: str | None = None
    context: str | None = None


@dataclass(frozen=True, slots=True)
class PlatformReport:
    platform: str
    digest: str
    user: str
    builder: Builder
    base: BaseImage
    source: SourceHint
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """analysis → remediation: what one pushed image holds, per platform."""

    reference: str  # host/repository[:tag]
    digest: str  # the pushed manifest or index digest
    platforms: tuple[PlatformReport, ...]

    @property
    def findings(self) -> tuple[Finding, ...]:
        seen: dict[str, Finding] = {}
        for platform in self.platforms:
            for finding in platform.findings:
                seen.setdefault(finding.fingerprint, finding)
        return tuple(seen.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["platforms"] = [asdict(p) for p in self.platforms]
        return {"schema": REPORT_SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        if data.get("schema") != REPORT_SCHEMA:
            raise ValueError(f"not a {REPORT_SCHEMA} document")
        platforms = tuple(
            PlatformReport(
                platform=p["platform"],
                digest=p["digest"],
                user=p["user"],
                builder=Builder(**p["builder"]),
                base=BaseImage(**p["base"]),
                source=SourceHint(**p["source"]),
                findings=tuple(
                    Finding(**{**f, "severity": Severity(f["severity"])}) for f in p["findings"]
                ),
            )
            for p in data["platforms"]
        )
        return cls(reference=data["reference"], digest=data["digest"], platforms=platforms)


@dataclass(frozen=True, slots=True)
class FileEdit:
    path: str  # relative to the repository root, '/'-separated
    old: str | None  # None when the file is created
    new: str


@dataclass(frozen=True, slots=True)
class FixPlan:
    """remediation → scm: the edits for one source repository and why."""

    repository: str  # owner/repo
    branch: str
    title: str
    body: str
    edits: tuple[FileEdit, ...]
    rules: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for edit in sorted(self.edits, key=lambda e: e.path):
            digest.update(edit.path.encode() + b"\0" + edit.new.encode() + b"\0")
        return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Notice:
    """→ notify: what a chat channel is told about one analyzed image."""

    reference: str
    digest: str
    findings: tuple[Finding, ...]
    repository: str | None = None
    branch: str | None = None
    fix_status: str | None = None  # FixOutcome.status in app/jobs/pipeline.py
    fix_detail: str | None = None
    pull_url: str | None = None
    # What happened, in the words of a channel's ``events`` filter: "findings" (new ones
    # appeared), "pr" (a fix branch or PR was created or updated), "fixed" (some are gone).
    # Empty: nothing a channel would want to hear (the same findings again).
    events: tuple[str, ...] = ("findings",)
    new: tuple[Finding, ...] | None = None  # the findings not seen before; None: all of them
    fixed: tuple[Finding, ...] = ()  # findings the previous scan of the tag had, now gone
    registry: str | None = None  # the configured registry's name
    image: str | None = None  # host/repository: what a chat thread is about
    dashboard_url: str | None = None  # where the whole report is, linked when one is cut short

    @property
    def fresh(self) -> tuple[Finding, ...]:
        return self.findings if self.new is None else self.new


CONCERNS: dict[str, tuple[str, ...]] = {
    # The four rules of a tight image (DESIGN.md) and the rule ids that break each one.
    "non-root": ("root-user", "non-numeric-user"),
    "no source": ("source-code", "build-files", "vcs-directory"),
    "no secrets": ("secret-file", "secret-env", "secret-in-history", "secret-in-deleted-layer"),
    "minimal base": ("shell", "package-manager", "non-minimal-base"),
}


@dataclass(frozen=True, slots=True)
class WeeklyDigest:
    """clock → notify: the week's posture, for every channel that asks for the digest."""

    week: str  # ISO week, e.g. "2026-W48"
    images: int  # tracked (registry, repository, tag)
    passing: dict[str, float]  # concern (CONCERNS' keys) → share of images passing, 0..1
    new_findings: int  # findings first seen this week
    fixed_findings: int  # findings gone this week
    open_prs: int
    dashboard_url: str | None = None
