"""What changed since the previous scan of a tag: the findings that are new and those gone.

The baseline is the push this tag pointed at before (the newest finished event for the same
registry, repository and tag with another digest), or, for a tag pushed for the first time,
the newest finished push of the repository under any tag: a new version tag with the same
findings is no news. Findings are compared without their layer digest, so a rebuild that
keeps the same finding in a new layer is not reported again. Other platform images of the
same push (an index) count as already reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Finding, Severity
from app.store import repo
from app.store.posture import parse_report
from app.store.schema import EventRow, FindingRow, ScanRow

Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Change:
    new: tuple[Finding, ...]
    fixed: tuple[Finding, ...]
    first: bool  # nothing to compare with: every finding is new


def key(finding: Finding) -> Key:
    """A finding's identity across rebuilds: rule, path and (redacted) evidence."""
    return (finding.rule, finding.path or "", finding.evidence)


def change(
    session: Session,
    registry: str,
    repository: str,
    tag: str | None,
    pushed_digest: str,
    scan_id: int,
    findings: tuple[Finding, ...],
    previous: tuple[Finding, ...] | None = None,
) -> Change:
    """Compare one platform scan's findings with the tag's previous push (or ``previous``,
    when the caller has it: a rescan that re-judged the same digest)."""
    siblings = _findings(
        session, _scans_of_push(session, registry, repository, pushed_digest, exclude=scan_id)
    )
    if previous is None:
        before_push = _previous_push(session, registry, repository, tag, pushed_digest)
        if before_push is None:
            new = tuple(f for f in findings if key(f) not in siblings)
            return Change(new=new, fixed=(), first=not siblings)
        before_digest, before_scan = before_push
        scans = _scans_of_push(session, registry, repository, before_digest, exclude=scan_id)
        before = _findings(session, [*scans, before_scan] if before_scan != scan_id else scans)
    else:
        before = {key(f): f for f in previous}
    current = {key(f) for f in findings}
    new = tuple(f for f in findings if key(f) not in before and key(f) not in siblings)
    # With another platform image of this push already scanned, what is gone was told then.
    fixed = () if siblings else tuple(f for k, f in before.items() if k not in current)
    return Change(new=new, fixed=fixed, first=False)


def _previous_push(
    session: Session, registry: str, repository: str, tag: str | None, pushed_digest: str
) -> tuple[str, int] | None:
    """The pushed digest and last scan of the baseline event, if there is one."""
    query = (
        select(EventRow.digest, EventRow.scan_id)
        .where(
            EventRow.registry_name == registry,
            EventRow.repository == repository,
            EventRow.status == "done",
            EventRow.digest.is_not(None),
            EventRow.digest != pushed_digest,
            EventRow.scan_id.is_not(None),
        )
        .order_by(EventRow.processed_at.desc(), EventRow.id.desc())
        .limit(1)
    )
    row = session.execute(query.where(EventRow.tag == tag)).first() if tag else None
    row = row or session.execute(query).first()
    return (row[0], row[1]) if row else None


def _scans_of_push(
    session: Session, registry: str, repository: str, pushed_digest: str, exclude: int
) -> list[int]:
    """The finished platform scans whose report is of this pushed digest (a scan finished
    by a worker from before migration 0005 has no pushed column: its report says)."""
    rows = session.execute(
        select(ScanRow.id, ScanRow.pushed, repo.REPORT_IF_UNFILLED).where(
            ScanRow.registry_name == registry,
            ScanRow.repository == repository,
            (ScanRow.pushed == pushed_digest) | ScanRow.pushed.is_(None),
            ScanRow.status == "done",
            ScanRow.id != exclude,
        )
    )
    return [
        scan_id
        for scan_id, pushed, report in rows
        if (pushed or repo.scan_columns(parse_report(report) or {})[0]) == pushed_digest
    ]


def _findings(session: Session, scan_ids: list[int]) -> dict[Key, Finding]:
    if not scan_ids:
        return {}
    rows = session.scalars(select(FindingRow).where(FindingRow.scan_id.in_(scan_ids)))
    found: dict[Key, Finding] = {}
    for row in rows:
        finding = Finding(
            row.rule, Severity(row.severity), row.title, row.evidence, row.path, row.layer
        )
        found.setdefault(key(finding), finding)
    return found
