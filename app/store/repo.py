"""The store's functions: the only place other stages touch tables.

Idempotency lives here, in unique keys and conditional updates, because only the database
sees every web and worker process at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, case, func, null, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from app.models import FixPlan, IgnoredEvent, PushEvent, Report
from app.store.schema import EventRow, FindingRow, FixRow, ImageTagRow, ScanRow, utcnow


@dataclass(frozen=True, slots=True)
class Recorded:
    queued: list[int]  # event ids that need a scan job
    ignored: int
    duplicates: int


REDELIVERY_WINDOW = timedelta(minutes=10)


def _redelivery_query(digest_known: bool, tag_known: bool) -> Select[tuple[int]]:
    """An earlier event for the same image and tag, received within the window: senders retry
    with new ids (Pub/Sub, SNS) or send several deliveries for one push (Docker Hub).

    Core with bound parameters, built once per shape: this runs for every webhook event, and
    a statement object reused keeps SQLAlchemy's compiled form and cache key."""
    table = EventRow.__table__.c
    return (
        select(table.id)
        .where(
            table.registry == bindparam("registry"),
            table.repository == bindparam("repository"),
            table.digest == bindparam("digest") if digest_known else table.digest.is_(None),
            table.tag == bindparam("tag") if tag_known else table.tag.is_(None),
            table.status != "ignored",
            table.received_at >= bindparam("since", type_=table.received_at.type),
        )
        .limit(1)
    )


_REDELIVERY = {
    (digest, tag): _redelivery_query(digest, tag)
    for digest in (True, False)
    for tag in (True, False)
}


def _redelivery_of(connection: Connection, event: PushEvent) -> int | None:
    query = _REDELIVERY[(event.digest is not None, event.tag is not None)]
    return connection.scalar(
        query,
        {
            "registry": event.registry,
            "repository": event.repository,
            "digest": event.digest,
            "tag": event.tag,
            "since": event.received_at - REDELIVERY_WINDOW,
        },
    )


def record_events(session: Session, events: list[PushEvent | IgnoredEvent]) -> Recorded:
    """Store a delivery's events; a re-delivered event id is recognised and not stored again,
    and the same image pushed again within minutes is stored as ignored (no second scan).

    Push events are stored as queued: the caller enqueues them right after the commit. If the
    process dies in between, the sweeper finds them (queued long ago, never processed).
    """
    queued: list[int] = []
    ignored = duplicates = 0
    connection = session.connection()
    insert = _INSERT_IGNORING_DUPLICATES[connection.dialect.name == "postgresql"]
    now = utcnow()
    for event in events:
        if isinstance(event, PushEvent) and (earlier := _redelivery_of(connection, event)):
            event = IgnoredEvent(
                registry=event.registry,
                sender=event.sender,
                delivery_id=event.delivery_id,
                received_at=event.received_at,
                reason=f"a re-delivery of event {earlier}",
                repository=event.repository,
                tag=event.tag,
                digest=event.digest,
                media_type=event.media_type,
            )
        row_id = connection.execute(insert, _event_values(event, now)).scalar()
        if row_id is None:
            duplicates += 1
        elif isinstance(event, IgnoredEvent):
            ignored += 1
        else:
            queued.append(row_id)
    return Recorded(queued=queued, ignored=ignored, duplicates=duplicates)


