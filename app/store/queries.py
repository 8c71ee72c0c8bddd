"""Read-only queries for the dashboard and the JSON API.

Every function returns plain JSON-ready values (dicts, lists, ISO 8601 strings), so a page and
its API endpoint show the same thing. Evidence is shown as stored: it is redacted before it
reaches the store, and nothing here reads anything else that could hold a secret.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CONCERNS
from app.store.posture import (
    OPEN_PR_STATUSES,
    ImageKey,
    ImageState,
    ScanFacts,
    Timeline,
    parse_report,
    tells_pull_state,
)
from app.store.schema import EventRow, FindingRow, FixRow, ImageTagRow, ScanRow, utcnow

EVENT_STATUSES = ("queued", "ignored", "done", "failed")
MAX_PER_PAGE = 200


@dataclass(frozen=True, slots=True)
class ImageFilters:
    q: str | None = None  # a case-insensitive substring of host/repository:tag or the digest
    registry: str | None = None
    builder: str | None = None
    failing: str | None = None  # a concern (CONCERNS' keys) the image must fail
    status: str | None = None  # passing (every concern), failing (any), pending (no scan yet)
    page: int = 1
    per_page: int = 50


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _builder(scans: tuple[ScanFacts, ...]) -> str | None:
    kinds = {kind for scan in scans if scan.builder for kind in scan.builder.split(", ")}
    return ", ".join(sorted(kinds)) or None


def _concerns(state: ImageState | None) -> dict[str, str]:
    if state is None:
        return dict.fromkeys(CONCERNS, "unknown")
    return {c: "pass" if state.passes(c) else "fail" for c in CONCERNS}


class _Fixes:
    """Fix rows by scan, and each branch's latest pull request row."""

    def __init__(self, session: Session) -> None:
        self.by_scan: dict[int, list[FixRow]] = {}
        self.pull_of_branch: dict[tuple[str | None, str | None], FixRow] = {}
        self.last_of_branch: dict[tuple[str | None, str | None], FixRow] = {}
        for row in session.scalars(select(FixRow).order_by(FixRow.id)):
            self.by_scan.setdefault(row.scan_id, []).append(row)
            if row.branch and tells_pull_state(row):
                self.last_of_branch[(row.repository, row.branch)] = row
                if row.pull_number is not None:
                    self.pull_of_branch[(row.repository, row.branch)] = row

    def latest(self, scan_ids: list[int]) -> FixRow | None:
        rows = [row for scan_id in scan_ids for row in self.by_scan.get(scan_id, [])]
        return max(rows, key=lambda r: r.id) if rows else None

    def pull(self, fix: FixRow | None) -> dict[str, Any] | None:
        """The PR of a fix's branch: its number, URL, and the state Tightship last saw
        (the same rule as the weekly digest's open PRs)."""
        if fix is None or not fix.branch:
            return None
        pull = self.pull_of_branch.get((fix.repository, fix.branch))
        if pull is None:
            return None
        last = self.last_of_branch[(fix.repository, fix.branch)]
        return {
            "repository": pull.repository,
            "branch": pull.branch,
            "number": pull.pull_number,
            "url": pull.pull_url,
            "status": last.status,
            "open": last.status in OPEN_PR_STATUSES,
        }


def fix_dict(row: FixRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "scan_id": row.scan_id,
        "status": row.status,
        "detail": row.detail,
        "repository": row.repository,
        "branch": row.branch,
        "commit": row.commit,
        "pull_number": row.pull_number,
        "pull_url": row.pull_url,
        "created_at": _iso(row.created_at),
    }


def _summary(tag: ImageTagRow, state: ImageState | None, fixes: _Fixes) -> dict[str, Any]:
    scan_ids = [s.id for s in state.scans] if state else []
    fix = fixes.latest(scan_ids)
    return {
        "id": tag.id,
        "registry": tag.registry_name,
        "host": tag.host,
        "repository": tag.repository,
        "tag": tag.tag,
        "reference": f"{tag.host}/{tag.repository}:{tag.tag}",
        "digest": tag.digest,
        "updated_at": _iso(tag.updated_at),
        "scanned_digest": state.digest if state else None,
        "scanned_at": _iso(max(s.finished_at for s in state.scans)) if state else None,
        "scan_ids": scan_ids,
        "pending": state is None or state.digest != tag.digest,
        "builder": _builder(state.scans) if state else None,
        "findings": sum(len(s.fingerprints) for s in state.scans) if state else 0,
        "concerns": _concerns(state),
        "fix": fix_dict(fix) if fix else None,
        "pull": fixes.pull(fix),
    }


