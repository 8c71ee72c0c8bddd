"""SNS signature checks against messages signed here with a locally made certificate.

Nothing touches the network: the certificate "download" and the confirmation visit are
injected functions that record what they were asked for.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from app.intake import sns
from app.intake.sns import (
    CertificateCache,
    SnsError,
    allowed_certificate_url,
    allowed_subscribe_url,
    confirm_subscription,
    signing_string,
    verify,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TIMESTAMP = "2026-03-01T11:59:30.751Z"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ecr-image-pushed"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f7"
)
# An ECR push as EventBridge forwards it; SNS carries it as a string in Message.
ECR_EVENT = json.dumps(
    {
        "version": "0",
        "id": "13cde686-328b-6117-af20-0e5566167482",
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": "123456789012",
        "time": "2026-03-01T11:59:29Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": "web",
            "image-digest": "sha256:7f2619ed1768713c9d5c0b7f8f6d7e8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
            "action-type": "PUSH",
            "image-tag": "v1.2.3",
        },
    }
)


@dataclass(frozen=True)
class Signer:
    key: rsa.RSAPrivateKey
    pem: bytes

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        """The message as SNS would post it: signed, with the certificate URL."""
        # SNS's SignatureVersion 1 is SHA-1 by definition: testing it needs it.
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
        signature = self.key.sign(signing_string(message), padding.PKCS1v15(), algorithm)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": CERT_URL,
        }


def make_signer() -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return Signer(key, certificate.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def signer() -> Signer:
    return make_signer()


@pytest.fixture(scope="module")
def impostor() -> Signer:
    return make_signer()


class Fetcher:
    """Serves the test certificate at CERT_URL and remembers every request."""

    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.pem


@pytest.fixture
def fetcher(signer: Signer) -> Fetcher:
    return Fetcher(signer.pem)


@pytest.fixture
def cache(fetcher: Fetcher) -> CertificateCache:
    return CertificateCache(fetch=fetcher)


def notification(subject: str | None = "ECR image pushed") -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": ECR_EVENT,
        "Timestamp": TIMESTAMP,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


def subscription_confirmation() -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f7",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": SUBSCRIBE_URL,
        "Timestamp": TIMESTAMP,
    }


def check(message: dict[str, Any], cache: CertificateCache) -> None:
    verify(message, cache, {TOPIC}, now=NOW)


# The string to sign, against AWS's own example in "Verifying the signatures of Amazon SNS
# messages" (Amazon SNS Developer Guide).


def test_signing_string_notification_matches_the_aws_example() -> None:
    message = {
        "Type": "Notification",
        "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        "Subject": "My subject",
        "Message": "My Test Message",
        "Timestamp": "2019-01-31T04:37:04.321Z",
        "SignatureVersion": "1",
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
    }
    assert signing_string(message) == (
        b"Message\nMy Test Message\n"
        b"MessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        b"Subject\nMy subject\n"
        b"Timestamp\n2019-01-31T04:37:04.321Z\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nNotification\n"
    )
    del message["Subject"]
    assert b"Subject" not in signing_string(message)


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_signing_string_confirmations(kind: str) -> None:
    message = {**subscription_confirmation(), "Type": kind, "Subject": "not signed"}
    expected = "".join(
        f"{key}\n{message[key]}\n"
        for key in ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn")
    )
    assert signing_string(message) == f"{expected}Type\n{kind}\n".encode()


@pytest.mark.parametrize(
    "message",
    [
        {**notification(), "Type": "Surprise"},
        {**notification(), "Type": ["Notification"]},
        {k: v for k, v in notification().items() if k != "MessageId"},
        {k: v for k, v in subscription_confirmation().items() if k != "Token"},
        {**notification(), "Subject": None},
        {**notification(), "Message": "\ud800"},
    ],
    ids=["unknown-type", "list-type", "no-message-id", "no-token", "null-subject", "surrogate"],
)
def test_signing_string_refuses(message: dict[str, Any]) -> None:
    with pytest.raises(SnsError):
        signing_string(message)


# Valid messages.


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", ["ECR image pushed", None])
def test_valid_notification_verifies(
    signer: Signer, cache: CertificateCache, version: str, subject: str | None
) -> None:
    check(signer.sign(notification(subject), version), cache)


def test_unsigned_fields_may_change(signer: Signer, cache: CertificateCache) -> None:
    message = signer.sign(notification())
    message["UnsubscribeURL"] = "https://example.com/"
    check(message, cache)


# Rejections. Each starts from a validly signed message and breaks one thing.


def test_tampered_message_is_rejected(signer: Signer, cache: CertificateCache) -> None:
    message = signer.sign(notification())
    message["Message"] = message["Message"].replace("v1.2.3", "latest")
    with pytest.raises(SnsError, match="signature does not match"):
        check(message, cache)


def test_added_subject_is_rejected(signer: Signer, cache: CertificateCache) -> None:
    message = signer.sign(notification(subject=None))
    message["Subject"] = "injected"
    with pytest.raises(SnsError, match="signature does not match"):
        check(message, cache)


def test_wrong_topic_is_rejected(signer: Signer, cache: CertificateCache) -> None:
    other = "arn:aws:sns:us-east-1:999999999999:ecr-image-pushed"
    message = signer.sign({**notification(), "TopicArn": other})
    with pytest.raises(SnsError, match="not subscribed"):
        check(message, cache)
    with pytest.raises(SnsError, match="not subscribed"):
        verify(signer.sign(notification()), cache, {f"{TOPIC}-2", TOPIC[:-1]}, now=NOW)


BAD_CERT_URLS = [
    "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-1.pem",
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-1.pem",
    "https://evil.com@sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://user:pw@sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com\\@evil.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com./SimpleNotificationService-1.pem",
    "https://SNS.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.evil.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sqs.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.co/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem.exe",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem?x=1",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem#frag",
    "https://sns.us-east-1.amazonaws.com#@evil.com/x.pem",
    "https://sns.us-east-1.amazon\naws.com/SimpleNotificationService-1.pem",
    "https://sns.us-east-1.amazonaws.com/Simple Notification.pem",
    "https://[sns.us-east-1.amazonaws.com/x.pem",
    "//sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "file:///etc/ssl/cert.pem",
    "",
]


@pytest.mark.parametrize("url", BAD_CERT_URLS)
def test_certificate_url_elsewhere_is_rejected_before_fetching(
    signer: Signer, cache: CertificateCache, fetcher: Fetcher, url: str
) -> None:
    assert not allowed_certificate_url(url)
    message = {**signer.sign(notification()), "SigningCertURL": url}
    with pytest.raises(SnsError, match="URL not allowed"):
        check(message, cache)
    assert fetcher.urls == []


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL,
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.ap-southeast-2.amazonaws.com/a/b/SimpleNotificationService-1.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
    ],
)
def test_certificate_url_allowed(url: str) -> None:
    assert allowed_certificate_url(url)


def test_unknown_signature_version_is_rejected(signer: Signer, cache: CertificateCache) -> None:
    for version in ("3", "", "1 ", "01"):
        message = {**signer.sign(notification()), "SignatureVersion": version}
        with pytest.raises(SnsError, match="SignatureVersion"):
            check(message, cache)


def test_signature_version_must_match_the_hash(signer: Signer, cache: CertificateCache) -> None:
    message = {**signer.sign(notification(), "1"), "SignatureVersion": "2"}
    with pytest.raises(SnsError, match="signature does not match"):
        check(message, cache)


@pytest.mark.parametrize("signature", ["not base64!", "QUJD=X", "ÄÖÜ", "", "QUJD"])
def test_garbage_signature_is_rejected(
    signer: Signer, cache: CertificateCache, signature: str
) -> None:
    message = {**signer.sign(notification()), "Signature": signature}
    with pytest.raises(SnsError):
        check(message, cache)


def test_signature_by_another_key_is_rejected(
    impostor: Signer, cache: CertificateCache, fetcher: Fetcher
) -> None:
    message = impostor.sign(notification())  # names CERT_URL, which serves the real key
    with pytest.raises(SnsError, match="signature does not match"):
        check(message, cache)
    assert fetcher.urls == [CERT_URL]


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2026-03-01T10:59:59.999Z", "too old"),
        ("2012-04-26T20:45:04.751Z", "too old"),
        ("2026-03-01T12:05:00.001Z", "future"),
        ("2027-03-01T12:00:00Z", "future"),
        ("2026-03-01T11:59:30", "time zone"),
        ("2026-03-01", "time zone"),
        ("yesterday", "ISO 8601"),
    ],
)
def test_timestamp_out_of_window_is_rejected(
    signer: Signer, cache: CertificateCache, fetcher: Fetcher, timestamp: str, reason: str
) -> None:
    message = signer.sign({**notification(), "Timestamp": timestamp})  # validly signed
    with pytest.raises(SnsError, match=reason):
        check(message, cache)
    assert fetcher.urls == []


@pytest.mark.parametrize(
    "timestamp", ["2026-03-01T11:00:00.000Z", "2026-03-01T12:05:00Z", "2026-03-01T13:04:00+01:00"]
)
def test_timestamp_window_edges_are_accepted(
    signer: Signer, cache: CertificateCache, timestamp: str
) -> None:
    check(signer.sign({**notification(), "Timestamp": timestamp}), cache)


def test_max_age_is_configurable(signer: Signer, cache: CertificateCache) -> None:
    message = signer.sign(notification())  # 30 seconds old
    with pytest.raises(SnsError, match="too old"):
        verify(message, cache, {TOPIC}, now=NOW, max_age=timedelta(seconds=10))


@pytest.mark.parametrize(
    "key",
    [
        "Type",
        "MessageId",
        "TopicArn",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ],
)
def test_missing_field_is_rejected(signer: Signer, cache: CertificateCache, key: str) -> None:
    message = signer.sign(notification())
    del message[key]
    with pytest.raises(SnsError):
        check(message, cache)


@pytest.mark.parametrize("value", [None, 1, 1.5, True, ["x"], {"x": "y"}])
@pytest.mark.parametrize(
    "key", ["Type", "MessageId", "TopicArn", "Message", "Subject", "Timestamp", "Signature"]
)
def test_non_string_field_is_rejected(
    signer: Signer, cache: CertificateCache, key: str, value: Any
) -> None:
    message = {**signer.sign(notification()), key: value}
    with pytest.raises(SnsError):
        check(message, cache)


def test_non_string_signature_version_and_url_are_rejected(
    signer: Signer, cache: CertificateCache, fetcher: Fetcher
) -> None:
    for key, value in (("SignatureVersion", 1), ("SigningCertURL", None)):
        with pytest.raises(SnsError, match=key):
            check({**signer.sign(notification()), key: value}, cache)
    assert fetcher.urls == []


def test_non_object_body_is_rejected(cache: CertificateCache) -> None:
    for body in ([], "Notification", None):
        with pytest.raises(SnsError, match="not a JSON object"):
            verify(body, cache, {TOPIC}, now=NOW)  # type: ignore[arg-type]


def test_error_messages_hold_no_signature_or_certificate(
    impostor: Signer, signer: Signer, cache: CertificateCache
) -> None:
    message = impostor.sign(notification())
    with pytest.raises(SnsError) as caught:
        check(message, cache)
    text = str(caught.value)
    assert message["Signature"] not in text
    assert message["Signature"][:16] not in text
    assert "BEGIN CERTIFICATE" not in text
    assert signer.pem.decode().splitlines()[1][:16] not in text


# Subscription confirmation.


class Visitor:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.urls: list[str] = []

    def __call__(self, url: str) -> int:
        self.urls.append(url)
        return self.status


@pytest.mark.parametrize("version", ["1", "2"])
def test_subscription_confirmation_verifies_and_confirms(
    signer: Signer, cache: CertificateCache, version: str
) -> None:
    message = signer.sign(subscription_confirmation(), version)
    check(message, cache)
    visitor = Visitor()
    confirm_subscription(message, get=visitor)
    assert visitor.urls == [SUBSCRIBE_URL]


def test_tampered_subscribe_url_fails_verification(signer: Signer, cache: CertificateCache) -> None:
    message = signer.sign(subscription_confirmation())
    message["SubscribeURL"] = SUBSCRIBE_URL.replace("us-east-1", "eu-west-1", 1)
    with pytest.raises(SnsError, match="signature does not match"):
        check(message, cache)


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com:444/?Action=ConfirmSubscription",
        "https://x@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://169.254.169.254/latest/meta-data/",
        "https://sns.us-east-1.amazonaws.com\t.evil.com/",
        None,
    ],
)
def test_disallowed_subscribe_url_is_refused_without_visiting(
    signer: Signer, cache: CertificateCache, url: str | None
) -> None:
    # Signed by "SNS" so verify passes: the URL check must not rely on the signature alone.
    message = signer.sign({**subscription_confirmation(), "SubscribeURL": url or "x"})
    message["SubscribeURL"] = url
    visitor = Visitor()
    with pytest.raises(SnsError, match="not an SNS URL") as caught:
        confirm_subscription(message, get=visitor)
    assert visitor.urls == []
    assert "Token" not in str(caught.value)
    if url is not None:
        assert not allowed_subscribe_url(url)


def test_subscribe_url_allowed() -> None:
    assert allowed_subscribe_url(SUBSCRIBE_URL)
    assert allowed_subscribe_url("https://sns.cn-northwest-1.amazonaws.com.cn/?Action=X")


def test_confirmation_refused_by_sns_raises(signer: Signer) -> None:
    message = signer.sign(subscription_confirmation())
    with pytest.raises(SnsError, match="answered 403"):
        confirm_subscription(message, get=Visitor(403))


def test_only_subscription_confirmations_are_confirmed(signer: Signer) -> None:
    for kind in ("UnsubscribeConfirmation", "Notification"):
        visitor = Visitor()
        with pytest.raises(SnsError, match="not a SubscriptionConfirmation"):
            confirm_subscription({**subscription_confirmation(), "Type": kind}, get=visitor)
        assert visitor.urls == []


# The certificate cache.


def test_certificate_is_fetched_once_for_two_messages(
    signer: Signer, cache: CertificateCache, fetcher: Fetcher
) -> None:
    check(signer.sign(notification(), "1"), cache)
    check(signer.sign(notification(subject=None), "2"), cache)
    assert fetcher.urls == [CERT_URL]


def test_cache_is_bounded_and_keeps_recent_entries(signer: Signer) -> None:
    fetcher = Fetcher(signer.pem)
    cache = CertificateCache(fetch=fetcher, size=2)
    urls = [CERT_URL.replace(".pem", f"-{i}.pem") for i in range(3)]
    cache.certificate(urls[0])
    cache.certificate(urls[1])
    cache.certificate(urls[0])  # now the most recent
    cache.certificate(urls[2])  # evicts urls[1]
    cache.certificate(urls[0])
    cache.certificate(urls[1])
    assert fetcher.urls == [urls[0], urls[1], urls[2], urls[1]]


def test_default_cache_size_is_bounded(signer: Signer) -> None:
    fetcher = Fetcher(signer.pem)
    cache = CertificateCache(fetch=fetcher)
    urls = [CERT_URL.replace(".pem", f"-{i}.pem") for i in range(sns.CERTIFICATE_CACHE_SIZE + 1)]
    for url in urls:
        cache.certificate(url)
    cache.certificate(urls[0])
    assert len(fetcher.urls) == len(urls) + 1


def test_not_a_certificate_is_rejected_and_not_cached(signer: Signer) -> None:
    fetcher = Fetcher(b"<html>Access Denied</html>")
    cache = CertificateCache(fetch=fetcher)
    message = signer.sign(notification())
    for _ in range(2):
        with pytest.raises(SnsError, match="not a PEM"):
            check(message, cache)
    assert fetcher.urls == [CERT_URL, CERT_URL]


def test_non_rsa_certificate_is_rejected(signer: Signer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cache = CertificateCache(fetch=Fetcher(certificate.public_bytes(serialization.Encoding.PEM)))
    with pytest.raises(SnsError, match="RSA"):
        check(signer.sign(notification()), cache)


# The default downloader, with requests.get replaced: still no network.


class FakeResponse:
    def __init__(self, status_code: int, chunks: list[bytes]) -> None:
        self.status_code = status_code
        self.chunks = chunks

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_content(self, chunk_size: int) -> list[bytes]:
        return self.chunks


def fake_get(response: FakeResponse | Exception, calls: list[dict[str, Any]]) -> Callable:
    def get(url: str, **kwargs: Any) -> FakeResponse:
        calls.append({"url": url, **kwargs})
        if isinstance(response, Exception):
            raise response
        return response

    return get


def test_default_fetch_downloads_with_timeout_and_no_redirects(
    signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    chunks = [signer.pem[:100], signer.pem[100:]]
    monkeypatch.setattr(sns.requests, "get", fake_get(FakeResponse(200, chunks), calls))
    check(signer.sign(notification()), CertificateCache())
    assert calls == [{"url": CERT_URL, "timeout": 10, "stream": True, "allow_redirects": False}]


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (FakeResponse(404, []), "answered 404"),
        (FakeResponse(302, []), "answered 302"),
        (FakeResponse(200, [b"-" * 40_000, b"-" * 40_000]), "larger than 64 KiB"),
        (sns.requests.ConnectionError("refused"), "download failed: ConnectionError"),
        (sns.requests.Timeout("slow"), "download failed: Timeout"),
    ],
)
def test_default_fetch_failures(
    monkeypatch: pytest.MonkeyPatch, response: FakeResponse | Exception, reason: str
) -> None:
    monkeypatch.setattr(sns.requests, "get", fake_get(response, []))
    with pytest.raises(SnsError, match=reason):
        CertificateCache().certificate(CERT_URL)


def test_default_get_confirms_with_timeout(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sns.requests, "get", fake_get(FakeResponse(200, []), calls))
    confirm_subscription(signer.sign(subscription_confirmation()))
    assert calls == [{"url": SUBSCRIBE_URL, "timeout": 10, "allow_redirects": False}]
    monkeypatch.setattr(sns.requests, "get", fake_get(sns.requests.ConnectionError(), []))
    with pytest.raises(SnsError, match="ConnectionError"):
        confirm_subscription(signer.sign(subscription_confirmation()))


# Whatever is posted, verify answers with None or SnsError and nothing else.

KEYS = [
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "SubscribeURL",
    "Token",
    "UnsubscribeURL",
]
PLAUSIBLE = [
    "Notification",
    "SubscriptionConfirmation",
    "UnsubscribeConfirmation",
    TOPIC,
    TIMESTAMP,
    "1",
    "2",
    CERT_URL,
    SUBSCRIBE_URL,
    "QUJD",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=5,
)


@given(
    start_signed=st.booleans(),
    body=st.dictionaries(
        keys=st.sampled_from(KEYS) | st.text(max_size=12),
        values=st.sampled_from(PLAUSIBLE) | st.text() | json_values,
        max_size=14,
    ),
)
def test_verify_only_ever_raises_sns_error(
    signer: Signer, start_signed: bool, body: dict[str, Any]
) -> None:
    # Starting from a signed message half the time lets single bad fields reach the
    # signature and certificate steps instead of failing the first check.
    if start_signed:
        body = {**signer.sign(notification()), **body}
    with contextlib.suppress(SnsError):
        verify(body, CertificateCache(fetch=Fetcher(signer.pem)), {TOPIC}, now=NOW)
