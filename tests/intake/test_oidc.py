"""OIDC bearer verification for Pub/Sub push, with locally generated keys and no network."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from app.intake import oidc
from app.intake.oidc import GOOGLE_ISSUERS, Jwks, OidcError, verify_bearer
from tests.conftest import FIXTURES

JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
KID = "key-1"

# The decoded example token from https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions;
# test tokens carry exactly its claims, with fresh times.
DOCS_CLAIMS: dict[str, Any] = json.loads(
    (FIXTURES / "webhooks" / "gcp-pubsub" / "push-oidc-jwt-claims-docs.json").read_text()
)
AUDIENCE = DOCS_CLAIMS["aud"]
EMAIL = DOCS_CLAIMS["email"]


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str = KID) -> dict[str, Any]:
    return {
        **jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
    }


@pytest.fixture(scope="module")
def jwks_dict(private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    return {"keys": [jwk(private_key)]}


@pytest.fixture(scope="module")
def jwks(jwks_dict: dict[str, Any]) -> Jwks:
    return Jwks(url=JWKS_URL, fetch=lambda url: jwks_dict)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    data = {**DOCS_CLAIMS, "iat": now, "exp": now + 3600, **overrides}
    return {name: value for name, value in data.items() if value is not None}


def sign(key: rsa.RSAPrivateKey, payload: dict[str, Any], kid: str = KID) -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def verify(authorization: str | None, jwks: Jwks, **kwargs: Any) -> dict[str, Any]:
    return verify_bearer(authorization, audience=AUDIENCE, email=EMAIL, jwks=jwks, **kwargs)


def rejected(authorization: str | None, jwks: Jwks, reason: str) -> None:
    with pytest.raises(OidcError, match=reason) as caught:
        verify(authorization, jwks)
    token = (authorization or "").partition(" ")[2]
    if token:
        assert token not in str(caught.value)


class Counter:
    """A fetch function that counts its calls and serves whatever key set it holds now."""

    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys
        self.calls = 0

    def __call__(self, url: str) -> dict[str, Any]:
        assert url == JWKS_URL
        self.calls += 1
        return self.keys


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_docs_claim_names_are_the_ones_tokens_carry() -> None:
    assert set(claims()) == {"aud", "azp", "email", "email_verified", "exp", "iat", "iss", "sub"}


@pytest.mark.parametrize("issuer", GOOGLE_ISSUERS)
def test_valid_token_via_url(private_key: rsa.RSAPrivateKey, jwks: Jwks, issuer: str) -> None:
    payload = claims(iss=issuer)
    assert verify(f"Bearer {sign(private_key, payload)}", jwks) == payload


@pytest.mark.parametrize("issuer", GOOGLE_ISSUERS)
def test_valid_token_via_file(
    private_key: rsa.RSAPrivateKey, jwks_dict: dict[str, Any], tmp_path: Path, issuer: str
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_dict))
    payload = claims(iss=issuer)
    assert verify(f"Bearer {sign(private_key, payload)}", Jwks(path=path)) == payload
    assert verify(f"Bearer {sign(private_key, payload)}", Jwks(path=str(path))) == payload


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_scheme_is_case_insensitive(
    private_key: rsa.RSAPrivateKey, jwks: Jwks, scheme: str
) -> None:
    assert verify(f"{scheme} {sign(private_key, claims())}", jwks)["email"] == EMAIL


def test_expiry_within_leeway_is_accepted(private_key: rsa.RSAPrivateKey, jwks: Jwks) -> None:
    now = int(time.time())
    token = sign(private_key, claims(iat=now - 3630, exp=now - 30))
    assert verify(f"Bearer {token}", jwks)["exp"] == now - 30
    with pytest.raises(OidcError, match="token expired"):
        verify(f"Bearer {token}", jwks, leeway=0)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "https://other.example.com"}, "wrong audience"),
        ({"aud": ["https://example.com", "https://other.example.com"]}, "wrong audience"),
        ({"aud": None}, "token lacks aud"),
        ({"iss": "https://evil.example.com"}, "wrong issuer"),
        ({"iss": "https://accounts.google.com.evil.example"}, "wrong issuer"),
        ({"iss": None}, "token lacks iss"),
        ({"email": "someone-else@appspot.gserviceaccount.com"}, "wrong email"),
        ({"email": "GAE-GCP@appspot.gserviceaccount.com"}, "wrong email"),
        ({"email": None}, "wrong email"),
        ({"email_verified": False}, "email not verified"),
        ({"email_verified": "true"}, "email not verified"),
        ({"email_verified": None}, "email not verified"),
        ({"exp": int(time.time()) - 3600}, "token expired"),
        ({"exp": None}, "token lacks exp"),
        ({"exp": "tomorrow"}, "malformed token"),
        ({"iat": None}, "token lacks iat"),
        ({"iat": int(time.time()) + 3600}, "token not yet valid"),
        ({"nbf": int(time.time()) + 3600}, "token not yet valid"),
    ],
)
def test_claims_that_are_rejected(
    private_key: rsa.RSAPrivateKey, jwks: Jwks, overrides: dict[str, Any], reason: str
) -> None:
    rejected(f"Bearer {sign(private_key, claims(**overrides))}", jwks, reason)


def test_signed_by_another_key_with_the_same_kid(other_key: rsa.RSAPrivateKey, jwks: Jwks) -> None:
    rejected(f"Bearer {sign(other_key, claims())}", jwks, "bad signature")


def test_unknown_kid(private_key: rsa.RSAPrivateKey, jwks: Jwks) -> None:
    rejected(f"Bearer {sign(private_key, claims(), kid='key-0')}", jwks, "unknown key id")


def test_token_without_kid(private_key: rsa.RSAPrivateKey, jwks: Jwks) -> None:
    token = jwt.encode(claims(), private_key, algorithm="RS256")
    rejected(f"Bearer {token}", jwks, "token has no key id")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "", "HS256", "RS512"])
def test_other_algorithms_are_refused_before_any_fetch(jwks_dict: dict[str, Any], alg: str) -> None:
    fetch = Counter(jwks_dict)
    keys = Jwks(url=JWKS_URL, fetch=fetch)
    for kid in (KID, "made-up"):
        token = f"{segment({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{segment(claims())}."
        rejected(f"Bearer {token}", keys, "algorithm not allowed")
    assert fetch.calls == 0


def test_hs256_signed_with_the_public_key_pem(private_key: rsa.RSAPrivateKey, jwks: Jwks) -> None:
    # PyJWT refuses to sign HS256 with a PEM, so the forged token is made by hand.
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': KID})}.{segment(claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    rejected(f"Bearer {signing_input}.{b64(mac)}", jwks, "algorithm not allowed")


def test_rs256_header_with_a_forged_signature(private_key: rsa.RSAPrivateKey, jwks: Jwks) -> None:
    header, payload, _ = sign(private_key, claims()).split(".")
    forged = segment({**claims(), "email": "attacker@example.com"})
    rejected(f"Bearer {header}.{forged}.{_}", jwks, "bad signature")
    rejected(f"Bearer {header}.{payload}.", jwks, "bad signature")


@pytest.mark.parametrize("authorization", ["Basic x", "Bearer", "Bearer ", "", "   ", None])
def test_malformed_header_value(jwks: Jwks, authorization: str | None) -> None:
    rejected(authorization, jwks, "no bearer token")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "....",
        "eyJhbGciOiJSUzI1NiJ9",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        f"{segment({'alg': 'RS256', 'kid': KID})}.!!!!.xyz",
        f"{b64(b'[1]')}.{segment({})}.xyz",
        "ünïcödé.tøken.x",
        "\udcff.x.y",
        "Bearer abc def",
    ],
)
def test_garbage_token(jwks: Jwks, token: str) -> None:
    with pytest.raises(OidcError):
        verify(f"Bearer {token}", jwks)


@pytest.mark.parametrize("kid", [7, None, ["key-1"]])
def test_non_string_kid(jwks: Jwks, kid: Any) -> None:
    token = f"{segment({'alg': 'RS256', 'kid': kid})}.{segment(claims())}.{b64(b'sig')}"
    rejected(f"Bearer {token}", jwks, "malformed token")


def test_empty_kid(private_key: rsa.RSAPrivateKey, jwks: Jwks) -> None:
    rejected(f"Bearer {sign(private_key, claims(), kid='')}", jwks, "token has no key id")


def test_jwks_fetched_once_within_ttl(
    private_key: rsa.RSAPrivateKey, jwks_dict: dict[str, Any]
) -> None:
    fetch, clock = Counter(jwks_dict), Clock()
    keys = Jwks(url=JWKS_URL, fetch=fetch, ttl=3600, clock=clock)
    for step in range(20):
        clock.now = 1000.0 + step * 100
        verify(f"Bearer {sign(private_key, claims())}", keys)
    assert fetch.calls == 1
    clock.now = 1000.0 + 3600
    verify(f"Bearer {sign(private_key, claims())}", keys)
    assert fetch.calls == 2


def test_key_rotation_is_picked_up_on_unknown_kid(
    private_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, jwks_dict: dict[str, Any]
) -> None:
    fetch, clock = Counter(jwks_dict), Clock()
    keys = Jwks(url=JWKS_URL, fetch=fetch, clock=clock)
    verify(f"Bearer {sign(private_key, claims())}", keys)
    fetch.keys = {"keys": [jwk(private_key), jwk(other_key, "key-2")]}
    clock.now += oidc.REFETCH_INTERVAL
    assert verify(f"Bearer {sign(other_key, claims(), kid='key-2')}", keys)["email"] == EMAIL
    assert fetch.calls == 2
    # The old key is still in the set, so its tokens keep passing without another fetch.
    verify(f"Bearer {sign(private_key, claims())}", keys)
    assert fetch.calls == 2


def test_refetch_on_unknown_kid_is_rate_limited(
    private_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, jwks_dict: dict[str, Any]
) -> None:
    fetch, clock = Counter(jwks_dict), Clock()
    keys = Jwks(url=JWKS_URL, fetch=fetch, clock=clock)
    verify(f"Bearer {sign(private_key, claims())}", keys)
    fetch.keys = {"keys": [jwk(other_key, "key-2")]}
    rotated = f"Bearer {sign(other_key, claims(), kid='key-2')}"
    # Within a minute of the first fetch, unknown kids do not reach the endpoint at all.
    for _ in range(5):
        clock.now += 10
        rejected(rotated, keys, "unknown key id")
    assert fetch.calls == 1
    clock.now = 1000.0 + oidc.REFETCH_INTERVAL
    verify(rotated, keys)
    assert fetch.calls == 2
    # A flood of made-up kids costs one fetch per interval.
    for _ in range(50):
        rejected(f"Bearer {sign(other_key, claims(), kid='made-up')}", keys, "unknown key id")
    assert fetch.calls == 2
    clock.now += oidc.REFETCH_INTERVAL
    rejected(f"Bearer {sign(other_key, claims(), kid='made-up')}", keys, "unknown key id")
    assert fetch.calls == 3


def test_failed_fetch_is_an_oidc_error_and_is_not_retried_at_once(
    private_key: rsa.RSAPrivateKey, jwks_dict: dict[str, Any]
) -> None:
    calls: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        calls.append(url)
        if len(calls) == 1:
            raise OSError("connection refused")
        return jwks_dict

    clock = Clock()
    keys = Jwks(url=JWKS_URL, fetch=fetch, clock=clock)
    token = f"Bearer {sign(private_key, claims())}"
    rejected(token, keys, "JWKS fetch from .* failed: connection refused")
    clock.now += 30
    rejected(token, keys, "JWKS unavailable")
    assert len(calls) == 1
    clock.now += 30
    verify(token, keys)
    assert len(calls) == 2


def test_failed_refetch_keeps_the_current_keys(
    private_key: rsa.RSAPrivateKey, jwks_dict: dict[str, Any]
) -> None:
    fetch, clock = Counter(jwks_dict), Clock()
    keys = Jwks(url=JWKS_URL, fetch=fetch, clock=clock)
    verify(f"Bearer {sign(private_key, claims())}", keys)
    fetch.keys = {"keys": "not a list"}
    clock.now += oidc.REFETCH_INTERVAL
    rejected(f"Bearer {sign(private_key, claims(), kid='new')}", keys, "not a JWKS")
    verify(f"Bearer {sign(private_key, claims())}", keys)
    assert fetch.calls == 2


def test_jwks_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Jwks()
    with pytest.raises(ValueError, match="exactly one"):
        Jwks(url=JWKS_URL, path=tmp_path / "jwks.json")


@pytest.mark.parametrize("content", ["", "not json", "[]", '{"keys": {}}', '{"keys": []}'])
def test_bad_jwks_file_fails_at_construction(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(OidcError, match="JWKS file"):
        Jwks(path=path)


def test_missing_jwks_file(tmp_path: Path) -> None:
    with pytest.raises(OidcError, match="JWKS file"):
        Jwks(path=tmp_path / "absent.json")


def test_only_rsa_public_signing_keys_are_kept(
    private_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    private_jwk = {
        **jwt.algorithms.RSAAlgorithm.to_jwk(other_key, as_dict=True),
        "kid": "private",
    }
    entries = [
        {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key, as_dict=True), "kid": "ec"},
        {**jwk(other_key, "encryption"), "use": "enc"},
        {**jwk(other_key, "rs512"), "alg": "RS512"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {**jwk(other_key, "no-kid"), "kid": None},
        private_jwk,
        "not a key",
    ]
    keys = Jwks(url=JWKS_URL, fetch=lambda url: {"keys": [*entries, jwk(private_key)]})
    assert keys.key(KID).key.public_numbers() == private_key.public_key().public_numbers()
    for kid in ("ec", "encryption", "rs512", "broken", "private"):
        with pytest.raises(OidcError, match="unknown key id"):
            keys.key(kid)
    with pytest.raises(OidcError, match="no usable RS256 keys"):
        Jwks(url=JWKS_URL, fetch=lambda url: {"keys": entries}).key(KID)


def test_short_rsa_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # weak on purpose
    keys = Jwks(url=JWKS_URL, fetch=lambda url: {"keys": [jwk(weak)]})
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = sign(weak, claims())
    rejected(f"Bearer {token}", keys, "unusable key")


class FakeResponse:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def raise_for_status(self) -> None:
        return None

    def iter_content(self, chunk_size: int) -> Any:
        for start in range(0, len(self.body), chunk_size):
            yield self.body[start : start + chunk_size]


def fake_get(body: bytes, seen: list[dict[str, Any]]) -> Callable[..., FakeResponse]:
    def get(url: str, **kwargs: Any) -> FakeResponse:
        seen.append({"url": url, **kwargs})
        return FakeResponse(body)

    return get


def test_default_fetch_uses_requests_with_a_timeout(
    monkeypatch: pytest.MonkeyPatch, private_key: rsa.RSAPrivateKey, jwks_dict: dict[str, Any]
) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(oidc.requests, "get", fake_get(json.dumps(jwks_dict).encode(), seen))
    verify(f"Bearer {sign(private_key, claims())}", Jwks(url=JWKS_URL))
    assert seen == [{"url": JWKS_URL, "timeout": oidc.FETCH_TIMEOUT, "stream": True}]


def test_default_fetch_caps_the_body(
    monkeypatch: pytest.MonkeyPatch, private_key: rsa.RSAPrivateKey, jwks_dict: dict[str, Any]
) -> None:
    huge = {**jwks_dict, "padding": "x" * oidc.MAX_JWKS_BYTES}
    monkeypatch.setattr(oidc.requests, "get", fake_get(json.dumps(huge).encode(), []))
    rejected(f"Bearer {sign(private_key, claims())}", Jwks(url=JWKS_URL), "JWKS larger than")


@given(
    st.one_of(
        st.none(),
        st.text(),
        st.text().map(lambda text: f"Bearer {text}"),
        st.lists(st.text(alphabet="ABCDEFGHIJabcdefghij0123456789-_=."), max_size=4).map(
            lambda parts: "Bearer " + ".".join(parts)
        ),
    )
)
def test_random_authorization_headers_are_always_oidc_errors(
    jwks: Jwks, authorization: str | None
) -> None:
    with pytest.raises(OidcError):
        verify(authorization, jwks)
