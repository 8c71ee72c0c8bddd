"""Amazon SNS HTTP(S) deliveries: signature verification and subscription confirmation.

ECR "image pushed" events reach Tightship through EventBridge and an SNS topic. SNS signs
every message with a certificate it publishes at ``SigningCertURL``. Anyone can post a body
to the endpoint, and the body names the certificate, so a message is only as trustworthy
as the checks here. The certificate must come over HTTPS from an SNS host, the signature must
cover the canonical string, the topic must be one we subscribed to, and the timestamp must
be recent so a captured message cannot be replayed later.

Failures raise ``SnsError`` with a reason that may be logged as is: it never carries the
signature, the certificate or the subscription token.
"""

from __future__ import annotations

import base64
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# AWS's "string to sign": these keys in byte-sort order, each as "Key\nValue\n".
# https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_SIGNED_KEYS = {
    "Notification": _NOTIFICATION_KEYS,
    "SubscriptionConfirmation": _CONFIRMATION_KEYS,
    "UnsubscribeConfirmation": _CONFIRMATION_KEYS,
}
# SNS leaves Subject out of a notification published without one, and of its signature.
_OPTIONAL_KEYS = frozenset({"Subject"})

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,  # SNS's default; the topic owner chooses, not us
    "2": hashes.SHA256,
}

# The netloc must be exactly this: no userinfo, no port, no trailing dot, no upper case.
_SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d{1,2}\.amazonaws\.com(?:\.cn)?")
# urlsplit silently drops tabs and newlines and requests treats backslashes as slashes, so a
# URL must be plain printable ASCII for the parsed host to be the host that gets contacted.
_PLAIN_URL = re.compile(r"[!-\[\]-~]+")

MAX_FUTURE = timedelta(minutes=5)
CERTIFICATE_CACHE_SIZE = 32
MAX_CERTIFICATE_BYTES = 64 * 1024
HTTP_TIMEOUT = 10


class SnsError(ValueError):
    """The message cannot be trusted or acted on; the reason is safe to log."""


def signing_string(message: dict[str, str]) -> bytes:
    """The bytes SNS signed, rebuilt from the message so the signature can be checked."""
    kind = message.get("Type")
    keys = _SIGNED_KEYS.get(kind) if isinstance(kind, str) else None  # JSON lists don't hash
    if keys is None:
        raise SnsError(f"unknown SNS message type {_shown(kind)}")
    parts: list[str] = []
    for key in keys:
        if key not in message and key in _OPTIONAL_KEYS:
            continue
        value = message.get(key)
        if not isinstance(value, str):
            raise SnsError(f"{key} is missing or not a string")
        parts.append(f"{key}\n{value}\n")
    try:
        return "".join(parts).encode()
    except UnicodeEncodeError:  # lone surrogates, which JSON's \ud800 escapes can produce
        raise SnsError("message fields are not valid Unicode") from None


def allowed_certificate_url(url: str) -> bool:
    """Only SNS's own HTTPS hosts may supply the key that vouches for a message."""
    parts = _sns_url(url)
    return (
        parts is not None and parts.path.endswith(".pem") and not parts.query and not parts.fragment
    )


def allowed_subscribe_url(url: str) -> bool:
    """Confirming makes us fetch the URL, so it must not point anywhere but SNS."""
    return _sns_url(url) is not None


def _sns_url(url: str) -> SplitResult | None:
    if not _PLAIN_URL.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket, for one
        return None
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(parts.netloc):
        return None
    return parts


def _download(url: str) -> bytes:
    """Fetch with a size cap: a hostile or broken response must not exhaust memory."""
    try:
        with requests.get(url, timeout=HTTP_TIMEOUT, stream=True, allow_redirects=False) as r:
            if r.status_code != 200:
                raise SnsError(f"signing certificate download answered {r.status_code}")
            body = b""
            for chunk in r.iter_content(chunk_size=8192):
                body += chunk
                if len(body) > MAX_CERTIFICATE_BYTES:
                    raise SnsError("signing certificate is larger than 64 KiB")
    except requests.RequestException as exc:
        raise SnsError(f"signing certificate download failed: {type(exc).__name__}") from None
    return body


