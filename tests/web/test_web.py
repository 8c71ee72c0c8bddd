"""The dashboard pages, the JSON API, /metrics and their authentication, on seeded data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app, metrics
from tests.conftest import TOKEN
from tests.web.seed import PLANTED, REDACTED, Seeded, seed

API_TOKEN = "api-token-5d1e0c7f9a2b4e68"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def make_app(make_settings, database_url: str) -> Iterator[Any]:
    apps: list[Flask] = []

    def factory(**api: Any) -> Flask:
        flask_app = create_app(make_settings(storage={"database_url": database_url}, api=api))
        apps.append(flask_app)
        return flask_app

    yield factory
    for flask_app in apps:
        flask_app.extensions["tightship.db"].dispose()


@pytest.fixture
def app(make_app) -> Flask:
    return make_app(token=API_TOKEN)


@pytest.fixture
def seeded(app: Flask) -> Seeded:
    return seed(app.extensions["tightship.db"])


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(client: FlaskClient, token: str = API_TOKEN, next_url: str = "/") -> Any:
    return client.post("/login", data={"token": token, "next": next_url})


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/images", "/api/images/1", "/api/scans/1", "/api/events", "/api/posture", "/metrics"],
)
def test_api_needs_the_bearer_token(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Basic {API_TOKEN}"}).status_code == 401
    response = client.get(path, headers=BEARER)
    assert response.status_code in (200, 404)  # the ids exist only on seeded data


def test_without_a_token_everything_is_closed_and_says_how_to_open_it(make_app) -> None:
    client = make_app().test_client()
    response = client.get("/api/images", headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    assert "api.token" in response.json["error"]
    assert client.get("/metrics").status_code == 401
    page = client.get("/images")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=/images")
    login_page = client.get("/login")
    assert login_page.status_code == 401
    assert b"api.token" in login_page.data
    assert b"api.open: true" in login_page.data
    assert login(client, token="").status_code == 401


def test_open_serves_pages_and_reads_but_never_rescans(make_app) -> None:
    client = make_app(open=True).test_client()
    assert client.get("/").status_code == 200
    assert client.get("/images").status_code == 200
    assert client.get("/api/images").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.post("/api/rescan", json={"all": True}).status_code == 401


def test_login_form_sets_a_session_and_logout_ends_it(client: FlaskClient) -> None:
    first = client.get("/images?q=orders")
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=/images?q%3Dorders"
    form = client.get(first.headers["Location"])
    assert b'name="token"' in form.data
    assert b'value="/images?q=orders"' in form.data
    wrong = login(client, token="not-it", next_url="/images?q=orders")
    assert wrong.status_code == 401
    assert b"not-it" not in wrong.data
    assert client.get("/images").status_code == 302
    right = login(client, next_url="/images?q=orders")
    assert right.status_code == 302
    assert right.headers["Location"] == "/images?q=orders"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert API_TOKEN not in cookie
    assert client.get("/images").status_code == 200
    assert client.get("/api/images").status_code == 401  # the API takes only the Bearer token
    client.post("/logout")
    assert client.get("/images").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    response = login(client, next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_a_session_from_another_token_is_not_accepted(make_settings, database_url: str) -> None:
    def settings(token: str) -> Any:
        api = {"token": token, "secret_key": "k" * 32}  # the same signing key for both
        return make_settings(storage={"database_url": database_url}, api=api)

    first, rotated = create_app(settings(API_TOKEN)), create_app(settings("rotated-token"))
    client = first.test_client()
    login(client)
    assert client.get("/").status_code == 200
    other = rotated.test_client()
    other.set_cookie("tightship_session", client.get_cookie("tightship_session").value)
    assert other.get("/").status_code == 302
    for flask_app in (first, rotated):
        flask_app.extensions["tightship.db"].dispose()


# --- the JSON API -----------------------------------------------------------------------------


def test_api_images_lists_every_tag_with_its_status_per_concern(
    client: FlaskClient, seeded: Seeded
) -> None:
    page = client.get("/api/images", headers=BEARER).json
    assert (page["total"], page["page"], page["pages"], page["per_page"]) == (3, 1, 1, 50)
    by_repo = {i["repository"]: i for i in page["items"]}
    assert list(by_repo) == ["acme/multi", "acme/orders", "acme/web"]
    orders = by_repo["acme/orders"]
    assert set(orders) >= {
        "id",
        "registry",
        "host",
        "repository",
        "tag",
        "reference",
        "digest",
        "scanned_digest",
        "scanned_at",
        "pending",
        "builder",
        "findings",
        "concerns",
        "fix",
        "pull",
    }
    assert orders["id"] == seeded.orders
    assert orders["reference"] == "reg:5000/acme/orders:1.0"
    assert orders["concerns"] == dict.fromkeys(orders["concerns"], "pass")
    assert orders["pending"] is False
    assert orders["pull"] == {
        "repository": "acme/app",
        "branch": "tightship/orders",
        "number": 7,
        "url": "https://github.com/acme/app/pull/7",
        "status": "unchanged",
        "open": True,
    }
    web = by_repo["acme/web"]
    assert web["builder"] == "paketo"
    assert web["concerns"] == {
        "non-root": "pass",
        "no source": "pass",
        "no secrets": "fail",
        "minimal base": "fail",
    }
    assert web["pull"]["open"] is False  # the latest fix is on tightship/old, closed since
    multi = by_repo["acme/multi"]
    assert multi["findings"] == 1
    assert len(multi["scan_ids"]) == 2
    assert multi["concerns"]["no source"] == "fail"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=ORDERS", ["acme/orders"]),
        ("q=latest", ["acme/web"]),
        ("builder=paketo", ["acme/web"]),
        ("failing=no+secrets", ["acme/web"]),
        ("failing=no+source", ["acme/multi"]),
        ("status=passing", ["acme/orders"]),
        ("status=failing", ["acme/multi", "acme/web"]),
        ("status=pending", []),
        ("registry=local", ["acme/multi", "acme/orders", "acme/web"]),
        ("registry=elsewhere", []),
        ("per_page=1&page=2", ["acme/orders"]),
        ("per_page=2&page=9", ["acme/web"]),
    ],
)
def test_api_images_filters_searches_and_paginates(
    client: FlaskClient, seeded: Seeded, query: str, expected: list[str]
) -> None:
    page = client.get(f"/api/images?{query}", headers=BEARER).json
    assert [i["repository"] for i in page["items"]] == expected


def test_api_image_detail(client: FlaskClient, seeded: Seeded) -> None:
    image = client.get(f"/api/images/{seeded.web}", headers=BEARER).json
    assert image["reference"] == "reg:5000/acme/web:latest"
    assert [f["rule"] for f in image["findings"]] == ["secret-env", "shell"]
    secret = image["findings"][0]
    assert set(secret) == {
        "id",
        "scan_id",
        "platform",
        "rule",
        "concern",
        "severity",
        "title",
        "evidence",
        "path",
        "layer",
        "fingerprint",
    }
    assert (secret["concern"], secret["evidence"], secret["platform"]) == (
        "no secrets",
        REDACTED,
        "linux/amd64",
    )
    assert image["layers"] == [{"digest": "sha256:" + "5" * 64, "findings": 1, "rules": ["shell"]}]
    [platform] = image["platforms"]
    assert platform["base"] == {"distro": "debian", "version": "12", "minimal": False, "name": None}
    assert platform["builder"]["kind"] == "paketo"
    assert [f["status"] for f in image["fixes"]] == ["held", "created", "ignored"]
    orders = client.get(f"/api/images/{seeded.orders}", headers=BEARER).json
    assert [h["findings"] for h in orders["history"]] == [0, 1]  # newest first
    assert orders["history"][1]["concerns"]["non-root"] == "fail"
    assert client.get("/api/images/9999", headers=BEARER).status_code == 404


def test_api_scan_detail(client: FlaskClient, seeded: Seeded) -> None:
    scan = client.get(f"/api/scans/{seeded.orders_scans[0]}", headers=BEARER).json
    assert set(scan) == {
        "id",
        "registry",
        "host",
        "repository",
        "digest",
        "status",
        "attempts",
        "started_at",
        "finished_at",
        "error",
        "report",
        "findings",
        "fixes",
    }
    assert scan["status"] == "done"
    assert scan["report"]["schema"] == "tightship.report/v1"
    assert [f["rule"] for f in scan["findings"]] == ["root-user"]
    assert [(f["status"], f["pull_number"]) for f in scan["fixes"]] == [("created", 7)]
    assert client.get("/api/scans/9999", headers=BEARER).status_code == 404


def test_api_events_include_ignored_ones_with_reasons(client: FlaskClient, seeded: Seeded) -> None:
    events = client.get("/api/events", headers=BEARER).json["items"]
    assert len(events) == 6
    assert events[0]["status"] == "ignored"
    assert events[0]["reason"] == "repository 'other/thing' is not allowed"
    ignored = client.get("/api/events?status=ignored&limit=1", headers=BEARER).json["items"]
    assert len(ignored) == 1
    assert client.get("/api/events?status=bogus", headers=BEARER).status_code == 400
    done = client.get("/api/events?status=done", headers=BEARER).json["items"]
    assert {e["repository"] for e in done} == {"acme/orders", "acme/web", "acme/multi"}


def test_api_posture(client: FlaskClient, seeded: Seeded) -> None:
    weeks = client.get("/api/posture?weeks=3", headers=BEARER).json["weeks"]
    assert len(weeks) == 3
    assert set(weeks[-1]) == {"week", "end", "images", "passing"}


def test_rescan_calls_the_rescan_module(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.jobs import rescan

    calls: list[str | None] = []

    def request(db: Any, jobs: Any, ref: str | None = None) -> dict[str, Any]:
        assert db is app.extensions["tightship.db"]
        assert jobs is app.extensions["tightship.jobs"]
        if ref == "bad":
            raise ValueError("'bad' is not host/repository:tag")
        calls.append(ref)
        return {"queued": 1 if ref else 3}

    monkeypatch.setattr(rescan, "request", request)
    assert client.post("/api/rescan", json={"all": True}).status_code == 401
    everything = client.post("/api/rescan", json={"all": True}, headers=BEARER)
    assert (everything.status_code, everything.json) == (202, {"queued": 3})
    one = client.post("/api/rescan", json={"ref": "reg:5000/acme/orders:1.0"}, headers=BEARER)
    assert (one.status_code, one.json) == (202, {"queued": 1})
    assert calls == [None, "reg:5000/acme/orders:1.0"]
    for body in ({}, {"all": False}, {"all": True, "ref": "x"}, {"ref": 3}, []):
        assert client.post("/api/rescan", json=body, headers=BEARER).status_code == 400
    bad = client.post("/api/rescan", json={"ref": "bad"}, headers=BEARER)
    assert (bad.status_code, bad.json["error"]) == (400, "'bad' is not host/repository:tag")
    assert client.get("/api/rescan", headers=BEARER).status_code == 405


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_exposes_counters_and_scrape_time_gauges(
    client: FlaskClient, seeded: Seeded
) -> None:
    def sample(text: str, name: str) -> float:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    stored = 'tightship_events_total{outcome="stored",sender="distribution"}'
    before = sample(client.get("/metrics", headers=BEARER).text, stored)
    metrics.event("distribution", "stored")
    metrics.scan_seconds(3.2)
    metrics.pr("held")
    metrics.chat_failure("slack")
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.text
    assert sample(text, stored) == before + 1
    assert sample(text, "tightship_scan_duration_seconds_count") >= 1
    assert sample(text, 'tightship_pull_requests_total{status="held"}') >= 1
    assert sample(text, 'tightship_chat_failures_total{type="slack"}') >= 1
    assert sample(text, "tightship_queue_depth") == 0
    assert sample(text, 'tightship_findings{rule="secret-env"}') == 1
    assert sample(text, 'tightship_findings{rule="root-user"}') == 0  # fixed by the latest push


# --- pages ------------------------------------------------------------------------------------


def test_pages_render_seeded_data(client: FlaskClient, seeded: Seeded) -> None:
    login(client)
    overview = client.get("/").text
    assert 'id="posture-chart"' in overview
    assert len(re.findall(r"<polyline[^>]+points=\"[\d., ]+\"", overview)) == 4
    assert "repository &#39;other/thing&#39; is not allowed" in overview
    assert 'href="/images?builder=paketo"' in overview
    assert "/images?failing=no+secrets" in overview
    ignored = client.get("/?events=ignored").text
    assert "action &#39;pull&#39; is not a push" in ignored
    assert "acme/web:latest" not in ignored
    images = client.get("/images?failing=no+secrets").text
    assert "acme/web" in images
    assert "acme/orders" not in images
    assert 'href="https://github.com/acme/app/pull/7"' in client.get("/images?q=orders").text
    detail = client.get(f"/images/{seeded.web}").text
    assert "Secret in the environment" in detail
    assert "value redacted, sha256 1a2b3c4d" in detail
    assert "tightship/old" in detail
    assert client.get("/images/9999").status_code == 404
    assert client.get("/dashboard-static/dashboard.css").status_code == 200


def test_no_secret_value_reaches_a_page_or_the_api(client: FlaskClient, seeded: Seeded) -> None:
    login(client)
    bodies = [
        client.get(path).data
        for path in [
            "/",
            "/?events=ignored",
            "/images",
            "/images?q=web",
            *(f"/images/{i}" for i in (seeded.orders, seeded.web, seeded.multi)),
        ]
    ]
    bodies += [
        client.get(path, headers=BEARER).data
        for path in [
            "/api/images",
            *(f"/api/images/{i}" for i in (seeded.orders, seeded.web, seeded.multi)),
            *(
                f"/api/scans/{i}"
                for i in (*seeded.orders_scans, seeded.web_scan, *seeded.multi_scans)
            ),
            "/api/events",
            "/metrics",
        ]
    ]
    for body in bodies:
        for secret in (PLANTED, API_TOKEN, TOKEN):
            assert secret.encode() not in body


@pytest.mark.parametrize(
    "path",
    [
        "/api/images/99999999999999999999",
        "/api/scans/99999999999999999999",
        "/api/images?page=%C2%B2",
        "/api/images?per_page=99999999999999999999",
        "/api/events?limit=%C2%B2",
        "/api/posture?weeks=%C2%B2",
        "/api/posture?weeks=-3",
    ],
)
def test_odd_numbers_are_never_a_server_error(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers=BEARER)
    assert response.status_code in (200, 400, 404), response.get_data(as_text=True)[:200]
    login(client)
    for page in ("/images/99999999999999999999", "/images?page=%C2%B2"):
        assert client.get(page).status_code in (200, 404)


def test_guessing_the_token_through_the_login_form_is_slowed(
    app: Flask, client: FlaskClient
) -> None:
    from app.web.auth import Throttle

    app.extensions["tightship.logins"] = Throttle(limit=3, window=60)
    for _ in range(3):
        assert client.post("/login", data={"token": "guess"}).status_code == 401
    refused = client.post("/login", data={"token": API_TOKEN})
    assert refused.status_code == 429 and "try again in" in refused.get_data(as_text=True)
    app.extensions["tightship.logins"] = Throttle()  # the window has passed
    assert login(client).status_code == 302
