"""The task queue: Huey on SQLite under the data dir, or on Redis when one is configured."""

from __future__ import annotations

import logging
import sqlite3
from contextvars import Token
from datetime import timedelta

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import Task, TaskWrapper
from huey.exceptions import RetryTask
from huey.storage import SqliteStorage

from app import notify
from app.config import Settings
from app.store import repo
from app.store.db import Database

log = logging.getLogger(__name__)
RETRIES = 3
CHAT_RETRIES = 5  # 30 s doubling: a chat endpoint down for about a quarter of an hour
BUSY_RETRY_SECONDS = 5  # a scan takes seconds; a dead holder is bounded by its lease


class _QueueStorage(SqliteStorage):
    """Huey's SQLite storage without an fsync per enqueue (WAL with synchronous=NORMAL, still
    safe from corruption). The events table is the record of what must be analyzed: a task
    lost with the last moments before a power cut is found again by the sweeper."""

    def _create_connection(self) -> sqlite3.Connection:
        connection = super()._create_connection()
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection


class _QueueHuey(SqliteHuey):
    storage_class = _QueueStorage


def make_huey(settings: Settings) -> Huey:
    if settings.storage.redis_url:
        return RedisHuey("tightship", url=settings.storage.redis_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return _QueueHuey(
        "tightship", filename=str(settings.data_dir / "queue.db"), results=False, timeout=30
    )


class Jobs:
    """The queue and the tasks on it; web processes only enqueue, workers also consume."""

    def __init__(self, settings: Settings, db: Database, huey: Huey | None = None) -> None:
        self.settings = settings
        self.db = db
        self.huey = huey or make_huey(settings)

        @self.huey.task(
            retries=RETRIES, retry_delay=15, retry_backoff=2, name="scan_event", context=True
        )
        def scan_event(event_id: int, task: Task | None = None) -> None:
            from app.jobs import pipeline

            try:
                pipeline.process_event(self.settings, self.db, event_id)
            except pipeline.ScanBusy as exc:
                raise RetryTask(delay=BUSY_RETRY_SECONDS) from exc  # does not use up a retry
            except Exception as exc:
                if task is None or not task.retries:  # the last try: say so where people look
                    with self.db.session() as session:
                        repo.finish_event(
                            session, event_id, "failed", f"gave up after {RETRIES + 1} tries: {exc}"
                        )
                raise

        self._scan_event = scan_event

        @self.huey.task(retries=RETRIES, retry_delay=60, retry_backoff=2, name="rescan_tag")
        def rescan_tag(tag_id: int) -> None:
            from app.jobs import rescan

            outcome = rescan.rescan_tag(self.settings, self.db, self, tag_id)
            log.info("rescan", extra={"image": outcome.reference, "status": outcome.status})

        @self.huey.task(retries=RETRIES, retry_delay=60, name="weekly_digest")
        def weekly_digest() -> None:
            from app.jobs import rescan

            rescan.send_digest(self.settings, self.db)

        self._rescan_tag = rescan_tag
        self._weekly_digest = weekly_digest
        self._deliver_chat = self._chat_delivery()

    def _chat_delivery(self) -> TaskWrapper:
        """One task per chat message. While any task of this queue runs, the messages it sends
        are queued here (``notify.OUTBOX``) instead of posted inline: a slow, dead or
        rate-limiting channel then costs the scan nothing."""
        tokens: dict[str, Token[notify.Outbox | None]] = {}

        @self.huey.pre_execute(name="notify_outbox")
        def queue_notifications(task: Task) -> None:
            tokens[task.id] = notify.OUTBOX.set(self)

        @self.huey.post_execute(name="notify_outbox")
        def end_queueing(task: Task, _value: object, _exc: BaseException | None) -> None:
            token = tokens.pop(task.id, None)
            if token is not None:
                notify.OUTBOX.reset(token)

        @self.huey.task(
            retries=CHAT_RETRIES, retry_delay=30, retry_backoff=2, name="deliver_chat", context=True
        )
        def deliver_chat(message: notify.Message, task: Task | None = None) -> None:
            # 5xx and no answer raise notify.Unavailable: Huey retries with backoff. A 4xx is
            # dropped inside (logged, never retried). A 429 waits what the channel asked.
            try:
                last = task is None or not task.retries
                notify.deliver(self.settings, message, queued=True, final=last)
            except notify.RateLimited as exc:
                raise RetryTask(delay=exc.delay) from None  # bounded by notify.MAX_AGE

        return deliver_chat

    def enqueue_delivery(self, message: notify.Message) -> None:
        self._deliver_chat(message)

    def rescan_tag(self, tag_id: int) -> None:
        self._rescan_tag(tag_id)

    def weekly_digest(self, delay: float = 0) -> None:
        if delay:
            self._weekly_digest.schedule(delay=delay)
        else:
            self._weekly_digest()

    def enqueue_events(self, event_ids: list[int]) -> None:
        """Hand events stored as queued to the queue (the sweeper catches any this misses)."""
        for event_id in event_ids:
            self._scan_event(event_id)

    def requeue(self, event_ids: list[int]) -> None:
        """Enqueue again, and restart the clock after which the sweeper would try once more."""
        with self.db.session() as session:
            repo.mark_enqueued(session, event_ids)
        self.enqueue_events(event_ids)

    def sweep(self) -> int:
        """Re-enqueue queued events whose job vanished: stored but never handed over (a crash
        right after the commit), or lost with a worker killed mid-job. A job still waiting in
        a long queue may be enqueued twice: the scan claim keeps the image analyzed once, and
        whichever run comes second finds the event finished and leaves it as it is."""
        jobs = self.settings.jobs
        after = timedelta(seconds=jobs.lease_seconds + jobs.stranded_after_seconds)
        with self.db.session() as session:
            stranded = repo.stranded_events(session, after)
        if stranded:
            log.info("re-enqueueing stranded events", extra={"count": len(stranded)})
            self.requeue(stranded)
        return len(stranded)

    def ping(self) -> None:
        """Raise if the queue's storage cannot be reached."""
        self.huey.pending_count()
