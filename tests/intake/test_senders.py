"""Every real payload in tests/fixtures/webhooks/ maps to the right PushEvent or to "ignored"
with the right reason; every sender's authenticity check passes and fails as it should."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import RegistrySettings
from app.intake import SENDERS
from app.intake.base import Delivery, PayloadError, Ping, hmac_hex
from app.models import IgnoredEvent, PushEvent
from tests.conftest import FIXTURES

HOOKS = FIXTURES / "webhooks"
NOW = datetime(2026, 11, 26, tzinfo=UTC)
D = "sha256:" + "d" * 64
TOKEN = "s3cret-token-value"


def registry(sender: str, url: str, **webhook: Any) -> RegistrySettings:
    defaults: dict[str, Any] = {
        "distribution": {"token": TOKEN},
        "dockerhub": {"token": TOKEN},
        "quay": {"token": TOKEN},
        "harbor": {"token": TOKEN},
        "github": {"secret": TOKEN},
        "acr": {"token": TOKEN},
        "artifactory": {"secret": TOKEN},
        "ecr": {"header": "X-Api-Key", "token": TOKEN},
        "gcp": {
            "oidc": {
                "audience": "https://t.example/webhooks/r",
                "email": "push@p.iam.gserviceaccount.com",
                "jwks_file": str(HOOKS / "SOURCES.md"),
            }
        },
    }
    return RegistrySettings(name="r", sender=sender, url=url, webhook=webhook or defaults[sender])


def delivery(
    body: bytes | dict, headers: dict[str, str] | None = None, query: dict[str, str] | None = None
) -> Delivery:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Delivery(body=raw, headers=headers or {}, query=query or {}, received_at=NOW)


def fixture(name: str) -> bytes:
    return (HOOKS / name).read_bytes()


def parse(sender: str, url: str, body: bytes | dict, headers: dict[str, str] | None = None) -> list:
    return SENDERS[sender].parse(delivery(body, headers), registry(sender, url))


def only(events: list) -> PushEvent | IgnoredEvent:
    [event] = events
    return event


# --- Docker Hub ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "repository", "tag", "pusher"),
    [
        ("dockerhub/push-docs-current.json", "svendowideit/testhook", "latest", "trustedbuilder"),
        (
            "dockerhub/push-docs-legacy-with-images.json",
            "svendowideit/testhook",
            "latest",
            "trustedbuilder",
        ),
        ("dockerhub/push-real-yupeek-maiev.json", "yupeek/maiev", "scaler_docker-1.0.2", "yupeek"),
    ],
)
def test_docker_hub_pushes(name: str, repository: str, tag: str, pusher: str) -> None:
    event = only(parse("dockerhub", "https://index.docker.io", fixture(name)))
    assert isinstance(event, PushEvent)
    assert (event.host, event.repository, event.tag, event.digest, event.pusher) == (
        "index.docker.io",
        repository,
        tag,
        None,
        pusher,
    )


def test_docker_hub_callback_body_is_not_a_push() -> None:
    with pytest.raises(PayloadError, match="expected a Docker Hub push"):
        parse(
            "dockerhub",
            "https://index.docker.io",
            fixture("dockerhub/callback-validation-request-body-docs-legacy.json"),
        )


# --- Harbor -----------------------------------------------------------------------------


def test_harbor_default_push() -> None:
    event = only(
        parse("harbor", "https://hub.harbor.com", fixture("harbor/push-artifact-default-docs.json"))
    )
    assert isinstance(event, PushEvent)
    assert (event.host, event.repository, event.tag, event.pusher) == (
        "hub.harbor.com",
        "test-webhook/debian",
        "latest",
        "admin",
    )
    assert event.digest == "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8"


@pytest.mark.parametrize(
    "name",
    [
        "harbor/pull-artifact-by-digest-default-source-comment.json",
        "harbor/pull-artifact-cloudevents-source-comment.json",
    ],
)
def test_harbor_pulls_are_ignored(name: str) -> None:
    event = only(parse("harbor", "https://harbor.dev", fixture(name)))
    assert isinstance(event, IgnoredEvent) and "is not a push" in event.reason


def test_harbor_cloudevents_push_of_an_untagged_digest() -> None:
    body = json.loads(fixture("harbor/pull-artifact-cloudevents-source-comment.json"))
    body["type"] = "harbor.artifact.pushed"
    event = only(parse("harbor", "https://harbor.dev", body))
    assert isinstance(event, PushEvent)
    assert (
        event.tag is None and event.digest == body["data"]["resources"][0]["digest"]
    )  # tag held the digest
    assert event.delivery_id == f"{body['id']}-0"


@pytest.mark.parametrize(
    ("name", "push_type"),
    [
        ("harbor/push-artifact-default-docs.json", "PUSH_ARTIFACT"),
        ("harbor/pull-artifact-cloudevents-source-comment.json", "harbor.artifact.pushed"),
    ],
)
def test_harbor_proxy_cache_fills_are_ignored(name: str, push_type: str) -> None:
    """A pull through a proxy-cache project stores the upstream image as Harbor's proxy-cache
    service, which fires a push event naming that identity as the operator."""
    body = json.loads(fixture(name))
    body["type"], body["operator"] = push_type, "harbor#proxy-cache-service"
    event = only(parse("harbor", "https://harbor.dev", body))
    assert isinstance(event, IgnoredEvent)
    assert event.reason == (
        "a proxy-cache project stored an upstream image on a pull "
        "(operator harbor#proxy-cache-service), not a push"
    )


# --- GitHub (ghcr.io) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "github/package-published-docker-octokit.json",
        "github/registry_package-published-docker-octokit.json",
    ],
)
def test_github_package_events(name: str) -> None:
    event_name = name.split("/")[1].split("-published")[0]
    event = only(
        parse(
            "github",
            "https://ghcr.io",
            fixture(name),
            {
                "X-GitHub-Event": event_name,
                "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            },
        )
    )
    assert isinstance(event, PushEvent)
    assert (event.host, event.repository) == (
        "ghcr.io",
        "codertocat/hello-world-npm",
    )  # lower-cased
    assert event.digest == "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498"
    assert (
        event.tag is None
        and event.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    )
    assert event.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_github_ping_and_other_packages() -> None:
    with pytest.raises(Ping):
        parse("github", "https://ghcr.io", {"zen": "hi"}, {"X-GitHub-Event": "ping"})
    body = json.loads(fixture("github/package-published-docker-octokit.json"))
    body["package"]["registry"]["type"] = "npm"
    event = only(parse("github", "https://ghcr.io", body, {"X-GitHub-Event": "package"}))
    assert isinstance(event, IgnoredEvent) and "is not a container" in event.reason


# --- Quay -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "repository"),
    [
        ("quay/repo_push-redhat-quay-docs.json", "dgangaia/test"),
        ("quay/repo_push-keel-comment-docs-quay-io.json", "mynamespace/repository"),
    ],
)
def test_quay_pushes(name: str, repository: str) -> None:
    event = only(parse("quay", "https://quay.io", fixture(name)))
    assert isinstance(event, PushEvent)
    assert (event.host, event.repository, event.tag, event.digest) == (
        "quay.io",
        repository,
        "latest",
        None,
    )


def test_quay_legacy_updated_tags_object() -> None:
    events = parse(
        "quay",
        "https://quay.io",
        fixture("quay/repo_push-legacy-2013-gist-updated_tags-object.json"),
    )
    assert events and all(isinstance(e, PushEvent) for e in events)
    assert len({e.delivery_id for e in events}) == len(events)


# --- Google Artifact Registry (Pub/Sub) -------------------------------------------------


def pubsub(data: dict, message_id: str = "m-1") -> dict:
    return {
        "message": {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "messageId": message_id,
            "publishTime": "2026-01-01T00:00:00Z",
        },
        "subscription": "projects/p/subscriptions/s",
    }


def gcp_data(name: str, digest: str = D) -> dict:
    data = json.loads(fixture(f"gcp-pubsub/{name}"))
    for key in ("digest", "tag"):
        if key in data:
            data[key] = data[key].replace("sha256:...", digest)
    return data


def test_gcp_insert_with_tag_and_digest_only() -> None:
    url = "https://us-west1-docker.pkg.dev"
    tagged = only(
        parse("gcp", url, pubsub(gcp_data("artifact-registry-message-insert-tag-docs.json")))
    )
    assert isinstance(tagged, PushEvent)
    assert (tagged.host, tagged.repository, tagged.tag, tagged.digest) == (
        "us-west1-docker.pkg.dev",
        "my-project/my-repo/hello-world",
        "1.1",
        D,
    )
    assert tagged.delivery_id == "m-1"
    bare = only(
        parse(
            "gcp", url, pubsub(gcp_data("artifact-registry-message-insert-digest-only-docs.json"))
        )
    )
    assert isinstance(bare, PushEvent) and bare.tag is None and bare.digest == D


def test_gcp_delete_other_hosts_and_bad_envelopes() -> None:
    url = "https://us-west1-docker.pkg.dev"
    delete = only(
        parse("gcp", url, pubsub(gcp_data("artifact-registry-message-delete-tag-docs.json")))
    )
    assert isinstance(delete, IgnoredEvent) and "is not an INSERT" in delete.reason
    elsewhere = only(
        parse(
            "gcp",
            "https://europe-docker.pkg.dev",
            pubsub(gcp_data("artifact-registry-message-insert-tag-docs.json")),
        )
    )
    assert isinstance(elsewhere, IgnoredEvent) and "not on this registry's host" in elsewhere.reason
    # the documentation's abbreviated envelope holds a placeholder, not base64 JSON
    with pytest.raises(PayloadError, match="not base64-encoded JSON"):
        parse(
            "gcp",
            url,
            fixture("gcp-pubsub/push-envelope-abbreviated-argocd-image-updater-docs.json"),
        )
    with pytest.raises(PayloadError, match="Pub/Sub push envelope"):
        parse(
            "gcp", url, fixture("gcp-pubsub/eventarc-cloudevent-messagePublished-googleapis.json")
        )


# --- ECR (EventBridge API destination) -------------------------------------------------

ECR_URL = "https://123456789012.dkr.ecr.us-west-2.amazonaws.com"


def ecr_event(name: str, **detail: str) -> dict:
    event = json.loads(fixture(f"aws-ecr/{name}"))
    event["detail"].update(detail)
    return event


def test_ecr_push() -> None:
    event = only(
        parse("ecr", ECR_URL, ecr_event("eventbridge-image-push-docs.json", **{"image-digest": D}))
    )
    assert isinstance(event, PushEvent)
    assert (event.host, event.repository, event.tag, event.digest, event.delivery_id) == (
        "123456789012.dkr.ecr.us-west-2.amazonaws.com",
        "my-repository-name",
        "latest",
        D,
        "13cde686-328b-6117-af20-0e5566167482",
    )
    # the documentation's sample digest is shortened: not a digest Tightship can pull
    sample = only(parse("ecr", ECR_URL, fixture("aws-ecr/eventbridge-image-push-docs.json")))
    assert isinstance(sample, IgnoredEvent) and "not a valid digest" in sample.reason


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("eventbridge-image-delete-docs.json", "action DELETE SUCCESS is not a push"),
        ("eventbridge-image-archive-with-media-types-docs.json", "not a push"),
        ("eventbridge-replication-docs.json", "is not an image action"),
        (
            "cloudevents-input-transformer-template-argocd-image-updater.json",
            "is not an image action",
        ),
    ],
)
def test_ecr_non_pushes(name: str, reason: str) -> None:
    event = only(
        parse(
            "ecr",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
            fixture(f"aws-ecr/{name}"),
        )
    )
    assert isinstance(event, IgnoredEvent) and reason in event.reason


def test_ecr_other_account_is_ignored() -> None:
    event = only(
        parse(
            "ecr",
            "https://999999999999.dkr.ecr.us-west-2.amazonaws.com",
            ecr_event("eventbridge-image-push-docs.json", **{"image-digest": D}),
        )
    )
    assert isinstance(event, IgnoredEvent) and "not on this registry's host" in event.reason


# --- ACR ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["azure-acr/push-docs-2023.json", "azure-acr/push-keel-test-docs-2017.json"]
)
def test_acr_pushes(name: str) -> None:
    event = only(parse("acr", "https://myregistry.azurecr.io", fixture(name)))
    if "xxxx" in fixture(name).decode():  # the 2023 sample's digest is masked with x's
        assert isinstance(event, IgnoredEvent) and "not a valid digest" in event.reason
        return
    assert isinstance(event, PushEvent)
    assert (event.host, event.repository, event.tag) == (
        "myregistry.azurecr.io",
        "hello-world",
        "v1",
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("azure-acr/delete-docs-2023.json", "action 'delete' is not a push"),
        ("azure-acr/chart_push-docs-2023.json", "action 'chart_push' is not a push"),
    ],
)
def test_acr_non_pushes(name: str, reason: str) -> None:
    event = only(parse("acr", "https://myregistry.azurecr.io", fixture(name)))
    assert isinstance(event, IgnoredEvent) and event.reason == reason


def test_acr_ping() -> None:
    with pytest.raises(Ping):
        parse("acr", "https://myregistry.azurecr.io", {"id": "x", "action": "ping"})


# --- Artifactory --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        # repository path access: the Docker API serves /v2/<repo_key>/<image_name>/...
        ("https://acme.jfrog.io", "docker-remote-cache/library/ubuntu"),
        # subdomain access: the host names the repository, /v2/<image_name>/...
        ("https://docker-remote-cache.acme.jfrog.io", "library/ubuntu"),
    ],
)
def test_artifactory_tag_pushed_index(url: str, repository: str) -> None:
    body = {
        "domain": "docker",
        "event_type": "pushed",
        "source": "jfrog/ci",
        "data": json.loads(fixture("jfrog/docker-tag-pushed-data-fragment-docs.json")),
    }
    event = only(parse("artifactory", url, body))
    assert isinstance(event, PushEvent)
    assert (event.repository, event.tag, event.media_type) == (
        repository,
        "latest",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
    assert event.digest == "sha256:35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce"


def test_artifactory_deployed_file_is_ignored() -> None:
    event = only(
        parse(
            "artifactory",
            "https://acme.jfrog.io",
            fixture("jfrog/artifact-deployed-envelope-docs.json"),
        )
    )
    assert (
        isinstance(event, IgnoredEvent)
        and event.reason == "artifact/deployed is not a docker tag push"
    )


# --- authenticity -----------------------------------------------------------------------

BODY = b'{"any": "body"}'


@pytest.mark.parametrize(
    ("sender", "good", "bad"),
    [
        (
            "distribution",
            {"headers": {"Authorization": f"Bearer {TOKEN}"}},
            {"headers": {"Authorization": "Bearer x"}},
        ),
        ("dockerhub", {"query": {"token": TOKEN}}, {"query": {"token": TOKEN + "x"}}),
        ("quay", {"query": {"token": TOKEN}}, {"headers": {"Authorization": f"Bearer {TOKEN}"}}),
        (
            "harbor",
            {"headers": {"Authorization": TOKEN}},
            {"headers": {"Authorization": f"Bearer {TOKEN}"}},
        ),
        ("acr", {"headers": {"Authorization": TOKEN}}, {"headers": {"X-Other": TOKEN}}),
        ("ecr", {"headers": {"X-Api-Key": TOKEN}}, {"headers": {"Authorization": TOKEN}}),
        (
            "github",
            {"headers": {"X-Hub-Signature-256": "sha256=" + hmac_hex(TOKEN, BODY)}},
            {"headers": {"X-Hub-Signature-256": "sha256=" + hmac_hex(TOKEN + "x", BODY)}},
        ),
        (
            "artifactory",
            {"headers": {"X-JFrog-Event-Auth": hmac_hex(TOKEN, BODY)}},
            {"headers": {"X-JFrog-Event-Auth": TOKEN}},
        ),
    ],
)
def test_authenticity_checks(sender: str, good: dict, bad: dict) -> None:
    reg = registry(sender, "https://r.example")
    assert SENDERS[sender].verify(
        Delivery(BODY, good.get("headers", {}), good.get("query", {}), NOW), reg
    )
    assert not SENDERS[sender].verify(
        Delivery(BODY, bad.get("headers", {}), bad.get("query", {}), NOW), reg
    )
    assert not SENDERS[sender].verify(Delivery(BODY, {}, {}, NOW), reg)


def test_artifactory_plain_token_mode() -> None:
    reg = registry("artifactory", "https://a.example", token=TOKEN)
    assert SENDERS["artifactory"].verify(
        Delivery(BODY, {"X-JFrog-Event-Auth": TOKEN}, {}, NOW), reg
    )


@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_each_sender_refuses_a_config_without_its_proof(sender: str) -> None:
    with pytest.raises(ValueError, match="required"):
        RegistrySettings(name="r", sender=sender, url="https://r.example", webhook={})


# --- no body crashes a parser ------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from([D, "\ud800", "a\x00"]),
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(
            st.text(max_size=12)
            | st.sampled_from(
                [
                    "events",
                    "target",
                    "push_data",
                    "repository",
                    "type",
                    "event_data",
                    "resources",
                    "message",
                    "data",
                    "detail",
                    "action",
                    "package",
                    "updated_tags",
                    "digest",
                    "tag",
                    "Type",
                    "Message",
                ]
            ),
            c,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=300),
    event=st.sampled_from(["package", "registry_package", "ping", ""]),
)
def test_no_body_makes_any_parser_raise_anything_but_a_payload_error(
    body: bytes, event: str
) -> None:
    for sender in SENDERS:
        url = ECR_URL if sender == "ecr" else "https://r.example"
        try:
            events = SENDERS[sender].parse(
                delivery(body, {"X-GitHub-Event": event}), registry(sender, url)
            )
        except (PayloadError, Ping):
            continue
        for parsed in events:
            assert isinstance(parsed, PushEvent | IgnoredEvent)
            assert len(parsed.delivery_id) <= 128 and "\x00" not in (parsed.repository or "")


def test_empty_secrets_are_refused_at_start_up() -> None:
    for webhook in ({"secret": "", "token": TOKEN}, {"token": ""}):
        with pytest.raises(ValueError, match="an empty secret proves nothing"):
            RegistrySettings(
                name="r", sender="artifactory", url="https://a.example", webhook=webhook
            )


def test_numbers_python_will_not_convert_are_a_payload_error() -> None:
    body = b'{"events": [{"id": "e", "size": ' + b"9" * 5000 + b"}]}"
    with pytest.raises(PayloadError, match="not usable JSON"):
        parse("distribution", "https://r.example", body)
