"""The registry client: every byte verified against its digest, every read capped."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.demo import oci
from app.demo.registry import LocalRegistry
from app.registry import DigestMismatchError, RegistryClient, RegistryError
from app.registry.client import MAX_MANIFEST_BYTES


def test_manifests_and_blobs_from_the_real_registry(registry: LocalRegistry) -> None:
    image = oci.jib_image(app=b"client")
    digest = oci.Pusher(registry.url).image("acme/client", image, tag="v1")
    client = RegistryClient(registry.url)
    by_tag = client.manifest("acme/client", "v1")
    assert by_tag.digest == digest == image.digest
    assert by_tag.raw == image.manifest.data and not by_tag.is_index
    assert client.manifest("acme/client", digest) == by_tag
    assert client.blob("acme/client", image.config.digest) == image.config.data


def test_an_index_is_recognised(registry: LocalRegistry) -> None:
    amd64 = oci.jib_image(app=b"index")
    digest = oci.Pusher(registry.url).index("acme/client", {"linux/amd64": amd64}, "multi")
    index = RegistryClient(registry.url).manifest("acme/client", "multi")
    assert index.is_index and index.digest == digest


def test_missing_things_are_permanent_errors(registry: LocalRegistry) -> None:
    client = RegistryClient(registry.url)
    with pytest.raises(RegistryError, match="answered 404") as caught:
        client.manifest("acme/client", "sha256:" + "0" * 64)
    assert not caught.value.transient
    with pytest.raises(RegistryError, match="not a digest"):
        client.blob("acme/client", "latest")


def test_an_unreachable_registry_is_transient() -> None:
    with pytest.raises(RegistryError) as caught:
        RegistryClient("http://127.0.0.1:1", timeout=2).manifest("a/b", "latest")
    assert caught.value.transient


class Liar:
    """A registry that answers whatever the test says, to play a hostile or broken one."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        self.headers: dict[str, str] = {}
        liar = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(liar.status)
                headers = {"Content-Length": str(len(liar.body)), **liar.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(liar.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # clients that stop reading at a size cap hang up on purpose: not worth a traceback
        self.server.handle_error = lambda _request, _address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


@pytest.fixture
def liar() -> Iterator[Liar]:
    server = Liar()
    yield server
    server.server.shutdown()
    server.server.server_close()


MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "config": {}}).encode()


def test_content_that_does_not_match_its_digest_is_refused(liar: Liar) -> None:
    liar.body = MANIFEST
    client = RegistryClient(liar.url)
    with pytest.raises(DigestMismatchError, match="registry sent content with digest"):
        client.manifest("a/b", "sha256:" + "1" * 64)
    with pytest.raises(DigestMismatchError):
        client.blob("a/b", "sha256:" + "1" * 64)
    assert client.manifest("a/b", oci.sha256(MANIFEST)).raw == MANIFEST


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Length": str(MAX_MANIFEST_BYTES + 1)}, b"{}"),  # declared too large
        ({}, b" " * (MAX_MANIFEST_BYTES + 1)),  # sent too large
    ],
)
def test_oversized_manifests_are_refused(liar: Liar, headers: dict[str, str], body: bytes) -> None:
    liar.body, liar.headers = body, headers
    with pytest.raises(RegistryError, match="limit"):
        RegistryClient(liar.url).manifest("a/b", "latest")


@pytest.mark.parametrize(
    ("status", "transient"), [(500, True), (503, True), (429, True), (401, False), (403, False)]
)
def test_status_codes_say_whether_to_retry(liar: Liar, status: int, transient: bool) -> None:
    liar.status = status
    with pytest.raises(RegistryError) as caught:
        RegistryClient(liar.url).manifest("a/b", "latest")
    assert caught.value.transient is transient


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", json.dumps({"mediaType": "application/vnd.cncf.helm.chart"}).encode()],
)
def test_what_is_not_an_image_manifest_is_refused(liar: Liar, body: bytes) -> None:
    liar.body = body
    with pytest.raises(RegistryError):
        RegistryClient(liar.url).manifest("a/b", "latest")


def test_basic_auth_registry_with_configured_credentials(tmp_path) -> None:
    import bcrypt
    import requests as http

    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"ci:{hashed}\n")
    with LocalRegistry(tmp_path / "reg", htpasswd=htpasswd) as locked:
        pusher = oci.Pusher(locked.url)
        pusher.session.auth = ("ci", "s3cret-pass")
        image = oci.jib_image(app=b"basic")
        pusher.image("acme/locked", image, tag="v1")
        assert http.get(f"{locked.url}/v2/", timeout=5).status_code == 401

        client = RegistryClient(locked.url, username="ci", password="s3cret-pass")
        assert client.manifest("acme/locked", "v1").digest == image.digest
        assert client.blob("acme/locked", image.config.digest) == image.config.data
        with pytest.raises(RegistryError, match="wants credentials") as anonymous:
            RegistryClient(locked.url).manifest("acme/locked", "v1")
        assert not anonymous.value.transient
        with pytest.raises(RegistryError, match="401"):
            RegistryClient(locked.url, username="ci", password="wrong").manifest(
                "acme/locked", "v1"
            )


class TokenRegistry:
    """A registry that wants a Bearer token from its own token service, as Docker Hub, ghcr.io
    and Harbor do: 401 with a challenge, then the token endpoint, then the retry."""

    def __init__(self, body: bytes, password: str | None = None) -> None:
        self.body = body
        self.password = password
        self.token_requests: list[dict[str, str]] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.startswith("/token"):
                    auth = self.headers.get("Authorization", "")
                    registry.token_requests.append({"path": self.path, "auth": auth})
                    if registry.password is not None and "Basic" not in auth:
                        return self._send(401, b"{}", {})
                    return self._send(
                        200,
                        json.dumps({"token": "t0ken"}).encode(),
                        {"Content-Type": "application/json"},
                    )
                if self.headers.get("Authorization") != "Bearer t0ken":
                    challenge = (
                        f'Bearer realm="{registry.url}/token",service="test",'
                        f'scope="repository:a/b:pull"'
                    )
                    return self._send(401, b"{}", {"WWW-Authenticate": challenge})
                return self._send(200, registry.body, {})

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.handle_error = lambda _request, _address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


@pytest.mark.parametrize("password", [None, "pw"])
def test_bearer_token_challenges_anonymous_and_with_credentials(password: str | None) -> None:
    token_registry = TokenRegistry(MANIFEST, password)
    try:
        client = RegistryClient(
            token_registry.url, username="u" if password else None, password=password
        )
        digest = oci.sha256(MANIFEST)
        assert client.manifest("a/b", digest).raw == MANIFEST
        assert client.manifest("a/b", digest).raw == MANIFEST  # the token is reused
        [token_request] = token_registry.token_requests  # one token, reused for the second read
        assert "scope=repository" in token_request["path"]
        assert ("Basic" in token_request["auth"]) is (password is not None)
    finally:
        token_registry.server.shutdown()
        token_registry.server.server_close()
