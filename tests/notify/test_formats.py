"""Each platform's message: the example payload's shape, the platform's limits, no markup
injection from image data, and the generic webhook's signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from slack_sdk.models.blocks import Block

from app import notify
from app.config import Settings
from app.models import Severity
from app.notify import google_chat, slack, teams, webhook
from tests.conftest import FIXTURES
from tests.notify.samples import IMAGE, digest, finding, notice


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / "chat" / name).read_text())


def size(body: dict) -> int:
    return len(json.dumps(body).encode())


def test_every_platform_is_registered_with_both_messages() -> None:
    assert set(notify.PLATFORMS) == {"slack", "google_chat", "teams", "webhook"}
    for name, platform in notify.PLATFORMS.items():
        assert platform.name == name
        assert platform.payload(notice()) and platform.digest_payload(digest())


# Slack


def test_slack_digest_is_valid_block_kit_with_a_dashboard_link() -> None:
    body = slack.digest_payload(digest())
    blocks = Block.parse_all(body["blocks"])
    for block in blocks:
        block.validate_json()
    assert body.keys() == fixture("slack-incoming-webhook-blockkit.json").keys()
    assert "<https://tightship.example/|Open the dashboard>" in json.dumps(body)
    assert "75% passing" in json.dumps(body)


def test_slack_marks_new_and_fixed_and_links_the_rest() -> None:
    body = slack.payload(
        notice(
            findings=30,
            new=(finding(3),),
            fixed=(finding(99),),
            events=("findings", "fixed"),
            dashboard_url="https://tightship.example/i/1",
        )
    )
    for block in Block.parse_all(body["blocks"]):
        block.validate_json()
    text = json.dumps(body, ensure_ascii=False)
    assert "1 new, 1 fixed, 30 open" in text
    assert "*new* *rule-3*" in text
    assert "…and 11 more: <https://tightship.example/i/1|full report>" in text


# Google Chat


def test_google_chat_has_the_cards_v2_shape_of_the_example() -> None:
    example = fixture("google-chat-webhook-cardsv2.json")
    body = google_chat.payload(
        notice(fix_status="created", fix_detail="PR #7 opened", pull_url="https://gh.example/p/7")
    )
    assert body.keys() == example.keys()
    [card] = body["cardsV2"]
    assert card.keys() == example["cardsV2"][0].keys()
    assert card["card"].keys() == example["cardsV2"][0]["card"].keys()
    assert card["card"]["header"].keys() == {"title", "subtitle"}
    widgets = [w for s in card["card"]["sections"] for w in s["widgets"]]
    kinds = {next(iter(w)) for w in widgets}
    assert kinds == {"decoratedText", "textParagraph", "buttonList"}
    [buttons] = [w["buttonList"]["buttons"] for w in widgets if "buttonList" in w]
    assert buttons[0]["onClick"]["openLink"]["url"] == "https://gh.example/p/7"
    text = json.dumps(body)
    assert "<b>0</b>" not in text and "&lt;b&gt;0&lt;/b&gt;" in text  # no markup from image data


def test_google_chat_threads_each_image_repository_in_one_thread() -> None:
    first = google_chat.payload(notice())
    other_tag = google_chat.payload(notice(reference=f"{IMAGE}:2.0", digest="sha256:" + "b" * 64))
    other_image = google_chat.payload(notice(image="reg.example:5000/acme/billing"))
    assert first["thread"] == {"threadKey": f"tightship/{IMAGE}"}
    assert other_tag["thread"] == first["thread"]
    assert other_image["thread"] != first["thread"]


def test_google_chat_url_keeps_its_key_and_asks_for_the_thread(make_settings) -> None:
    url = "https://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T"
    settings: Settings = make_settings(notify=[{"type": "google_chat", "url": url}])
    target, headers = google_chat.prepare(settings.notify[0], b"{}")
    query = parse_qs(urlsplit(target).query)
    assert query == {
        "key": ["K"],
        "token": ["T"],
        "messageReplyOption": ["REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"],
    }
    assert headers["Content-Type"].startswith("application/json")


def test_google_chat_stays_within_its_size_with_many_long_findings() -> None:
    many = tuple(finding(i, evidence="x" * 5_000) for i in range(300))
    body = google_chat.payload(notice(many, dashboard_url="https://tightship.example/i/1"))
    assert size(body) <= google_chat.MAX_BYTES
    assert "more in the full report: https://tightship.example/i/1" in json.dumps(body)
    assert size(google_chat.digest_payload(digest())) <= google_chat.MAX_BYTES


# Microsoft Teams (Workflows)


def card_of(body: dict) -> dict:
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    return attachment["content"]


def test_teams_is_an_adaptive_card_1_4_in_the_workflows_envelope() -> None:
    example = fixture("teams-workflows-adaptive-card.json")
    body = teams.payload(
        notice(fix_status="created", fix_detail="PR #7 opened", pull_url="https://gh.example/p/7")
    )
    assert body.keys() == example.keys() and body["type"] == "message"
    card = card_of(body)
    assert card.keys() == example["attachments"][0]["content"].keys()
    assert (card["type"], card["version"], card["$schema"]) == (
        "AdaptiveCard",
        "1.4",
        "http://adaptivecards.io/schemas/adaptive-card.json",
    )
    assert {e["type"] for e in card["body"]} == {"TextBlock", "FactSet"}
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Review fix PR", "url": "https://gh.example/p/7"}
    ]
    [facts] = [e["facts"] for e in card["body"] if e["type"] == "FactSet"]
    assert facts[0]["title"] == "High"
    assert r"\[x\]\(http://evil.example\)" in facts[0]["value"]  # no link from image data


def test_teams_stays_under_28_kb_with_many_long_findings() -> None:
    many = tuple(finding(i, evidence="y" * 5_000) for i in range(500))
    body = teams.payload(notice(many, dashboard_url="https://tightship.example/i/1"))
    assert size(body) <= 28_000
    texts = [e.get("text", "") for e in card_of(body)["body"]]
    assert any(t.startswith("…and ") and "tightship.example/i/1" in t for t in texts)


def test_teams_digest_lists_each_concern() -> None:
    card = card_of(teams.digest_payload(digest()))
    [facts] = [e["facts"] for e in card["body"] if e["type"] == "FactSet"]
    assert {"title": "no secrets", "value": "50% passing"} in facts
    assert card["actions"][0]["url"] == "https://tightship.example/"


# The generic JSON webhook


def test_webhook_body_follows_the_documented_schema() -> None:
    body = webhook.payload(
        notice(
            2,
            new=(finding(1),),
            fixed=(finding(7, Severity.LOW),),
            events=("findings", "fixed"),
            fix_status="created",
            pull_url="https://gh.example/p/7",
        )
    )
    assert body["schema"] == "tightship.notice/v1"
    assert (body["kind"], body["events"]) == ("findings", ["findings", "fixed"])
    assert (body["image"], body["digest"]) == (IMAGE, "sha256:" + "a" * 64)
    assert [(f["rule"], f["status"]) for f in body["findings"]] == [
        ("rule-0", "open"),
        ("rule-1", "new"),
    ]
    assert set(body["findings"][0]) == {"rule", "severity", "title", "evidence", "path", "status"}
    assert body["fixed"] == [
        {
            "rule": "rule-7",
            "severity": "low",
            "title": "Container runs as root",
            "evidence": finding(7).evidence,
            "path": "/app/file-7",
        }
    ]
    assert body["fix"]["status"] == "created" and body["fix"]["url"] == "https://gh.example/p/7"
    assert webhook.digest_payload(digest())["kind"] == "digest"


def test_webhook_signature_covers_the_timestamp_and_the_raw_body(make_settings) -> None:
    settings: Settings = make_settings(
        notify=[{"type": "webhook", "url": "https://hooks.example/t", "secret": "s3cret"}]
    )
    raw = json.dumps(webhook.payload(notice())).encode()
    url, headers = webhook.prepare(settings.notify[0], raw)
    assert url == "https://hooks.example/t"
    timestamp = headers["X-Tightship-Timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert headers["X-Tightship-Signature-256"] == f"sha256={expected}"
    replayed = webhook.sign("s3cret", str(int(timestamp) + 600), raw)
    assert replayed != headers["X-Tightship-Signature-256"]  # a new timestamp needs the secret


@pytest.mark.parametrize("platform", ["slack", "google_chat", "teams", "webhook"])
def test_no_message_holds_the_channel_url_or_secret(make_settings, platform: str) -> None:
    channel = {"type": platform, "url": "https://hooks.example/PLANTED-URL-PART"}
    if platform == "webhook":
        channel["secret"] = "PLANTED-SECRET"
    settings: Settings = make_settings(notify=[channel])
    told = notify.for_channel(settings.notify[0], notice(fix_status="created"))
    assert told is not None
    for body in (
        notify.PLATFORMS[platform].payload(told),
        notify.PLATFORMS[platform].digest_payload(digest()),
    ):
        assert "PLANTED" not in json.dumps(body)