def _matches(item: dict[str, Any], filters: ImageFilters) -> bool:
    if filters.q:
        needle = filters.q.strip().lower()
        haystack = f"{item['reference']} {item['digest']} {item['scanned_digest'] or ''}".lower()
        if needle not in haystack:
            return False
    if filters.registry and item["registry"] != filters.registry:
        return False
    if filters.builder and filters.builder not in (item["builder"] or "").split(", "):
        return False
    if filters.failing and item["concerns"].get(filters.failing) != "fail":
        return False
    statuses = set(item["concerns"].values())
    wanted = {
        "passing": statuses == {"pass"},
        "failing": "fail" in statuses,
        "pending": statuses == {"unknown"},
    }
    return not filters.status or wanted.get(filters.status, False)


def images(
    session: Session, filters: ImageFilters | None = None, *, timeline: Timeline | None = None
) -> dict[str, Any]:
    """Tracked images (one per tag) with their status per concern, filtered and paginated."""
    filters = filters or ImageFilters()
    timeline, fixes = timeline or Timeline(session), _Fixes(session)
    tags = session.scalars(
        select(ImageTagRow).order_by(
            ImageTagRow.registry_name, ImageTagRow.repository, ImageTagRow.tag
        )
    )
    items = []
    for tag in tags:
        key: ImageKey = (tag.registry_name, tag.repository, tag.tag)
        item = _summary(tag, timeline.current.get(key), fixes)
        if _matches(item, filters):
            items.append(item)
    per_page = max(1, min(filters.per_page, MAX_PER_PAGE))
    pages = max(1, math.ceil(len(items) / per_page))
    page = max(1, min(filters.page, pages))
    start = (page - 1) * per_page
    return {
        "items": items[start : start + per_page],
        "total": len(items),
        "page": page,
        "per_page": per_page,
        "pages": pages,
    }


def facets(session: Session, *, timeline: Timeline | None = None) -> dict[str, list[str]]:
    """The values the images filters can take: builders of the images as they are now (a
    builder only an image's past used would filter to nothing)."""
    timeline = timeline or Timeline(session)
    builders = {
        kind
        for state in timeline.current.values()
        for kind in (_builder(state.scans) or "").split(", ")
        if kind
    }
    registries = session.scalars(select(ImageTagRow.registry_name).distinct())
    return {
        "registries": sorted(registries),
        "builders": sorted(builders),
        "concerns": list(CONCERNS),
    }


def _finding_dict(row: FindingRow, platform: str | None) -> dict[str, Any]:
    concern = next((c for c, rules in CONCERNS.items() if row.rule in rules), None)
    return {
        "id": row.id,
        "scan_id": row.scan_id,
        "platform": platform,
        "rule": row.rule,
        "concern": concern,
        "severity": row.severity,
        "title": row.title,
        "evidence": row.evidence,
        "path": row.path,
        "layer": row.layer,
        "fingerprint": row.fingerprint,
    }


def _platform_of(scan: ScanRow) -> dict[str, Any]:
    """A scan's platform entry (the pipeline stores one platform per scan)."""
    platforms = (parse_report(scan.report) or {}).get("platforms") or []
    return platforms[0] if platforms and isinstance(platforms[0], dict) else {}


