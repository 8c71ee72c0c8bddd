"""The task queue: Huey on SQLite under the data dir, or on Redis when one is configured."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import Task
from huey.exceptions import RetryTask

from app.config import Settings
from app.store import repo
from app.store.db import Database

log = logging.getLogger(__name__)
RETRIES = 3
BUSY_RETRY_SECONDS = 5  # a scan takes seconds; a dead holder is bounded by its lease


def make_huey(settings: Settings) -> Huey:
    if settings.storage.redis_url:
        return RedisHuey("tightship", url=settings.storage.redis_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
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
        a long queue may be enqueued twice; the scan claim makes that harmless."""
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
