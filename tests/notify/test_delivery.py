"""Delivery through the queue: one task per (channel, message), retried as the channel asks,
dropped when it refuses for good, never holding up the task that sent it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from huey import MemoryHuey

from app import notify
from app.config import Settings
from app.jobs.queue import CHAT_RETRIES, Jobs
from app.store.db import Database
from tests.notify.receiver import ScriptedReceiver
from tests.notify.samples import notice

PLANTED_SECRET = "whsec-PLANTED-7f3a"


@dataclass
class Queue:
    jobs: Jobs
    huey: MemoryHuey
    ran: list[str]

    def send_from_a_task(self, settings: Settings) -> None:
        """What a scan job does: send while a task of this queue runs."""

        @self.huey.task(name=f"scan-{len(self.ran)}")
        def scan() -> None:
            notify.send(settings, notice())
            self.ran.append("scan")

        scan()
        self.huey.execute(self.huey.dequeue())

    def run_ready(self) -> int:
        ran = 0
        while (task := self.huey.dequeue()) is not None:
            self.huey.execute(task)
            ran += 1
        return ran

    def run_scheduled(self) -> list[float]:
        """Run the tasks waiting for a retry now; returns how long each was to wait."""
        now = datetime.now()
        due = self.huey.read_schedule(now + timedelta(days=2))
        waits = [(task.eta - now).total_seconds() for task in due]
        for task in due:
            self.huey.execute(task, timestamp=task.eta)  # as if its time had come
        return waits


@pytest.fixture
def queue(make_settings) -> Iterator[Queue]:
    settings: Settings = make_settings()
    db = Database(settings.database_url)
    huey = MemoryHuey("chat-test", results=False, utc=False)
    yield Queue(Jobs(settings, db, huey), huey, [])
    db.dispose()


def settings_for(make_settings, url: str, kind: str = "webhook") -> Settings:
    channel = {"type": kind, "url": url}
    if kind == "webhook":
        channel["secret"] = PLANTED_SECRET
    return make_settings(notify=[channel])


def deliver_with(queue: Queue, settings: Settings) -> None:
    queue.jobs.settings = settings  # the worker reads the channel from its own settings
    queue.send_from_a_task(settings)
    assert queue.ran == ["scan"]  # the scan finished before any post
    assert queue.huey.pending_count() == 1  # one delivery task for the one channel


def test_429_waits_what_the_channel_asked_then_delivers_once(queue: Queue, make_settings) -> None:
    with ScriptedReceiver((429, {"Retry-After": "120"})) as chat:
        settings = settings_for(make_settings, chat.url)
        deliver_with(queue, settings)
        queue.run_ready()
        [wait] = queue.run_scheduled()
        assert 100 < wait <= 120
        assert queue.run_ready() == 0 and queue.huey.scheduled() == []
    assert len(chat.requests) == 2
    first, second = chat.requests
    assert first["raw"] == second["raw"]
    assert first["headers"]["X-Tightship-Delivery"] == second["headers"]["X-Tightship-Delivery"]


def test_a_retry_after_beyond_an_hour_is_held_to_an_hour(queue: Queue, make_settings) -> None:
    with ScriptedReceiver((429, {"Retry-After": "86400"})) as chat:
        deliver_with(queue, settings_for(make_settings, chat.url, "slack"))
        queue.run_ready()
        [wait] = queue.run_scheduled()
    assert 3500 < wait <= 3600
    assert len(chat.requests) == 2


def test_a_5xx_is_retried_with_backoff_then_delivered(queue: Queue, make_settings) -> None:
    with ScriptedReceiver((500, {}), (503, {})) as chat:
        deliver_with(queue, settings_for(make_settings, chat.url, "teams"))
        queue.run_ready()
        first = queue.run_scheduled()
        second = queue.run_scheduled()
        assert queue.huey.scheduled() == []
    assert len(chat.requests) == 3
    assert 25 < first[0] <= 30 and 55 < second[0] <= 60  # Huey's backoff


def test_a_410_is_dropped_and_never_retried(
    queue: Queue, make_settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with ScriptedReceiver((410, {})) as chat:
        deliver_with(queue, settings_for(make_settings, chat.url, "slack"))
        queue.run_ready()
        assert queue.huey.scheduled() == [] and queue.huey.pending_count() == 0
    assert len(chat.requests) == 1
    [record] = [r for r in caplog.records if r.getMessage() == "chat delivery failed"]
    assert (record.status, record.action, record.error) == (410, "drop", "channel_is_archived")


def test_a_dead_port_costs_the_scan_nothing_and_is_given_up_in_the_end(
    queue: Queue,
    make_settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    settings = settings_for(make_settings, "http://127.0.0.1:1/hook/T000/SECRETPART")
    posts: list[str] = []
    post = requests.post

    def counted(url: str, **kwargs: Any) -> requests.Response:
        posts.append(url)
        return post(url, **kwargs)

    monkeypatch.setattr(requests, "post", counted)
    deliver_with(queue, settings)
    assert posts == []  # the scan's task tried nothing: the delivery waits in the queue
    queue.run_ready()
    assert len(posts) == 1
    tries = 1
    while queue.run_scheduled():
        tries += 1
    assert tries == CHAT_RETRIES + 1
    actions = [r.action for r in caplog.records if r.getMessage() == "chat delivery failed"]
    assert actions == ["retry"] * CHAT_RETRIES + ["drop"]
    assert "SECRETPART" not in caplog.text and PLANTED_SECRET not in caplog.text


def test_no_url_or_secret_in_the_queue_the_message_or_the_logs(
    queue: Queue, make_settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ScriptedReceiver((500, {}), (404, {})) as chat:
        settings = settings_for(make_settings, chat.url)
        queue.jobs.settings = settings
        queue.send_from_a_task(settings)
        [task] = [queue.huey.dequeue()]
        stored = queue.huey.serialize_task(task)  # what the queue's storage holds
        assert b"SECRETPART" not in stored and PLANTED_SECRET.encode() not in stored
        queue.huey.execute(task)
        queue.run_scheduled()
    assert len(chat.requests) == 2
    for request in chat.requests:
        assert b"SECRETPART" not in request["raw"] and PLANTED_SECRET.encode() not in request["raw"]
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "SECRETPART" not in logged and PLANTED_SECRET not in logged


def test_a_channel_changed_while_a_message_waited_gets_nothing(queue: Queue, make_settings) -> None:
    with ScriptedReceiver() as old, ScriptedReceiver() as new:
        queue.jobs.settings = settings_for(make_settings, old.url)
        queue.send_from_a_task(queue.jobs.settings)
        queue.jobs.settings = settings_for(make_settings, new.url)  # reconfigured and restarted
        assert queue.run_ready() == 1  # the message was queued, and its delivery ran
    assert old.requests == [] and new.requests == []


def test_a_message_older_than_a_day_is_dropped(make_settings) -> None:
    with ScriptedReceiver() as chat:
        settings = settings_for(make_settings, chat.url, "slack")
        [message] = _messages(settings)
        stale = notify.Message(**{**_fields(message), "created": time.time() - notify.MAX_AGE - 1})
        assert notify.deliver(settings, stale) is False
    assert chat.requests == []


def test_outside_a_task_a_message_is_posted_inline_once(make_settings) -> None:
    with ScriptedReceiver() as chat:
        settings = settings_for(make_settings, chat.url, "google_chat")
        assert notify.send(settings, notice()) == 1
    [request] = chat.requests
    assert request["path"].endswith("messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (None, 60.0), ("soon", 60.0), ("0", 1.0), ("999999", 3600.0)],
)
def test_retry_after_is_read_and_bounded(header: str | None, seconds: float) -> None:
    assert notify.retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    assert 25 <= notify.retry_after(_http_date(30)) <= 30


def _http_date(seconds: int) -> str:
    from datetime import UTC
    from email.utils import format_datetime

    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


def _messages(settings: Settings) -> list[notify.Message]:
    sent: list[notify.Message] = []

    class Outbox:
        def enqueue_delivery(self, message: notify.Message) -> None:
            sent.append(message)

    token = notify.OUTBOX.set(Outbox())
    try:
        notify.send(settings, notice())
    finally:
        notify.OUTBOX.reset(token)
    return sent


def _fields(message: notify.Message) -> dict:
    return {name: getattr(message, name) for name in notify.Message.__dataclass_fields__}