def _insert_ignoring_duplicates(postgres: bool) -> ReturningInsert[tuple[int]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id, on SQLite and PostgreSQL alike: one round
    trip, no savepoint, and a re-delivered id simply returns nothing."""
    table = EventRow.__table__
    module = postgresql if postgres else sqlite
    statement = module.insert(table).on_conflict_do_nothing(
        index_elements=["registry", "delivery_id"]
    )
    return statement.returning(table.c.id)


_INSERT_IGNORING_DUPLICATES = {
    postgres: _insert_ignoring_duplicates(postgres) for postgres in (True, False)
}


def _event_values(event: PushEvent | IgnoredEvent, now: datetime) -> dict[str, Any]:
    """Every column each time, so one compiled INSERT serves pushes and ignored events."""
    pushed = isinstance(event, PushEvent)
    return {
        "registry": event.registry,
        "sender": event.sender,
        "delivery_id": event.delivery_id,
        "received_at": event.received_at,
        "repository": event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "media_type": event.media_type,
        "host": event.host if pushed else None,
        "pusher": event.pusher if pushed else None,
        "status": "queued" if pushed else "ignored",
        "reason": None if pushed else event.reason,
        "enqueued_at": now if pushed else None,
    }


def mark_enqueued(session: Session, event_ids: list[int]) -> None:
    if event_ids:
        session.execute(
            update(EventRow)
            .where(EventRow.id.in_(event_ids), EventRow.status == "queued")
            .values(status="queued", enqueued_at=utcnow())
        )


def stranded_events(session: Session, queued_for: timedelta, limit: int = 500) -> list[int]:
    """Events queued so long ago and still unfinished that their job must have been lost: the
    process died between the commit and the enqueue, or a worker was killed mid-job."""
    rows = session.scalars(
        select(EventRow.id)
        .where(EventRow.status == "queued", EventRow.enqueued_at < utcnow() - queued_for)
        .order_by(EventRow.id)
        .limit(limit)
    )
    return list(rows)


def load_event(session: Session, event_id: int) -> PushEvent | None:
    """The push a queued event asks to analyze; None once it is done, failed or ignored. A
    job may run twice for one event (the sweeper re-enqueues one that only waited long in a
    backlog): the second finds nothing to do instead of rewriting the event's outcome."""
    row = session.get(EventRow, event_id)
    if row is None or row.status != "queued" or row.host is None or row.repository is None:
        return None
    return PushEvent(
        registry=row.registry_name,
        sender=row.sender,
        host=row.host,
        repository=row.repository,
        digest=row.digest,
        tag=row.tag,
        media_type=row.media_type,
        delivery_id=row.delivery_id,
        received_at=row.received_at,
        pusher=row.pusher,
    )


def finish_event(
    session: Session, event_id: int, status: str, reason: str | None, scan_id: int | None = None
) -> None:
    """Record a queued event's outcome, once: a second job for it (the sweeper re-enqueued
    one that only waited) finishing later must not rewrite what the first one found."""
    session.execute(
        update(EventRow)
        .where(EventRow.id == event_id, EventRow.status == "queued")
        .values(status=status, reason=reason, scan_id=scan_id, processed_at=utcnow())
    )


def resolve_event_digest(session: Session, event_id: int, digest: str) -> None:
    session.execute(
        update(EventRow)
        .where(EventRow.id == event_id, EventRow.digest.is_(None))
        .values(digest=digest)
    )


def set_tag(session: Session, event: PushEvent, digest: str) -> None:
    if not event.tag:
        return
    row = session.scalar(
        select(ImageTagRow).where(
            ImageTagRow.registry_name == event.registry,
            ImageTagRow.repository == event.repository,
            ImageTagRow.tag == event.tag,
        )
    )
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    ImageTagRow(
                        registry_name=event.registry,
                        host=event.host,
                        repository=event.repository,
                        tag=event.tag,
                        digest=digest,
                    )
                )
            return
        except IntegrityError:
            return set_tag(session, event, digest)
    if row.digest != digest:
        row.digest, row.updated_at = digest, utcnow()


@dataclass(frozen=True, slots=True)
class Claim:
    scan_id: int
    status: str  # claimed (yours to analyze), done (analyzed before), busy (another job has it)


