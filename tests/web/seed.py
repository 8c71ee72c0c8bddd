"""Seeded store contents for the dashboard tests: three images over two months, a fix history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import (
    BaseImage,
    Builder,
    Finding,
    FixPlan,
    IgnoredEvent,
    PlatformReport,
    PushEvent,
    Report,
    Severity,
    SourceHint,
)
from app.store import repo
from app.store.db import Database
from app.store.schema import EventRow, FactsRow, FixRow, ImageTagRow, ScanRow

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday noon in ISO week 2026-W48
HOST = "reg:5000"
# A raw secret value that exists only in a layer's cached facts: no page or API may show it.
PLANTED = "AKIAZZPLANTEDRAWVALUE9"
REDACTED = "AWS access key id in ENV AWS_ACCESS_KEY_ID (value redacted, sha256 1a2b3c4d)"

ROOT = Finding("root-user", Severity.HIGH, "Container runs as root", "config User is empty")
SECRET = Finding("secret-env", Severity.CRITICAL, "Secret in the environment", REDACTED)
SHELL = Finding(
    "shell", Severity.LOW, "A shell is installed", "bin/sh", "bin/sh", "sha256:" + "5" * 64
)
SOURCE = Finding(
    "source-code",
    Severity.MEDIUM,
    "Source code shipped",
    "src/Main.java",
    "app/src/Main.java",
    "sha256:" + "6" * 64,
)


def digest_of(name: str) -> str:
    return "sha256:" + name.encode().hex().ljust(64, "0")[:64]


@dataclass
class Seeded:
    orders: int  # image_tags ids
    web: int
    multi: int
    orders_scans: tuple[int, int]  # scan ids: the October push, the November push
    web_scan: int
    multi_scans: tuple[int, int]


def _plan(repository: str, branch: str) -> FixPlan:
    return FixPlan(
        repository=repository, branch=branch, title="Tighten", body="", edits=(), rules=()
    )


def _platform(
    digest: str, kind: str, findings: tuple[Finding, ...], platform: str = "linux/amd64"
) -> PlatformReport:
    return PlatformReport(
        platform=platform,
        digest=digest,
        user="" if ROOT in findings else "65532",
        builder=Builder(kind, None, None),
        base=BaseImage(
            "debian" if SHELL in findings else "distroless", "12", SHELL not in findings
        ),
        source=SourceHint("https://github.com/acme/app", "3f2a9c1"),
        findings=findings,
    )


def push(
    session: Session,
    repository: str,
    tag: str,
    pushed: str,
    at: datetime,
    platforms: list[tuple[str, str, tuple[Finding, ...]]],  # (platform, digest, findings)
    kind: str,
) -> tuple[int, list[int]]:
    """One push as the pipeline records it: event, tag, one done scan per platform."""
    event = PushEvent(
        registry="local",
        sender="distribution",
        host=HOST,
        repository=repository,
        digest=pushed,
        tag=tag,
        media_type="application/vnd.oci.image.index.v1+json",
        delivery_id=f"{repository}-{tag}-{at.isoformat()}",
        received_at=at,
        pusher="ci",
    )
    [event_id] = repo.record_events(session, [event]).queued
    repo.set_tag(session, event, pushed)
    session.execute(
        update(ImageTagRow)
        .where(ImageTagRow.repository == repository, ImageTagRow.tag == tag)
        .values(updated_at=at)
    )
    scan_ids = []
    for platform, digest, findings in platforms:
        claim = repo.claim_scan(session, event, digest, timedelta(minutes=2), now=at)
        report = Report(
            reference=f"{HOST}/{repository}:{tag}",
            digest=pushed,
            platforms=(_platform(digest, kind, findings, platform),),
        )
        repo.finish_scan(session, claim.scan_id, report)
        session.flush()
        session.execute(update(ScanRow).where(ScanRow.id == claim.scan_id).values(finished_at=at))
        scan_ids.append(claim.scan_id)
    repo.finish_event(session, event_id, "done", None, scan_ids[-1])
    session.execute(update(EventRow).where(EventRow.id == event_id).values(processed_at=at))
    tag_id = session.query(ImageTagRow.id).filter_by(repository=repository, tag=tag).scalar()
    return tag_id, scan_ids


def fix(
    session: Session, scan_id: int, status: str, branch: str, at: datetime, pull: int | None = None
) -> None:
    repo.record_fix(
        session,
        scan_id,
        status,
        f"{status} {branch}",
        _plan("acme/app", branch),
        commit="c0ffee" * 6 if pull else None,
        pull_number=pull,
        pull_url=f"https://github.com/acme/app/pull/{pull}" if pull else None,
    )
    session.flush()
    session.execute(
        update(FixRow)
        .where(
            FixRow.id
            == session.query(FixRow.id).order_by(FixRow.id.desc()).limit(1).scalar_subquery()
        )
        .values(created_at=at)
    )


def seed(db: Database, now: datetime | None = None) -> Seeded:
    """Pushes 56, 16, 2 and 1 days before ``now`` (default: the real now, which the pages use):
    with NOW, in ISO weeks 2026-W40, W46 and W48."""
    now = now or datetime.now(UTC)
    db.migrate()
    with db.session() as session:
        a, b, c = digest_of("orders-a"), digest_of("orders-b"), digest_of("web-c")
        orders, (scan_a,) = push(
            session,
            "acme/orders",
            "1.0",
            a,
            now - timedelta(days=56),
            [("linux/amd64", a, (ROOT,))],
            "jib",
        )
        _, (scan_b,) = push(
            session,
            "acme/orders",
            "1.0",
            b,
            now - timedelta(days=2),
            [("linux/amd64", b, ())],
            "jib",
        )
        web, (scan_c,) = push(
            session,
            "acme/web",
            "latest",
            c,
            now - timedelta(days=16),
            [("linux/amd64", c, (SECRET, SHELL))],
            "paketo",
        )
        index = digest_of("multi-index")
        multi, multi_scans = push(
            session,
            "acme/multi",
            "2",
            index,
            now - timedelta(days=1),
            [
                ("linux/amd64", digest_of("multi-amd64"), ()),
                ("linux/arm64", digest_of("multi-arm64"), (SOURCE,)),
            ],
            "dockerfile",
        )
        fix(
            session,
            scan_a,
            "created",
            "tightship/orders",
            now - timedelta(days=56) + timedelta(hours=1),
            pull=7,
        )
        fix(
            session,
            scan_b,
            "unchanged",
            "tightship/orders",
            now - timedelta(days=2) + timedelta(hours=1),
            pull=7,
        )
        fix(session, scan_c, "held", "tightship/web", now - timedelta(days=16) + timedelta(hours=1))
        fix(
            session,
            scan_c,
            "created",
            "tightship/old",
            now - timedelta(days=16) + timedelta(hours=2),
            pull=3,
        )
        fix(session, scan_c, "ignored", "tightship/old", now - timedelta(days=15), pull=3)
        repo.record_events(
            session,
            [
                IgnoredEvent(
                    "local",
                    "distribution",
                    "pull-1",
                    now - timedelta(hours=1),
                    "action 'pull' is not a push",
                    "acme/orders",
                    "1.0",
                ),
                IgnoredEvent(
                    "local",
                    "distribution",
                    "excl-1",
                    now - timedelta(hours=2),
                    "repository 'other/thing' is not allowed",
                    "other/thing",
                    "x",
                ),
            ],
        )
        session.add(FactsRow(kind="layer", digest=digest_of("layer"), data=PLANTED.encode()))
    return Seeded(orders, web, multi, (scan_a, scan_b), scan_c, tuple(multi_scans))