def image(session: Session, image_id: int) -> dict[str, Any] | None:
    """One tracked image: its status, platforms, findings, layers, history and fix."""
    tag = session.get(ImageTagRow, image_id)
    if tag is None:
        return None
    timeline, fixes = Timeline(session), _Fixes(session)
    key: ImageKey = (tag.registry_name, tag.repository, tag.tag)
    state = timeline.state(key, utcnow())
    detail = _summary(tag, state, fixes)
    scan_ids = detail["scan_ids"]
    scans = {
        s.id: s
        for s in session.scalars(
            select(ScanRow).where(ScanRow.id.in_(scan_ids)).order_by(ScanRow.id)
        )
    }
    platforms = []
    for scan_row in scans.values():
        platform = _platform_of(scan_row)
        platforms.append(
            {
                "scan_id": scan_row.id,
                "platform": platform.get("platform"),
                "digest": scan_row.digest,
                "user": platform.get("user"),
                "builder": platform.get("builder"),
                "base": platform.get("base"),
                "source": platform.get("source"),
            }
        )
    platform_of = {p["scan_id"]: p["platform"] for p in platforms}
    findings = [
        _finding_dict(row, platform_of.get(row.scan_id))
        for row in session.scalars(
            select(FindingRow).where(FindingRow.scan_id.in_(scan_ids)).order_by(FindingRow.id)
        )
    ]
    layers: dict[str, dict[str, Any]] = {}
    for finding in findings:
        if finding["layer"]:
            layer = layers.setdefault(
                finding["layer"], {"digest": finding["layer"], "findings": 0, "rules": []}
            )
            layer["findings"] += 1
            if finding["rule"] not in layer["rules"]:
                layer["rules"].append(finding["rule"])
    history = []
    for seen_at, digest in reversed(timeline.history(key)):
        done = timeline.scans_of(tag.registry_name, tag.repository, digest)
        history.append(
            {
                "digest": digest,
                "seen_at": _iso(seen_at),
                "scanned": bool(done),
                "scan_ids": [s.id for s in done],
                "findings": sum(len(s.fingerprints) for s in done),
                "concerns": _concerns(
                    ImageState(key=key, digest=digest, seen_at=seen_at, scans=done)
                    if done
                    else None
                ),
            }
        )
    detail.update(
        platforms=platforms,
        findings=findings,
        layers=list(layers.values()),
        history=history,
        fixes=[fix_dict(f) for scan_id in scan_ids for f in fixes.by_scan.get(scan_id, [])],
    )
    return detail


def scan(session: Session, scan_id: int) -> dict[str, Any] | None:
    """One scan: the stored report, its findings and what remediation did."""
    row = session.get(ScanRow, scan_id)
    if row is None:
        return None
    platform = _platform_of(row).get("platform")
    findings = session.scalars(
        select(FindingRow).where(FindingRow.scan_id == scan_id).order_by(FindingRow.id)
    )
    fix_rows = session.scalars(select(FixRow).where(FixRow.scan_id == scan_id).order_by(FixRow.id))
    return {
        "id": row.id,
        "registry": row.registry_name,
        "host": row.host,
        "repository": row.repository,
        "digest": row.digest,
        "status": row.status,
        "attempts": row.attempts,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "error": row.error,
        "report": parse_report(row.report),
        "findings": [_finding_dict(f, platform) for f in findings],
        "fixes": [fix_dict(f) for f in fix_rows],
    }


MAX_EVENTS = 500  # one page of deliveries, for the API and the dashboard alike


def events(session: Session, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest deliveries, newest first, ignored and failed ones with their reasons."""
    query = select(EventRow).order_by(EventRow.id.desc()).limit(max(1, min(limit, MAX_EVENTS)))
    if status:
        query = query.where(EventRow.status == status)
    return [
        {
            "id": row.id,
            "registry": row.registry_name,
            "sender": row.sender,
            "delivery_id": row.delivery_id,
            "received_at": _iso(row.received_at),
            "processed_at": _iso(row.processed_at),
            "host": row.host,
            "repository": row.repository,
            "tag": row.tag,
            "digest": row.digest,
            "pusher": row.pusher,
            "status": row.status,
            "reason": row.reason,
            "scan_id": row.scan_id,
        }
        for row in session.scalars(query)
    ]


def counts(session: Session, *, timeline: Timeline | None = None) -> dict[str, dict[str, int]]:
    """Images failing each rule, findings per rule, and images per builder, as of now."""
    states = list((timeline or Timeline(session)).current.values())
    images_by_rule: Counter[str] = Counter()
    by_builder: Counter[str] = Counter()
    for state in states:
        images_by_rule.update(state.rules)
        by_builder[_builder(state.scans) or "unknown"] += 1
    scan_ids = [s.id for state in states for s in state.scans]
    findings_by_rule = Counter(
        session.scalars(select(FindingRow.rule).where(FindingRow.scan_id.in_(scan_ids)))
    )
    return {
        "images_by_rule": dict(sorted(images_by_rule.items())),
        "findings_by_rule": dict(sorted(findings_by_rule.items())),
        "images_by_builder": dict(sorted(by_builder.items())),
    }
