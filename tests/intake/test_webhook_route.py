"""POST /webhooks/<name>: status codes a retrying sender can live with, and what is stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from app import create_app
from app.config import Settings
from app.store import repo
from app.store.db import Database
from app.store.schema import EventRow
from tests.conftest import FIXTURES, TOKEN

CONTENT_TYPE = "application/vnd.docker.distribution.events.v1+json"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": CONTENT_TYPE}
REAL_PUSH = (
    FIXTURES / "webhooks/distribution/push-manifest-tag-real-yupeek-maiev.json"
).read_bytes()


@pytest.fixture
def app(make_settings, database_url: str) -> Iterator[Flask]:
    """The app on SQLite and on PostgreSQL: what one accepts, the other must too."""
    flask_app = create_app(make_settings(storage={"database_url": database_url}))
    yield flask_app
    flask_app.extensions["tightship.db"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def stored(app: Flask) -> list[EventRow]:
    with app.extensions["tightship.db"].session() as session:
        return list(session.scalars(select(EventRow).order_by(EventRow.id)))


def queued(app: Flask) -> int:
    return app.extensions["tightship.jobs"].huey.pending_count()


def test_push_is_stored_queued_and_answered_202(app: Flask, client: FlaskClient) -> None:
    response = client.post("/webhooks/local", data=REAL_PUSH, headers=AUTH)
    assert response.status_code == 202
    assert response.json == {"queued": 1, "ignored": 0, "duplicates": 0}
    [row] = stored(app)
    assert (row.repository, row.tag, row.status) == ("nginx", "test", "queued")
    assert row.host == "127.0.0.1:5000"
    assert queued(app) == 1


def test_redelivery_is_a_no_op(app: Flask, client: FlaskClient) -> None:
    client.post("/webhooks/local", data=REAL_PUSH, headers=AUTH)
    again = client.post("/webhooks/local", data=REAL_PUSH, headers=AUTH)
    assert again.status_code == 202
    assert again.json == {"queued": 0, "ignored": 0, "duplicates": 1}
    assert len(stored(app)) == 1
    assert queued(app) == 1


def test_ignored_events_are_recorded_with_reason(app: Flask, client: FlaskClient) -> None:
    body = (FIXTURES / "webhooks/distribution/pull-manifest-tag-docs.json").read_bytes()
    response = client.post("/webhooks/local", data=body, headers=AUTH)
    assert response.json == {"queued": 0, "ignored": 1, "duplicates": 0}
    [row] = stored(app)
    assert (row.status, row.reason) == ("ignored", "action 'pull' is not a push")
    assert queued(app) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {},
    ],
)
def test_forged_delivery_is_401_without_detail_and_stores_nothing(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.post("/webhooks/local", data=REAL_PUSH, headers=headers)
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized"}
    assert stored(app) == []
    assert queued(app) == 0


def test_unknown_webhook_is_404(client: FlaskClient) -> None:
    response = client.post("/webhooks/nope", data=REAL_PUSH, headers=AUTH)
    assert response.status_code == 404


@pytest.mark.parametrize("body", [b"{oops", b"[1,2]", b""])
def test_malformed_body_is_400_with_a_reason(app: Flask, client: FlaskClient, body: bytes) -> None:
    response = client.post("/webhooks/local", data=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json["error"]
    assert stored(app) == []


def test_body_over_one_mebibyte_is_413(app: Flask, client: FlaskClient) -> None:
    body = json.dumps({"events": [], "pad": "x" * (1024 * 1024)}).encode()
    response = client.post("/webhooks/local", data=body, headers=AUTH)
    assert response.status_code == 413
    assert stored(app) == []


def test_plain_json_and_v2_content_types_are_accepted(client: FlaskClient) -> None:
    for index, content_type in enumerate(
        ["application/json", "application/vnd.docker.distribution.events.v2+json", "text/plain"]
    ):
        body = REAL_PUSH.replace(b"269b7346", f"{index}69b7346".encode())
        headers = {**AUTH, "Content-Type": content_type}
        assert client.post("/webhooks/local", data=body, headers=headers).status_code == 202


def test_token_never_reaches_the_logs(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/webhooks/local", data=REAL_PUSH, headers=AUTH)
    client.post("/webhooks/local", data=REAL_PUSH, headers={"Authorization": f"Bearer {TOKEN}x"})
    client.post("/webhooks/local", data=b"{bad", headers=AUTH)
    assert caplog.records
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert TOKEN not in text


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=2000)
    | st.text(max_size=500).map(str.encode)
    | st.integers(1, 50_000).map(lambda depth: b'{"events": ' + b"[" * depth + b"]" * depth + b"}")
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=25,
    ).map(lambda v: json.dumps({"events": v} if isinstance(v, list) else v).encode()),
    authorized=st.booleans(),
    content_type=st.sampled_from([CONTENT_TYPE, "application/json", "", "multipart/form-data"]),
)
def test_no_body_makes_the_webhook_answer_5xx(
    client: FlaskClient, body: bytes, authorized: bool, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if authorized:
        headers["Authorization"] = f"Bearer {TOKEN}"
    response = client.post("/webhooks/local", data=body, headers=headers)
    assert response.status_code < 500
    assert response.status_code in (202, 400, 401)


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "queue": "ok"}


def test_readiness_is_503_when_the_database_is_unreachable(app: Flask, client: FlaskClient) -> None:
    app.extensions["tightship.db"] = Database("postgresql://tightship@127.0.0.1:1/none")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["database"].startswith("unavailable")
    assert ready.json["checks"]["queue"] == "ok"
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "event",
    [
        {"id": "\ud800", "action": "push"},
        {"id": "a\x00b", "action": "push", "target": {"repository": "a\x00b"}},
        {"id": "x" * 300, "action": "push"},
        {
            "id": "ok-1",
            "action": "push",
            "actor": {"name": "\ud800\x00"},
            "target": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "repository": "acme/app",
                "digest": "sha256:" + "a" * 64,
                "tag": "\ud800",
            },
        },
    ],
)
def test_hostile_strings_are_stored_as_ignored_on_every_engine(
    app: Flask, client: FlaskClient, event: dict
) -> None:
    response = client.post("/webhooks/local", data=json.dumps({"events": [event]}), headers=AUTH)
    assert response.status_code == 202
    assert response.json["ignored"] == 1
    [row] = stored(app)
    assert "\x00" not in (row.repository or "") and row.reason


def test_events_without_ids_from_different_deliveries_do_not_collide(
    app: Flask, client: FlaskClient
) -> None:
    for repository in ("one/app", "two/app"):
        body = json.dumps({"events": [{"action": "push", "target": {"repository": repository}}]})
        assert client.post("/webhooks/local", data=body, headers=AUTH).json["ignored"] == 1
    assert [r.reason for r in stored(app)] == ["event has no usable id"] * 2


def test_deeply_nested_json_is_a_400(client: FlaskClient) -> None:
    body = b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post("/webhooks/local", data=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json == {"error": "body is nested too deeply"}


def test_ping_is_200_and_stores_nothing(app_with) -> None:
    app = app_with(
        {
            "name": "acr",
            "sender": "acr",
            "url": "https://r.azurecr.io",
            "webhook": {"token": TOKEN},
        }
    )
    response = app.test_client().post(
        "/webhooks/acr",
        data=json.dumps({"id": "p", "action": "ping"}),
        headers={"Authorization": TOKEN},
    )
    assert (response.status_code, response.json) == (200, {"ping": "ok"})
    assert stored(app) == []


def test_include_and_exclude_globs_record_the_reason(app_with) -> None:
    app = app_with(
        {
            "name": "local",
            "sender": "distribution",
            "url": "http://127.0.0.1:5000",
            "webhook": {"token": TOKEN},
            "include": ["acme/*"],
            "exclude": ["acme/tmp-*"],
        }
    )
    client = app.test_client()
    for index, repository in enumerate(["acme/api", "other/api", "acme/tmp-1"]):
        body = json.dumps(
            {
                "events": [
                    {
                        "id": f"e{index}",
                        "action": "push",
                        "target": {
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "repository": repository,
                            "digest": "sha256:" + f"{index}" * 64,
                        },
                    }
                ]
            }
        )
        client.post("/webhooks/local", data=body, headers=AUTH)
    rows = {row.repository: (row.status, row.reason) for row in stored(app)}
    assert rows["acme/api"] == ("queued", None)
    assert (
        rows["other/api"]
        == rows["acme/tmp-1"]
        == ("ignored", "repository left out by the registry's include/exclude")
    )


def test_the_same_image_pushed_again_within_minutes_is_not_scheduled_twice(
    app: Flask, client: FlaskClient
) -> None:
    first = json.loads(REAL_PUSH)
    again = json.loads(REAL_PUSH)
    again["events"][0]["id"] = "another-id-for-the-same-push"  # senders that re-send with new ids
    client.post("/webhooks/local", data=json.dumps(first), headers=AUTH)
    response = client.post("/webhooks/local", data=json.dumps(again), headers=AUTH)
    assert response.json == {"queued": 0, "ignored": 1, "duplicates": 0}
    rows = stored(app)
    assert rows[1].reason == f"a re-delivery of event {rows[0].id}"
    assert queued(app) == 1


def test_a_tag_pushed_again_to_quay_is_scanned_again_once_the_first_scan_started(
    app_with,
) -> None:
    """Quay sends the same bytes for every push of a tag: no id, digest or time to tell
    them apart. A second push while the first still waits adds nothing (its scan resolves
    the tag to the newest image); once that scan has resolved it, a push is a new event."""
    app = app_with(
        {
            "name": "quay",
            "sender": "quay",
            "url": "https://quay.io",
            "webhook": {"token": TOKEN},
        }
    )
    client, db = app.test_client(), app.extensions["tightship.db"]
    body = (FIXTURES / "webhooks/quay/repo_push-redhat-quay-docs.json").read_bytes()

    def push() -> dict:
        return client.post(f"/webhooks/quay?token={TOKEN}", data=body).json

    assert push() == {"queued": 1, "ignored": 0, "duplicates": 0}
    assert push() == {"queued": 0, "ignored": 1, "duplicates": 0}  # the first still waits
    first = stored(app)[0].id
    with db.session() as session:  # the first job resolves the tag, as the pipeline does
        repo.resolve_event_digest(session, first, "sha256:" + "a" * 64)
        repo.finish_event(session, first, "done", None, None)
    assert push() == {"queued": 1, "ignored": 0, "duplicates": 0}
    assert [row.status for row in stored(app)] == ["done", "ignored", "queued"]


SENDER_AUTH = {
    "distribution": ({"token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}, ""),
    "dockerhub": ({"token": TOKEN}, {}, f"?token={TOKEN}"),
    "quay": ({"token": TOKEN}, {}, f"?token={TOKEN}"),
    "harbor": ({"token": TOKEN}, {"Authorization": TOKEN}, ""),
    "acr": ({"token": TOKEN}, {"Authorization": TOKEN}, ""),
    "ecr": ({"header": "X-Api-Key", "token": TOKEN}, {"X-Api-Key": TOKEN}, ""),
}


@pytest.fixture(scope="module")
def every_sender(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    settings = Settings.model_validate(
        {
            "data_dir": str(tmp_path_factory.mktemp("senders")),
            "registries": [
                {"name": sender, "sender": sender, "url": "https://r.example", "webhook": webhook}
                for sender, (webhook, _, _) in SENDER_AUTH.items()
            ],
        }
    )
    return create_app(settings).test_client()


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=500)
    | st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=20)
        | st.sampled_from(["\ud800", "push", "PUSH"]),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "events",
                        "push_data",
                        "repository",
                        "type",
                        "event_data",
                        "updated_tags",
                        "action",
                        "target",
                        "detail",
                        "detail-type",
                        "source",
                        "id",
                    ]
                )
                | st.text(max_size=8),
                c,
                max_size=5,
            )
        ),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
    sender=st.sampled_from(sorted(SENDER_AUTH)),
)
def test_no_body_makes_any_sender_answer_5xx(
    every_sender: FlaskClient, body: bytes, sender: str
) -> None:
    _, headers, query = SENDER_AUTH[sender]
    response = every_sender.post(f"/webhooks/{sender}{query}", data=body, headers=headers)
    assert response.status_code in (200, 202, 400)


def test_a_store_busy_past_the_deadline_answers_503_and_stores_nothing(
    make_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite only (PostgreSQL takes no turns): another writer holds the store; the sender
    is told to deliver again, and nothing half-done is left behind."""
    monkeypatch.setattr("app.store.db.WRITE_TIMEOUT", 0.2)
    flask_app = create_app(make_settings())
    db = flask_app.extensions["tightship.db"]
    assert db.is_sqlite
    with db.writing():  # held by this thread, as a long write elsewhere would hold it
        response = flask_app.test_client().post("/webhooks/local", data=REAL_PUSH, headers=AUTH)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert stored(flask_app) == [] and queued(flask_app) == 0
    again = flask_app.test_client().post("/webhooks/local", data=REAL_PUSH, headers=AUTH)
    assert again.status_code == 202 and queued(flask_app) == 1
    db.dispose()
