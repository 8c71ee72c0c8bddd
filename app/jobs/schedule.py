"""The clock's schedule: the outbox sweep, and the weekly rescan in a persistent job store.

The weekly job lives in the store's database (APScheduler's SQLAlchemy job store), so a clock
restarted across the scheduled time runs it once when it comes back (coalesced, within a
grace period of most of a week) instead of skipping it, and a restart at any other time does
not run it again. Only one clock process is expected: two would share the store but each run
the job (run more than one and the rescans stay idempotent, only doubled).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from app.config import CONFIG_ENV, Settings
from app.jobs.crontab import cron_trigger

log = logging.getLogger(__name__)
WEEKLY = "weekly-rescan"
GRACE = timedelta(days=6)
TABLE = "apscheduler_jobs"


def weekly_rescan() -> None:
    """The persisted job: it names no arguments, so the store holds nothing but a reference;
    the settings come from the environment the clock runs in (TIGHTSHIP_CONFIG …)."""
    from app.config import load_settings
    from app.jobs import rescan
    from app.store.db import Database

    settings = load_settings(os.environ.get(CONFIG_ENV))
    db = Database(settings.database_url)
    try:
        queued = rescan.weekly(settings, db)
    finally:
        db.dispose()
    log.info("weekly rescan queued", extra={"tags": queued["queued"]})


def _same(a: CronTrigger, b: CronTrigger) -> bool:
    return str(a) == str(b) and str(a.timezone) == str(b.timezone)


def build(
    settings: Settings, sweep: Callable[[], object], weekly: str = f"{__name__}:weekly_rescan"
) -> BackgroundScheduler:
    """A scheduler with the sweep (in memory) and the weekly rescan (persisted); not started."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        jobstores={
            "default": MemoryJobStore(),
            "persistent": SQLAlchemyJobStore(url=settings.database_url, tablename=TABLE),
        },
    )
    scheduler.add_job(
        sweep, "interval", seconds=settings.jobs.sweep_seconds, id="sweep", coalesce=True
    )
    scheduler.start(paused=True)
    trigger = cron_trigger(settings.rescan.cron, settings.rescan.timezone)
    existing = scheduler.get_job(WEEKLY, jobstore="persistent")
    if existing is None:
        scheduler.add_job(
            weekly,
            trigger,
            id=WEEKLY,
            jobstore="persistent",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(GRACE.total_seconds()),
        )
    elif not _same(existing.trigger, trigger):
        # The cron changed in the config: from now on the new one (its next time, not a catch-up).
        scheduler.reschedule_job(WEEKLY, jobstore="persistent", trigger=trigger)
    return scheduler
