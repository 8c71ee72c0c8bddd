"""The Distribution parser on the real payloads in tests/fixtures/webhooks/distribution/."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config import Settings
from app.intake import distribution
from app.intake.base import Delivery, PayloadError
from app.models import IgnoredEvent, PushEvent
from tests.conftest import FIXTURES, TOKEN

PAYLOADS = FIXTURES / "webhooks" / "distribution"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def delivery(body: bytes, authorization: str | None = f"Bearer {TOKEN}") -> Delivery:
    headers = {"Authorization": authorization} if authorization else {}
    return Delivery(body=body, headers=headers, query={}, received_at=NOW)


def parse_file(name: str, settings: Settings) -> list[PushEvent | IgnoredEvent]:
    return distribution.parse(delivery((PAYLOADS / name).read_bytes()), settings.registries[0])


def test_real_manifest_push_by_tag(settings: Settings) -> None:
    [event] = parse_file("push-manifest-tag-real-yupeek-maiev.json", settings)
    assert event == PushEvent(
        registry="local",
        sender="distribution",
        host="127.0.0.1:5000",  # the configured host, not the payload's localdocker:5000
        repository="nginx",
        digest="sha256:11756e3866c185aa3cc5fa77b912456da847d276e3d55c50eabc6421612a2a1f",
        tag="test",
        media_type="application/vnd.docker.distribution.manifest.v2+json",
        delivery_id="269b7346-dc07-45cd-ad9e-bb9d6d7c532c",
        received_at=NOW,
        pusher=None,
    )


def test_docs_envelope_manifest_and_layer_pushes(settings: Settings) -> None:
    events = parse_file("push-manifest-and-layers-envelope-docs.json", settings)
    assert [type(e) for e in events] == [PushEvent, IgnoredEvent, IgnoredEvent]
    push = events[0]
    assert isinstance(push, PushEvent)
    assert (push.repository, push.tag, push.pusher) == ("library/test", None, "test-actor")
    assert all(e.reason == "blob push (layer or config), not a manifest" for e in events[1:])


def test_v282_wire_format_schema1_and_layers(settings: Settings) -> None:
    events = parse_file("push-envelope-v2.8.2-event_test.json", settings)
    assert all(isinstance(e, IgnoredEvent) for e in events)
    assert events[0].reason == "schema 1 manifests are deprecated and not analyzed"
    assert [e.delivery_id for e in events] == [f"asdf-asdf-asdf-asdf-{i}" for i in range(3)]


def test_pull_is_ignored_with_reason(settings: Settings) -> None:
    [event] = parse_file("pull-manifest-tag-docs.json", settings)
    assert isinstance(event, IgnoredEvent)
    assert event.reason == "action 'pull' is not a push"
    assert event.repository == "hello-world"


def test_delete_fragment_in_an_envelope_is_ignored(settings: Settings) -> None:
    fragment = json.loads((PAYLOADS / "delete-target-fragment-docs.json").read_text())
    body = json.dumps({"events": [{"id": "d1", "action": "delete", **fragment}]}).encode()
    [event] = distribution.parse(delivery(body), settings.registries[0])
    assert isinstance(event, IgnoredEvent)
    assert event.reason == "action 'delete' is not a push"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "repository": "a/B",
                "digest": "sha256:ab",
            },
            "repository 'a/B' is not a valid repository name",
        ),
        (
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "a/b"},
            "target has no valid digest",
        ),
        (
            {
                "mediaType": "application/vnd.cncf.helm.config.v1+json",
                "repository": "a/b",
                "digest": "sha256:ab",
            },
            "media type 'application/vnd.cncf.helm.config.v1+json' "
            "is not an image manifest or index",
        ),
    ],
)
def test_unusable_targets_are_ignored_not_refused(
    settings: Settings, target: dict[str, str], reason: str
) -> None:
    body = json.dumps({"events": [{"id": "e1", "action": "push", "target": target}]}).encode()
    [event] = distribution.parse(delivery(body), settings.registries[0])
    assert isinstance(event, IgnoredEvent)
    assert event.reason == reason


@pytest.mark.parametrize(
    ("suffix", "kind"), [("sig", "signature"), ("att", "attestation"), ("sbom", "SBOM")]
)
def test_cosign_tags_are_ignored_not_analyzed(settings: Settings, suffix: str, kind: str) -> None:
    """cosign pushes what it attaches to an image under a tag named by the image's digest."""
    tag = f"sha256-{'a' * 64}.{suffix}"
    target = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "repository": "acme/app",
        "digest": "sha256:" + "b" * 64,
        "tag": tag,
    }
    body = json.dumps({"events": [{"id": "e1", "action": "push", "target": target}]}).encode()
    [event] = distribution.parse(delivery(body), settings.registries[0])
    assert isinstance(event, IgnoredEvent)
    assert event.reason == f"tag '{tag}' is a cosign {kind}, not an image"
    assert (event.repository, event.tag) == ("acme/app", tag)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[]", "expected a notification envelope"),
        (b'{"events": {}}', "expected a notification envelope"),
    ],
)
def test_a_body_that_is_no_envelope_is_a_payload_error(
    settings: Settings, body: bytes, reason: str
) -> None:
    with pytest.raises(PayloadError, match=reason):
        distribution.parse(delivery(body), settings.registries[0])


@pytest.mark.parametrize(
    ("authorization", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"Bearer {TOKEN}x", False),
        (f"Basic {TOKEN}", False),
        (TOKEN, False),
        ("Bearer ", False),
        (None, False),
    ],
)
def test_token_check(settings: Settings, authorization: str | None, ok: bool) -> None:
    assert distribution.verify(delivery(b"{}", authorization), settings.registries[0]) is ok


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
TARGETS = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.sampled_from(
            ["application/vnd.oci.image.index.v1+json", "application/octet-stream", ""]
        )
        | st.text(max_size=30),
        "repository": st.from_regex(r"[a-z0-9/._-]{0,30}", fullmatch=True) | JSON,
        "digest": st.from_regex(r"sha256:[a-f0-9]{0,64}", fullmatch=True) | JSON,
        "tag": st.text(max_size=140) | JSON,
    },
)
EVENTS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=200) | JSON,
        "action": st.sampled_from(["push", "pull", "mount", "delete"]) | JSON,
        "target": TARGETS | JSON,
        "actor": st.fixed_dictionaries({}, optional={"name": JSON}) | JSON,
    },
)


@given(events=st.lists(EVENTS | JSON, max_size=5))
def test_any_envelope_maps_every_event_to_push_or_ignored(events: list[object]) -> None:
    from app.config import RegistrySettings

    registry = RegistrySettings(
        name="r", sender="distribution", url="http://h:5000", webhook={"token": "t"}
    )
    body = json.dumps({"events": events}).encode()
    parsed = distribution.parse(delivery(body), registry)
    assert len(parsed) == len(events)
    for event in parsed:
        assert len(event.delivery_id) <= 128
        if isinstance(event, PushEvent):
            assert event.host == "h:5000"
            assert event.digest and event.digest.startswith("sha256:")
            assert event.media_type in (
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            )
