"""Channel config (a union on type, old Slack entries still valid) and what each channel hears."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app import notify
from app.config import GoogleChatChannel, Settings, SlackChannel, WebhookChannel
from app.models import Severity
from tests.notify.samples import digest, finding, notice


def channel(make_settings, **fields: object):
    settings: Settings = make_settings(notify=[{"type": "slack", "url": "https://h/x", **fields}])
    return settings.notify[0]


def test_an_old_slack_entry_is_still_valid_with_every_default(make_settings) -> None:
    slack = channel(make_settings)
    assert isinstance(slack, SlackChannel)
    assert (slack.min_severity, slack.registries, slack.repositories) == (Severity.LOW, [], [])
    assert slack.events == ["findings", "pr", "fixed", "digest"]


def test_the_type_picks_the_channel_and_a_webhook_needs_its_secret(make_settings) -> None:
    settings: Settings = make_settings(
        notify=[
            {"type": "google_chat", "url": "https://chat/x"},
            {"type": "webhook", "url": "https://h/w", "secret": "s"},
        ]
    )
    assert isinstance(settings.notify[0], GoogleChatChannel)
    assert isinstance(settings.notify[1], WebhookChannel)
    for bad in (
        {"type": "webhook", "url": "https://h/w"},
        {"type": "webhook", "url": "https://h/w", "secret": ""},
        {"type": "slack", "url": "https://h/w", "secret": "s"},
        {"type": "discord", "url": "https://h/w"},
        {"type": "slack", "url": "https://h/w", "events": ["everything"]},
        {"type": "slack", "url": "https://h/w", "events": []},
    ):
        with pytest.raises(ValidationError):
            make_settings(notify=[bad])


def test_minimum_severity_leaves_out_lower_findings(make_settings) -> None:
    mixed = (finding(0, Severity.LOW), finding(1, Severity.CRITICAL))
    high = channel(make_settings, min_severity="high")
    told = notify.for_channel(high, notice(mixed))
    assert told is not None and [f.rule for f in told.findings] == ["rule-1"]
    assert notify.for_channel(high, notice((finding(0, Severity.MEDIUM),))) is None
    only_low_new = notice(mixed, new=(mixed[0],))  # the new one is below the bar
    assert notify.for_channel(high, only_low_new) is None


@pytest.mark.parametrize(
    ("fields", "heard"),
    [
        ({"registries": ["loc*"]}, True),
        ({"registries": ["reg.example:5000"]}, True),  # a host works too
        ({"registries": ["other"]}, False),
        ({"repositories": ["acme/*"]}, True),
        ({"repositories": ["acme/billing", "ops/*"]}, False),
        ({"registries": ["local"], "repositories": ["ops/*"]}, False),
    ],
)
def test_registry_and_repository_globs(make_settings, fields: dict, heard: bool) -> None:
    assert (notify.for_channel(channel(make_settings, **fields), notice()) is not None) is heard


def test_events_pick_which_notices_a_channel_hears(make_settings) -> None:
    pr_only = channel(make_settings, events=["pr"])
    both = notice(events=("findings", "pr"), fix_status="created")
    told = notify.for_channel(pr_only, both)
    assert told is not None and told.events == ("pr",)
    assert notify.for_channel(pr_only, notice(events=("findings",))) is None
    fixed_only = channel(make_settings, events=["fixed"])
    gone = notice(0, new=(), fixed=(finding(5),), events=("fixed",))
    assert notify.for_channel(fixed_only, gone) is not None
    assert notify.for_channel(fixed_only, both) is None
    assert notify.for_channel(channel(make_settings), notice(events=())) is None  # no news


def test_the_digest_goes_only_where_it_is_wanted(make_settings) -> None:
    settings: Settings = make_settings(
        notify=[
            {"type": "slack", "url": "http://127.0.0.1:1/a", "events": ["findings"]},
            {"type": "teams", "url": "http://127.0.0.1:1/b", "events": ["digest"]},
        ]
    )
    sent: list[notify.Message] = []

    class Outbox:
        def enqueue_delivery(self, message: notify.Message) -> None:
            sent.append(message)

    token = notify.OUTBOX.set(Outbox())
    try:
        assert notify.send_digest(settings, digest()) == 1
    finally:
        notify.OUTBOX.reset(token)
    [message] = sent
    assert message.channel == 1 and b"AdaptiveCard" in message.body
    assert b"127.0.0.1" not in message.body
