"""Google-signed OIDC bearer tokens, as Pub/Sub push subscriptions send them.

A push subscription with authentication enabled puts ``Authorization: Bearer <JWT>`` on every
request. The JWT is the only thing that proves the request came from Google on behalf of the
configured service account, so every claim that ties it to this deployment is checked here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")

# Google signs push tokens with RS256 only; accepting anything else invites `none` and the
# HS256-with-the-public-key confusion.
ALGORITHM = "RS256"
# Claims a push token always carries; the rest of the checks are meaningless without them.
REQUIRED_CLAIMS = ("exp", "iat", "aud", "iss")
# Anyone can send a token with a made-up kid, so a refetch on unknown kid must not turn every
# such request into a request to the JWKS endpoint.
REFETCH_INTERVAL = 60.0
FETCH_TIMEOUT = 10.0
# Google's key set is about 2 KiB; the cap only has to stop a broken endpoint from filling memory.
MAX_JWKS_BYTES = 64 * 1024

# Most specific first: InvalidSignatureError is a DecodeError, the rest are InvalidTokenErrors.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidKeyError, "unusable key"),
    (jwt.DecodeError, "malformed token"),
)


class OidcError(ValueError):
    """A token that does not prove its origin; the message is a fixed reason, safe to log."""


def _fetch_json(url: str) -> Any:
    """Stream the body so an endpoint that answers with something huge is cut off early."""
    with requests.get(url, timeout=FETCH_TIMEOUT, stream=True) as response:
        response.raise_for_status()
        body = bytearray()
        for chunk in response.iter_content(chunk_size=16 * 1024):
            body += chunk
            if len(body) > MAX_JWKS_BYTES:
                raise OidcError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
    return json.loads(body)


def _parse_jwks(data: object, source: str) -> dict[str, jwt.PyJWK]:
    """Keep only RSA public signing keys, so a key set that also lists other key types or a
    malformed entry still verifies with the keys that are good, while a set with none fails."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise OidcError(f"{source}: not a JWKS")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in data["keys"]:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("kid"), str)
            and entry.get("kty") == "RSA"
            and entry.get("alg", ALGORITHM) == ALGORITHM
            and entry.get("use", "sig") == "sig"
        ):
            continue
        try:
            key = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError:
            continue
        # A private JWK would build a private key, which cannot verify.
        if isinstance(key.key, RSAPublicKey):
            keys[entry["kid"]] = key
    if not keys:
        raise OidcError(f"{source}: no usable {ALGORITHM} keys")
    return keys


def _read_jwks_file(path: Path) -> dict[str, jwt.PyJWK]:
    """Read at construction so a bad file fails at startup, not on the first push."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise OidcError(f"JWKS file {path}: {exc}") from None
    return _parse_jwks(data, f"JWKS file {path}")


class Jwks:
    """The signer's public keys, from a local file (no network) or from a URL kept fresh.

    Google rotates its keys, so URL keys are cached for ``ttl`` and a token whose kid is not
    in the cache triggers one early refetch; further early refetches wait ``REFETCH_INTERVAL``
    after the last fetch attempt. A failed fetch also waits that long before the next try, so
    an outage does not make every request block on the endpoint's timeout.
    """

    def __init__(
        self,
        url: str | None = None,
        path: str | Path | None = None,
        fetch: Callable[[str], dict[str, Any]] | None = None,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch: Callable[[str], Any] = fetch or _fetch_json
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_fetch_failed = False
        # The URL to fetch from, or the file's keys, which never change.
        self._source: str | dict[str, jwt.PyJWK]
        if url is not None and path is None:
            self._source = url
        elif path is not None and url is None:
            self._source = _read_jwks_file(Path(path))
        else:
            raise ValueError("Jwks needs exactly one of url or path")

    def key(self, kid: str) -> jwt.PyJWK:
        """The key for ``kid``; raises OidcError when no current key has that id."""
        if not isinstance(self._source, str):
            return self._lookup(self._source, kid)
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self._ttl:
                if self._last_fetch_failed and self._attempted_recently(now):
                    raise OidcError("JWKS unavailable: last fetch failed")
                self._refresh(self._source, now)
            elif kid not in self._keys and not self._attempted_recently(now):
                self._refresh(self._source, now)
            return self._lookup(self._keys, kid)

    def _attempted_recently(self, now: float) -> bool:
        return self._attempted_at is not None and now - self._attempted_at < REFETCH_INTERVAL

    def _refresh(self, url: str, now: float) -> None:
        """On failure the previous keys stay for the rest of their ttl: a blip on an early
        refetch should not reject tokens signed with keys that are still current."""
        self._attempted_at = now
        try:
            keys = _parse_jwks(self._fetch(url), f"JWKS {url}")
        # requests' errors are OSErrors, JSON's and OidcError are ValueErrors
        except (OSError, ValueError) as exc:
            self._last_fetch_failed = True
            raise OidcError(f"JWKS fetch from {url} failed: {exc}") from None
        self._keys, self._fetched_at, self._last_fetch_failed = keys, now, False

    @staticmethod
    def _lookup(keys: dict[str, jwt.PyJWK], kid: str) -> jwt.PyJWK:
        try:
            return keys[kid]
        except KeyError:
            raise OidcError("unknown key id") from None


def _bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise OidcError("no bearer token")
    # A JWT is base64url and dots; anything else cannot be one, and PyJWT would choke on
    # characters that do not encode (lone surrogates) with an exception of its own.
    if not token.isascii():
        raise OidcError("malformed token")
    return token


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks {exc.claim}"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "invalid token"


def verify_bearer(
    authorization: str | None,
    *,
    audience: str,
    email: str,
    jwks: Jwks,
    issuers: Sequence[str] = GOOGLE_ISSUERS,
    leeway: float = 60.0,
) -> dict[str, Any]:
    """The verified claims of the ``Authorization`` header's token, or OidcError.

    A valid Google signature alone proves nothing about this deployment: any Google service
    account can mint tokens. ``aud`` ties the token to this endpoint and ``email`` to the
    service account the push subscription runs as, so both are required to match exactly.
    Errors are raised ``from None`` so the PyJWT exception, whose text Tightship does not
    control, never reaches a log next to the reason.
    """
    token = _bearer_token(authorization)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise OidcError("malformed token") from None
    # Checked before the key lookup so a token that can never verify (``none``, HS256) costs no
    # JWKS fetch; jwt.decode's algorithm list enforces the same again.
    if header.get("alg") != ALGORITHM:
        raise OidcError("algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise OidcError("token has no key id")
    key = jwks.key(kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuers,
            leeway=leeway,
            options={
                "require": list(REQUIRED_CLAIMS),
                "strict_aud": True,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError as exc:
        raise OidcError(_reason(exc)) from None
    if claims.get("email") != email:
        raise OidcError("wrong email")
    if claims.get("email_verified") is not True:
        raise OidcError("email not verified")
    return claims
