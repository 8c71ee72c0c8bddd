"""SQLAlchemy tables. The Alembic migrations in ``migrations/`` are the source of truth for
the database; these classes must match them (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both SQLite (which has no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class EventRow(Base):
    """Every authentic delivery, kept whether it was analyzed or ignored, and why."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("registry", "delivery_id", name="uq_events_delivery"),
        Index("ix_events_status_received", "status", "received_at"),
        Index("ix_events_image", "registry", "repository", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_name: Mapped[str] = mapped_column("registry", String(64))
    sender: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    host: Mapped[str | None] = mapped_column(String(255))
    repository: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(100))
    media_type: Mapped[str | None] = mapped_column(String(255))
    pusher: Mapped[str | None] = mapped_column(String(255))
    # queued (stored, and handed to the queue right after), ignored, done, failed
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))


class ImageTagRow(Base):
    """Where each tag of a tracked repository points now."""

    __tablename__ = "image_tags"
    __table_args__ = (UniqueConstraint("registry", "repository", "tag", name="uq_image_tags"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_name: Mapped[str] = mapped_column("registry", String(64))
    host: Mapped[str] = mapped_column(String(255))
    repository: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScanRow(Base):
    """One analysis of one manifest digest; the unique key is what makes jobs idempotent."""

    __tablename__ = "scans"
    __table_args__ = (
        UniqueConstraint("registry", "repository", "digest", name="uq_scans_digest"),
        Index("ix_scans_pushed", "registry", "repository", "pushed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_name: Mapped[str] = mapped_column("registry", String(64))
    host: Mapped[str] = mapped_column(String(255))
    repository: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # running, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    report: Mapped[str | None] = mapped_column(Text)  # tightship.report/v1 JSON
    # From the report, for the questions asked of every scan (the dashboard's timeline):
    pushed: Mapped[str | None] = mapped_column(String(100))  # the report's (pushed) digest
    builder: Mapped[str | None] = mapped_column(String(100))  # its builder kinds, ", "-joined
    error: Mapped[str | None] = mapped_column(Text)

    findings: Mapped[list[FindingRow]] = relationship(
        back_populates="scan", cascade="all, delete-orphan"
    )


class FindingRow(Base):
    """A finding as reported; evidence is redacted before it ever reaches this table."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    layer: Mapped[str | None] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(32))

    scan: Mapped[ScanRow] = relationship(back_populates="findings")


class FixRow(Base):
    """What remediation did for a scan: a branch made or updated, or why nothing was."""

    __tablename__ = "fixes"
    __table_args__ = (Index("ix_fixes_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    repository: Mapped[str | None] = mapped_column(String(255))
    branch: Mapped[str | None] = mapped_column(String(255))
    commit: Mapped[str | None] = mapped_column(String(64))
    # created, updated, unchanged, reopened, ignored, held, commented, planned, refused,
    # skipped, failed (app/jobs/pipeline.py FixOutcome)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(String(32))
    pull_number: Mapped[int | None] = mapped_column(Integer)
    pull_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FactsRow(Base):
    """Cached analysis facts for one layer or config digest (see app/store/cache.py)."""

    __tablename__ = "facts"
    __table_args__ = (UniqueConstraint("kind", "digest", name="uq_facts_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # layer, config
    digest: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
