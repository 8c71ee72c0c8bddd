"""Google Pub/Sub (OIDC) and ECR through SNS, end to end through the webhook route, with keys
and certificates made here: a valid signature is accepted, anything else is a 401."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask

from app.intake import ecr, sns
from app.intake.sns import signing_string
from tests.conftest import FIXTURES

D = "sha256:" + "e" * 64
AUDIENCE = "https://tightship.example/webhooks/gar"
EMAIL = "push@acme.iam.gserviceaccount.com"
TOPIC = "arn:aws:sns:us-west-2:123456789012:ecr-pushes"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-test.pem"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def gcp_app(app_with, key: rsa.RSAPrivateKey, tmp_path: Path) -> Flask:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(
        json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]})
    )
    return app_with(
        {
            "name": "gar",
            "sender": "gcp",
            "url": "https://us-west1-docker.pkg.dev",
            "webhook": {
                "oidc": {
                    "audience": AUDIENCE,
                    "email": EMAIL,
                    "jwks_file": str(tmp_path / "jwks.json"),
                }
            },
        }
    )


def google_token(key: rsa.RSAPrivateKey, **overrides: object) -> str:
    claims = json.loads(
        (FIXTURES / "webhooks/gcp-pubsub/push-oidc-jwt-claims-docs.json").read_text()
    )
    now = int(time.time())
    claims.update({"aud": AUDIENCE, "email": EMAIL, "iat": now, "exp": now + 3600, **overrides})
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def pubsub_body() -> bytes:
    data = {
        "action": "INSERT",
        "digest": f"us-west1-docker.pkg.dev/acme/app/api@{D}",
        "tag": "us-west1-docker.pkg.dev/acme/app/api:1.0",
    }
    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(json.dumps(data).encode()).decode(),
                "messageId": "4711",
                "publishTime": "2026-11-26T00:00:00Z",
            },
            "subscription": "projects/acme/subscriptions/tightship",
        }
    ).encode()


def test_pubsub_push_with_a_google_signed_token(gcp_app: Flask, key: rsa.RSAPrivateKey) -> None:
    client = gcp_app.test_client()
    good = client.post(
        "/webhooks/gar",
        data=pubsub_body(),
        headers={"Authorization": f"Bearer {google_token(key)}"},
    )
    assert (good.status_code, good.json["queued"]) == (202, 1)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (
        google_token(key, aud="https://elsewhere"),
        google_token(key, email="x@evil.com"),
        google_token(key, email_verified=False),
        google_token(other_key),
        google_token(key, exp=int(time.time()) - 3600),
        "not.a.jwt",
    ):
        response = client.post(
            "/webhooks/gar", data=pubsub_body(), headers={"Authorization": f"Bearer {token}"}
        )
        assert (response.status_code, response.json) == (401, {"error": "unauthorized"})


@pytest.fixture(scope="module")
def certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def sns_message(key: rsa.RSAPrivateKey, kind: str, **fields: str) -> dict:
    message = {
        "Type": kind,
        "MessageId": "m-1",
        "TopicArn": TOPIC,
        "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": "2",
        "SigningCertURL": CERT_URL,
        **fields,
    }
    signature = key.sign(signing_string(message), padding.PKCS1v15(), hashes.SHA256())
    return {**message, "Signature": base64.b64encode(signature).decode()}


@pytest.fixture
def ecr_app(app_with, certificate: bytes, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setattr(ecr, "_CERTIFICATES", sns.CertificateCache(fetch=lambda url: certificate))
    return app_with(
        {
            "name": "ecr",
            "sender": "ecr",
            "url": "https://123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "webhook": {"sns": {"topic_arns": [TOPIC]}},
        }
    )


def test_ecr_events_through_sns(
    ecr_app: Flask, key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ecr_app.test_client()
    event = json.loads((FIXTURES / "webhooks/aws-ecr/eventbridge-image-push-docs.json").read_text())
    event["detail"]["image-digest"] = D
    good = client.post(
        "/webhooks/ecr", json=sns_message(key, "Notification", Message=json.dumps(event))
    )
    assert (good.status_code, good.json["queued"]) == (202, 1)

    tampered = sns_message(key, "Notification", Message=json.dumps(event))
    tampered["Message"] = tampered["Message"].replace("my-repository-name", "other")
    assert client.post("/webhooks/ecr", json=tampered).status_code == 401
    wrong_topic = sns_message(key, "Notification", Message=json.dumps(event), TopicArn=TOPIC + "-x")
    assert client.post("/webhooks/ecr", json=wrong_topic).status_code == 401
    assert client.post("/webhooks/ecr", json=event).status_code == 401  # unsigned

    visited: list[str] = []
    monkeypatch.setattr(sns, "_default_get", lambda url: visited.append(url) or 200)
    subscribe = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=t"
    confirmation = sns_message(
        key, "SubscriptionConfirmation", Message="confirm", SubscribeURL=subscribe, Token="t"
    )
    response = client.post("/webhooks/ecr", json=confirmation)
    assert (response.status_code, visited) == (200, [subscribe])