def claim_scan(
    session: Session, event: PushEvent, digest: str, lease: timedelta, now: datetime | None = None
) -> Claim:
    """Take the right to analyze one digest. Exactly one caller wins, across processes."""
    now = now or utcnow()
    try:
        with session.begin_nested():
            row = ScanRow(
                registry_name=event.registry,
                host=event.host,
                repository=event.repository,
                digest=digest,
                status="running",
                attempts=1,
                lease_until=now + lease,
                started_at=now,
            )
            session.add(row)
        return Claim(scan_id=row.id, status="claimed")
    except IntegrityError:
        pass
    existing = session.scalar(
        select(ScanRow).where(
            ScanRow.registry_name == event.registry,
            ScanRow.repository == event.repository,
            ScanRow.digest == digest,
        )
    )
    if existing is None:  # deleted between the insert and the select
        return claim_scan(session, event, digest, lease, now)
    scan_id = existing.id
    if existing.status == "done":
        return Claim(scan_id=scan_id, status="done")
    taken = session.execute(
        update(ScanRow)
        .where(
            ScanRow.id == scan_id,
            (ScanRow.status == "failed")
            | ((ScanRow.status == "running") & (ScanRow.lease_until < now)),
        )
        .values(status="running", lease_until=now + lease, attempts=ScanRow.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire(existing)  # the UPDATE bypassed the identity map
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        return Claim(scan_id=scan_id, status="claimed")
    return Claim(scan_id=scan_id, status="busy")


def renew_lease(session: Session, scan_id: int, lease: timedelta) -> bool:
    """Extend a running scan's hold on its digest; False if it is no longer running."""
    renewed = session.execute(
        update(ScanRow)
        .where(ScanRow.id == scan_id, ScanRow.status == "running")
        .values(lease_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return renewed.rowcount == 1  # type: ignore[attr-defined]


def finish_scan(session: Session, scan_id: int, report: Report) -> None:
    row = session.get_one(ScanRow, scan_id)
    row.status, row.finished_at, row.error = "done", utcnow(), None
    data = report.to_dict()
    row.report = json.dumps(data, sort_keys=True)
    row.pushed, row.builder = scan_columns(data)
    row.findings = [
        FindingRow(
            rule=f.rule,
            severity=f.severity.value,
            title=f.title,
            evidence=f.evidence,
            path=f.path,
            layer=f.layer,
            fingerprint=f.fingerprint,
        )
        for f in report.findings
    ]


def scan_columns(report: dict[str, Any]) -> tuple[str | None, str | None]:
    """The pushed digest and the ", "-joined builder kinds of a tightship.report/v1 document:
    kept in columns of their own for the questions asked of every scan (the dashboard's
    timeline, the finding history), so that those need not parse every report."""
    pushed = report.get("digest")
    kinds = {
        platform["builder"].get("kind")
        for platform in report.get("platforms") or []
        if isinstance(platform, dict) and isinstance(platform.get("builder"), dict)
    }
    builder = ", ".join(sorted(k for k in kinds if isinstance(k, str) and k)) or None
    return (pushed if isinstance(pushed, str) else None), builder


# A scan a worker of the version before migration 0005 finished (during a rolling upgrade)
# has no pushed or builder column: only for those is the report read.
REPORT_IF_UNFILLED = case((ScanRow.pushed.is_(None), ScanRow.report), else_=null()).label("report")


def fail_scan(session: Session, scan_id: int, error: str) -> None:
    session.execute(
        update(ScanRow)
        .where(ScanRow.id == scan_id)
        .values(status="failed", error=error[:2000], finished_at=utcnow())
    )


def load_report(session: Session, scan_id: int) -> Report | None:
    row = session.get(ScanRow, scan_id)
    if row is None or row.report is None:
        return None
    return Report.from_dict(json.loads(row.report))


def record_fix(
    session: Session,
    scan_id: int,
    status: str,
    detail: str,
    plan: FixPlan | None = None,
    commit: str | None = None,
    pull_number: int | None = None,
    pull_url: str | None = None,
) -> None:
    session.add(
        FixRow(
            scan_id=scan_id,
            repository=plan.repository if plan else None,
            branch=plan.branch if plan else None,
            commit=commit,
            status=status,
            detail=detail,
            fingerprint=plan.fingerprint if plan else None,
            pull_number=pull_number,
            pull_url=pull_url,
        )
    )


def pulls_created_since(session: Session, since: datetime) -> int:
    """Pull requests Tightship opened (or reopened) since ``since``, for the hourly limit."""
    query = select(func.count(FixRow.id)).where(
        FixRow.status.in_(("created", "reopened")),
        FixRow.pull_number.is_not(None),
        FixRow.created_at >= since,
    )
    return int(session.scalar(query) or 0)


def recent_events(session: Session, ignored_only: bool = False, limit: int = 50) -> list[EventRow]:
    query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
    if ignored_only:
        query = query.where(EventRow.status == "ignored")
    return list(session.scalars(query))