class CertificateCache:
    """SNS signs with few certificates, so each is fetched once rather than per message.

    Bounded and least-recently-used, so a stream of messages naming different (allowed)
    URLs cannot grow it without limit. Failed fetches are not remembered.
    """

    def __init__(
        self, fetch: Callable[[str], bytes] = _download, size: int = CERTIFICATE_CACHE_SIZE
    ) -> None:
        self._fetch = fetch
        self._size = size
        self._certificates: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()  # request threads share one cache

    def certificate(self, url: str) -> x509.Certificate:
        """The certificate at an allowed URL; the URL is checked before anything is fetched."""
        if not allowed_certificate_url(url):
            raise SnsError(f"signing certificate URL not allowed: {_shown(url)}")
        with self._lock:
            if url in self._certificates:
                self._certificates.move_to_end(url)
                return self._certificates[url]
        pem = self._fetch(url)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SnsError("signing certificate is not a PEM X.509 certificate") from None
        with self._lock:
            self._certificates[url] = certificate
            self._certificates.move_to_end(url)
            while len(self._certificates) > self._size:
                self._certificates.popitem(last=False)
        return certificate


def verify(
    message: dict[str, Any],
    certificates: CertificateCache,
    topic_arns: Collection[str],
    now: datetime | None = None,
    max_age: timedelta = timedelta(hours=1),
) -> None:
    """Raise SnsError unless the message provably comes from SNS for one of our topics.

    Checks that need no network come first, so junk posted to the endpoint never makes
    Tightship download anything.
    """
    if not isinstance(message, dict):
        raise SnsError("SNS message is not a JSON object")
    for key in ("TopicArn", "SignatureVersion", "Signature", "SigningCertURL", "Timestamp"):
        if not isinstance(message.get(key), str):
            raise SnsError(f"{key} is missing or not a string")
    if message["TopicArn"] not in topic_arns:
        raise SnsError(f"topic {_shown(message['TopicArn'])} is not subscribed to")
    algorithm = _HASHES.get(message["SignatureVersion"])
    if algorithm is None:
        raise SnsError(f"unsupported SignatureVersion {_shown(message['SignatureVersion'])}")
    _check_fresh(message["Timestamp"], now or datetime.now(UTC), max_age)
    signed = signing_string(message)
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        raise SnsError("Signature is not base64") from None
    public_key = certificates.certificate(message["SigningCertURL"]).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SnsError("signing certificate does not hold an RSA key")
    try:
        public_key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise SnsError("signature does not match the message") from None


def _check_fresh(timestamp: str, now: datetime, max_age: timedelta) -> None:
    """A valid signature never expires, so only the signed Timestamp stops a replay."""
    try:
        sent = datetime.fromisoformat(timestamp)
    except ValueError:
        raise SnsError("Timestamp is not an ISO 8601 date and time") from None
    if sent.tzinfo is None:
        raise SnsError("Timestamp has no time zone")
    age = now - sent
    if age > max_age:
        raise SnsError(f"message is too old ({_shown(timestamp)})")
    if -age > MAX_FUTURE:
        raise SnsError(f"message is from the future ({_shown(timestamp)})")


def _default_get(url: str) -> int:
    try:
        return requests.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False).status_code
    except requests.RequestException as exc:
        raise SnsError(f"subscription confirmation failed: {type(exc).__name__}") from None


def confirm_subscription(message: dict[str, Any], get: Callable[[str], int] | None = None) -> None:
    """Visit SubscribeURL so SNS starts delivering; call only after ``verify`` succeeded.

    Only SubscriptionConfirmation is honoured: an UnsubscribeConfirmation carries a URL
    too, but visiting it would silently undo someone's deliberate unsubscribe.
    """
    if message.get("Type") != "SubscriptionConfirmation":
        raise SnsError("not a SubscriptionConfirmation")
    url = message.get("SubscribeURL")
    if not isinstance(url, str) or not allowed_subscribe_url(url):
        raise SnsError("SubscribeURL is not an SNS URL")  # the URL holds the token: not shown
    status = (get or _default_get)(url)
    if status != 200:
        raise SnsError(f"subscription confirmation answered {status}")


def _shown(value: object, limit: int = 200) -> str:
    """Posted values reach logs: repr keeps newlines out, the limit keeps lines short."""
    return repr(value)[:limit]
