"""Rescans on the real registry, and the weekly schedule across a clock restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.config import Settings
from app.demo import make_sample_repository, oci
from app.demo.chat import ChatReceiver
from app.demo.registry import LocalRegistry
from app.jobs import rescan, schedule
from app.jobs.pipeline import process_event
from app.jobs.queue import Jobs
from app.models import PushEvent
from app.store import repo
from app.store.db import Database
from app.store.schema import EventRow, FixRow, ScanRow
from tests.support.gate import BlobGate

RUNS: list[datetime] = []


def record_run() -> None:
    """The weekly job, as the schedule tests register it."""
    RUNS.append(datetime.now(UTC))


@dataclass
class Counting:
    """The registry behind a gate that counts each request as it passes (no log to wait
    for): Tightship pulls through the gate, its configured URL; tests push to the registry."""

    registry: LocalRegistry
    gate: BlobGate

    @property
    def url(self) -> str:
        return self.gate.url

    @property
    def host(self) -> str:
        return self.gate.url.removeprefix("http://")

    def push(self, image: oci.Image, tag: str) -> str:
        return oci.Pusher(self.registry.url).image("acme/orders", image, tag=tag)


@pytest.fixture(scope="module")
def counting_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counting]:
    with LocalRegistry(tmp_path_factory.mktemp("reg")) as running, BlobGate(running.url) as gate:
        yield Counting(running, gate)


@pytest.fixture
def tracked(
    tmp_path: Path, counting_registry: Counting, make_settings
) -> Iterator[tuple[Settings, Database, str]]:
    make_sample_repository(tmp_path / "repos")
    settings: Settings = make_settings(
        registries=[
            {
                "name": "local",
                "sender": "distribution",
                "url": counting_registry.url,
                "webhook": {"token": "t"},
            }
        ],
        scm={"local": {"root": str(tmp_path / "repos")}},
        repositories={"allow": ["acme/*"], "map": [{"image": "*/acme/*", "repo": "acme/orders"}]},
    )
    db = Database(settings.database_url)
    db.migrate()
    image = oci.jib_image(source="https://github.com/acme/orders", app=b"rescan")
    digest = counting_registry.push(image, "1.0")
    push = PushEvent(
        "local", "distribution", counting_registry.host, "acme/orders", digest, "1.0", None,
        "first", datetime.now(UTC),
    )  # fmt: skip
    with db.session() as session:
        [event_id] = repo.record_events(session, [push]).queued
    process_event(settings, db, event_id)
    yield settings, db, digest
    db.dispose()


def tag_id(db: Database) -> int:
    with db.session() as session:
        [row] = rescan.tracked(session)
        return row.id


def test_an_unchanged_tag_is_judged_again_without_downloading_a_blob(
    tracked: tuple[Settings, Database, str], counting_registry: Counting
) -> None:
    settings, db, digest = tracked
    blobs_before = counting_registry.gate.count("GET", "blobs")
    assert blobs_before > 0  # the first scan downloaded the layers, through the gate
    outcome = rescan.rescan_tag(settings, db, Jobs(settings, db), tag_id(db))
    assert outcome.status == "unchanged"
    assert counting_registry.gate.count("GET", "blobs") == blobs_before
    # the rules changed (root-user now ignored by the config): the stored scan follows
    stricter = settings.model_copy(
        update={"analysis": settings.analysis.model_copy(update={"ignore": ["root-user"]})}
    )
    changed = rescan.rescan_tag(stricter, db, Jobs(stricter, db), tag_id(db))
    assert changed.status == "changed"
    assert counting_registry.gate.count("GET", "blobs") == blobs_before
    with db.session() as session:
        [scan] = session.scalars(select(ScanRow)).all()
        assert scan.digest == digest and scan.findings == []


def test_a_moved_tag_is_scanned_like_a_push(
    tracked: tuple[Settings, Database, str], counting_registry: Counting
) -> None:
    settings, db, first = tracked
    image = oci.jib_image(source="https://github.com/acme/orders", app=b"moved")
    moved = counting_registry.push(image, "1.0")
    outcome = rescan.rescan_tag(settings, db, Jobs(settings, db), tag_id(db))
    assert outcome.status == "moved" and moved in outcome.detail
    with db.session() as session:
        [event] = session.scalars(select(EventRow).where(EventRow.sender == "rescan")).all()
        assert (event.digest, event.status) == (moved, "queued")
        event_id = event.id
    process_event(settings, db, event_id)
    with db.session() as session:
        digests = {s.digest for s in session.scalars(select(ScanRow))}
        assert digests == {first, moved}
        assert [f.status for f in session.scalars(select(FixRow).order_by(FixRow.id))] == [
            "created",
            "unchanged",
        ]


def test_rescan_command_queues_tracked_tags_and_explains_unknown_ones(
    tracked: tuple[Settings, Database, str], counting_registry: Counting, tmp_path: Path
) -> None:
    settings, _db, _ = tracked
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: {settings.data_dir}\nregistries:\n"
        f"  - {{name: local, sender: distribution, url: '{counting_registry.url}', "
        "webhook: {token: t}}\n"
    )
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "rescan", "--all"])
    assert result.exit_code == 0 and "1 rescan(s) queued" in result.output
    assert f"queued {counting_registry.host}/acme/orders:1.0" in result.output
    unknown = runner.invoke(main, ["--config", str(config), "rescan", "nowhere/x:1"])
    assert unknown.exit_code == 2 and "is not a tracked tag" in unknown.output
    bad = runner.invoke(main, ["--config", str(config), "rescan", "--all", "a/b:c"])
    assert bad.exit_code == 2 and "give --all or one REF" in bad.output


def test_the_weekly_run_happens_once_across_a_clock_restart(make_settings, tmp_path: Path) -> None:
    settings: Settings = make_settings(jobs={"sweep_seconds": 3600})
    Database(settings.database_url).migrate()  # as the clock does before it schedules
    RUNS.clear()
    first = schedule.build(settings, lambda: None, weekly=f"{__name__}:record_run")
    job = first.get_job(schedule.WEEKLY, jobstore="persistent")
    assert job is not None and job.next_run_time.weekday() == 0  # Monday, 06:00 UTC
    assert (job.next_run_time.hour, job.next_run_time.minute) == (6, 0)
    # the clock went down before the run was due, and comes back two hours after it
    # (the paused scheduler stands for the dead clock: it never processes jobs again)
    first.modify_job(
        schedule.WEEKLY, jobstore="persistent", next_run_time=datetime.now(UTC) - timedelta(hours=2)
    )
    restarted = schedule.build(settings, lambda: None, weekly=f"{__name__}:record_run")
    restarted.resume()
    deadline = time.monotonic() + 60
    while not RUNS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert RUNS, "the missed weekly run was not caught up within 60 s"
    time.sleep(0.5)  # room for a second, wrong, run
    restarted.shutdown(wait=True)
    assert len(RUNS) == 1  # caught up once, not skipped
    again = schedule.build(settings, lambda: None, weekly=f"{__name__}:record_run")
    upcoming = again.get_job(schedule.WEEKLY, jobstore="persistent")
    assert upcoming is not None and upcoming.next_run_time > datetime.now(UTC)
    again.resume()
    time.sleep(1.0)
    again.shutdown(wait=True)
    first.shutdown(wait=False)
    assert len(RUNS) == 1  # and a restart at another time does not run it again


def test_the_weekly_digest_reaches_the_channels_that_want_it(
    tracked: tuple[Settings, Database, str],
) -> None:
    settings, db, _ = tracked
    with ChatReceiver() as digest_channel, ChatReceiver() as findings_only:
        with_channels = settings.model_copy(
            update={
                "notify": Settings.model_validate(
                    {
                        "notify": [
                            {"type": "webhook", "url": digest_channel.url, "secret": "s3cret"},
                            {"type": "slack", "url": findings_only.url, "events": ["findings"]},
                        ]
                    }
                ).notify
            }
        )
        rescan.send_digest(with_channels, db)
    [message] = digest_channel.messages
    body = message["body"]
    assert body["kind"] == "digest" and body["images"] == 1
    assert body["passing"]["non-root"] == 0.0  # the one image runs as root
    assert findings_only.messages == []


@pytest.mark.parametrize(
    ("cron", "day"),
    [("0 6 * * 1", "Mon"), ("0 6 * * mon", "Mon"), ("0 6 * * 0", "Sun"), ("0 6 * * 7", "Sun")],
)
def test_cron_weekdays_are_numbered_as_crontab_numbers_them(cron: str, day: str) -> None:
    from app.jobs.crontab import cron_trigger

    thursday = datetime(2026, 11, 26, tzinfo=UTC)
    assert cron_trigger(cron, "UTC").get_next_fire_time(None, thursday).strftime("%a") == day


@pytest.mark.parametrize(
    "bad", [{"cron": "0 6 * * 9"}, {"cron": "often"}, {"timezone": "Mars/Base"}]
)
def test_a_bad_schedule_is_a_config_error(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="rescan"):
        Settings.model_validate({"rescan": bad})


def test_a_new_time_zone_reschedules_the_stored_job(make_settings) -> None:
    settings: Settings = make_settings(jobs={"sweep_seconds": 3600})
    Database(settings.database_url).migrate()
    first = schedule.build(settings, lambda: None, weekly=f"{__name__}:record_run")
    utc = first.get_job(schedule.WEEKLY, jobstore="persistent").next_run_time
    first.shutdown(wait=False)
    moved = settings.model_copy(
        update={"rescan": settings.rescan.model_copy(update={"timezone": "Asia/Tokyo"})}
    )
    second = schedule.build(moved, lambda: None, weekly=f"{__name__}:record_run")
    tokyo = second.get_job(schedule.WEEKLY, jobstore="persistent").next_run_time
    second.shutdown(wait=False)
    assert (tokyo.hour, tokyo.minute) == (6, 0) and str(tokyo.tzinfo) == "Asia/Tokyo"
    assert tokyo != utc
