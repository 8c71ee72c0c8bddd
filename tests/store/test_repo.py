"""The store on SQLite and on the real PostgreSQL server: the same tests, both engines."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, update

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
from app.store import history, posture, repo
from app.store.db import Database, WriteBusy
from app.store.schema import Base, EventRow, FindingRow, FixRow, ImageTagRow, ScanRow

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64
ROOT = Path(__file__).resolve().parents[2]


def push(delivery_id: str = "d1", tag: str | None = "1.0", digest: str | None = None) -> PushEvent:
    if digest is None:  # one image per delivery unless a test says otherwise
        digest = (
            DIGEST if delivery_id == "d1" else "sha256:" + delivery_id.encode().hex().ljust(64, "0")
        )
    return PushEvent(
        registry="local",
        sender="distribution",
        host="reg:5000",
        repository="acme/orders",
        digest=digest,
        tag=tag,
        media_type="application/vnd.oci.image.manifest.v1+json",
        delivery_id=delivery_id,
        received_at=NOW,
        pusher="ci",
    )


def report() -> Report:
    finding = Finding("root-user", Severity.HIGH, "Container runs as root", "config User is ''")
    platform = PlatformReport(
        platform="linux/amd64",
        digest=DIGEST,
        user="",
        builder=Builder("jib", "jib-maven-plugin", "3.4.4"),
        base=BaseImage(),
        source=SourceHint("https://github.com/acme/orders"),
        findings=(finding,),
    )
    return Report(reference="reg:5000/acme/orders:1.0", digest=DIGEST, platforms=(platform,))


def test_migrations_are_idempotent_and_match_the_models(database: Database) -> None:
    database.migrate()
    database.migrate()
    tables = set(inspect(database.engine).get_table_names())
    assert {"events", "image_tags", "scans", "findings", "fixes", "alembic_version"} <= tables
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_scans_stored_before_the_pushed_and_builder_columns_get_them_from_their_reports(
    database: Database,
) -> None:
    """Migration 0005 fills the new columns for scans already in the store; the dashboard and
    the finding history read only the columns from then on."""
    database.migrate(to="0004")
    scans = ScanRow.__table__
    stored = report()
    text = json.dumps(stored.to_dict(), sort_keys=True)
    rows = [
        ("sha256:" + "a" * 64, "done", text),
        ("sha256:" + "b" * 64, "done", "{not json"),
        ("sha256:" + "c" * 64, "running", None),
        # more than one batch of the migration's
        *((f"sha256:{n:064x}", "done", text) for n in range(2_100)),
    ]
    values = [
        {
            "registry": "local",
            "host": "reg:5000",
            "repository": "acme/orders",
            "digest": digest,
            "status": status,
            "attempts": 1,
            "started_at": NOW,
            "report": report_text,
        }
        for digest, status, report_text in rows
    ]
    with database.engine.begin() as connection:
        connection.execute(scans.insert(), values)
    database.migrate()
    with database.session() as session:
        found = {
            digest: (pushed, builder)
            for digest, pushed, builder in session.execute(
                select(ScanRow.digest, ScanRow.pushed, ScanRow.builder)
            )
        }
    assert len(found) == len(rows)
    assert found.pop(rows[1][0]) == (None, None)  # unreadable: no report, as before
    assert found.pop(rows[2][0]) == (None, None)
    assert set(found.values()) == {(stored.digest, "jib")}


def test_a_scan_finished_by_a_worker_from_before_the_columns_is_read_from_its_report(
    database: Database,
) -> None:
    """During a rolling upgrade an old worker finishes scans without the pushed and builder
    columns; the timeline and the finding history read those from the report instead."""
    database.migrate()
    index = "sha256:" + "1" * 64  # the pushed digest: an index, not the platform image
    stored = replace(report(), digest=index)
    with database.session() as session:
        event = push()
        claim = repo.claim_scan(session, event, DIGEST, timedelta(minutes=1))
        repo.finish_scan(session, claim.scan_id, stored)
        session.flush()
        session.execute(
            update(ScanRow).where(ScanRow.id == claim.scan_id).values(pushed=None, builder=None)
        )
        facts = posture.Timeline(session).scans[claim.scan_id]
        assert (facts.pushed, facts.builder) == (index, "jib")
        assert history._scans_of_push(session, "local", "acme/orders", index, exclude=0) == [
            claim.scan_id
        ]
        assert history._scans_of_push(session, "local", "acme/orders", DIGEST, exclude=0) == []


def test_an_event_outcome_is_recorded_once(database: Database) -> None:
    database.migrate()
    with database.session() as session:
        [event_id] = repo.record_events(session, [push()]).queued
        repo.finish_event(session, event_id, "done", None)
        repo.finish_event(session, event_id, "done", "sha256:…: already analyzed")  # a rerun
        row = session.get_one(EventRow, event_id)
        assert (row.status, row.reason) == ("done", None)


def test_events_are_stored_once_per_delivery_id(database: Database) -> None:
    database.migrate()
    ignored = IgnoredEvent("local", "distribution", "d2", NOW, "action 'pull' is not a push")
    with database.session() as session:
        first = repo.record_events(session, [push(), ignored])
    with database.session() as session:
        second = repo.record_events(session, [push(), ignored, push("d3")])
    assert (len(first.queued), first.ignored, first.duplicates) == (1, 1, 0)
    assert (len(second.queued), second.ignored, second.duplicates) == (1, 0, 2)
    with database.session() as session:
        rows = session.scalars(select(EventRow).order_by(EventRow.id)).all()
        assert [(r.delivery_id, r.status) for r in rows] == [
            ("d1", "queued"),
            ("d2", "ignored"),
            ("d3", "queued"),
        ]
        assert rows[0].received_at == NOW  # time zones survive both engines
        assert repo.load_event(session, rows[0].id) == push()
        assert repo.load_event(session, rows[1].id) is None


@pytest.mark.parametrize(
    ("digest", "tag"),
    [(DIGEST, "1.0"), (DIGEST, None), (None, "1.0"), (None, None)],
    ids=["digest+tag", "digest only", "tag only (Docker Hub, Quay)", "neither"],
)
def test_a_second_delivery_of_the_same_push_is_kept_but_not_scheduled(
    database: Database, digest: str | None, tag: str | None
) -> None:
    database.migrate()
    first = replace(push("d1", tag=tag), digest=digest)
    later = replace(first, delivery_id="d2", received_at=NOW + timedelta(minutes=3))
    late = replace(first, delivery_id="d3", received_at=NOW + timedelta(minutes=11))
    other_tag = replace(later, delivery_id="d4", tag="2.0")
    other_digest = replace(later, delivery_id="d5", digest="sha256:" + "b" * 64)
    with database.session() as session:
        [first_id] = repo.record_events(session, [first]).queued
    with database.session() as session:
        again = repo.record_events(session, [later])
        assert (again.queued, again.ignored) == ([], 1)
        # outside the window, or another tag or digest of the repository: a push of its own
        assert len(repo.record_events(session, [late]).queued) == 1
        assert len(repo.record_events(session, [other_tag, other_digest]).queued) == 2
    with database.session() as session:
        row = session.scalars(select(EventRow).where(EventRow.delivery_id == "d2")).one()
        assert (row.status, row.reason) == ("ignored", f"a re-delivery of event {first_id}")


def test_sqlite_writers_take_turns_across_processes(tmp_path: Path) -> None:
    """SQLite writers queue on a lock instead of polling SQLite's; the turn is held across
    processes, and released when the holder is done. (PostgreSQL has no turn to take.)"""
    database_url = f"sqlite:///{tmp_path / 'tightship.db'}"
    database = Database(database_url)
    waiting, entered = tmp_path / "waiting", tmp_path / "entered"
    script = (
        "import time\n"
        "from app.store.db import Database\n"
        f"database = Database({database_url!r})\n"
        f"open({str(waiting)!r}, 'w').close()\n"
        "with database.writing():\n"
        f"    open({str(entered)!r}, 'w').write(repr(time.monotonic()))\n"
    )
    with database.writing():
        other = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
        deadline = time.monotonic() + 60
        while not waiting.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert waiting.exists(), "the other process never reached the turn"
        time.sleep(0.5)  # it is at the lock now; it must stay there
        assert not entered.exists(), "another process wrote while this one held the turn"
        released = time.monotonic()
    assert other.wait(timeout=30) == 0
    assert float(entered.read_text()) >= released


def test_a_writer_that_gets_no_turn_in_time_is_told_so(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'tightship.db'}")
    outcome: list[BaseException | None] = []

    def other_thread() -> None:
        try:
            with database.writing(timeout=0.2):
                outcome.append(None)
        except WriteBusy as exc:
            outcome.append(exc)

    with database.writing():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(timeout=30)
    assert isinstance(outcome[0], WriteBusy)
    with database.writing(timeout=0.2):  # and the turn is free again afterwards
        pass


def test_the_outbox_hands_back_events_whose_job_was_lost(database: Database) -> None:
    database.migrate()
    minute = timedelta(minutes=1)
    with database.session() as session:
        recorded = repo.record_events(session, [push("d1"), push("d2"), push("d3")])
        repo.finish_event(session, recorded.queued[0], "done", None)
    with database.session() as session:
        # d1 is done; d2 and d3 were stored as queued and never finished
        assert repo.stranded_events(session, timedelta(days=1)) == []
        assert repo.stranded_events(session, -minute) == recorded.queued[1:]
        repo.mark_enqueued(session, recorded.queued[1:])  # re-enqueued: the clock restarts
        assert repo.stranded_events(session, minute) == []


def test_exactly_one_claim_wins_and_done_stays_done(database: Database) -> None:
    database.migrate()
    lease = timedelta(minutes=15)
    with database.session() as session:
        first = repo.claim_scan(session, push(), DIGEST, lease)
    with database.session() as session:
        busy = repo.claim_scan(session, push("d2"), DIGEST, lease)
    assert (first.status, busy.status, busy.scan_id) == ("claimed", "busy", first.scan_id)
    with database.session() as session:
        repo.finish_scan(session, first.scan_id, report())
    with database.session() as session:
        done = repo.claim_scan(session, push("d3"), DIGEST, lease)
        assert done.status == "done"
        assert repo.load_report(session, first.scan_id) == report()
        [finding] = session.scalars(select(FindingRow)).all()
        assert (finding.rule, finding.fingerprint) == (
            "root-user",
            report().findings[0].fingerprint,
        )


def test_failed_or_expired_scans_can_be_claimed_again(database: Database) -> None:
    database.migrate()
    lease = timedelta(minutes=15)
    with database.session() as session:
        claim = repo.claim_scan(session, push(), DIGEST, lease, now=NOW)
    with database.session() as session:
        assert (
            repo.claim_scan(session, push(), DIGEST, lease, now=NOW + timedelta(minutes=1)).status
            == "busy"
        )
        expired = repo.claim_scan(session, push(), DIGEST, lease, now=NOW + timedelta(minutes=16))
        assert expired.status == "claimed"
    with database.session() as session:
        repo.fail_scan(session, claim.scan_id, "registry unreachable")
    with database.session() as session:
        again = repo.claim_scan(session, push(), DIGEST, lease)
        assert again.status == "claimed"
        assert session.get_one(ScanRow, claim.scan_id).attempts == 3


def test_concurrent_claims_have_one_winner(database: Database) -> None:
    database.migrate()
    results: list[str] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        with database.session() as session:
            results.append(repo.claim_scan(session, push(), DIGEST, timedelta(minutes=5)).status)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["busy"] * 5 + ["claimed"]


def test_tags_point_at_the_latest_digest(database: Database) -> None:
    database.migrate()
    other = "sha256:" + "b" * 64
    with database.session() as session:
        repo.set_tag(session, push(), DIGEST)
        repo.set_tag(session, push(tag=None), other)  # untagged: no tag row
    with database.session() as session:
        repo.set_tag(session, push(), other)
    with database.session() as session:
        [row] = session.scalars(select(ImageTagRow)).all()
        assert (row.tag, row.digest) == ("1.0", other)


def test_fix_records(database: Database) -> None:
    database.migrate()
    fix_plan = FixPlan("acme/orders", "tightship/acme-orders", "t", "b", (), ("root-user",))
    with database.session() as session:
        claim = repo.claim_scan(session, push(), DIGEST, timedelta(minutes=5))
        repo.record_fix(session, claim.scan_id, "created", "made", fix_plan, "c0ffee")
        repo.record_fix(session, claim.scan_id, "refused", "not allowed")
    with database.session() as session:
        rows = session.scalars(select(FixRow).order_by(FixRow.id)).all()
        assert [(r.status, r.branch, r.commit) for r in rows] == [
            ("created", "tightship/acme-orders", "c0ffee"),
            ("refused", None, None),
        ]
