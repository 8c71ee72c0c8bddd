"""Notices and digests the notify tests share."""

from __future__ import annotations

from typing import Any

from app.models import Finding, Notice, Severity, WeeklyDigest

IMAGE = "reg.example:5000/acme/orders"


def finding(i: int = 0, severity: Severity = Severity.HIGH, evidence: str = "") -> Finding:
    return Finding(
        f"rule-{i}",
        severity,
        "Container runs as root",
        evidence or f"config User is '<!here>' [x](http://evil.example) <b>{i}</b>",
        path=f"/app/file-{i}",
    )


def notice(findings: int | tuple[Finding, ...] = 1, **extra: Any) -> Notice:
    if isinstance(findings, int):
        findings = tuple(finding(i) for i in range(findings))
    data: dict[str, Any] = {
        "reference": f"{IMAGE}:1.0",
        "digest": "sha256:" + "a" * 64,
        "findings": findings,
        "registry": "local",
        "image": IMAGE,
    }
    data.update(extra)
    return Notice(**data)


def digest(**extra: Any) -> WeeklyDigest:
    data: dict[str, Any] = {
        "week": "2026-W48",
        "images": 12,
        "passing": {"non-root": 0.75, "no source": 1.0, "no secrets": 0.5, "minimal base": 0.25},
        "new_findings": 3,
        "fixed_findings": 5,
        "open_prs": 2,
        "dashboard_url": "https://tightship.example/",
    }
    data.update(extra)
    return WeeklyDigest(**data)
