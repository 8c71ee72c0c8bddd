"""Rescans: every tracked tag resolved again, so images nobody pushed lately are still watched.

A tag that moved is scanned like a push (an event through the normal pipeline). A tag that
did not move is judged again from the layer facts cached at its first scan, against the rules
as they are now: no blob is downloaded, only manifests are read. When that changes the
findings, the stored scan is replaced, the fix (branch or PR) follows, and chat is told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import notify
from app.analysis import Analyzer, NotAnImage
from app.config import Settings
from app.models import PushEvent, Report
from app.registry import RegistryError, RepositorySource
from app.store import repo
from app.store.cache import StoreFactsCache
from app.store.db import Database
from app.store.schema import ImageTagRow, ScanRow

if TYPE_CHECKING:
    from app.jobs.queue import Jobs

log = logging.getLogger(__name__)
SENDER = "rescan"


@dataclass(frozen=True, slots=True)
class Rescanned:
    reference: str
    status: str  # moved (queued as an event), unchanged, changed, gone, skipped
    detail: str = ""


def tracked(session: Session, reference: str | None = None) -> list[ImageTagRow]:
    """The tracked tags, or the one ``host/repository:tag`` names (none if it is unknown)."""
    query = select(ImageTagRow).order_by(ImageTagRow.id)
    if reference is not None:
        name, _, tag = reference.rpartition(":")
        host, _, repository = name.partition("/")
        if not (name and tag and host and repository) or "/" in tag:
            raise ValueError(f"{reference!r} is not host/repository:tag")
        query = query.where(
            ImageTagRow.host == host, ImageTagRow.repository == repository, ImageTagRow.tag == tag
        )
    return list(session.scalars(query))


def request(db: Database, jobs: Jobs, reference: str | None = None) -> dict[str, object]:
    """Queue a rescan of every tracked tag (or the one named); what ``POST /api/rescan`` and
    ``tightship rescan`` do."""
    with db.session() as session:
        rows = tracked(session, reference)
        tags = [(row.id, f"{row.host}/{row.repository}:{row.tag}") for row in rows]
    for tag_id, _ in tags:
        jobs.rescan_tag(tag_id)
    log.info("rescan requested", extra={"tags": len(tags), "reference": reference})
    return {"queued": len(tags), "tags": [name for _, name in tags]}


def rescan_tag(settings: Settings, db: Database, jobs: Jobs, tag_id: int) -> Rescanned:
    from app.jobs.pipeline import registry_client

    with db.session() as session:
        row = session.get(ImageTagRow, tag_id)
        if row is None:
            return Rescanned(f"tag {tag_id}", "gone", "no longer tracked")
        name, host, repository, tag, known = (
            row.registry_name, row.host, row.repository, row.tag, row.digest,
        )  # fmt: skip
    reference = f"{host}/{repository}:{tag}"
    registry = settings.registry(name)
    if registry is None:
        return Rescanned(reference, "skipped", f"registry {name!r} is no longer configured")
    client = registry_client(registry)
    try:
        digest = client.resolve(repository, tag)
    except RegistryError as exc:
        if exc.transient:
            raise  # the queue retries
        return Rescanned(reference, "gone", str(exc))
    event = PushEvent(
        registry=name,
        sender=SENDER,
        host=host,
        repository=repository,
        digest=digest,
        tag=tag,
        media_type=None,
        delivery_id=f"rescan:{tag_id}:{digest}:{datetime.now(UTC):%G-W%V}",
        received_at=datetime.now(UTC),
    )
    if digest != known:
        return _moved(db, jobs, event, reference)
    return _rejudge(settings, db, jobs, event, reference, client)


def _moved(db: Database, jobs: Jobs, event: PushEvent, reference: str) -> Rescanned:
    with db.session() as session:
        queued = repo.record_events(session, [event]).queued
    jobs.enqueue_events(queued)
    return Rescanned(reference, "moved", f"now {event.digest}: scanned as a push")


def _rejudge(
    settings: Settings, db: Database, jobs: Jobs, event: PushEvent, reference: str, client: object
) -> Rescanned:
    analyzer = Analyzer(
        RepositorySource(client, event.repository),  # type: ignore[arg-type]
        cache=StoreFactsCache(db),
        ignores=settings.analysis.ignores(),
    )
    try:
        return _rejudge_targets(settings, db, jobs, event, reference, analyzer)
    except NotAnImage as exc:
        return Rescanned(reference, "skipped", str(exc))
    finally:
        analyzer.close()


def _rejudge_targets(
    settings: Settings,
    db: Database,
    jobs: Jobs,
    event: PushEvent,
    reference: str,
    analyzer: Analyzer,
) -> Rescanned:
    from app.jobs.pipeline import remediate

    _top, targets = analyzer.targets(event.digest or "")
    changed = []
    for target in targets:
        with db.session() as session:
            scan = session.scalar(
                select(ScanRow).where(
                    ScanRow.registry_name == event.registry,
                    ScanRow.repository == event.repository,
                    ScanRow.digest == target.manifest.digest,
                    ScanRow.status == "done",
                )
            )
            before = repo.load_report(session, scan.id) if scan is not None else None
        if scan is None or before is None:
            return _moved(db, jobs, event, reference)  # never fully analyzed: do that now
        platform = analyzer.analyze(target)
        report = Report(reference=reference, digest=event.digest or "", platforms=(platform,))
        if {f.fingerprint for f in report.findings} == {f.fingerprint for f in before.findings}:
            continue
        # The fix and the message before the stored scan changes: if GitHub fails now, the
        # queue's retry still sees the old findings and does both again (as the pipeline does).
        notice = remediate(settings, db, scan.id, report, event, previous=before.findings)
        notify.send(settings, notice)
        with db.session() as session:
            repo.finish_scan(session, scan.id, report)
        changed.append(target.manifest.digest)
    log.info(
        "rescanned",
        extra={"image": reference, "digest": event.digest, "blob_bytes": analyzer.stats.blob_bytes},
    )
    if changed:
        return Rescanned(reference, "changed", f"findings changed for {', '.join(changed)}")
    return Rescanned(reference, "unchanged")


def weekly(settings: Settings, db: Database) -> dict[str, object]:
    """The scheduled run: every tracked tag, then the digest once the rescans have had time."""
    from app.jobs.queue import Jobs

    jobs = Jobs(settings, db)
    queued = request(db, jobs)
    jobs.weekly_digest(delay=settings.rescan.digest_delay_minutes * 60)
    return queued


def send_digest(settings: Settings, db: Database) -> None:
    from app.store import posture

    with db.session() as session:
        digest = posture.digest(session, dashboard_url=settings.api.public_url)
    notify.send_digest(settings, digest)
