"""Slack messages: valid Block Kit within Slack's limits, delivered once, never fatal."""

from __future__ import annotations

import json
import logging

import pytest
from slack_sdk.models.blocks import Block

from app import notify
from app.config import Settings
from app.demo.chat import ChatReceiver
from app.models import Finding, Notice, Severity
from app.notify import slack
from tests.conftest import FIXTURES


def notice(findings: int = 1, **extra: str) -> Notice:
    return Notice(
        reference="reg:5000/acme/orders:1.0",
        digest="sha256:" + "a" * 64,
        findings=tuple(
            Finding(
                f"rule-{i}", Severity.HIGH, "Container runs as root", "config User is '<!here>'"
            )
            for i in range(findings)
        ),
        **extra,
    )


def validate(body: dict) -> None:
    blocks = Block.parse_all(body["blocks"])
    for block in blocks:
        block.validate_json()  # Slack's own model: field lengths, required keys
    assert len(blocks) <= 50
    assert [b.to_dict() for b in blocks] == body["blocks"]


def test_message_has_the_fixture_shape_and_is_valid_block_kit() -> None:
    reference = json.loads((FIXTURES / "chat/slack-incoming-webhook-blockkit.json").read_text())
    body = slack.payload(
        notice(branch="tightship/acme-orders", repository="acme/orders", fix_status="created")
    )
    assert body.keys() == reference.keys()
    validate(body)
    text = json.dumps(body)
    assert "tightship/acme-orders" in text and "rule-0" in text
    assert "<!here>" not in text and "&lt;!here&gt;" in text  # no mention injection from image data


def test_a_pull_request_and_a_held_one_are_said_plainly() -> None:
    opened = slack.payload(
        notice(fix_status="created", fix_detail="PR #7 opened", pull_url="https://gh.example/p/7")
    )
    validate(opened)
    assert "*Fix* created: <https://gh.example/p/7|PR #7 opened>" in json.dumps(opened)
    held = slack.payload(
        notice(fix_status="held", fix_detail="held back: acme/orders has 5 open Tightship PRs")
    )
    assert "*Fix* held: held back: acme/orders has 5 open Tightship PRs" in json.dumps(held)


def test_many_findings_stay_within_slack_limits() -> None:
    body = slack.payload(notice(findings=200, fix_status="refused", fix_detail="x" * 10_000))
    validate(body)
    assert any("and 180 more" in json.dumps(b) for b in body["blocks"])


def test_delivered_once_to_each_channel(make_settings) -> None:
    with ChatReceiver() as chat:
        settings: Settings = make_settings(notify=[{"type": "slack", "url": chat.url}])
        assert notify.send(settings, notice()) == 1
    assert len(chat.messages) == 1
    assert chat.messages[0]["headers"]["Content-Type"] == "application/json"
    assert chat.messages[0]["body"] == slack.payload(notice())


@pytest.mark.parametrize("status", [500, 429, 404])
def test_a_failing_channel_is_logged_not_raised_and_its_url_not_logged(
    make_settings, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.WARNING)
    with ChatReceiver(status=status) as failing, ChatReceiver() as healthy:
        settings: Settings = make_settings(
            notify=[
                {"type": "slack", "url": failing.url + "/T000/SECRETPART"},
                {"type": "slack", "url": healthy.url},
            ]
        )
        assert notify.send(settings, notice()) == 1
    assert len(healthy.messages) == 1
    [record] = [r for r in caplog.records if r.getMessage() == "chat delivery failed"]
    assert record.status == status
    assert "SECRETPART" not in f"{record.getMessage()} {record.__dict__}"


def test_an_unreachable_channel_is_not_fatal(make_settings) -> None:
    settings: Settings = make_settings(notify=[{"type": "slack", "url": "http://127.0.0.1:1/hook"}])
    assert notify.send(settings, notice(), timeout=2) == 0
