"""A registry client: oras-py does the token exchange, this module checks every digest.

Bytes from a registry are untrusted until their digest matches the one that named them, so
every read here is capped in size and verified before anyone parses it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import oras.auth
import requests
import urllib3

from app.registry import mediatypes

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # Distribution's own limit for a manifest PUT
MAX_CONFIG_BYTES = 16 * 1024 * 1024
DIGEST = re.compile(r"^(?P<algorithm>sha256|sha512):(?P<hex>[a-f0-9]+)$")


class RegistryError(Exception):
    """The registry could not give us what we asked for; the message says what and why.

    ``transient`` errors (unreachable, 5xx, 429) are worth retrying; the rest (not found,
    denied, too large) will fail the same way again.
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class DigestMismatchError(RegistryError):
    pass


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    digest: str
    raw: bytes
    data: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in mediatypes.INDEXES


def digest_of(raw: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, raw).hexdigest()}"


class _TimeoutSession(requests.Session):
    """requests has no default timeout; a stalled registry must not stall a worker."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


class RegistryClient:
    """Reads from one registry; answers Basic and Bearer (token) challenges as they come.

    oras-py does the Bearer token exchange (anonymous or with credentials); Basic challenges
    (Distribution's htpasswd mode) are answered directly, which oras' token flow cannot do.
    Retrying is left to the queue, which knows how long a job may take.
    """

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        verify_tls: bool = True,
    ) -> None:
        parts = urlsplit(url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.args = (url, username, password, timeout, verify_tls)  # to rebuild it elsewhere
        self._session = _TimeoutSession(timeout)
        self._session.verify = verify_tls
        self._auth = oras.auth.get_auth_backend(
            "token", self._session, insecure=parts.scheme == "http", tls_verify=verify_tls
        )
        self._basic: str | None = None
        if username is not None and password is not None:
            self._auth.set_basic_auth(username, password)
            self._basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._authorization: str | None = None  # the header that answered the last challenge

    def _send(self, url: str, headers: dict[str, str], method: str = "GET") -> requests.Response:
        if self._authorization:
            headers = {**headers, "Authorization": self._authorization}
        return self._session.request(method, url, headers=headers, stream=True)

    def _answer(self, response: requests.Response) -> str | None:
        scheme = response.headers.get("WWW-Authenticate", "").split(" ", 1)[0].lower()
        if scheme == "basic":
            return f"Basic {self._basic}" if self._basic else None
        if scheme == "bearer":
            try:
                answered, changed = self._auth.authenticate_request(response, {}, refresh=True)
            except ValueError:
                return None
            return answered.get("Authorization") if changed else None
        return None

    def _get(self, path: str, accept: str | None = None, method: str = "GET") -> requests.Response:
        url = f"{self.base}{path}"
        headers = {"Accept": accept} if accept else {}
        try:
            response = self._send(url, headers, method)
            if response.status_code == 401:
                authorization = self._answer(response)
                response.close()
                if authorization is None:
                    raise RegistryError(
                        f"GET {url}: the registry wants credentials it was not given"
                    )
                self._authorization = authorization
                response = self._send(url, headers, method)
        except requests.RequestException as exc:
            raise RegistryError(f"GET {url}: {type(exc).__name__}", True) from exc
        return response

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest or index for a tag or digest, verified and parsed."""
        path = f"/v2/{repository}/manifests/{quote(reference, safe=':')}"
        response = self._get(path, accept=mediatypes.ACCEPT)
        raw = _read_capped(response, MAX_MANIFEST_BYTES, f"manifest {repository}@{reference}")
        expected = reference if DIGEST.match(reference) else None
        algorithm = expected.split(":", 1)[0] if expected else "sha256"
        actual = digest_of(raw, algorithm)
        if expected and actual != expected:
            raise DigestMismatchError(
                f"manifest {repository}@{reference}: registry sent content with digest {actual}"
            )
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise RegistryError(f"manifest {repository}@{reference} is not JSON") from exc
        if not isinstance(data, dict):
            raise RegistryError(f"manifest {repository}@{reference} is not a JSON object")
        media_type = data.get("mediaType") or response.headers.get("Content-Type", "")
        media_type = media_type.split(";", 1)[0].strip()
        if media_type not in mediatypes.IMAGE_MANIFESTS | mediatypes.INDEXES:
            raise RegistryError(
                f"manifest {repository}@{reference} has media type {media_type!r}, "
                "not an image manifest or index"
            )
        return Manifest(media_type=media_type, digest=actual, raw=raw, data=data)

    def resolve(self, repository: str, tag: str) -> str:
        """The digest a tag points at now: a HEAD of its manifest, as crane digest does (a GET
        only when the registry does not say). Weekly rescans ask this of every tag."""
        path = f"/v2/{repository}/manifests/{quote(tag, safe=':')}"
        response = self._get(path, accept=mediatypes.ACCEPT, method="HEAD")
        response.close()
        if response.status_code == 404:
            raise RegistryError(f"{repository}:{tag} is not in the registry any more")
        header = response.headers.get("Docker-Content-Digest", "")
        if response.status_code == 200 and DIGEST.match(header):
            return header
        return self.manifest(repository, tag).digest

    def open_blob(self, repository: str, digest: str) -> BinaryIO:
        """A blob as a stream (a layer); the reader must verify the digest as it reads."""
        if not DIGEST.match(digest):
            raise RegistryError(f"{digest!r} is not a digest this client can verify")
        response = self._get(f"/v2/{repository}/blobs/{digest}")
        if response.status_code != 200:
            status = response.status_code
            response.close()
            raise RegistryError(
                f"blob {repository}@{digest}: registry answered {status}",
                status == 429 or status >= 500,
            )
        return io.BufferedReader(_Body(response, f"blob {repository}@{digest}"), 1024 * 1024)  # type: ignore[return-value]

    def blob(self, repository: str, digest: str, max_bytes: int = MAX_CONFIG_BYTES) -> bytes:
        """A small blob (an image config), read whole and verified."""
        match = DIGEST.match(digest)
        if not match:
            raise RegistryError(f"{digest!r} is not a digest this client can verify")
        response = self._get(f"/v2/{repository}/blobs/{digest}")
        raw = _read_capped(response, max_bytes, f"blob {repository}@{digest}")
        if digest_of(raw, match["algorithm"]) != digest:
            raise DigestMismatchError(f"blob {repository}@{digest}: content does not match")
        return raw


class _Body(io.RawIOBase):
    """A streaming response body as a file; reading past a dropped connection is an error."""

    def __init__(self, response: requests.Response, what: str) -> None:
        self._response = response
        self._raw = response.raw
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._raw.read(len(buffer))
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
            raise OSError(f"{self._what}: {type(exc).__name__} while reading") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._response.close()
        super().close()


def _read_capped(response: requests.Response, cap: int, what: str) -> bytes:
    with response:
        status = response.status_code
        if status != 200:
            raise RegistryError(
                f"{what}: registry answered {status}", status == 429 or status >= 500
            )
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise RegistryError(f"{what}: {declared} bytes is over the {cap}-byte limit")
        chunks, total = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > cap:
                    raise RegistryError(f"{what}: over the {cap}-byte limit")
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise RegistryError(f"{what}: {type(exc).__name__} while reading", True) from exc
        return b"".join(chunks)


class RepositorySource:
    """One repository of a registry, as the analysis reads it (an ``ImageSource``)."""

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client = client
        self.repository = repository

    def manifest(self, reference: str) -> Manifest:
        return self.client.manifest(self.repository, reference)

    def blob(self, digest: str) -> bytes:
        return self.client.blob(self.repository, digest)

    def open_blob(self, digest: str) -> BinaryIO:
        return self.client.open_blob(self.repository, digest)

    def opener(self) -> RegistryBlobOpener:
        return RegistryBlobOpener(self.client.args, self.repository)


_CLIENTS: dict[tuple[Any, ...], RegistryClient] = {}
# A forked walker must not share its parent's pooled connections: both would read one socket.
os.register_at_fork(after_in_child=_CLIENTS.clear)


@dataclass(frozen=True)
class RegistryBlobOpener:
    """Opens this repository's blobs from another process (one client per process)."""

    client_args: tuple[Any, ...]
    repository: str

    def __call__(self, digest: str) -> BinaryIO:
        client = _CLIENTS.get(self.client_args)
        if client is None:
            client = _CLIENTS[self.client_args] = RegistryClient(*self.client_args)
        return client.open_blob(self.repository, digest)

    def __repr__(self) -> str:  # the arguments hold a password
        return f"RegistryBlobOpener({self.client_args[0]!r}, {self.repository!r})"
