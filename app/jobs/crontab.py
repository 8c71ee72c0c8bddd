"""Crontab lines read the way cron reads them (the config validates with this too)."""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A crontab line as cron reads it. APScheduler 3 numbers weekdays from Monday (0 = mon),
    crontab from Sunday (0 and 7 = sun), so numeric weekdays are named before it reads them."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} is not 5 crontab fields (minute hour day month weekday)")
    fields[4] = re.sub(r"\d+", lambda m: _day(int(m[0])), fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def _day(number: int) -> str:
    if number > 7:
        raise ValueError(f"weekday {number} is not 0-7")
    return _DAYS[number]
