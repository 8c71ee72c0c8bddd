"""The queue on SQLite (default) and on the real Redis server."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import redis
from huey import RedisHuey, SqliteHuey

from app.config import Settings
from app.jobs import pipeline
from app.jobs.queue import Jobs, make_huey
from app.models import PushEvent
from app.store import repo
from app.store.db import Database
from app.store.schema import EventRow


def event(delivery_id: str, received_at: datetime | None = None) -> PushEvent:
    return PushEvent(
        registry="local",
        sender="distribution",
        host="reg",
        repository="acme/orders",
        digest="sha256:" + delivery_id.encode().hex().ljust(64, "0")[:64],  # one image each
        tag=None,
        media_type="application/vnd.oci.image.manifest.v1+json",
        delivery_id=delivery_id,
        received_at=received_at or datetime.now(UTC),
    )


def run_all(jobs: Jobs) -> int:
    ran = 0
    while (task := jobs.huey.dequeue()) is not None:
        jobs.huey.execute(task)
        ran += 1
    return ran


@pytest.fixture(params=["sqlite", "redis"])
def jobs(request: pytest.FixtureRequest, make_settings, monkeypatch: pytest.MonkeyPatch):
    if request.param == "redis":
        settings: Settings = make_settings(
            storage={"redis_url": request.getfixturevalue("redis_url")}
        )
    else:
        settings = make_settings()
    db = Database(settings.database_url)
    db.migrate()
    huey = make_huey(settings)
    if isinstance(huey, RedisHuey):  # a queue name of its own, so runs never share one
        huey = RedisHuey(
            f"tightship-test-{secrets.token_hex(4)}", url=settings.storage.redis_url, results=False
        )
    processed: list[int] = []
    monkeypatch.setattr(
        pipeline, "process_event", lambda _s, _d, event_id: processed.append(event_id)
    )
    jobs = Jobs(settings, db, huey)
    jobs.processed = processed  # type: ignore[attr-defined]
    yield jobs
    huey.flush()
    db.dispose()


def test_backend_follows_the_config(make_settings) -> None:
    assert isinstance(make_huey(make_settings()), SqliteHuey)
    assert isinstance(
        make_huey(make_settings(storage={"redis_url": "redis://127.0.0.1:1/0"})), RedisHuey
    )


def test_enqueued_events_are_processed_once_and_marked(jobs: Jobs) -> None:
    with jobs.db.session() as session:
        recorded = repo.record_events(session, [event("a"), event("b")])
    jobs.enqueue_events(recorded.queued)
    assert jobs.huey.pending_count() == 2
    assert run_all(jobs) == 2
    assert jobs.processed == recorded.queued  # type: ignore[attr-defined]
    with jobs.db.session() as session:
        assert {r.status for r in session.query(EventRow)} == {"queued"}


def test_sweeper_recovers_events_stored_but_never_enqueued(jobs: Jobs) -> None:
    with jobs.db.session() as session:
        # stored as queued, then the process died before handing them to the queue
        stranded = repo.record_events(session, [event("old")]).queued
        recent = repo.record_events(session, [event("fresh")]).queued  # being enqueued right now
        session.get_one(EventRow, stranded[0]).enqueued_at = datetime.now(UTC) - timedelta(hours=1)
    assert jobs.sweep() == 1
    assert run_all(jobs) == 1
    assert jobs.processed == stranded  # type: ignore[attr-defined]
    assert recent and jobs.sweep() == 0


def test_ping(jobs: Jobs, make_settings) -> None:
    jobs.ping()  # reachable: returns quietly
    gone = Jobs(make_settings(storage={"redis_url": "redis://127.0.0.1:1/0"}), jobs.db)
    with pytest.raises(redis.exceptions.ConnectionError):
        gone.ping()


def test_the_last_failed_try_marks_the_event_failed(
    jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_settings: Settings, _db: Database, _event_id: int) -> None:
        raise RuntimeError("registry unreachable")

    monkeypatch.setattr(pipeline, "process_event", broken)
    with jobs.db.session() as session:
        [event_id] = repo.record_events(session, [event("x")]).queued
    jobs.enqueue_events([event_id])
    task = jobs.huey.dequeue()
    jobs.huey.execute(task)  # first try fails, a retry is scheduled
    with jobs.db.session() as session:
        assert session.get_one(EventRow, event_id).status == "queued"
    task.retries, task.eta = 0, None  # as the queue sees it on the last try, due now
    jobs.huey.execute(task)
    with jobs.db.session() as session:
        row = session.get_one(EventRow, event_id)
        assert (
            row.status == "failed" and row.reason == "gave up after 4 tries: registry unreachable"
        )


def test_a_busy_scan_is_retried_without_using_up_retries(
    jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(_settings: Settings, _db: Database, _event_id: int) -> None:
        raise pipeline.ScanBusy("held elsewhere")

    monkeypatch.setattr(pipeline, "process_event", busy)
    with jobs.db.session() as session:
        [event_id] = repo.record_events(session, [event("busy")]).queued
    jobs.enqueue_events([event_id])
    task = jobs.huey.dequeue()
    jobs.huey.execute(task)
    assert task.retries == 3  # unchanged
    with jobs.db.session() as session:
        assert session.get_one(EventRow, event_id).status == "queued"


def test_sweeper_requeues_an_event_whose_job_was_lost(jobs: Jobs) -> None:
    with jobs.db.session() as session:
        [event_id] = repo.record_events(session, [event("lost")]).queued
        repo.mark_enqueued(session, [event_id])
        row = session.get_one(EventRow, event_id)
        row.enqueued_at = datetime.now(UTC) - timedelta(hours=1)  # its worker was killed
    assert jobs.sweep() == 1
    assert run_all(jobs) == 1
    assert jobs.processed == [event_id]  # type: ignore[attr-defined]
